// Tickets granted from a node's recent state (TrackerNode.readRecent, issue 20), on three
// simulated nodes exactly as `clique tracker` runs them. A node whose state a ReadIndex confirmed
// within TICKET_MAX_STALENESS_MS grants from it with no round to its leader, and renews the
// confirmation in the background; a refusal is asked again linearizably, so a member accepted a
// moment ago gets a ticket at once; a node cut off from the others grants for that long and no
// longer, each ticket's notBefore no later than a removal it missed (so holders told of the
// removal refuse it), and a leader's failover goes by without a ticket refused.

import { describe, expect, it } from 'vitest';
import { clusterTrust } from '../../src/tracker/cluster-config.js';
import { TrackerClient, type OpenedSession } from '../../src/tracker/tracker-client.js';
import { TICKET_MAX_STALENESS_MS } from '../../src/tracker/session-service.js';
import { verifyTicket } from '../../src/torrent/ticket.js';
import type { RunningTracker } from '../../src/tracker/tracker-process.js';
import { drive, startCluster } from '../helpers/sim-trackers.js';
import { fileBytes, fileMeta } from '../helpers/domain-fixtures.js';

const KEY = 'ab'.repeat(32);
const FILE = fileMeta('film.mkv', fileBytes(3 * 1024));

/** Counts the ReadIndex rounds a node starts. */
function countReadIndexes(tracker: RunningTracker): { count: number } {
  const counter = { count: 0 };
  const raft = tracker.node.raft;
  const original = raft.readIndex.bind(raft);
  raft.readIndex = (context: string) => {
    counter.count++;
    original(context);
  };
  return counter;
}

async function groupWithFile(seed: number) {
  const cluster = await startCluster(seed, { sessionTtlMs: 120_000 });
  const { sim, client } = cluster;
  for (const user of ['alice', 'bob', 'carol']) await drive(sim, client.createUser(user, 'pw'));
  const login = (user: string): Promise<OpenedSession> => drive(sim, client.login(user, 'pw', 6881, KEY));
  const alice = await login('alice');
  const bob = await login('bob');
  const carol = await login('carol');
  await drive(sim, client.command(alice, { type: 'CreateGroup', group: 'films' }));
  await drive(sim, client.command(bob, { type: 'RequestJoin', group: 'films' }));
  await drive(sim, client.command(alice, { type: 'AcceptRequest', group: 'films', user: 'bob' }));
  await drive(sim, client.command(alice, { type: 'ShareFile', group: 'films', file: FILE }));
  const config = [...cluster.trackers.values()][0]!.config;
  const leaderHost = cluster.leader()!;
  const followerHost = [...cluster.trackers.keys()].find((host) => host !== leaderHost)!;
  // A client that asks one follower only, as a peer whose push stream is there does.
  const atFollower = new TrackerClient(sim.forHost('peer'), { nodes: [`${followerHost}:7200`], trust: clusterTrust(config), clientId: 'peer', deadlineMs: 3_000 });
  return { ...cluster, alice, bob, carol, leaderHost, followerHost, atFollower };
}

