// Why this file exists: the Raft log as the core sees it — entries after the last snapshot, which
// of them are stable (on disk), committed and applied — and the log-matching rules of §5.3:
// find the conflict, truncate, append, never commit past what we hold.

import type { Entry, SnapshotMeta } from './types.js';

export class RaftLogError extends Error {
  override name = 'RaftLogError';
}

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new RaftLogError(message);
}

/** Bytes an entry costs in a message or on disk, for flow control. */
export function entrySizeBytes(entry: Entry): number {
  return 24 + (entry.data === null ? 0 : entry.data.length);
}

export class RaftLog {
  /** The entry before entries[0]: the last one a snapshot covers (index 0, term 0 at genesis). */
  private snapshot: SnapshotMeta;
  private entries: Entry[];
  /**
   * ends[i]: entrySizeBytes of every entry up to entries[i], counted from `bytesBase` (what the
   * entries compacted away had summed to), so the bytes of any run of entries is one subtraction.
   */
  private ends: number[] = [];
  private bytesBase = 0;
  /** Entries up to here are on stable storage. */
  stableIndex: number;
  committed: number;
  applied: number;

  constructor(snapshot: SnapshotMeta, entries: Entry[], committed: number, applied: number) {
    this.snapshot = { ...snapshot };
    this.entries = [];
    for (let i = 0; i < entries.length; i++) assert(entries[i]!.index === snapshot.index + 1 + i, 'restored entries are not contiguous');
    this.pushAll(entries);
    this.stableIndex = this.lastIndex();
    this.committed = Math.max(committed, snapshot.index);
    this.applied = Math.max(applied, snapshot.index);
    assert(this.committed <= this.lastIndex(), `commit ${committed} beyond the last entry ${this.lastIndex()}`);
    assert(this.applied <= this.committed, `applied ${applied} beyond commit ${this.committed}`);
  }

  snapshotMeta(): SnapshotMeta {
    return this.snapshot;
  }

  firstIndex(): number {
    return this.snapshot.index + 1;
  }

  lastIndex(): number {
    return this.snapshot.index + this.entries.length;
  }

  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }

  /** The term of entry `index`; undefined when compacted away or not yet there. */
  term(index: number): number | undefined {
    if (index === this.snapshot.index) return this.snapshot.term;
    if (index < this.snapshot.index || index > this.lastIndex()) return undefined;
    return this.entries[index - this.snapshot.index - 1]!.term;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** §5.4.1: a candidate's log is at least as up-to-date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** entrySizeBytes of the entries held in memory (after the snapshot): what compaction bounds besides their count. */
  heldBytes(): number {
    return this.bytesThrough(this.lastIndex());
  }

  /** entrySizeBytes of the entries held from the first after the snapshot through `index`. */
  bytesThrough(index: number): number {
    const i = Math.min(index, this.lastIndex()) - this.snapshot.index - 1;
    return i < 0 ? 0 : this.ends[i]! - this.bytesBase;
  }

  private pushAll(entries: readonly Entry[]): void {
    let end = this.ends.length === 0 ? this.bytesBase : this.ends[this.ends.length - 1]!;
    for (const entry of entries) {
      end += entrySizeBytes(entry);
      this.entries.push(entry);
      this.ends.push(end);
    }
  }

  /** Entries in [lo, hi), at most maxBytes (but at least one). lo must not be compacted. */
  slice(lo: number, hi: number, maxBytes = Infinity): Entry[] {
    assert(lo >= this.firstIndex() && hi <= this.lastIndex() + 1 && lo <= hi, `slice [${lo}, ${hi}) outside [${this.firstIndex()}, ${this.lastIndex() + 1})`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const entry = this.entries[i - this.snapshot.index - 1]!;
      bytes += entrySizeBytes(entry);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(entry);
    }
    return out;
  }

  /** Leader: append new entries at the end. */
  append(entries: readonly Entry[]): void {
    for (const entry of entries) {
      assert(entry.index === this.lastIndex() + 1, `append ${entry.index} after ${this.lastIndex()}`);
      this.pushAll([entry]);
    }
  }

  /**
   * Follower: the leader's entries after (prevIndex, prevTerm). Returns the index of the last new
   * entry, or null when our log does not contain prevIndex with prevTerm (§5.3 consistency check).
   */
  maybeAppend(prevIndex: number, prevTerm: number, leaderCommit: number, entries: readonly Entry[]): number | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNew = prevIndex + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      assert(conflict > this.committed, `entry ${conflict} conflicts with a committed entry (commit ${this.committed})`);
      this.truncateAndAppend(entries.slice(conflict - prevIndex - 1));
    }
    this.commitTo(Math.min(leaderCommit, lastNew));
    return lastNew;
  }

  /** The first new entry whose term differs from ours (or that we lack), 0 when all match. */
  private findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) {
      if (entry.index <= this.snapshot.index) continue; // covered by our snapshot: committed, so equal
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  private truncateAndAppend(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    assert(first.index > this.snapshot.index, 'truncation into the snapshot');
    this.entries.length = first.index - this.snapshot.index - 1;
    this.ends.length = this.entries.length;
    if (this.stableIndex >= first.index) this.stableIndex = first.index - 1;
    this.append(entries);
  }

  /**
   * The largest index <= `index` whose term is <= `term`: where a leader that sent
   * (index, term) should look next (the follower's rejection hint, skipping a whole term).
   */
  findConflictByTerm(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex());
    for (; i > this.snapshot.index; i--) {
      if ((this.term(i) ?? 0) <= term) return i;
    }
    return i;
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), `commit ${index} beyond the last entry ${this.lastIndex()}`);
    this.committed = index;
  }

  /** Entries not yet on stable storage. */
  unstableEntries(): Entry[] {
    return this.stableIndex >= this.lastIndex() ? [] : this.slice(this.stableIndex + 1, this.lastIndex() + 1);
  }

  /** The caller persisted entries up to `index` (with `term`): ignored if they were overwritten since. */
  stableTo(index: number, term: number): void {
    if (this.matchTerm(index, term) && index > this.stableIndex) this.stableIndex = index;
  }

  /** Committed entries not yet handed out for applying. */
  nextCommitted(fromApplied: number, maxBytes = Infinity): Entry[] {
    const lo = Math.max(fromApplied + 1, this.firstIndex());
    return lo > this.committed ? [] : this.slice(lo, this.committed + 1, maxBytes);
  }

  appliedTo(index: number): void {
    assert(index <= this.committed, `applied ${index} beyond commit ${this.committed}`);
    if (index > this.applied) this.applied = index;
  }

  /** Drops entries up to `index` (already applied and snapshotted). */
  compact(index: number): void {
    if (index <= this.snapshot.index) return;
    assert(index <= this.applied, `compact ${index} beyond applied ${this.applied}`);
    const term = this.term(index);
    assert(term !== undefined, `no term for ${index}`);
    const dropped = index - this.snapshot.index;
    this.bytesBase = this.ends[dropped - 1]!;
    this.entries = this.entries.slice(dropped);
    this.ends = this.ends.slice(dropped);
    this.snapshot = { index, term };
  }

  /** Replaces the whole log by a snapshot from the leader. */
  restore(meta: SnapshotMeta): void {
    this.snapshot = { ...meta };
    this.entries = [];
    this.ends = [];
    this.bytesBase = 0;
    this.stableIndex = meta.index;
    this.committed = meta.index;
    this.applied = meta.index;
  }
}
