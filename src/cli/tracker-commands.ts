// Why this file exists: the tracker's commands — `clique cluster init` (write cluster.json, its
// CA and the nodes' certificates), `clique cluster upgrade` (a cluster made before TLS), `clique tracker` (run one node until a signal), `clique status` (every node's
// role, term, commit and applied index, and who leads).

import { authoritySecretPath, type Cluster, ClusterConfigError, legacySecretPath, makeCluster, loadClusterConfig, nodeSecretPath, resolveNodeId, upgradeCluster, writeCluster, clusterTrust } from '../tracker/cluster-config.js';
import { TrackerClient } from '../tracker/tracker-client.js';
import { setFlagsFromString } from 'node:v8';
import { startTracker } from '../tracker/tracker-process.js';
import { watchEventLoop } from '../world/real/real-loop-watch.js';
import type { TrackerNode } from '../tracker/tracker-node.js';
import { REAL_KDF_PARAMS } from '../world/kdf.js';
import type { KdfParams, World } from '../world/world.js';
import type { LineSink } from './audit-command.js';
import { CliError, EXIT_FAILED, EXIT_OK, EXIT_USAGE } from './exit-codes.js';
import { type NodeStatus } from '../tracker/client-protocol.js';

export async function clusterInit(world: World, options: { nodes: number; dir: string; basePort: number; host: string; hosts?: string[]; force: boolean }, out: LineSink): Promise<number> {
  const path = `${options.dir}/cluster.json`;
  if (!options.force && (await world.fs.stat(path)) !== null) {
    throw new CliError('CLUSTER_EXISTS', `${path} exists; keep it, or pass --force to make a new cluster (its nodes' data will no longer fit)`);
  }
  let cluster: Cluster;
  try {
    cluster = await makeCluster(world, options.hosts === undefined ? options : { hosts: options.hosts, basePort: options.basePort });
  } catch (error) {
    if (error instanceof ClusterConfigError) throw new CliError('BAD_USAGE', error.message, EXIT_USAGE);
    throw error;
  }
  await world.fs.mkdir(options.dir, { recursive: true });
  await writeCluster(world.fs, path, cluster);
  out.line(`wrote ${path} (${cluster.config.nodes.length} nodes: ${cluster.config.nodes.map((n) => `${n.id} peer ${n.peer} client ${n.client}`).join('; ')})`);
  describeSecrets(out, path, cluster);
  out.flush();
  return EXIT_OK;
}

function describeSecrets(out: LineSink, path: string, cluster: Cluster): void {
  out.line(`wrote ${authoritySecretPath(path)} (mode 0600: the CA key and the ticket signing key; keep it with the operator, it certifies nodes)`);
  for (const node of cluster.nodes) out.line(`wrote ${nodeSecretPath(path, node.node)} (mode 0600: ${node.node}'s TLS key and certificate and the signing key; copy it to ${node.node}'s machine only)`);
}

/** `clique cluster upgrade`: a cluster of version 1 (one cluster.secret, no TLS) gets a CA and node certificates. */
export async function clusterUpgrade(world: World, options: { dir: string }, out: LineSink): Promise<number> {
  const path = `${options.dir}/cluster.json`;
  try {
    if (!(await upgradeCluster(world, path))) {
      out.line(`${path} has certificates already; nothing to do`);
      out.flush();
      return EXIT_OK;
    }
  } catch (error) {
    if (error instanceof ClusterConfigError) throw new CliError('BAD_CLUSTER', error.message);
    throw error;
  }
  out.line(`upgraded ${path}: same nodes, addresses and signing key; a CA and a certificate per node; removed ${legacySecretPath(path)}`);
  const config = await loadClusterConfig(world.fs, path);
  for (const node of config.nodes) out.line(`wrote ${nodeSecretPath(path, node.id)}: copy it to ${node.id}'s machine, and cluster.json to every machine, then restart the nodes`);
  out.flush();
  return EXIT_OK;
}

/** The largest --scrypt-cost: N = 2^20 with r = 8 takes 1 GiB a derivation. */
const MAX_SCRYPT_COST = 1_048_576;

/**
 * `--scrypt-cost N`: the KDF parameters new accounts get (N only; r and p stay the real ones),
 * or null for the default. A login derives with the parameters its account's record holds.
 */
export function trackerKdfParams(text: string | undefined): KdfParams | null {
  if (text === undefined) return null;
  const costN = /^[0-9]{1,7}$/.test(text) ? Number(text) : Number.NaN;
  if (!(costN >= 2 && costN <= MAX_SCRYPT_COST && (costN & (costN - 1)) === 0)) {
    throw new CliError('BAD_USAGE', `--scrypt-cost must be a power of two from 2 to ${MAX_SCRYPT_COST}, not ${text.slice(0, 20)}`, EXIT_USAGE);
  }
  return { ...REAL_KDF_PARAMS, costN };
}

/** How far V8 may let a node's heap grow past its live size before a full collection (see runTrackerNode). */
const HEAP_GROWING_PERCENT = 50;

