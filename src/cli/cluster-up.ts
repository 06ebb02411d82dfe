// Why this file exists: `clique cluster up` — a local cluster for a first look and for tests:
// init if needed, every node as a child process (logs in DIR/<id>.log, data in DIR/<id>), the
// status once a leader is elected, and all of them stopped on Ctrl-C.

import { fileURLToPath } from 'node:url';
import { loadClusterConfig, makeCluster, upgradeCluster, writeCluster, clusterTrust } from '../tracker/cluster-config.js';
import { TrackerClient } from '../tracker/tracker-client.js';
import { spawnNode, type ChildHandle } from '../world/real/real-process.js';
import { isWorldError, type FileHandle, type World } from '../world/world.js';
import type { LineSink } from './audit-command.js';
import { EXIT_FAILED, EXIT_OK } from './exit-codes.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

export interface ClusterUpOptions {
  nodes: number;
  dir: string;
  basePort: number;
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

/** Starts the cluster's nodes; resolves once one leads. The returned function stops them. */
export async function startLocalCluster(world: World, options: ClusterUpOptions, out: LineSink): Promise<{ clusterPath: string; stop: () => Promise<void> }> {
  const clusterPath = `${options.dir}/cluster.json`;
  if ((await world.fs.stat(clusterPath)) === null) {
    await world.fs.mkdir(options.dir, { recursive: true });
    await writeCluster(world.fs, clusterPath, await makeCluster(world, { nodes: options.nodes, host: '127.0.0.1', basePort: options.basePort }));
    out.line(`made a ${options.nodes}-node cluster in ${options.dir}`);
  } else if (await upgradeCluster(world, clusterPath)) {
    // A local cluster made before TLS: all its secrets are here, so upgrade it in place.
    out.line(`upgraded the cluster in ${options.dir} to TLS (a CA and a certificate per node)`);
  }
  const config = await loadClusterConfig(world.fs, clusterPath);
  const children: ChildHandle[] = [];
  for (const node of config.nodes) {
    const log = await appendTo(world, `${options.dir}/${node.id}.log`);
    children.push(spawnNode([MAIN, 'tracker', '--id', node.id, '--cluster', clusterPath, '--data', `${options.dir}/${node.id}`], log));
  }
  const stop = async (): Promise<void> => {
    await Promise.all(children.map((child) => child.stop()));
  };
  const client = new TrackerClient(world, { nodes: config.nodes.map((n) => n.client), trust: clusterTrust(config), clientId: 'cluster-up' });
  const deadline = world.clock.monotonicMs() + 15_000;
  let leader: string | null = null;
  while (leader === null && world.clock.monotonicMs() < deadline) {
    const statuses = await Promise.all(config.nodes.map((n) => client.status(n.client)));
    leader = statuses.find((s) => s?.role === 'leader')?.id ?? null;
    if (leader === null) await new Promise((resolve) => world.clock.setTimer(100, () => resolve(undefined)));
  }
  client.close();
  if (leader === null) {
    await stop();
    throw new Error(`no leader within 15 s; see the logs in ${options.dir}`);
  }
  out.line(`cluster up: ${config.nodes.map((n) => `${n.id} at ${n.client}`).join(', ')}; leader ${leader}`);
  out.flush();
  return { clusterPath, stop };
}

/** `clique cluster up`: runs until SIGINT or SIGTERM. */
export async function clusterUp(world: World, options: ClusterUpOptions, out: LineSink): Promise<number> {
  let cluster: Awaited<ReturnType<typeof startLocalCluster>>;
  try {
    cluster = await startLocalCluster(world, options, out);
  } catch (error) {
    process.stderr.write(`error CLUSTER_DOWN: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_FAILED;
  }
  out.line(`status: clique status --cluster ${cluster.clusterPath}; stop with Ctrl-C`);
  out.flush();
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await cluster.stop();
  out.line('cluster stopped');
  out.flush();
  return EXIT_OK;
}
