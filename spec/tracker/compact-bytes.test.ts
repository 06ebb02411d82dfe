// The Raft log a node holds in memory is bounded by bytes as well as by entries: a node compacts
// once its applied entries pass compactEveryBytes, however few they are, and a follower cut off
// meanwhile catches up by a snapshot streamed in chunks (snapshot-transfer.ts) to the leader's
// state. Three TrackerNodes on one SimWorld (helpers/sim-nodes.ts).

import { describe, expect, it } from 'vitest';
import { allRecords } from '../../src/log/domain/records.js';
import { startNodes as startCluster, write } from '../helpers/sim-nodes.js';

describe('compaction by bytes', () => {
  it('a node compacts once its applied entries pass compactEveryBytes, long before compactEveryEntries', async () => {
    const c = await startCluster({ compactEveryBytes: 20_000, compactEveryEntries: 1_000_000 });
    await write(c, 0, 150); // about 45,000 bytes of entries
    await c.sim.runFor(200);
    for (const node of c.nodes.values()) {
      const status = node.raft.status();
      expect(status.snapshotIndex, node.raft.id).toBeGreaterThan(0);
      // What it holds after the last compaction is under the bound (plus the entries since).
      expect(node.raft.log.heldBytes(), node.raft.id).toBeLessThan(20_000 + 1_000);
      expect(c.logs.filter((l) => l.startsWith(`${node.raft.id} store_snapshot`)).length, node.raft.id).toBeGreaterThanOrEqual(2);
    }
  });

  it('without the byte bound, the same writes compact nothing', async () => {
    const c = await startCluster({ compactEveryBytes: 10_000_000, compactEveryEntries: 1_000_000 });
    await write(c, 0, 150);
    await c.sim.runFor(200);
    for (const node of c.nodes.values()) {
      expect(node.raft.status().snapshotIndex).toBe(0);
      expect(node.raft.log.heldBytes()).toBeGreaterThan(40_000);
    }
  });

  it('a follower cut off while the log is compacted by bytes past it catches up by snapshot', async () => {
    const c = await startCluster({ compactEveryBytes: 20_000, compactEveryEntries: 1_000_000 });
    await write(c, 0, 5);
    const follower = [...c.nodes.values()].find((n) => n.raft.status().role !== 'leader')!;
    const behind = follower.store.appliedIndex;
    c.cut.add(follower.raft.id);
    await write(c, 5, 200);
    const leader = c.leader()!;
    expect(leader.raft.status().snapshotIndex).toBeGreaterThan(behind + 100); // the entries it lacks are gone from the leader's log
    c.cut.delete(follower.raft.id);
    const sent = (): number => c.logs.filter((l) => l.startsWith(`${leader.raft.id} snapshot_sent`)).length;
    await c.sim.runUntil(() => follower.store.appliedIndex === leader.store.appliedIndex && sent() > 0, 30_000);
    expect(follower.store.appliedIndex).toBe(leader.store.appliedIndex);
    expect(c.logs.filter((l) => l.startsWith(`${leader.raft.id} snapshot_sent`)).length).toBeGreaterThanOrEqual(1);
    expect(c.logs.filter((l) => l.startsWith(`${follower.raft.id} snapshot_installed`)).length).toBeGreaterThanOrEqual(1);
    expect(follower.raft.status().snapshotIndex).toBeGreaterThan(behind + 100); // it holds the snapshot, not the entries
    expect(follower.store.chainHead).toBe(leader.store.chainHead);
    expect([...allRecords(follower.store.state)]).toEqual([...allRecords(leader.store.state)]);
    // And it goes on from there: a later write applies everywhere.
    await write(c, 205, 1);
    await c.sim.runUntil(() => follower.store.appliedIndex === leader.store.appliedIndex, 10_000);
    expect(follower.store.state.users.has('user-205')).toBe(true);
  });
});
