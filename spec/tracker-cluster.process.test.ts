// Real processes on 127.0.0.1, run serially: three `clique tracker` processes under a client
// load; the leader killed with kill -9 (when a number of writes have been acknowledged, not on a
// timer); a new leader; the dead node restarted; every acknowledged write present on every node;
// then all three killed at once under load and restarted: nothing acknowledged lost. Finally the
// audit verifies all three stores and finds them identical.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCluster, writeCluster, type ClusterConfig } from '../src/raft/cluster-config.js';
import { TrackerClient } from '../src/raft/tracker-client.js';
import type { NodeStatus } from '../src/raft/client-protocol.js';
import { createRealWorld } from '../src/sim/real-world.js';

const CLI = new URL('../dist/cli/main.js', import.meta.url).pathname;
const world = createRealWorld();
const root = mkdtempSync(join(tmpdir(), 'clique-cluster-'));
const clusterPath = join(root, 'cluster.json');
const processes = new Map<string, ChildProcess>();
let config: ClusterConfig;

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A base port whose peer and client ports are all free (retried if taken). */
async function freeBasePort(nodes: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 20_000);
    const ports = Array.from({ length: nodes }, (_, i) => [base + i, base + 100 + i]).flat();
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
  throw new Error('no free ports');
}

function startNode(id: string): void {
  const log = openSync(join(root, `${id}.log`), 'a');
  const child = spawn(process.execPath, [CLI, 'tracker', '--id', id, '--cluster', clusterPath, '--data', join(root, id)], { stdio: ['ignore', 'ignore', log] });
  processes.set(id, child);
}

