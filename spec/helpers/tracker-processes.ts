// Real tracker processes for tests: a cluster file on free loopback ports (retried if taken),
// `clique tracker` children started, killed with SIGKILL or stopped with SIGTERM, and probes
// that wait for an observed state rather than for time to pass.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeStatus } from '../../src/tracker/client-protocol.js';
import { clusterTrust, makeCluster, writeCluster, type ClusterConfig } from '../../src/tracker/cluster-config.js';
import { TrackerClient } from '../../src/tracker/tracker-client.js';
import { createRealWorld } from '../../src/world/real/real-world.js';
import type { World } from '../../src/world/world.js';

export const CLI = new URL('../../dist/cli/clique.cjs', import.meta.url).pathname;

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export async function freeBasePort(nodes: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 20_000);
    const ports = Array.from({ length: nodes }, (_, i) => [base + i, base + 100 + i]).flat();
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
  throw new Error('no free ports');
}

export async function until<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== null) return value;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export class TrackerProcesses {
  readonly world: World = createRealWorld();
  readonly root = mkdtempSync(join(tmpdir(), 'clique-cluster-'));
  readonly clusterPath = join(this.root, 'cluster.json');
  readonly processes = new Map<string, ChildProcess>();
  /** Extra environment for a node's process (e.g. a test-only clock offset file). */
  readonly envOf = new Map<string, Record<string, string>>();
  config!: ClusterConfig;

  constructor(private readonly extraArgs: string[] = []) {}

  async init(nodes = 3): Promise<void> {
    const cluster = await makeCluster(this.world, { nodes, host: '127.0.0.1', basePort: await freeBasePort(nodes) });
    this.config = cluster.config;
    await writeCluster(this.world.fs, this.clusterPath, cluster);
  }

  dataDir(id: string): string {
    return join(this.root, id);
  }

  logPath(id: string): string {
    return join(this.root, `${id}.log`);
  }

  start(id: string): void {
    const log = openSync(this.logPath(id), 'a');
    const args = [CLI, 'tracker', '--id', id, '--cluster', this.clusterPath, '--data', this.dataDir(id), ...this.extraArgs];
    const env = this.envOf.get(id);
    this.processes.set(id, spawn(process.execPath, args, { stdio: ['ignore', 'ignore', log], ...(env === undefined ? {} : { env: { ...process.env, ...env } }) }));
  }

  startAll(): void {
    for (const node of this.config.nodes) this.start(node.id);
  }

  kill9(id: string): Promise<void> {
    return this.end(id, 'SIGKILL');
  }

  stop(id: string): Promise<void> {
    return this.end(id, 'SIGTERM');
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.processes.keys()].map((id) => this.stop(id)));
  }

  private end(id: string, signal: NodeJS.Signals): Promise<void> {
    const child = this.processes.get(id);
    if (!child) return Promise.resolve();
    this.processes.delete(id);
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }

  client(clientId: string, options: { requestTimeoutMs?: number; deadlineMs?: number } = {}): TrackerClient {
    return new TrackerClient(this.world, { nodes: this.config.nodes.map((n) => n.client), trust: clusterTrust(this.config), clientId, ...options });
  }

  async statuses(): Promise<Map<string, NodeStatus | null>> {
    const client = this.client('probe');
    const out = new Map<string, NodeStatus | null>();
    await Promise.all(this.config.nodes.map(async (n) => out.set(n.id, await client.status(n.client))));
    client.close();
    return out;
  }

  async leader(): Promise<string | null> {
    const all = await this.statuses();
    const leaders = [...all].filter(([, s]) => s?.role === 'leader').map(([id, s]) => ({ id, term: s!.term }));
    leaders.sort((a, b) => b.term - a.term);
    return leaders[0]?.id ?? null;
  }

  async allCaughtUp(): Promise<number> {
    return until('every node to apply the same index', async () => {
      const all = [...(await this.statuses()).values()];
      if (all.some((s) => s === null)) return null;
      // The store's index too: Raft's `applied` jumps to a snapshot's index when the core takes
      // it, before the node has installed it (and logged `snapshot_installed`).
      const applied = new Set(all.flatMap((s) => [s!.applied, s!.storeApplied ?? s!.applied]));
      const commit = new Set(all.map((s) => s!.commit));
      return applied.size === 1 && commit.size === 1 && [...applied][0] === [...commit][0] ? [...applied][0]! : null;
    });
  }

  cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
    const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  async dispose(): Promise<void> {
    for (const child of this.processes.values()) child.kill('SIGKILL');
    rmSync(this.root, { recursive: true, force: true });
  }
}
