// Why this file exists: `clique sim --peers K`, the whole system (trackers and K peers) in one
// seeded simulation, from the command line. The seed picks the file size, the peer links and
// when the tracker leader dies; the run prints the trace (unless --quiet), each member's
// download, what the non-member got, and exits 1 if a check failed. Same seed, same output.

import { SeededRng } from '../world/rng.js';
import { runSystem, type SystemSpec } from '../sim/system/sim-system.js';
import type { LineSink } from './audit-command.js';
import { EXIT_FAILED, EXIT_OK } from './exit-codes.js';

export function systemSpecFor(seed: string, peers: number): SystemSpec {
  const rng = new SeededRng(`system/${seed}`);
  return {
    seed: rng.uint32(),
    peers,
    sizeBytes: rng.int(4 * 1024 * 1024),
    killLeaderAtMs: rng.int(300),
    ownerBehindRouter: true,
    peerLinks: { latencyMs: 1 + rng.int(40), jitterMs: rng.int(10), dropProbability: rng.float() * 0.001, duplicateProbability: rng.float() * 0.01 },
  };
}

export async function runSystemSim(options: { seed: string; peers: number; quiet: boolean; traceWire?: boolean }, out: LineSink): Promise<number> {
  const spec = { ...systemSpecFor(options.seed, options.peers), traceWire: options.traceWire === true };
  out.line(`sim: seed ${options.seed}, 3 trackers, ${spec.peers} peers (an owner${spec.ownerBehindRouter === true ? ' behind a router' : ''}, ${spec.peers - 2} members, a non-member), a ${spec.sizeBytes}-byte file`);
  out.line(`sim: peer links ${JSON.stringify(spec.peerLinks)}; the tracker leader dies ${spec.killLeaderAtMs} ms into the downloads`);
  const result = await runSystem(spec);
  if (!options.quiet) for (const line of result.trace.split('\n')) if (line.length > 0) out.line(line);
  let failed = result.violations.length > 0;
  for (const violation of result.violations) out.line(`VIOLATION ${violation}`);
  for (const d of result.downloads) {
    const ok = d.state === 'complete' && d.exact;
    if (!ok) failed = true;
    out.line(`${d.user}: ${d.state}${d.exact ? ', exact bytes' : ''}${d.failure ? ` (${d.failure})` : ''}; from ${JSON.stringify(d.bytesFromPeer)}`);
  }
  const refused = result.nonMember.code === 'NOT_A_MEMBER' && result.nonMember.bytesOnDisk === 0;
  if (!refused) failed = true;
  out.line(`outsider: ${result.nonMember.code ?? 'not refused'}, ${result.nonMember.bytesOnDisk} bytes on disk`);
  out.line(`coverage: leader kills ${result.leaderKills}, virtual time ${result.elapsedMs} ms`);
  out.line(failed ? 'FAILED' : 'ok');
  out.flush();
  return failed ? EXIT_FAILED : EXIT_OK;
}
