// A leader's linearizable reads share one ReadIndex in flight (TrackerNode.read, etcd's read
// loop): fifty reads asked together cost at most two heartbeat rounds, not fifty, and each still
// sees every write applied before it was asked. A follower reads too, through its leader's read
// index. Three TrackerNodes on one SimWorld.

import { describe, expect, it } from 'vitest';
import type { ReadOutcome } from '../../src/tracker/tracker-node.js';
import { startNodes, write } from '../helpers/sim-nodes.js';

describe('shared reads', () => {
  it('fifty reads asked together share at most two ReadIndex rounds, and each sees the writes before it', async () => {
    const c = await startNodes({});
    await write(c, 0, 3);
    const leader = c.leader()!;
    let readIndexCalls = 0;
    const readIndex = leader.raft.readIndex.bind(leader.raft);
    leader.raft.readIndex = (context) => {
      readIndexCalls++;
      readIndex(context);
    };
    const outcomes: ReadOutcome<boolean>[] = [];
    const reads = Array.from({ length: 50 }, () => leader.read((state) => state.users.has('user-2')).then((outcome) => outcomes.push(outcome)));
    await c.sim.runUntil(() => outcomes.length === reads.length, 10_000);
    expect(outcomes).toHaveLength(50);
    expect(outcomes.every((o) => o.kind === 'ok' && o.value)).toBe(true);
    expect(readIndexCalls).toBeGreaterThanOrEqual(1);
    expect(readIndexCalls).toBeLessThanOrEqual(2);
    // A read asked after a write applied sees it, though a read asked before is still in flight.
    const early: ReadOutcome<boolean>[] = [];
    void leader.read((state) => state.users.has('user-3')).then((o) => early.push(o));
    await write(c, 3, 1);
    const late: ReadOutcome<boolean>[] = [];
    void leader.read((state) => state.users.has('user-3')).then((o) => late.push(o));
    await c.sim.runUntil(() => early.length === 1 && late.length === 1, 10_000);
    expect(late[0]).toMatchObject({ kind: 'ok', value: true });
  });

  it('a leader cut off answers its waiting reads not-leader, all of them, and reads again once it leads', async () => {
    const c = await startNodes({});
    await write(c, 0, 1);
    const leader = c.leader()!;
    c.cut.add(leader.raft.id);
    const outcomes: ReadOutcome<number>[] = [];
    for (let i = 0; i < 10; i++) void leader.read((state) => state.appliedIndex).then((o) => outcomes.push(o));
    await c.sim.runUntil(() => outcomes.length === 10, 30_000);
    expect(outcomes.map((o) => o.kind)).toEqual(Array(10).fill('not-leader'));
    c.cut.delete(leader.raft.id);
    await c.sim.runUntil(() => c.leader() !== undefined, 30_000);
    const now = c.leader()!;
    const after: ReadOutcome<number>[] = [];
    void now.read((state) => state.appliedIndex).then((o) => after.push(o));
    await c.sim.runUntil(() => after.length === 1, 10_000);
    expect(after[0]?.kind).toBe('ok');
  });
  it('a follower reads through its leader\'s read index: it sees every write applied before the read was asked', async () => {
    const c = await startNodes({});
    await write(c, 0, 1);
    const leader = c.leader()!;
    const follower = [...c.nodes.values()].find((n) => n !== leader)!;
    // The write is answered once the leader applied it; the follower may not have applied it yet.
    await write(c, 1, 1);
    expect(follower.store.state.users.has('user-1')).toBe(false);
    const seen: ReadOutcome<boolean>[] = [];
    void follower.read((state) => state.users.has('user-1')).then((o) => seen.push(o));
    await c.sim.runUntil(() => seen.length === 1, 10_000);
    expect(seen[0]).toMatchObject({ kind: 'ok', value: true });
    // Cut off from the leader, it cannot confirm an index: not-leader, once it gives up.
    c.cut.add(follower.raft.id);
    const cut: ReadOutcome<boolean>[] = [];
    void follower.read((state) => state.users.has('user-1')).then((o) => cut.push(o));
    await c.sim.runUntil(() => cut.length === 1, 30_000);
    expect(cut[0]?.kind).toBe('not-leader');
  });
});
