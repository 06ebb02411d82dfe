// Why this file exists: how one local cluster is found again by whoever comes next — the next
// `npm start`, `clique cluster up`, `clique cluster down`. DIR/cluster.pid (JSON, mode 0644,
// replaced atomically) names each node's pid and the cluster's public key; a pid counts only
// while it is still a `clique tracker` of DIR/cluster.json (pids are reused). DIR/cluster.starting
// names the one process starting nodes, so two `npm start`s at once do not both start them.

import { canonicalPath, commandLineOf, ownPid } from '../world/real/real-process.js';
import { isWorldError, type World } from '../world/world.js';
import { CliError } from './exit-codes.js';

export interface ClusterPids {
  /** The public key of cluster.json when the nodes were started (base64). */
  publicKey: string;
  /** Node id → pid. */
  pids: Record<string, number>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** How long a start waits for another one in progress before it gives up. */
const START_LOCK_WAIT_MS = 30_000;
const START_LOCK_POLL_MS = 100;

export function pidFilePath(dir: string): string {
  return `${dir}/cluster.pid`;
}

function isMissing(error: unknown): boolean {
  return isWorldError(error, 'ENOENT') || (error as { code?: unknown } | null)?.code === 'ENOENT';
}

/** DIR/cluster.pid, or null when there is none; BAD_PID_FILE when it is not ours to read. */
export async function readClusterPids(world: World, dir: string): Promise<ClusterPids | null> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(await world.fs.readFile(pidFilePath(dir))));
  } catch (error) {
    if (isMissing(error)) return null;
    throw new CliError('BAD_PID_FILE', `${pidFilePath(dir)} is not JSON; remove it if no cluster runs there`);
  }
  const file = value as Partial<ClusterPids> | null;
  const pids = file?.pids;
  const valid =
    typeof file?.publicKey === 'string' &&
    typeof pids === 'object' &&
    pids !== null &&
    Object.values(pids).every((pid) => Number.isInteger(pid) && (pid as number) > 0);
  if (!valid) throw new CliError('BAD_PID_FILE', `${pidFilePath(dir)} wants {"publicKey", "pids": {"n1": PID, …}}; remove it if no cluster runs there`);
  return { publicKey: file!.publicKey!, pids: { ...pids } };
}

/** Replaces DIR/cluster.pid in one step (a reader sees the old file or the new one). */
export async function writeClusterPids(world: World, dir: string, value: ClusterPids): Promise<void> {
  const temporary = `${pidFilePath(dir)}.${ownPid()}.tmp`;
  await world.fs.writeFile(temporary, encoder.encode(JSON.stringify(value) + '\n'), { sync: true, mode: 0o644 });
  await world.fs.rename(temporary, pidFilePath(dir));
}

export async function removeClusterPids(world: World, dir: string): Promise<void> {
  try {
    await world.fs.unlink(pidFilePath(dir));
  } catch (error) {
    if (!isMissing(error)) throw error;
  }
}

/** Whether `pid` runs `clique tracker --cluster <clusterPath>` (an absolute path, as we start nodes; symbolic links resolved). */
export async function isTrackerOf(pid: number, clusterPath: string): Promise<boolean> {
  const words = await commandLineOf(pid);
  if (words === null || !words.includes('tracker')) return false;
  const given = words[words.indexOf('--cluster') + 1];
  if (given === undefined || !given.startsWith('/')) return false;
  return given === clusterPath || (await canonicalPath(given)) === (await canonicalPath(clusterPath));
}

/** The nodes of cluster.pid whose pid is still a tracker of this cluster. */
export async function liveTrackers(pids: ClusterPids | null, clusterPath: string): Promise<Map<string, number>> {
  const live = new Map<string, number>();
  for (const [id, pid] of Object.entries(pids?.pids ?? {})) if (await isTrackerOf(pid, clusterPath)) live.set(id, pid);
  return live;
}

/** `work` while this process alone holds DIR/cluster.starting (DIR exists); a holder that died leaves no lock. */
export async function withStartLock<T>(world: World, dir: string, work: () => Promise<T>): Promise<T> {
  const lock = `${dir}/cluster.starting`;
  const mine = `${lock}.${ownPid()}`;
  const deadline = world.clock.monotonicMs() + START_LOCK_WAIT_MS;
  await world.fs.writeFile(mine, encoder.encode(`${ownPid()}\n`), { mode: 0o644 });
  try {
    for (;;) {
      try {
        await world.fs.renameNoReplace(mine, lock);
        break;
      } catch (error) {
        if (!isWorldError(error, 'EEXIST') && (error as { code?: unknown } | null)?.code !== 'EEXIST') throw error;
      }
      const holder = await lockHolder(world, lock);
      if (holder === null || (await commandLineOf(holder)) === null) {
        await world.fs.unlink(lock).catch(() => undefined); // its starter is gone
        continue;
      }
      if (world.clock.monotonicMs() > deadline) throw new CliError('CLUSTER_STARTING', `another clique (pid ${holder}) has been starting the cluster in ${dir} for ${START_LOCK_WAIT_MS / 1000} s; if it is stuck, stop it, or remove ${lock}`);
      await new Promise<void>((resolve) => world.clock.setTimer(START_LOCK_POLL_MS, resolve));
    }
  } catch (error) {
    await world.fs.unlink(mine).catch(() => undefined);
    throw error;
  }
  try {
    return await work();
  } finally {
    await world.fs.unlink(lock).catch(() => undefined);
  }
}

async function lockHolder(world: World, lock: string): Promise<number | null> {
  try {
    const pid = Number(decoder.decode(await world.fs.readFile(lock)).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}
