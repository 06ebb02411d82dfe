// Why this file exists: `clique cluster up` — a local cluster for a first look and for tests:
// init if needed, every node a `clique tracker` process (logs in DIR/<id>.log, data in DIR/<id>),
// the status once a leader is elected. In the foreground its nodes are children, stopped on
// Ctrl-C; with --background (what `npm start` does) they are started on their own, outlive us,
// and are stopped by `clique cluster down`. Either way DIR/cluster.pid names them, so a second
// start reuses or refuses rather than starting nodes that would fail with LOCKED.

import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadClusterConfig, makeCluster, upgradeCluster, writeCluster, clusterTrust, type ClusterConfig } from '../tracker/cluster-config.js';
import { TrackerClient } from '../tracker/tracker-client.js';
import { spawnDetachedNode, spawnNode, type ChildHandle } from '../world/real/real-process.js';
import { isWorldError, type FileHandle, type World } from '../world/world.js';
import type { LineSink } from './audit-command.js';
import { liveTrackers, readClusterPids, removeClusterPids, withStartLock, writeClusterPids } from './cluster-pids.js';
import { CliError, EXIT_OK, EXIT_USAGE } from './exit-codes.js';

/** The command's entry (clique.cts): nodes get its thread pool. */
const MAIN = fileURLToPath(new URL('./clique.cjs', import.meta.url));

/** How long a start waits for a leader. */
const LEADER_TIMEOUT_MS = 15_000;
const STATUS_POLL_MS = 100;

/** The local cluster's directory (npm start's) and its first port, unless CLIQUE_LOCAL_BASE_PORT says otherwise. */
export const LOCAL_DIR = '.clique';
const DEFAULT_LOCAL_BASE_PORT = 7100;

export interface ClusterUpOptions {
  nodes: number;
  dir: string;
  basePort: number;
}

/** The first port of a new local cluster: CLIQUE_LOCAL_BASE_PORT, else 7100 (peer ports from it, client ports 100 above). */
export function localBasePort(env: Readonly<Record<string, string | undefined>> = process.env): number {
  const text = env.CLIQUE_LOCAL_BASE_PORT;
  if (text === undefined || text === '') return DEFAULT_LOCAL_BASE_PORT;
  const port = Number(text);
  if (!/^[0-9]{1,5}$/.test(text) || port < 1 || port > 65_000) throw new CliError('BAD_USAGE', `CLIQUE_LOCAL_BASE_PORT is ${JSON.stringify(text.slice(0, 20))}; want a port from 1 to 65000`, EXIT_USAGE);
  return port;
}

/** `clique cluster down` names the directory unless it is the default one. */
export function downCommand(dir: string): string {
  return dir === LOCAL_DIR ? 'clique cluster down' : `clique cluster down --dir ${dir}`;
}

/** A node's log file, appended to in arrival order. */
async function appendTo(world: World, path: string): Promise<(bytes: Uint8Array) => void> {
  let handle: FileHandle;
  try {
    handle = await world.fs.open(path, 'r+');
  } catch (error) {
    if (!isWorldError(error, 'ENOENT') && (error as { code?: string }).code !== 'ENOENT') throw error;
    handle = await world.fs.open(path, 'w+');
  }
  let position = await handle.sizeBytes();
  let chain = Promise.resolve();
  return (bytes) => {
    const at = position;
    position += bytes.length;
    chain = chain.then(() => handle.write(at, bytes)).catch(() => {});
  };
}

/** A local cluster's files: cluster.json made (or upgraded to TLS) if need be; its path absolute, as nodes are started with it. */
async function prepareCluster(world: World, options: ClusterUpOptions, out: LineSink): Promise<{ clusterPath: string; config: ClusterConfig }> {
  const clusterPath = resolve(options.dir, 'cluster.json');
  if ((await world.fs.stat(clusterPath)) === null) {
    await writeCluster(world.fs, clusterPath, await makeCluster(world, { nodes: options.nodes, host: '127.0.0.1', basePort: options.basePort }));
    out.line(`made a ${options.nodes}-node cluster in ${options.dir}`);
  } else if (await upgradeCluster(world, clusterPath)) {
    // A local cluster made before TLS: all its secrets are here, so upgrade it in place.
    out.line(`upgraded the cluster in ${options.dir} to TLS (a CA and a certificate per node)`);
  }
  return { clusterPath, config: await loadClusterConfig(world.fs, clusterPath) };
}

function trackerArgs(clusterPath: string, dir: string, id: string): string[] {
  return [MAIN, 'tracker', '--id', id, '--cluster', clusterPath, '--data', resolve(dir, id)];
}