/** Runs a node until SIGINT/SIGTERM; logs JSON lines to stderr. */
export async function runTrackerNode(world: World, options: { id: string; cluster: string; data: string; sessionTtl?: number; compactEvery?: number; compactEveryBytes?: number; filesInMemory?: number }): Promise<number> {
  const config = await loadClusterConfig(world.fs, options.cluster);
  const id = resolveNodeId(config, options.id);
  if (id === null) throw new CliError('UNKNOWN_NODE', `no node ${options.id} in ${options.cluster} (it has ${config.nodes.map((n) => n.id).join(', ')})`, EXIT_USAGE);
  const log = (event: string, fields: Record<string, unknown>): void => {
    process.stderr.write(JSON.stringify({ timeMs: world.clock.nowMs(), node: id, event, ...fields }) + '\n');
  };
  // V8 lets the heap grow to as much as four times what survived the last full collection
  // before it collects again; a node whose projection and Raft log live in a few hundred MiB then
  // sits on gigabytes of garbage (bench/scale). Half again is enough room between collections.
  // Which pages a full collection compacts is left to V8: compacting all of them at every one
  // (--compact-on-every-full-gc, which this set before) paused a node 1-1.6 s at 10,000 online
  // peers, longer than the election timeout (bench/online), and bench/scale at 0.1 peaked no
  // lower with it. A flag given to node itself wins (`node --heap-growing-percent=N ...`).
  const givenToNode = (flag: string): boolean => process.execArgv.some((arg) => arg.replace(/_/g, '-').includes(flag));
  if (!givenToNode('heap-growing-percent')) setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  const tracker = await startTracker(world, {
    id,
    clusterPath: options.cluster,
    dataDir: options.data,
    log,
    ...(options.sessionTtl === undefined ? {} : { sessionTtlMs: options.sessionTtl }),
    ...(options.compactEvery === undefined ? {} : { compactEveryEntries: options.compactEvery }),
    ...(options.compactEveryBytes === undefined ? {} : { compactEveryBytes: options.compactEveryBytes }),
    ...(options.filesInMemory === undefined ? {} : { maxFilesInMemory: options.filesInMemory }),
  });
  const logMemory = (): void => log('memory', memoryReport(tracker.node));
  process.on('SIGUSR2', logMemory);
  // Every 10 s: how late the event loop ran and what the collector paused (real-loop-watch.ts).
  const loopWatch = watchEventLoop((figures) => log('event_loop', { ...figures }));
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.off('SIGUSR2', logMemory);
  loopWatch.stop();
  await tracker.stop();
  log('tracker_stopped', {});
  return EXIT_OK;
}

/**
 * `kill -USR2 <pid>` logs `memory`: where the process's memory is (process.memoryUsage, bytes:
 * rss, the V8 heap, external memory and the part of it in ArrayBuffers, what the Raft log holds),
 * and, when node runs with --expose-gc, the same after a full collection (what is live).
 */
function memoryReport(node: TrackerNode): Record<string, number> {
  const usage = (): Record<string, number> => {
    const m = process.memoryUsage();
    return { rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
  };
  const report: Record<string, number> = { ...usage(), raftEntries: node.raft.log.lastIndex() - node.raft.log.snapshotMeta().index, raftBytes: node.raft.log.heldBytes(), filesInMemory: node.store.filesHeld, groupsLoaded: node.store.groupsLoaded, groupsEvicted: node.store.groupsEvicted };
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc !== undefined) {
    gc();
    for (const [key, value] of Object.entries(usage())) report[`${key}AfterGc`] = value;
  }
  return report;
}

export async function showStatus(world: World, options: { cluster: string; json: boolean }, out: LineSink): Promise<number> {
  const config = await loadClusterConfig(world.fs, options.cluster);
  const client = new TrackerClient(world, { nodes: config.nodes.map((n) => n.client), trust: clusterTrust(config), clientId: 'status' });
  const rows = await Promise.all(config.nodes.map(async (node) => ({ node, status: await client.status(node.client) })));
  client.close();
  const leaders = new Set(rows.flatMap((r) => (r.status?.role === 'leader' ? [r.node.id] : [])));
  if (options.json) {
    out.line(JSON.stringify({ nodes: rows.map((r) => ({ id: r.node.id, client: r.node.client, reachable: r.status !== null, ...withoutCa(r.status) })), leader: [...leaders][0] ?? null }));
  } else {
    for (const { node, status } of rows) {
      out.line(
        status
          ? `${node.id}  ${status.role.padEnd(13)} term ${status.term}  commit ${status.commit}  applied ${status.applied}  leader ${status.leader ?? '-'}${status.clockSkewed === true ? `  CLOCK SKEWED by ${status.clockSkewMs ?? '?'} ms` : ''}  (${node.client})`
          : `${node.id}  unreachable   (${node.client})`,
      );
    }
    out.line(leaders.size === 1 ? `leader: ${[...leaders][0]}` : 'leader: none');
  }
  out.flush();
  return rows.every((r) => r.status !== null) && leaders.size === 1 ? EXIT_OK : EXIT_FAILED;
}

/** A status for `--json`, without the CA's PEM (it is in cluster.json). */
function withoutCa(status: NodeStatus | null): Omit<NodeStatus, 'ca'> | Record<string, never> {
  if (status === null) return {};
  const { ca: _ca, ...rest } = status;
  return rest;
}
