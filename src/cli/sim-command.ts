// Why this file exists: `clique sim` — a whole tracker cluster and its clients inside one
// process on the simulated World, run through a fault schedule drawn from a seed (or replayed
// from a file). Prints the trace in virtual time, the coverage counters and the verdict; on a
// violation exits 1 and writes a replay file.

import { SimCluster, type SimResult } from '../sim/cluster/sim-cluster.js';
import { generateSchedule, type Schedule } from '../sim/cluster/schedule.js';
import { SeededRng } from '../world/rng.js';
import type { FileSystem } from '../world/world.js';
import { CliError, EXIT_FAILED, EXIT_OK, EXIT_USAGE } from './exit-codes.js';
import type { LineSink } from './audit-command.js';

export interface SimCommandOptions {
  seed?: string;
  steps: number;
  nodes: number;
  clients: number;
  historyOut?: string;
  replay?: string;
  quiet: boolean;
  /** Where a failed run writes its replay file (default: the current directory). */
  replayDir?: string;
  /** Test-only: a deliberately broken core (never reachable from the command line). */
  unsafe?: import('../raft/raft.js').RaftConfig['unsafe'];
}

interface ReplayFile {
  seed: string;
  schedule: Schedule;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function loadReplay(fs: FileSystem, path: string): Promise<ReplayFile> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(await fs.readFile(path)));
  } catch (error) {
    throw new CliError('BAD_REPLAY', `cannot read replay file ${path}: ${error instanceof Error ? error.message : String(error)}`, EXIT_USAGE);
  }
  const file = parsed as Partial<ReplayFile> | null;
  if (!file || typeof file.seed !== 'string' || !file.schedule || !Array.isArray(file.schedule.steps)) {
    throw new CliError('BAD_REPLAY', `${path} is not a replay file (want {"seed", "schedule"})`, EXIT_USAGE);
  }
  return file as ReplayFile;
}

export async function runSim(fs: FileSystem, options: SimCommandOptions, out: LineSink): Promise<number> {
  let replay: ReplayFile;
  if (options.replay !== undefined) replay = await loadReplay(fs, options.replay);
  else {
    const seed = options.seed ?? '42';
    replay = { seed, schedule: generateSchedule(new SeededRng(`schedule/${seed}`), options.steps, options.nodes, options.clients) };
  }
  const { seed, schedule } = replay;
  out.line(`sim: seed ${seed}, ${schedule.nodes} nodes, ${schedule.clients} clients, ${schedule.steps.length} steps`);
  const cluster = new SimCluster(schedule, {
    seed,
    ...(options.quiet ? {} : { trace: (line: string) => out.line(line) }),
    ...(options.unsafe ? { unsafe: options.unsafe } : {}),
  });
  const result: SimResult = await cluster.run();
  if (options.historyOut !== undefined) {
    await fs.writeFile(options.historyOut, encoder.encode(JSON.stringify(result.history, null, 1) + '\n'));
  }
  const c = result.coverage;
  out.line(
    `coverage: elections ${c.elections}, leader changes ${c.leaderChanges}, partitions ${c.partitions}, crashes ${c.crashes}, restarts ${c.restarts}, ` +
      `snapshot installs ${c.snapshotInstalls}, dropped ${c.packetsDropped}, duplicated ${c.packetsDuplicated}, operations ${c.operations}, unknown outcomes ${c.unknownOutcomes}`,
  );
  out.line(`recovery after healing: ${result.recoveryMs === null ? 'none' : `${result.recoveryMs} ms`}`);
  out.line(`linearizability: ${result.linearizability.result}${result.linearizability.result === 'unknown' ? ` (${result.linearizability.reason})` : ''}`);
  for (const violation of result.violations) out.line(`VIOLATION ${violation}`);
  // An unchecked history is no pass: 'unknown' (search budget spent) fails too.
  const failed = result.violations.length > 0 || result.linearizability.result !== 'ok';
  if (result.linearizability.result === 'illegal') {
    out.line(`longest linearizable prefix of group partition ${result.linearizability.partition}:`);
    for (const op of result.linearizability.longestPrefix) out.line(`  ${op}`);
  }
  if (failed) {
    const path = `${options.replayDir ?? '.'}/clique-sim-${seed.replace(/[^A-Za-z0-9_-]/g, '_')}.replay.json`;
    await fs.writeFile(path, encoder.encode(JSON.stringify(replay) + '\n'));
    out.line(`FAILED: seed ${seed}; replay with: clique sim --replay ${path}`);
  } else {
    out.line('ok');
  }
  out.flush();
  return failed ? EXIT_FAILED : EXIT_OK;
}