/** Which nodes answer a status call now, and which one leads. */
export async function clusterHealth(world: World, config: ClusterConfig): Promise<{ answering: string[]; leader: string | null }> {
  const client = new TrackerClient(world, { nodes: config.nodes.map((n) => n.client), trust: clusterTrust(config), clientId: 'cluster-up' });
  try {
    const statuses = await Promise.all(config.nodes.map(async (n) => ({ id: n.id, status: await client.status(n.client) })));
    return {
      answering: statuses.filter((s) => s.status !== null).map((s) => s.id),
      leader: statuses.find((s) => s.status?.role === 'leader')?.id ?? null,
    };
  } finally {
    client.close();
  }
}

/** The last line a node wrote to its log (why it exited), shortened. */
async function lastLogLine(world: World, path: string): Promise<string> {
  try {
    const lines = new TextDecoder().decode(await world.fs.readFile(path)).trim().split('\n');
    return lines.at(-1)!.slice(0, 200);
  } catch {
    return '';
  }
}

/** Resolves with the leader's id once one leads; CLUSTER_DOWN at once if a started node exits, or after the timeout. */
async function awaitLeader(world: World, config: ClusterConfig, dir: string, started: ReadonlyMap<string, ChildHandle>): Promise<string> {
  const exits = new Map<string, number | null>();
  for (const [id, child] of started) void child.exited.then((code) => exits.set(id, code));
  const deadline = world.clock.monotonicMs() + LEADER_TIMEOUT_MS;
  for (;;) {
    const [id, code] = [...exits][0] ?? [];
    if (id !== undefined) {
      const log = `${dir}/${id}.log`;
      const why = await lastLogLine(world, log);
      throw new CliError('CLUSTER_DOWN', `${id} exited as it started (exit code ${String(code)})${why === '' ? '' : `: ${why}`}; see ${log}`);
    }
    const { leader } = await clusterHealth(world, config);
    if (leader !== null) return leader;
    if (world.clock.monotonicMs() > deadline) throw new CliError('CLUSTER_DOWN', `no leader within ${LEADER_TIMEOUT_MS / 1000} s; see the logs in ${dir}`);
    await new Promise<void>((done) => world.clock.setTimer(STATUS_POLL_MS, done));
  }
}

function describePids(pids: ReadonlyMap<string, number> | Record<string, number>): string {
  const entries = (pids instanceof Map ? [...pids] : Object.entries(pids)).sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }));
  return entries.map(([id, pid]) => `${id} pid ${pid}`).join(', ');
}

export interface BackgroundCluster {
  /** cluster.json, as a shell is given it. */
  clusterPath: string;
  /** The nodes started now (all of them for a new cluster, none when one ran already). */
  started: string[];
  pids: Record<string, number>;
  leader: string;
}

/**
 * Makes sure the local cluster in DIR runs in the background: reuses it if it runs (restarting
 * any of its nodes that stopped), else starts every node on its own (own process group, output
 * to DIR/<id>.log) so it outlives this process and a Ctrl-C at its terminal. What `npm start` does.
 */
export async function ensureBackgroundCluster(world: World, options: ClusterUpOptions, out: LineSink): Promise<BackgroundCluster> {
  await world.fs.mkdir(options.dir, { recursive: true });
  return withStartLock(world, options.dir, async () => {
    const { clusterPath, config } = await prepareCluster(world, options, out);
    const live = await liveTrackers(await readClusterPids(world, options.dir), clusterPath);
    const health = await clusterHealth(world, config);
    const shownPath = `${options.dir}/cluster.json`;
    if (live.size === 0 && health.answering.length > 0) {
      // Trackers of this cluster answer, started by hand or by an older build: use them as they are.
      if (health.leader === null) throw new CliError('CLUSTER_UNHEALTHY', `trackers answer at ${shownPath}'s addresses but none leads, and no ${options.dir}/cluster.pid names them; see their logs`);
      return { clusterPath: shownPath, started: [], pids: {}, leader: health.leader };
    }
    const missing = config.nodes.filter((node) => !live.has(node.id));
    if (missing.length === 0 && health.leader !== null) return { clusterPath: shownPath, started: [], pids: Object.fromEntries(live), leader: health.leader };
    const started = new Map<string, ChildHandle>();
    for (const node of missing) started.set(node.id, spawnDetachedNode(trackerArgs(clusterPath, options.dir, node.id), `${options.dir}/${node.id}.log`));
    const pids = Object.fromEntries(config.nodes.map((node) => [node.id, live.get(node.id) ?? started.get(node.id)!.pid]));
    // Written before the wait: if we are stopped meanwhile, `clique cluster down` still finds them.
    await writeClusterPids(world, options.dir, { publicKey: config.publicKey, pids });
    try {
      const leader = await awaitLeader(world, config, options.dir, started);
      return { clusterPath: shownPath, started: [...started.keys()], pids, leader };
    } catch (error) {
      await Promise.all([...started.values()].map((child) => child.stop()));
      if (live.size === 0) await removeClusterPids(world, options.dir);
      else await writeClusterPids(world, options.dir, { publicKey: config.publicKey, pids: Object.fromEntries(live) });
      throw error;
    }
  });
}

