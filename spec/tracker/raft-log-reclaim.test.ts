// A Raft log compaction deletes entries at the log's start, where LevelDB's own compactions
// seldom reach (issue 20: 2.6 GiB of deleted entries held on one node after a million-file
// build). RaftStorage asks the store for that space back after each compaction: one request at a
// time, covering every entry deleted since the last one, never a live entry.

import { describe, expect, it } from 'vitest';
import { RaftStorage } from '../../src/tracker/raft-storage.js';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import type { KvStore } from '../../src/world/world.js';
import type { Ready } from '../../src/raft/types.js';

const key = (index: number) => `raft:entry:${index.toString().padStart(16, '0')}`;

function appending(from: number, to: number): Ready {
  const entries = Array.from({ length: to - from + 1 }, (_, i) => ({ index: from + i, term: 1, data: null }));
  return { softState: { role: 'follower', leader: null }, hardState: { term: 1, vote: null, commit: to }, snapshot: null, entries, messages: [], committedEntries: [], readStates: [], snapshotsToSend: [] };
}

describe('the Raft log gives back the space of compacted entries', () => {
  it('asks for each deleted range once, one request at a time, and never for a live entry', async () => {
    const world = new SimWorld({ seed: 5 }).forHost('n1');
    const kv = await world.kv.open('/data/raft', { createIfMissing: true });
    const asked: { gte: string; lte: string }[] = [];
    const gate = { finish: (): void => {} };
    const watched: KvStore = Object.assign(Object.create(kv) as KvStore, {
      reclaim: (range: { gte: string; lte: string }) => {
        asked.push(range);
        return new Promise<void>((resolve) => (gate.finish = resolve));
      },
    });
    const { storage } = await RaftStorage.open(watched);
    await storage.persist(appending(1, 100));
    await storage.compact({ index: 30, term: 1 });
    expect(asked).toEqual([{ gte: key(1), lte: key(30) }]);
    // While that request runs, a second compaction asks nothing; the next one covers both.
    await storage.compact({ index: 60, term: 1 });
    expect(asked).toHaveLength(1);
    gate.finish();
    await Promise.resolve();
    await storage.compact({ index: 80, term: 1 });
    expect(asked).toEqual([{ gte: key(1), lte: key(30) }, { gte: key(31), lte: key(80) }]);
    gate.finish();
    const { state } = await RaftStorage.open(kv);
    expect(state.entries.map((entry) => entry.index)).toEqual(Array.from({ length: 20 }, (_, i) => 81 + i));
  });
});
