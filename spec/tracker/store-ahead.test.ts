// A node that died between installing a leader's snapshot into its store and recording it in its
// Raft log starts from the store's point, and makes the Raft log on disk say so at once: the old
// entries go, the snapshot's index and term are written. Otherwise the entries it appends next
// would follow old ones that end before the snapshot, and the start after that would find a log
// with a hole ("entry 41 where 11 belongs") or throw away entries it had acknowledged.

import { describe, expect, it } from 'vitest';
import { TrackerStore } from '../../src/log/store/tracker-store.js';
import { RaftStorage } from '../../src/tracker/raft-storage.js';
import { TrackerNode } from '../../src/tracker/tracker-node.js';
import type { RaftTransport } from '../../src/tracker/transport.js';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import { makeWorkload } from '../helpers/workload.js';

const silent: RaftTransport = {
  send: () => {},
  onMessage: () => {},
  sendSnapshotChunk: () => {},
  sendSnapshotAck: () => {},
  onSnapshotChunk: () => {},
  onSnapshotAck: () => {},
  close: () => {},
};

describe('a store ahead of the Raft log', () => {
  it('resets the Raft log on disk to the store\'s snapshot before the node runs', async () => {
    const world = new SimWorld({ seed: 11 }).forHost('n2');
    const raftKv = await world.kv.open('/data/raft', { createIfMissing: true });
    const storeKv = await world.kv.open('/data/tracker', { createIfMissing: true });
    // The Raft log of the node's old life: ten no-ops of term 1.
    const { storage } = await RaftStorage.open(raftKv);
    const old = Array.from({ length: 10 }, (_, i) => ({ index: i + 1, term: 1, data: null }));
    await storage.persist({ softState: { role: 'follower', leader: null }, hardState: { term: 2, vote: null, commit: 5 }, snapshot: null, entries: old, messages: [], committedEntries: [], readStates: [], snapshotsToSend: [] });
    // The store a leader of term 2 sent it, installed before the node died: 40 entries of term 2.
    const store = await TrackerStore.open(storeKv);
    await store.apply(makeWorkload(11, 40).entries.map((entry) => ({ ...entry, term: 2 })), { sync: true });
    expect(store.appliedIndex).toBe(40);

    const config = { id: 'n2', voters: ['n1', 'n2', 'n3'], world, transport: silent, raftKv, storeKv, tickMs: 10, electionTicks: 10, heartbeatTicks: 1 };
    const node = await TrackerNode.start(config);
    expect(node.raft.status()).toMatchObject({ snapshotIndex: 40, lastIndex: 40, commit: 40 });
    node.stop();

    const { state } = await RaftStorage.open(raftKv);
    expect(state.snapshot).toEqual({ index: 40, term: 2 });
    expect(state.entries).toEqual([]); // the old life's entries are gone from disk
    expect(state.hardState).toEqual({ term: 2, vote: null, commit: 40 });
    // And the next start reads a log that follows from the store.
    const again = await TrackerNode.start(config);
    expect(again.raft.status()).toMatchObject({ snapshotIndex: 40, lastIndex: 40, applied: 40 });
    again.stop();
  });
});
