// Why this file exists: `clique cluster down` stops the local cluster that `npm start` or
// `clique cluster up` started in DIR: SIGTERM to each pid of DIR/cluster.pid that is still a
// tracker of DIR/cluster.json, a wait for it to exit, SIGKILL after a few seconds, then
// cluster.pid removed. Nothing running is no failure (exit 0, said so), as `systemctl stop` does.

import { resolve } from 'node:path';
import { signalProcess } from '../world/real/real-process.js';
import type { World } from '../world/world.js';
import { loadClusterConfig } from '../tracker/cluster-config.js';
import type { LineSink } from './audit-command.js';
import { clusterHealth } from './cluster-up.js';
import { isTrackerOf, readClusterPids, removeClusterPids } from './cluster-pids.js';
import { CliError, EXIT_OK } from './exit-codes.js';

/** How long a node has to stop after SIGTERM, then after SIGKILL. */
const TERM_WAIT_MS = 5_000;
const KILL_WAIT_MS = 2_000;
const EXIT_POLL_MS = 50;

/** The pids among `pids` still trackers of the cluster once `timeoutMs` has passed (or none are). */
async function survivors(world: World, pids: ReadonlyMap<string, number>, clusterPath: string, timeoutMs: number): Promise<Map<string, number>> {
  const deadline = world.clock.monotonicMs() + timeoutMs;
  let left = new Map(pids);
  for (;;) {
    const next = new Map<string, number>();
    for (const [id, pid] of left) if (await isTrackerOf(pid, clusterPath)) next.set(id, pid);
    left = next;
    if (left.size === 0 || world.clock.monotonicMs() > deadline) return left;
    await new Promise<void>((done) => world.clock.setTimer(EXIT_POLL_MS, done));
  }
}

/** Trackers that answer at cluster.json's addresses, when no cluster.pid names them. */
async function unnamedTrackers(world: World, clusterPath: string): Promise<string[]> {
  if ((await world.fs.stat(clusterPath)) === null) return [];
  try {
    return (await clusterHealth(world, await loadClusterConfig(world.fs, clusterPath))).answering;
  } catch {
    return []; // a cluster.json we cannot read names nobody we could stop
  }
}

export async function clusterDown(world: World, options: { dir: string }, out: LineSink): Promise<number> {
  const clusterPath = resolve(options.dir, 'cluster.json');
  const file = await readClusterPids(world, options.dir);
  if (file === null) {
    const answering = await unnamedTrackers(world, clusterPath);
    if (answering.length > 0) throw new CliError('NOT_STARTED_HERE', `trackers answer at ${options.dir}/cluster.json's addresses (${answering.join(', ')}), but no ${options.dir}/cluster.pid names them: stop them where they were started`);
    out.line(`no cluster runs in ${options.dir} (no cluster.pid); nothing to stop`);
    out.flush();
    return EXIT_OK;
  }
  const running = new Map<string, number>();
  const gone: string[] = [];
  for (const [id, pid] of Object.entries(file.pids)) {
    if ((await isTrackerOf(pid, clusterPath)) && signalProcess(pid, 'SIGTERM')) running.set(id, pid);
    else gone.push(`${id} (pid ${pid})`);
  }
  const stubborn = await survivors(world, running, clusterPath, TERM_WAIT_MS);
  for (const pid of stubborn.values()) signalProcess(pid, 'SIGKILL');
  const left = await survivors(world, stubborn, clusterPath, KILL_WAIT_MS);
  if (left.size > 0) throw new CliError('STOP_FAILED', `${[...left].map(([id, pid]) => `${id} (pid ${pid})`).join(', ')} still running after SIGKILL; ${options.dir}/cluster.pid kept`);
  await removeClusterPids(world, options.dir);
  if (running.size === 0) {
    out.line(`no cluster runs in ${options.dir}: none of ${gone.join(', ')} is a tracker of it any more; removed cluster.pid`);
  } else {
    const stopped = [...running].map(([id, pid]) => `${id} (pid ${pid}${stubborn.has(id) ? `, killed after ${TERM_WAIT_MS / 1000} s` : ''})`);
    out.line(`stopped the cluster in ${options.dir}: ${stopped.join(', ')}${gone.length === 0 ? '' : `; already gone: ${gone.join(', ')}`}`);
  }
  out.flush();
  return EXIT_OK;
}
