// A tracker store written by the build before observed addresses (spec/fixtures/store-v1) under
// this build: it verifies and audits as it is (from the node's data directory, as `clique
// tracker --data` was given it), a node started on it serves it and carries on appending, and
// its Raft log decided again from the start (the old entries under their own rules) gives the
// very same archive, byte for byte. Its cluster was made before TLS: `clique cluster upgrade`
// gives it a CA and a node certificate and keeps its node, addresses and signing key.

import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TrackerClient } from '../../src/tracker/tracker-client.js';
import { createRealWorld } from '../../src/world/real/real-world.js';
import { CLI, freeBasePort, until } from '../helpers/tracker-processes.js';

const FIXTURE = new URL('../fixtures/store-v1/', import.meta.url).pathname;
const root = mkdtempSync(join(tmpdir(), 'clique-store-v1-'));
const world = createRealWorld();
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A copy of the fixture on free ports, its cluster upgraded to TLS unless `upgrade` is false. */
async function copy(name: string, upgrade = true): Promise<{ dir: string; cluster: string; client: string }> {
  const dir = join(root, name);
  cpSync(FIXTURE, dir, { recursive: true });
  const cluster = join(dir, 'cluster.json');
  const config = JSON.parse(readFileSync(cluster, 'utf8')) as { nodes: Array<{ peer: string; client: string }> };
  const base = await freeBasePort(1);
  config.nodes[0]!.peer = `127.0.0.1:${base}`;
  config.nodes[0]!.client = `127.0.0.1:${base + 100}`;
  writeFileSync(cluster, JSON.stringify(config));
  if (upgrade) expect((await clique('cluster', 'upgrade', '--dir', dir)).status).toBe(0);
  return { dir, cluster, client: config.nodes[0]!.client };
}

function clique(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Runs `clique tracker --id 1` (the bare number of n1) on a copy until `work` is done. */
async function withNode<T>(copied: { dir: string; cluster: string; client: string }, work: (client: TrackerClient) => Promise<T>): Promise<T> {
  const node = spawn(process.execPath, [CLI, 'tracker', '--id', '1', '--cluster', copied.cluster, '--data', join(copied.dir, 'n1')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  node.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const client = new TrackerClient(world, { nodes: [copied.client], trust: { kind: 'ca', caPem: (JSON.parse(readFileSync(copied.cluster, 'utf8')) as { ca: string }).ca }, clientId: 'store-v1-test' });
  try {
    await until('the node to lead', async () => ((await client.status(copied.client))?.role === 'leader' ? true : null));
    return await work(client);
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}\nnode log:\n${log}`);
  } finally {
    client.close();
    await new Promise<void>((resolve) => {
      node.once('exit', () => resolve());
      node.kill('SIGTERM');
    });
  }
}

describe('a cluster made before TLS', () => {
  it('is refused with the way out, and upgraded keeping its node, addresses and signing key', async () => {
    const copied = await copy('upgrade', false);
    const before = JSON.parse(readFileSync(copied.cluster, 'utf8')) as { nodes: unknown; publicKey: string };
    const refused = await clique('tracker', '--id', '1', '--cluster', copied.cluster, '--data', join(copied.dir, 'n1'));
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain(`run clique cluster upgrade --dir ${copied.dir}`);
    const upgraded = await clique('cluster', 'upgrade', '--dir', copied.dir);
    expect(upgraded.status).toBe(0);
    expect(upgraded.stdout).toContain('same nodes, addresses and signing key');
    const after = JSON.parse(readFileSync(copied.cluster, 'utf8')) as { version: number; nodes: unknown; publicKey: string; ca: string };
    expect(after).toMatchObject({ version: 2, nodes: before.nodes, publicKey: before.publicKey });
    expect(after.ca).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(existsSync(join(copied.dir, 'cluster.secret'))).toBe(false);
    expect(statSync(join(copied.dir, 'n1.secret')).mode & 0o777).toBe(0o600);
    expect(statSync(join(copied.dir, 'ca.secret')).mode & 0o777).toBe(0o600);
    expect((await clique('cluster', 'upgrade', '--dir', copied.dir)).stdout).toContain('nothing to do');
  });
});

describe('a store written before rules versions', () => {
  it('verifies and audits from the data directory the node was given', async () => {
    const copied = await copy('audit');
    const verify = await clique('audit', '--data', join(copied.dir, 'n1'), '--verify');
    expect(verify).toMatchObject({ status: 0, stdout: expect.stringMatching(/^verify ok: 14 entries, chain head [0-9a-f]{64}\n$/) });
    const history = await clique('audit', '--data', join(copied.dir, 'n1'));
    expect(history.stdout).toContain('OpenSession alice 10.1.2.3:6881');
    expect(history.stdout).toContain('address=bob-laptop:6883');
  });

  it('is served and extended by a node of this build, whose logins record the address it observes', async () => {
    const copied = await copy('serve');
    await withNode(copied, async (client) => {
      const bob = await client.login('bob', 'bob-secret', 6884);
      expect(await client.query(bob, { name: 'listGroups' })).toEqual([
        { group: 'bobs', owner: 'bob', relation: 'owner', memberCount: 1 },
        { group: 'friends', owner: 'alice', relation: 'none', memberCount: 1 },
      ]);
      await client.command(bob, { type: 'RequestJoin', group: 'friends' });
    });
    const verify = await clique('audit', '--data', join(copied.dir, 'n1'), '--verify');
    expect(verify.stdout).toMatch(/^verify ok: 1[6-9] entries/);
    const history = await clique('audit', '--data', join(copied.dir, 'n1'), '--user', 'bob');
    expect(history.stdout).toMatch(/OpenSession bob 127\.0\.0\.1:6884 .* address=127\.0\.0\.1:6884/);
  });

  it('decides its old Raft entries again under their own rules into the same archive', async () => {
    const copied = await copy('replay');
    const original = join(root, 'original-store');
    cpSync(join(FIXTURE, 'n1', 'tracker'), original, { recursive: true });
    rmSync(join(copied.dir, 'n1', 'tracker'), { recursive: true });
    await withNode(copied, async (client) => {
      await until('the old entries to apply again', async () => ((await client.status(copied.client))!.applied >= 14 ? true : null));
    });
    const against = await clique('audit', '--data', join(copied.dir, 'n1'), '--against', original);
    expect(against).toMatchObject({ status: 0, stdout: expect.stringMatching(/no divergence/) });
    expect(against.stdout).toMatch(/no divergence in 14 common entries/);
  });

  it('a tracker id that is not in the cluster is bad usage', async () => {
    const copied = await copy('bad-id');
    const result = await clique('tracker', '--id', '7', '--cluster', copied.cluster, '--data', join(copied.dir, 'n1'));
    expect(result.status).toBe(2);
    expect(result.stderr).toBe(`error UNKNOWN_NODE: no node 7 in ${copied.cluster} (it has n1)\n`);
  });
});
