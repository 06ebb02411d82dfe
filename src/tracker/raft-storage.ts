// Why this file exists: Raft's durable state on a KvStore (LevelDB through the World): the hard
// state, the entries and the last snapshot's meta. Every Ready is written as one synced batch
// before its messages leave, so a restart recovers exactly what the node promised (§3.8).

import type { KvOp, KvStore } from '../world/world.js';
import type { Entry, HardState, Ready, SnapshotMeta } from '../raft/types.js';

const HARD_KEY = 'raft:hard';
const SNAPSHOT_KEY = 'raft:snapshot';
const ENTRY_PREFIX = 'raft:entry:';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function entryKey(index: number): string {
  return ENTRY_PREFIX + index.toString().padStart(16, '0');
}

function json(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

export class RaftStorageError extends Error {
  override name = 'RaftStorageError';
}

export interface StoredRaftState {
  hardState: HardState;
  snapshot: SnapshotMeta;
  entries: Entry[];
}

export class RaftStorage {
  /** The entries on disk are [firstIndex, lastIndex]. */
  private firstIndex: number;
  private lastIndex: number;

  private constructor(
    private readonly kv: KvStore,
    loaded: StoredRaftState,
  ) {
    this.firstIndex = loaded.snapshot.index + 1;
    this.lastIndex = loaded.snapshot.index + loaded.entries.length;
    this.durableTerm = loaded.hardState.term;
    this.durableVote = loaded.hardState.vote;
  }

  /** The term and vote last written (a batch that changes either is synced). */
  private durableTerm: number;
  private durableVote: string | null;
  /** Entries below this index were deleted and their space asked back (from 1 after a start: asking again for space already given back is cheap). */
  private reclaimedBelow = 1;
  private reclaiming = false;

  static async open(kv: KvStore): Promise<{ storage: RaftStorage; state: StoredRaftState }> {
    const hardBytes = await kv.get(HARD_KEY);
    const snapBytes = await kv.get(SNAPSHOT_KEY);
    const hardState = hardBytes ? (JSON.parse(decoder.decode(hardBytes)) as HardState) : { term: 0, vote: null, commit: 0 };
    const snapshot = snapBytes ? (JSON.parse(decoder.decode(snapBytes)) as SnapshotMeta) : { index: 0, term: 0 };
    const entries: Entry[] = [];
    for await (const chunk of kv.iterate({ gt: entryKey(snapshot.index), lt: ENTRY_PREFIX + '~' }, 1024)) {
      for (const [, value] of chunk) {
        const entry = JSON.parse(decoder.decode(value)) as Entry;
        const expected = snapshot.index + entries.length + 1;
        if (entry.index !== expected) throw new RaftStorageError(`raft log has entry ${entry.index} where ${expected} belongs`);
        entries.push(entry);
      }
    }
    const state = { hardState, snapshot, entries };
    return { storage: new RaftStorage(kv, state), state };
  }

  /**
   * Writes the Ready's hard state, snapshot meta and entries in one batch, synced when it must
   * be: entries, a snapshot, a new term or vote. A batch that only moves the commit index is not
   * synced (as etcd's MustSync): the commit index may be lost in a crash, and a restart takes
   * the store's applied index as committed; everything else it needs is on disk already.
   */
  async persist(rd: Ready): Promise<void> {
    const ops: KvOp[] = [];
    if (rd.snapshot) {
      // A snapshot from the leader replaces the whole log.
      for (let i = this.firstIndex; i <= this.lastIndex; i++) ops.push({ type: 'del', key: entryKey(i) });
      ops.push({ type: 'put', key: SNAPSHOT_KEY, value: json(rd.snapshot) });
      this.firstIndex = rd.snapshot.index + 1;
      this.lastIndex = rd.snapshot.index;
    }
    const first = rd.entries[0];
    if (first) {
      // Entries from `first` on replace whatever was there (a suffix the new leader overwrote).
      for (let i = first.index; i <= this.lastIndex; i++) ops.push({ type: 'del', key: entryKey(i) });
      for (const entry of rd.entries) ops.push({ type: 'put', key: entryKey(entry.index), value: json(entry) });
      this.lastIndex = rd.entries[rd.entries.length - 1]!.index;
    }
    const votes = rd.hardState !== null && (rd.hardState.term !== this.durableTerm || rd.hardState.vote !== this.durableVote);
    if (rd.hardState) ops.push({ type: 'put', key: HARD_KEY, value: json(rd.hardState) });
    if (ops.length === 0) return;
    await this.kv.batch(ops, { sync: rd.snapshot !== null || first !== undefined || votes });
    if (rd.hardState) {
      this.durableTerm = rd.hardState.term;
      this.durableVote = rd.hardState.vote;
    }
    if (rd.snapshot) this.reclaimDeleted();
  }

  /**
   * The store holds a snapshot this log never recorded (the node died between installing it and
   * persisting its Ready): the whole log goes, as the install would have done (§5), in one synced
   * write, so no later start finds entries after the snapshot that do not follow from it.
   */
  async resetTo(meta: SnapshotMeta, hardState: HardState): Promise<void> {
    const ops: KvOp[] = [];
    for (let i = this.firstIndex; i <= this.lastIndex; i++) ops.push({ type: 'del', key: entryKey(i) });
    ops.push({ type: 'put', key: SNAPSHOT_KEY, value: json(meta) }, { type: 'put', key: HARD_KEY, value: json(hardState) });
    await this.kv.batch(ops, { sync: true });
    this.firstIndex = meta.index + 1;
    this.lastIndex = meta.index;
    this.durableTerm = hardState.term;
    this.durableVote = hardState.vote;
  }

  /** Drops entries up to `meta.index`: the application's synced snapshot covers them. */
  async compact(meta: SnapshotMeta): Promise<void> {
    if (meta.index < this.firstIndex) return;
    const ops: KvOp[] = [{ type: 'put', key: SNAPSHOT_KEY, value: json(meta) }];
    for (let i = this.firstIndex; i <= meta.index; i++) ops.push({ type: 'del', key: entryKey(i) });
    this.firstIndex = meta.index + 1;
    await this.kv.batch(ops, { sync: true });
    this.reclaimDeleted();
  }

  /**
   * Asks LevelDB for the space of the entries compaction deleted. A log only ever grows at its
   * end, so LevelDB's own compactions seldom reach its deleted start: three nodes held 81.5 MiB
   * to 2.6 GiB of it after a million-file build (issue 20). One request at a time, never awaited
   * by the Ready loop (it rewrites tables for seconds); the next compaction asks for what a
   * busy one left. A failed request is not repeated: it costs space, never an entry.
   */
  private reclaimDeleted(): void {
    if (this.reclaiming || this.reclaimedBelow >= this.firstIndex) return;
    const range = { gte: entryKey(this.reclaimedBelow), lte: entryKey(this.firstIndex - 1) };
    this.reclaimedBelow = this.firstIndex;
    this.reclaiming = true;
    void this.kv
      .reclaim(range)
      .catch(() => undefined) // space only: a store closed meanwhile, or a failed compaction, loses no entry
      .finally(() => (this.reclaiming = false));
  }
}
