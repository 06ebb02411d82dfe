// Why this file exists: issue 15's clock steps on real tracker processes. Each node's wall clock
// is offset through the real World's test-only switch (CLIQUE_TEST_CLOCK_OFFSET_FILE, a file the
// test rewrites while the node runs): the leader steps +120 s, another node −3600 s. Sessions
// outlive the point where a wall-clock TTL would have ended them, tickets are issued (by a node
// whose clock agrees) and pass a serving peer's check, and `status` of the skewed nodes says so.

import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeStatus } from '../../src/tracker/client-protocol.js';
import type { OpenedSession, TrackerClient } from '../../src/tracker/tracker-client.js';
import { ed25519PublicKeyFromRaw, verifyTicket } from '../../src/torrent/ticket.js';
import { CLOCK_OFFSET_SWITCH } from '../../src/world/real/real-clock-offset.js';
import { fileBytes, fileMeta } from '../helpers/domain-fixtures.js';
import { TrackerProcesses, until } from '../helpers/tracker-processes.js';

const TTL_MS = 4_000;
const cluster = new TrackerProcesses(['--session-ttl', String(TTL_MS)]);
const KEY = createHash('sha256').update('key of alice').digest('hex');
const offsetFile = (id: string): string => join(cluster.root, `${id}.clock-offset`);
const step = (id: string, offsetMs: number): void => writeFileSync(offsetFile(id), `${offsetMs}\n`);
let client: TrackerClient;
let heartbeats: ReturnType<typeof setInterval> | null = null;

beforeAll(async () => {
  await cluster.init(3);
  for (const node of cluster.config.nodes) {
    step(node.id, 0);
    cluster.envOf.set(node.id, { [CLOCK_OFFSET_SWITCH]: offsetFile(node.id) });
  }
  cluster.startAll();
  await until('a leader', () => cluster.leader());
  client = cluster.client('clock-test');
});

afterAll(async () => {
  if (heartbeats) clearInterval(heartbeats);
  client.close();
  await cluster.dispose();
});

async function statusOf(id: string): Promise<NodeStatus | null> {
  return (await cluster.statuses()).get(id) ?? null;
}

describe.sequential('clock steps on real tracker processes', () => {
  it('leader +120 s, another node -3600 s: sessions live on, tickets are issued and valid, the skewed nodes report it', async () => {
    const meta = fileMeta('film.mkv', fileBytes(200_000));
    const publicKey = ed25519PublicKeyFromRaw(new Uint8Array(Buffer.from(cluster.config.publicKey, 'base64')));
    await client.createUser('alice', 'pw-alice');
    await client.createUser('bob', 'pw-bob');
    const alice: OpenedSession = await client.login('alice', 'pw-alice', 6881, KEY);
    await client.command(alice, { type: 'CreateGroup', group: 'g' });
    await client.command(alice, { type: 'ShareFile', group: 'g', file: meta });
    // Alice's peer heartbeats, as a shell does (at a third of the TTL); Bob's stays silent.
    heartbeats = setInterval(() => void client.heartbeat(alice).catch(() => undefined), TTL_MS / 3);
    await until('every node to have measured the others', async () => {
      const all = [...(await cluster.statuses()).values()];
      return all.every((s) => s !== null && typeof s.clockSkewMs === 'number') ? true : null;
    });

    const stepped = (await cluster.leader())!;
    // First a step within the limit (+9 s): nobody is called skewed, nobody hands over, and a
    // silent session lives out its TTL (a wall-clock TTL of 4 s would end it at once).
    const early: OpenedSession = await client.login('bob', 'pw-bob', 6881, KEY);
    const earlyAtMs = performance.now();
    step(stepped, 9_000);
    await until('the leader to read its stepped clock', async () => ((await statusOf(stepped))?.clockSkewMs ?? 0) > 8_000 ? true : null);
    await until(
      'most of a TTL to pass with the silent session alive throughout',
      async () => {
        expect(await client.query(early, { name: 'whoami' })).toMatchObject({ user: 'bob' });
        return performance.now() - earlyAtMs > TTL_MS - 1_000 ? true : null;
      },
      TTL_MS,
    );
    expect(await statusOf(stepped)).toMatchObject({ role: 'leader', clockSkewed: false });
    step(stepped, 0);
    await until('the leader to read its clock back', async () => Math.abs((await statusOf(stepped))?.clockSkewMs ?? 1e9) < 1_000 ? true : null);
    const ids = cluster.config.nodes.map((n) => n.id);
    const other = ids.find((id) => id !== stepped)!;
    const sound = ids.find((id) => id !== stepped && id !== other)!;
    const bob: OpenedSession = await client.login('bob', 'pw-bob', 6881, KEY);
    const bobSeenAtMs = performance.now();
    step(stepped, 120_000);
    step(other, -3_600_000);

    const skewed = await until('the stepped nodes to report their skew', async () => {
      const [a, b] = [await statusOf(stepped), await statusOf(other)];
      return a?.clockSkewed === true && b?.clockSkewed === true ? { a, b } : null;
    });
    expect(Math.abs(skewed.a.clockSkewMs! - 120_000)).toBeLessThan(2_000);
    expect(Math.abs(skewed.b.clockSkewMs! + 3_600_000)).toBeLessThan(2_000);
    expect(await statusOf(sound)).toMatchObject({ clockSkewed: false });
    // Bob's silent session is still there (a +120 s step on a wall-clock TTL ends it at once).
    expect(await client.query(bob, { name: 'whoami' })).toMatchObject({ user: 'bob' });
    expect(performance.now() - bobSeenAtMs).toBeLessThan(TTL_MS);

    // A ticket, from a node whose clock agrees (the skewed leader refuses and hands over), valid
    // as a serving peer with a sound clock checks it.
    const ticket = await client.ticket(alice, 'g', meta.fileId);
    expect(verifyTicket(ticket.ticket, publicKey, { nowMs: Date.now(), fileId: meta.fileId, key: KEY, group: 'g' })).toMatchObject({ ok: true });
    const leader = await until('a leader whose clock agrees', async () => {
      const id = await cluster.leader();
      return id === sound ? id : null;
    });
    expect(leader).toBe(sound);

    // Alice lives past twice her TTL after the step, on heartbeats alone.
    const steppedAtMs = performance.now();
    await until(
      'two session TTLs to pass with Alice alive throughout',
      async () => {
        expect(await client.query(alice, { name: 'whoami' })).toMatchObject({ user: 'alice' });
        return performance.now() - steppedAtMs > 2 * TTL_MS ? true : null;
      },
      4 * TTL_MS,
    );
    const again = await client.ticket(alice, 'g', meta.fileId);
    expect(verifyTicket(again.ticket, publicKey, { nowMs: Date.now(), fileId: meta.fileId, key: KEY, group: 'g' })).toMatchObject({ ok: true });

    // The skewed nodes said so in their logs.
    expect(readFileSync(cluster.logPath(stepped), 'utf8')).toContain('"event":"clock_skewed"');
    expect(readFileSync(cluster.logPath(other), 'utf8')).toContain('"event":"clock_skewed"');
    expect(readFileSync(cluster.logPath(sound), 'utf8')).not.toContain('"event":"clock_skewed"');

    // Both step back: they agree again.
    step(stepped, 0);
    step(other, 0);
    await until('every node to agree again', async () => {
      const all = [...(await cluster.statuses()).values()];
      return all.every((s) => s?.clockSkewed === false) ? true : null;
    });
    expect(await client.query(alice, { name: 'whoami' })).toMatchObject({ user: 'alice' });
  }, 60_000);
});