function kill9(id: string): Promise<void> {
  const child = processes.get(id)!;
  processes.delete(id);
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

function stopGracefully(id: string): Promise<void> {
  const child = processes.get(id)!;
  processes.delete(id);
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

async function statuses(): Promise<Map<string, NodeStatus | null>> {
  const client = new TrackerClient(world, { nodes: config.nodes.map((n) => n.client), clientId: 'probe' });
  const out = new Map<string, NodeStatus | null>();
  await Promise.all(config.nodes.map(async (n) => out.set(n.id, await client.status(n.client))));
  client.close();
  return out;
}

async function until<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== null) return value;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function leader(): Promise<string | null> {
  const all = await statuses();
  const leaders = [...all].filter(([, s]) => s?.role === 'leader').map(([id, s]) => ({ id, term: s!.term }));
  leaders.sort((a, b) => b.term - a.term);
  return leaders[0]?.id ?? null;
}

/** Writes users one after another until stopped; records every acknowledged one. */
class Load {
  readonly acknowledged: string[] = [];
  private stopped = false;
  private readonly done: Promise<void>;
  private readonly client: TrackerClient;

  constructor(prefix: string) {
    const client = new TrackerClient(world, { nodes: config.nodes.map((n) => n.client), clientId: `load-${prefix}`, requestTimeoutMs: 1_000, deadlineMs: 30_000 });
    this.client = client;
    this.done = (async () => {
      for (let i = 0; !this.stopped; i++) {
        const user = `${prefix}${i}`;
        const password = { algorithm: 'scrypt', costN: 16, blockSizeR: 1, parallelP: 1, salt: '00'.repeat(16), hash: '11'.repeat(32) };
        const result = await client.submit({ type: 'CreateUser', user, password });
        expect(result.error).toBeNull();
        this.acknowledged.push(user);
      }
    })();
  }

  async waitFor(count: number): Promise<void> {
    await until(`${count} acknowledged writes`, async () => (this.acknowledged.length >= count ? true : null));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
    this.client.close();
  }
}

function audit(...args: string[]): { status: number | null; stdout: string } {
  const result = spawnSync(process.execPath, [CLI, 'audit', ...args], { encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout };
}

/** Users whose CreateUser applied, as the node's audit tells it. */
function usersIn(id: string): Set<string> {
  const { stdout } = audit('--data', join(root, id, 'tracker'), '--json');
  const report = JSON.parse(stdout) as { entries: { command: string; outcome: string; request: { user?: string } }[] };
  return new Set(report.entries.filter((e) => e.command === 'CreateUser' && e.outcome === 'applied').map((e) => e.request.user!));
}

async function allCaughtUp(): Promise<number> {
  return until('every node to apply the same index', async () => {
    const all = [...(await statuses()).values()];
    if (all.some((s) => s === null)) return null;
    const applied = new Set(all.map((s) => s!.applied));
    const commit = new Set(all.map((s) => s!.commit));
    return applied.size === 1 && commit.size === 1 && [...applied][0] === [...commit][0] ? [...applied][0]! : null;
  });
}

beforeAll(async () => {
  const cluster = makeCluster(world.rng, { nodes: 3, host: '127.0.0.1', basePort: await freeBasePort(3) });
  config = cluster.config;
  await writeCluster(world.fs, clusterPath, cluster);
  for (const node of config.nodes) startNode(node.id);
  await until('a leader', leader);
});

afterAll(async () => {
  for (const child of processes.values()) child.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

describe.sequential('three tracker processes', () => {
  it('survive kill -9 of the leader under load: a new leader, the node restarts and catches up, nothing acknowledged is lost', async () => {
    const load = new Load('a');
    await load.waitFor(100);
    const old = (await leader())!;
    await kill9(old);
    const killedAt = Date.now();
    const next = await until('a new leader', async () => {
      const id = await leader();
      return id !== null && id !== old ? id : null;
    });
    const electedInMs = Date.now() - killedAt;
    expect(next).not.toBe(old);
    expect(electedInMs).toBeLessThan(3_000); // election timeout is 200–400 ms; generous for a loaded CI machine
    const before = load.acknowledged.length;
    await load.waitFor(before + 100); // writes carry on under the new leader
    startNode(old);
    await load.stop();
    await allCaughtUp();
    for (const node of config.nodes) await stopGracefully(node.id);
    for (const node of config.nodes) {
      const users = usersIn(node.id);
      for (const user of load.acknowledged) expect(users.has(user), `${user} on ${node.id}`).toBe(true);
    }
  });

  it('survive kill -9 of all three at once under load: nothing acknowledged is lost', async () => {
    for (const node of config.nodes) startNode(node.id);
    await until('a leader', leader);
    const load = new Load('b');
    await load.waitFor(50);
    await Promise.all(config.nodes.map((n) => kill9(n.id)));
    const acknowledged = load.acknowledged.slice();
    for (const node of config.nodes) startNode(node.id);
    await load.stop();
    await allCaughtUp();
    for (const node of config.nodes) await stopGracefully(node.id);
    for (const node of config.nodes) {
      const users = usersIn(node.id);
      for (const user of acknowledged) expect(users.has(user), `${user} on ${node.id}`).toBe(true);
    }
  });

  it('leaves three stores that verify and are identical', () => {
    const verdicts = config.nodes.map((n) => audit('--data', join(root, n.id, 'tracker'), '--verify'));
    for (const verdict of verdicts) expect(verdict).toMatchObject({ status: 0, stdout: expect.stringMatching(/^verify ok: \d+ entries, chain head [0-9a-f]{64}\n$/) });
    expect(new Set(verdicts.map((v) => v.stdout)).size).toBe(1);
    const [a, b, c] = config.nodes.map((n) => join(root, n.id, 'tracker'));
    expect(audit('--data', a!, '--against', b!)).toMatchObject({ status: 0, stdout: expect.stringMatching(/no divergence/) });
    expect(audit('--data', a!, '--against', c!)).toMatchObject({ status: 0, stdout: expect.stringMatching(/no divergence/) });
    expect(audit('--data', a!).stdout).toBe(audit('--data', b!).stdout);
  });
});