describe('tickets from a recent state (simulated)', () => {
  it('grants from a state confirmed a moment ago, with no ReadIndex round per ticket', async () => {
    const { sim, trackers, bob, followerHost, atFollower } = await groupWithFile(71);
    const rounds = countReadIndexes(trackers.get(followerHost)!);
    await drive(sim, atFollower.ticket(bob, 'films', FILE.fileId));
    expect(rounds.count).toBe(1);
    // 40 tickets over 4 s: the confirmation is renewed past half its age, not once a ticket.
    for (let i = 0; i < 40; i++) {
      await drive(sim, atFollower.ticket(bob, 'films', FILE.fileId));
      await sim.runFor(100);
    }
    expect(rounds.count).toBeGreaterThanOrEqual(2);
    expect(rounds.count).toBeLessThanOrEqual(4);
  });

  it('asks a refusal again linearizably: a member accepted a moment ago gets a ticket at once', async () => {
    const { sim, trackers, client, alice, bob, carol, leaderHost, followerHost, atFollower } = await groupWithFile(72);
    await drive(sim, atFollower.ticket(bob, 'films', FILE.fileId)); // the follower's state is confirmed
    // The leader's messages reach this follower late: the other one makes the quorum.
    sim.net.setLink(leaderHost, followerHost, { latencyMs: 300 });
    await drive(sim, client.command(carol, { type: 'RequestJoin', group: 'films' }));
    const accepted = await drive(sim, client.command(alice, { type: 'AcceptRequest', group: 'films', user: 'carol' }));
    // The follower has not applied the acceptance yet: its recent state refuses carol.
    expect(trackers.get(followerHost)!.node.store.appliedIndex).toBeLessThan(accepted.index);
    expect(await drive(sim, atFollower.ticket(carol, 'films', FILE.fileId))).toMatchObject({ ticket: expect.any(String) });
  });

  it('grants for TICKET_MAX_STALENESS_MS once cut off and no longer, each ticket refused by holders told of a removal it missed', async () => {
    const { sim, trackers, client, alice, bob, leaderHost, followerHost, atFollower, publicKey } = await groupWithFile(73);
    const confirmedAtMs = sim.elapsedMs();
    await drive(sim, atFollower.ticket(bob, 'films', FILE.fileId));
    // The ReadIndex that confirmed the follower's state was asked by now.
    const confirmedByMs = sim.elapsedMs();
    const others = [...trackers.keys()].filter((host) => host !== followerHost);
    sim.net.partition([followerHost], [...others, 'client']);
    await drive(sim, client.command(alice, { type: 'RemoveMember', group: 'films', user: 'bob' }));
    const removedAtMs = trackers.get(leaderHost)!.node.store.state.lastTimeMs;
    // The cut-off follower missed the removal and still grants, with a notBefore at or before it:
    // the one a linearizable read would have given when its state was last confirmed (10 s back
    // from then, at least).
    const askedStaleAtMs = sim.elapsedMs();
    const stale = await drive(sim, atFollower.ticket(bob, 'films', FILE.fileId));
    const checked = verifyTicket(stale.ticket, publicKey, { nowMs: sim.nowMs(), fileId: FILE.fileId, key: KEY, group: 'films' });
    expect(checked.ok).toBe(true);
    if (!checked.ok) return;
    expect(checked.claims.notBefore).toBeLessThanOrEqual(removedAtMs);
    expect(checked.claims.expires - checked.claims.notBefore).toBeGreaterThanOrEqual(5 * 60_000 + 10_000 + (askedStaleAtMs - confirmedByMs));
    // Past the bound it grants nothing.
    await sim.runFor(Math.max(0, confirmedAtMs + TICKET_MAX_STALENESS_MS - sim.elapsedMs()) + 100);
    await expect(drive(sim, atFollower.ticket(bob, 'films', FILE.fileId))).rejects.toMatchObject({ code: 'TRACKER_UNAVAILABLE' });
    // The leader, which applied the removal, refuses.
    await expect(drive(sim, client.ticket(bob, 'films', FILE.fileId))).rejects.toMatchObject({ code: 'NOT_A_MEMBER' });
  });

  it('goes on granting while the leader dies and another is elected', async () => {
    const { sim, trackers, bob, leaderHost, followerHost, atFollower } = await groupWithFile(74);
    await drive(sim, atFollower.ticket(bob, 'films', FILE.fileId));
    sim.crashHost(leaderHost);
    const newLeader = (): boolean => [...trackers].some(([host, t]) => host !== leaderHost && t.node.raft.status().role === 'leader');
    const refused: string[] = [];
    const grantedAt: number[] = [];
    while (!newLeader()) {
      await drive(sim, atFollower.ticket(bob, 'films', FILE.fileId)).then(
        () => grantedAt.push(sim.elapsedMs()),
        (error: { code?: string }) => refused.push(error.code ?? 'error'),
      );
      await sim.runFor(100);
    }
    expect(trackers.get(followerHost)!.node.raft.status().term).toBeGreaterThan(1);
    expect(refused).toEqual([]);
    expect(grantedAt.length).toBeGreaterThan(5);
  });
});
