// Why this file exists: issue 15's clock steps, simulated. Three tracker nodes exactly as
// `clique tracker` runs them, on one SimWorld; the leader's wall clock steps +120 s and another
// node's −3600 s, then both step back. No session expires early (durations are monotonic), no
// ticket is refused for the step (a skewed node refuses, the client asks elsewhere, the skewed
// leader hands over), no entry takes a skewed clock's time, and the skewed nodes report it.

import { describe, expect, it } from 'vitest';
import { verifyTicket } from '../../src/torrent/ticket.js';
import { type OpenedSession } from '../../src/tracker/tracker-client.js';
import { drive, startCluster, TTL_MS } from '../helpers/sim-trackers.js';
import { metaOf, swarmFile } from '../../src/sim/swarm/sim-swarm.js';
import { CLOCK_SKEW_LIMIT_MS } from '../../src/tracker/clock-watch.js';

const KEY = 'ab'.repeat(32);

describe('clock steps on tracker nodes (simulated)', () => {
  it('expire no session early, refuse no ticket for the step, keep entry times on the median clock, and the skewed nodes report themselves', async () => {
    const { sim, trackers, client, publicKey, leader, logs } = await startCluster(15);
    const meta = metaOf('film.mkv', swarmFile(15, 100_000));
    await drive(sim, client.createUser('alice', 'pw-a'));
    await drive(sim, client.createUser('bob', 'pw-b'));
    const alice: OpenedSession = await drive(sim, client.login('alice', 'pw-a', 6881, KEY));
    await drive(sim, client.command(alice, { type: 'CreateGroup', group: 'g' }));
    await drive(sim, client.command(alice, { type: 'ShareFile', group: 'g', file: meta }));
    // Alice heartbeats every second; Bob, once logged in, stays silent.
    const clientWorld = sim.forHost('client');
    let beating = true;
    const beat = (): void => {
      if (!beating) return;
      client.heartbeat(alice).catch(() => undefined);
      clientWorld.clock.setTimer(1_000, beat);
    };
    beat();
    // Every node has measured the others.
    await sim.runUntil(() => [...trackers.values()].every((t) => t.node.status().clockSkewMs !== null), 10_000);

    const stepped = leader()!;
    const other = [...trackers.keys()].find((h) => h !== stepped)!;
    const sound = [...trackers.keys()].find((h) => h !== stepped && h !== other)!;
    const bob: OpenedSession = await drive(sim, client.login('bob', 'pw-b', 6881, KEY));
    const bobLoggedInAtMs = sim.elapsedMs();
    sim.stepClock(stepped, 120_000);
    sim.stepClock(other, -3_600_000);

    // The skewed nodes know it at once (their own step) and say so; the sound node does not.
    await sim.runUntil(() => trackers.get(stepped)!.node.status().clockSkewed && trackers.get(other)!.node.status().clockSkewed, 5_000);
    const statusOf = async (host: string) => (await drive(sim, client.status(`${host}:7200`)))!;
    expect(await statusOf(stepped)).toMatchObject({ clockSkewed: true });
    expect(Math.abs((await statusOf(stepped)).clockSkewMs! - 120_000)).toBeLessThan(1_000);
    expect(Math.abs((await statusOf(other)).clockSkewMs! + 3_600_000)).toBeLessThan(1_000);
    expect(await statusOf(sound)).toMatchObject({ clockSkewed: false });
    expect(Math.abs((await statusOf(sound)).clockSkewMs!)).toBeLessThan(CLOCK_SKEW_LIMIT_MS);
    // The log says it at the guard's next look (once a second).
    const logged = (host: string, event: string) => logs.some((l) => l.startsWith(`${host} ${event} `));
    expect(await sim.runUntil(() => logged(stepped, 'clock_skewed') && logged(other, 'clock_skewed'), 2_000)).toBe(true);
    expect(logged(sound, 'clock_skewed')).toBe(false);

    // Bob's silent session lives out its TTL, not a millisecond less (the step of +120 s would
    // have expired it at once on a wall-clock TTL).
    await sim.runUntil(() => sim.elapsedMs() >= bobLoggedInAtMs + TTL_MS - 500, TTL_MS);
    expect(await drive(sim, client.query(bob, { name: 'whoami' }))).toMatchObject({ user: 'bob' });

    // A ticket is issued (by a node whose clock agrees) and valid at true time.
    const ticket = await drive(sim, client.ticket(alice, 'g', meta.fileId));
    expect(verifyTicket(ticket.ticket, publicKey, { nowMs: sim.nowMs(), fileId: meta.fileId, key: KEY, group: 'g' })).toMatchObject({ ok: true });
    // The skewed leader handed over.
    await sim.runUntil(() => leader() !== null && leader() !== stepped && leader() !== other, 10_000);
    expect([stepped, other]).not.toContain(leader());

    // Entries written while the clocks are stepped carry the cluster's time, not a skewed one.
    for (let i = 0; i < 5; i++) await drive(sim, client.command(alice, { type: 'CreateGroup', group: `g${i}` }));
    await sim.runFor(15_000);
    for (const t of trackers.values()) expect(Math.abs(t.node.store.state.lastTimeMs - sim.nowMs())).toBeLessThan(CLOCK_SKEW_LIMIT_MS + 15_000);
    expect(await drive(sim, client.query(alice, { name: 'whoami' }))).toMatchObject({ user: 'alice' });

    // Both step back: the nodes agree again, nothing expired, tickets still come.
    sim.stepClock(stepped, -120_000);
    sim.stepClock(other, 3_600_000);
    await sim.runUntil(() => [...trackers.values()].every((t) => !t.node.status().clockSkewed), 5_000);
    expect(await sim.runUntil(() => logged(stepped, 'clock_agrees') && logged(other, 'clock_agrees'), 2_000)).toBe(true);
    await sim.runFor(2 * TTL_MS);
    expect(await drive(sim, client.query(alice, { name: 'whoami' }))).toMatchObject({ user: 'alice' });
    const again = await drive(sim, client.ticket(alice, 'g', meta.fileId));
    expect(verifyTicket(again.ticket, publicKey, { nowMs: sim.nowMs(), fileId: meta.fileId, key: KEY, group: 'g' })).toMatchObject({ ok: true });
    beating = false;
    for (const t of trackers.values()) await drive(sim, t.stop());
  }, 120_000);

  it('a step of the leader within the limit (+9 s, then -18 s) neither ends a silent session early nor keeps it late: TTLs are monotonic', async () => {
    const { sim, trackers, client, leader } = await startCluster(16);
    await sim.runUntil(() => [...trackers.values()].every((t) => t.node.status().clockSkewMs !== null), 10_000);
    const stepped = leader()!;
    await drive(sim, client.createUser('bob', 'pw-b'));
    const sessions = () => trackers.get(stepped)!.node.store.state.sessions;
    for (const byMs of [9_000, -18_000]) {
      const bob: OpenedSession = await drive(sim, client.login('bob', 'pw-b', 6881, KEY));
      const seenAtMs = sim.elapsedMs();
      sim.stepClock(stepped, byMs);
      await sim.runUntil(() => !sessions().has(bob.sessionId), 4 * TTL_MS);
      const expiredAfterMs = sim.elapsedMs() - seenAtMs;
      // The leader's expiry check runs every TTL/10; the ExpireSession entry then commits.
      expect(expiredAfterMs).toBeGreaterThanOrEqual(TTL_MS);
      expect(expiredAfterMs).toBeLessThan(TTL_MS + TTL_MS / 10 + 200);
      expect(trackers.get(stepped)!.node.status()).toMatchObject({ role: 'leader', clockSkewed: false });
    }
    for (const t of trackers.values()) await drive(sim, t.stop());
  }, 60_000);
});
