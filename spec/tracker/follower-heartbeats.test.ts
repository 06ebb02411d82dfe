// Heartbeats answered by any node (issue 20: 10,000 peers beating every 5 s need not all reach
// the leader), on three simulated tracker nodes exactly as `clique tracker` runs them. A
// follower answers a session it knows and tells the leader, one batch a second, so a session
// whose heartbeats only ever reach a follower lives on, a silent one still expires, and no
// heartbeat becomes a Raft write; a follower that does not know a session points at the leader,
// so only the leader says NOT_LOGGED_IN.

import { describe, expect, it } from 'vitest';
import { clusterTrust } from '../../src/tracker/cluster-config.js';
import { TrackerClient, type OpenedSession } from '../../src/tracker/tracker-client.js';
import { drive, startCluster, TTL_MS } from '../helpers/sim-trackers.js';

const KEY = 'ab'.repeat(32);

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'OK';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

describe('heartbeats answered by followers (simulated)', () => {
  it('keep a session alive through a follower alone, as no Raft write, while a silent one expires; only the leader says NOT_LOGGED_IN', async () => {
    const { sim, trackers, client, leader } = await startCluster(41);
    const config = [...trackers.values()][0]!.config;
    const trust = clusterTrust(config);
    await drive(sim, client.createUser('alice', 'pw-a'));
    await drive(sim, client.createUser('bob', 'pw-b'));
    const alice: OpenedSession = await drive(sim, client.login('alice', 'pw-a', 6881, KEY));
    const bob: OpenedSession = await drive(sim, client.login('bob', 'pw-b', 6881, KEY));
    const leaderHost = leader()!;
    const followerHost = [...trackers.keys()].find((host) => host !== leaderHost)!;
    const toFollower = new TrackerClient(sim.forHost('client'), { nodes: [`${followerHost}:7200`], trust, clientId: 'follower-only' });
    const status = async (host: string) => (await drive(sim, client.status(`${host}:7200`)))!;
    const commitBefore = (await status(leaderHost)).commit;

    // Alice beats every second, to the follower only; Bob says nothing.
    const clientWorld = sim.forHost('client');
    let beating = true;
    const failures: string[] = [];
    const beat = (): void => {
      if (!beating) return;
      toFollower.heartbeat(alice, 6881).catch((error: { code?: string }) => failures.push(error.code ?? 'error'));
      clientWorld.clock.setTimer(1_000, beat);
    };
    beat();
    const bobExpired = (): boolean => !trackers.get(leaderHost)!.node.store.state.sessions.has(bob.sessionId);
    await sim.runUntil(bobExpired, 3 * TTL_MS);
    expect(bobExpired()).toBe(true);
    await sim.runUntil(() => false, 3 * TTL_MS);
    beating = false;
    expect(failures).toEqual([]);
    expect(trackers.get(leaderHost)!.node.store.state.sessions.has(alice.sessionId)).toBe(true);
    // The follower answered them all itself and the leader heard of them in batches; the only
    // entry in all that time is Bob's expiry.
    const followerStatus = await status(followerHost);
    const leaderStatus = await status(leaderHost);
    expect(followerStatus.heartbeats!.answered).toBeGreaterThanOrEqual((3 * TTL_MS) / 1_000);
    expect(leaderStatus.heartbeats!.relayedIn).toBeGreaterThanOrEqual((3 * TTL_MS) / 1_000 - 2);
    expect(leaderStatus.heartbeats!.answered).toBe(0);
    expect(leaderStatus.commit - commitBefore).toBe(1);
    expect(leaderStatus.sessions).toBe(1);
    expect(followerStatus.sessions).toBe(1);

    // Bob, expired: the follower does not know him any more and points at the leader, which says so.
    expect(await code(drive(sim, toFollower.heartbeat(bob)))).toBe('NOT_LOGGED_IN');
    expect(await code(drive(sim, toFollower.heartbeat({ sessionId: 'nobody', token: 'x' })))).toBe('NOT_LOGGED_IN');
    toFollower.close();
    for (const t of trackers.values()) await drive(sim, t.stop());
  });
});
