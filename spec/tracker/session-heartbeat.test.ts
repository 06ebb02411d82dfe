// The session service's heartbeat against a node whose applied state lags its log (issue 20):
// a leader just elected, or one whose apply is behind, does not yet see a session that a
// committed login opened. Only the leader says NOT_LOGGED_IN, so it looks again by ReadIndex
// before it does; a follower that does not see the session, or knows no leader, points at the
// leader; a follower that sees it answers and hands it to the leader in its next batch.

import { describe, expect, it } from 'vitest';
import type { TrackerState } from '../../src/log/domain/state.js';
import { ed25519FromSeed } from '../../src/torrent/ticket.js';
import { RELAY_HEARTBEATS_EVERY_MS, SessionService, type HeardBatch, type HeartbeatRelay } from '../../src/tracker/session-service.js';
import { FOLLOWER_MAX_APPLY_LAG_ENTRIES, type TrackerNode } from '../../src/tracker/tracker-node.js';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import { Driver } from '../helpers/domain-fixtures.js';

const TOKEN = 'token-of-s1';

/** A node as the service sees it: a role, the state it has applied, and the state a ReadIndex read would see. */
function fakeNode(role: 'leader' | 'follower', leader: string | null, applied: TrackerState, readable: TrackerState, applyLag = 0): TrackerNode {
  const fake = {
    raft: { status: () => ({ role, leader, term: 2, commit: applied.appliedIndex + applyLag }) },
    store: { state: applied, appliedIndex: applied.appliedIndex },
    read: async <T>(query: (state: TrackerState) => T) => (role === 'leader' ? { kind: 'ok' as const, index: 10, value: query(readable) } : { kind: 'not-leader' as const, leader }),
    submit: async () => ({ kind: 'not-leader' as const, leader }),
    onApplied: () => {},
    appliesInStep: () => applyLag < FOLLOWER_MAX_APPLY_LAG_ENTRIES,
  };
  return fake as unknown as TrackerNode;
}

function states(): { before: TrackerState; after: TrackerState } {
  const before = new Driver();
  before.createUser('alice');
  const after = new Driver();
  after.createUser('alice');
  after.login('alice', 'session-s1', TOKEN);
  return { before: before.state, after: after.state };
}

describe('a heartbeat on a node whose state lags', () => {
  it('from a leader that has not applied the login yet is answered after a ReadIndex read, not NOT_LOGGED_IN', async () => {
    const { before, after } = states();
    const world = new SimWorld({ seed: 1 }).forHost('t1');
    const key = ed25519FromSeed(new Uint8Array(32)).privateKey;
    const lagging = new SessionService(world, fakeNode('leader', 'n1', before, after), key);
    expect(await lagging.heartbeat({ sessionId: 'session-s1', token: TOKEN })).toMatchObject({ ok: true });
    const gone = new SessionService(world, fakeNode('leader', 'n1', before, before), key);
    expect(await gone.heartbeat({ sessionId: 'session-s1', token: TOKEN })).toMatchObject({ ok: false, code: 'NOT_LOGGED_IN' });
    expect(await gone.heartbeat({ sessionId: 'session-s1', token: 'wrong' })).toMatchObject({ ok: false, code: 'NOT_LOGGED_IN' });
  });

  it('from a follower points at the leader unless it sees the session and knows a leader; what it answers goes to the leader in one batch', async () => {
    const { before, after } = states();
    const sim = new SimWorld({ seed: 1 });
    const world = sim.forHost('t2');
    const key = ed25519FromSeed(new Uint8Array(32)).privateKey;
    expect(await new SessionService(world, fakeNode('follower', 'n1', before, after), key).heartbeat({ sessionId: 'session-s1', token: TOKEN })).toMatchObject({ ok: false, code: 'NOT_LEADER' });
    expect(await new SessionService(world, fakeNode('follower', null, after, after), key).heartbeat({ sessionId: 'session-s1', token: TOKEN })).toMatchObject({ ok: false, code: 'NOT_LEADER' });
    expect(await new SessionService(world, fakeNode('follower', 'n1', after, after), key).heartbeat({ sessionId: 'session-s1', token: 'wrong' })).toMatchObject({ ok: false, code: 'NOT_LEADER' });

    const sent: { to: string; batch: HeardBatch }[] = [];
    let linkUp = true;
    const relay: HeartbeatRelay = { reaches: () => linkUp, sendHeartbeats: (to, batch) => sent.push({ to, batch }), onHeartbeats: () => {} };
    // A follower far behind in applying (it may not have seen an expiry) vouches for nothing.
    const lagging = new SessionService(world, fakeNode('follower', 'n1', after, after, FOLLOWER_MAX_APPLY_LAG_ENTRIES), key);
    lagging.useRelay(relay);
    expect(await lagging.heartbeat({ sessionId: 'session-s1', token: TOKEN })).toMatchObject({ ok: false, code: 'NOT_LEADER' });
    const follower = new SessionService(world, fakeNode('follower', 'n1', after, after, FOLLOWER_MAX_APPLY_LAG_ENTRIES - 1), key);
    follower.useRelay(relay);
    // Nor one whose link to the leader is down: its word would not reach the leader in time.
    linkUp = false;
    expect(await follower.heartbeat({ sessionId: 'session-s1', token: TOKEN })).toMatchObject({ ok: false, code: 'NOT_LEADER' });
    linkUp = true;
    follower.start();
    for (let i = 0; i < 3; i++) expect(await follower.heartbeat({ sessionId: 'session-s1', token: TOKEN }, { host: '10.9.9.9', port: 7000 })).toMatchObject({ ok: true });
    await sim.runFor(RELAY_HEARTBEATS_EVERY_MS + 10);
    expect(sent).toEqual([{ to: 'n1', batch: { sessions: ['session-s1'], moved: [{ sessionId: 'session-s1', host: '10.9.9.9', port: 7000 }] } }]);
    await sim.runFor(3 * RELAY_HEARTBEATS_EVERY_MS);
    expect(sent).toHaveLength(1); // nothing heard since: nothing sent
    expect(follower.heartbeatCounts).toEqual({ answered: 3, relayedIn: 0 });
    follower.stop();
  });
});