/** Lines saying what `ensureBackgroundCluster` found or did. */
export function describeBackgroundCluster(cluster: BackgroundCluster, dir: string, outliving: 'command' | 'shell', out: LineSink): void {
  const pids = describePids(cluster.pids);
  if (cluster.started.length === 0) {
    out.line(pids === '' ? `a cluster answers at ${cluster.clusterPath}'s addresses (not started by clique cluster up); leader ${cluster.leader}` : `the cluster in ${dir} runs already (${pids}); leader ${cluster.leader}`);
  } else if (cluster.started.length === Object.keys(cluster.pids).length) {
    out.line(`started the cluster in ${dir} in the background (${pids}); leader ${cluster.leader}`);
  } else {
    const restarted = cluster.started.map((id) => `${id} pid ${cluster.pids[id]}`).join(', ');
    out.line(`the cluster in ${dir} runs (${pids}); restarted ${restarted}, which had stopped; leader ${cluster.leader}`);
  }
  out.line(`it outlives this ${outliving}: other shells join with npx clique shell --cluster ${cluster.clusterPath}; stop it with npx ${downCommand(dir)}`);
  out.flush();
}

/** `clique cluster up --background`: start or reuse, say which, and return. */
export async function clusterUpBackground(world: World, options: ClusterUpOptions, out: LineSink): Promise<number> {
  describeBackgroundCluster(await ensureBackgroundCluster(world, options, out), options.dir, 'command', out);
  return EXIT_OK;
}

/** `clique cluster up`: its nodes as children until SIGINT or SIGTERM (or until every one of them has exited). */
export async function clusterUp(world: World, options: ClusterUpOptions, out: LineSink): Promise<number> {
  await world.fs.mkdir(options.dir, { recursive: true });
  const children = await withStartLock(world, options.dir, async () => {
    const { clusterPath, config } = await prepareCluster(world, options, out);
    const live = await liveTrackers(await readClusterPids(world, options.dir), clusterPath);
    if (live.size > 0) throw new CliError('CLUSTER_RUNNING', `a cluster already runs in ${options.dir} (${describePids(live)}); stop it with ${downCommand(options.dir)}`);
    const health = await clusterHealth(world, config);
    if (health.answering.length > 0) throw new CliError('CLUSTER_RUNNING', `trackers answer at ${options.dir}/cluster.json's addresses (${health.answering.join(', ')}), though no ${options.dir}/cluster.pid names them; stop them first`);
    const started = new Map<string, ChildHandle>();
    for (const node of config.nodes) started.set(node.id, spawnNode(trackerArgs(clusterPath, options.dir, node.id), await appendTo(world, `${options.dir}/${node.id}.log`)));
    await writeClusterPids(world, options.dir, { publicKey: config.publicKey, pids: Object.fromEntries([...started].map(([id, child]) => [id, child.pid])) });
    try {
      const leader = await awaitLeader(world, config, options.dir, started);
      out.line(`cluster up: ${config.nodes.map((n) => `${n.id} at ${n.client}`).join(', ')}; leader ${leader}`);
      return started;
    } catch (error) {
      await Promise.all([...started.values()].map((child) => child.stop()));
      await removeClusterPids(world, options.dir);
      throw error;
    }
  });
  out.line(`status: clique status --cluster ${options.dir}/cluster.json; stop with Ctrl-C`);
  out.flush();
  const ended = await new Promise<'signal' | 'exited'>((done) => {
    process.once('SIGINT', () => done('signal'));
    process.once('SIGTERM', () => done('signal'));
    void Promise.all([...children.values()].map((child) => child.exited)).then(() => done('exited'));
  });
  await Promise.all([...children.values()].map((child) => child.stop()));
  // Only our own pids: another start may have replaced the file since.
  const file = await readClusterPids(world, options.dir).catch(() => null);
  if (file !== null && [...children].every(([id, child]) => file.pids[id] === child.pid)) await removeClusterPids(world, options.dir);
  out.line(ended === 'signal' ? 'cluster stopped' : 'cluster stopped (its nodes exited)');
  out.flush();
  return EXIT_OK;
}
