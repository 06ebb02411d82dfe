// Why this file exists: the tracker's durable state machine. It applies entries (decide +
// evolve), writes each applied batch — segment of chained lines, the piece lists of newly shared
// files, the applied index and chain head — in one atomic LevelDB batch, snapshots the projection
// every N entries (repacking the segments since the last snapshot), and on open restores
// snapshot + tail. Piece lists live on disk only (piece-lists.ts); it serves them from there.

import { canonicalJson } from '../../torrent/canonical.js';
import { fromBase64, toBase64 } from '../../torrent/bytes.js';
import { applyEntry, replayEntry, type Applied, type EntryOutcome, type ProposedEntry } from '../domain/entry.js';
import { pieceListNeeded, pieceListsShared } from '../domain/piece-lists.js';
import { InvariantError } from '../domain/evolve.js';
import { decodeState, encodeState, type LegacyPieces } from '../domain/snapshot.js';
import { initialState, type TrackerState } from '../domain/state.js';
import type { KvEntry, KvOp, KvStore } from '../../world/world.js';
import { encodeLine, sha256Hex, type StoredEntry } from './chain.js';
import {
  GENESIS_HASH,
  indexOfKey,
  META_KEY,
  PACKED_SEGMENT_BYTES,
  PACKED_SEGMENT_ENTRIES,
  PIECES_PREFIX,
  piecesKey,
  SEGMENT_PREFIX,
  segmentKey,
  segmentsFrom,
  SNAPSHOT_PREFIX,
  snapshotKey,
  STORE_FORMAT_VERSION,
  STORE_FORMAT_WITH_PIECES_IN_SNAPSHOTS,
  type StoreMeta,
} from './layout.js';
import { readEntries, readLines, readMeta } from './read.js';
import { StoreCorruptError } from './stored-line.js';
import { readGroupTimeline, type TimelineLimits, type TimelinePage } from './group-timeline.js';
import { decodeBlob, encodeBlob, SnapshotBlobError } from './snapshot-blob.js';

export interface TrackerStoreOptions {
  /** Snapshot (and repack) after this many entries; default 10,000. */
  snapshotEveryEntries?: number;
}

export interface TermEntry extends ProposedEntry {
  term: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class TrackerStore {
  private applying = false;
  /** Piece lists of the batch being applied, until its write is done: the projection lists their files already. */
  private readonly unwritten = new Map<string, string>();

  private constructor(
    private readonly kv: KvStore,
    private readonly current: TrackerState,
    private head: string,
    private term: number,
    private lastSnapshotIndex: number,
    private readonly snapshotEveryEntries: number,
  ) {}

  static async open(kv: KvStore, options: TrackerStoreOptions = {}): Promise<TrackerStore> {
    const meta = await readMeta(kv);
    const every = options.snapshotEveryEntries ?? 10_000;
    if (!meta) return new TrackerStore(kv, initialState(), GENESIS_HASH, 0, 0, every);
    // A format-1 store kept piece lists in its snapshots; they are copied out (below) once.
    const legacy = meta.v === STORE_FORMAT_WITH_PIECES_IN_SNAPSHOTS ? new Map<string, string>() : null;
    const snapshot = await loadLatestSnapshot(kv, meta.appliedIndex, (fileId, pieces) => legacy?.set(fileId, pieces));
    const state = snapshot?.state ?? initialState();
    let head = snapshot?.chainHead ?? GENESIS_HASH;
    for await (const batch of readEntries(kv, state.appliedIndex + 1)) {
      for (const line of batch) {
        const { entry } = line;
        if (entry.index > meta.appliedIndex) break;
        const hash = line.hash;
        if (line.chainHash(head) !== hash) throw new StoreCorruptError(entry.index, 'hash chain broken (run clique audit --verify)');
        replayEntry(state, entry);
        if (legacy) for (const [fileId, pieces] of pieceListsShared(entry.events)) legacy.set(fileId, pieces);
        head = hash;
      }
    }
    if (state.appliedIndex !== meta.appliedIndex || head !== meta.chainHead) {
      throw new StoreCorruptError(state.appliedIndex, `archive ends at ${state.appliedIndex}, meta says ${meta.appliedIndex}`);
    }
    if (legacy) await upgradeFormat1(kv, meta, legacy);
    return new TrackerStore(kv, state, head, meta.appliedTerm, snapshot?.index ?? 0, every);
  }

  /** The live projection. Read it; never write it (the store owns it). */
  get state(): TrackerState {
    return this.current;
  }

  get appliedIndex(): number {
    return this.current.appliedIndex;
  }

  get chainHead(): string {
    return this.head;
  }

  /** The Raft term of the last applied entry. */
  get appliedTerm(): number {
    return this.term;
  }

  /**
   * Applies consecutive entries and makes them durable in one atomic batch. With sync:false a
   * crash may lose the batch whole (Raft re-applies it); never a part of it.
   */
  /** The archive from `fromIndex` on, a segment at a time: what a push channel catches up from. */
  async *archiveFrom(fromIndex: number): AsyncGenerator<readonly EntryOutcome[]> {
    for await (const batch of readEntries(this.kv, fromIndex)) yield batch.map((line) => line.entry);
  }

  /**
   * A bounded page of `group`'s timeline in the archive from `fromIndex` to `toIndex` (see
   * group-timeline.ts): the same lines archiveFrom reads, parsed only where they name the group.
   */
  groupTimeline(group: string, fromIndex: number, toIndex: number, limits?: TimelineLimits): Promise<TimelinePage> {
    return readGroupTimeline(readLines(this.kv, fromIndex), group, fromIndex, toIndex, limits);
  }

  /** The piece list (base64) of a file this store has seen shared; undefined for any other id. */
  async pieceList(fileId: string): Promise<string | undefined> {
    const unwritten = this.unwritten.get(fileId);
    if (unwritten !== undefined) return unwritten;
    const bytes = await this.kv.get(piecesKey(fileId));
    return bytes === undefined ? undefined : toBase64(bytes);
  }

  async apply(entries: readonly TermEntry[], options: { sync: boolean }): Promise<Applied[]> {
    if (entries.length === 0) return [];
    if (this.applying) throw new InvariantError('TrackerStore.apply called while another apply runs');
    this.applying = true;
    try {
      // The lists deciding these entries needs are read first: decide itself never waits.
      const lists = new Map<string, string>();
      for (const proposed of entries) {
        const fileId = pieceListNeeded(proposed.command);
        const list = fileId === null || lists.has(fileId) ? undefined : await this.pieceList(fileId);
        if (list !== undefined) lists.set(fileId!, list);
      }
      const results: Applied[] = [];
      const lines: string[] = [];
      const ops: KvOp[] = [];
      for (const proposed of entries) {
        const applied = applyEntry(this.current, proposed, lists);
        for (const [fileId, pieces] of pieceListsShared(applied.entry.events)) {
          const bytes = fromBase64(pieces);
          if (bytes === null) throw new InvariantError(`entry ${proposed.index} shared ${fileId} with a piece list that is not base64`);
          lists.set(fileId, pieces);
          this.unwritten.set(fileId, pieces);
          ops.push({ type: 'put', key: piecesKey(fileId), value: bytes });
        }
        const stored: StoredEntry = { ...applied.entry, term: proposed.term };
        const { line, hash } = encodeLine(this.head, stored);
        lines.push(line);
        this.head = hash;
        this.term = proposed.term;
        results.push(applied);
      }
      const meta: StoreMeta = { v: STORE_FORMAT_VERSION, appliedIndex: this.current.appliedIndex, appliedTerm: this.term, chainHead: this.head };
      ops.push(
        { type: 'put', key: segmentKey(this.current.appliedIndex), value: encoder.encode(lines.join('\n')) },
        { type: 'put', key: META_KEY, value: encoder.encode(JSON.stringify(meta)) },
      );
      try {
        await this.kv.batch(ops, options);
      } finally {
        this.unwritten.clear();
      }
      if (this.current.appliedIndex - this.lastSnapshotIndex >= this.snapshotEveryEntries) await this.snapshot();
      return results;
    } finally {
      this.applying = false;
    }
  }

  /**
   * The whole store as one blob for a follower that must catch up by snapshot: a fresh snapshot
   * at the applied index, the meta record and the whole event archive.
   */
  async exportSnapshot(): Promise<Uint8Array> {
    if (this.applying) throw new InvariantError('exportSnapshot called while an apply runs');
    await this.snapshot();
    const records: KvEntry[] = [];
    const meta = await this.kv.get(META_KEY);
    if (meta) records.push([META_KEY, meta]);
    if (this.lastSnapshotIndex > 0) {
      const snap = await this.kv.get(snapshotKey(this.lastSnapshotIndex));
      if (snap) records.push([snapshotKey(this.lastSnapshotIndex), snap]);
    }
    for await (const chunk of this.kv.iterate(segmentsFrom(1), 256)) records.push(...chunk);
    for await (const chunk of this.kv.iterate({ gte: PIECES_PREFIX, lt: PIECES_PREFIX + '~' }, 256)) records.push(...chunk);
    return encodeBlob(records);
  }

  /** Replaces everything in `kv` by an exported blob (one synced batch), then opens it. */
  static async importSnapshot(kv: KvStore, blob: Uint8Array, options: TrackerStoreOptions = {}): Promise<TrackerStore> {
    const records = decodeBlob(blob);
    for (const [key] of records) {
      if (key !== META_KEY && !key.startsWith(SNAPSHOT_PREFIX) && !key.startsWith(SEGMENT_PREFIX) && !key.startsWith(PIECES_PREFIX)) throw new SnapshotBlobError(`unexpected key ${key.slice(0, 40)}`);
    }
    const ops: KvOp[] = [];
    for await (const chunk of kv.iterate({})) for (const [key] of chunk) ops.push({ type: 'del', key });
    for (const [key, value] of records) ops.push({ type: 'put', key, value });
    await kv.batch(ops, { sync: true });
    return TrackerStore.open(kv, options);
  }

  /** Writes a snapshot at the applied index and repacks the segments since the previous one. */
  async snapshot(): Promise<void> {
    const index = this.current.appliedIndex;
    if (index === this.lastSnapshotIndex) return;
    const json = canonicalJson({ v: STORE_FORMAT_VERSION, index, chainHead: this.head, state: encodeState(this.current) });
    const ops: KvOp[] = [{ type: 'put', key: snapshotKey(index), value: encoder.encode(`${sha256Hex(json)} ${json}`) }];
    ops.push(...(await this.repack(this.lastSnapshotIndex + 1, index)));
    // Keep the previous snapshot as a fallback; drop older ones.
    for await (const chunk of this.kv.iterate({ gte: SNAPSHOT_PREFIX, lt: snapshotKey(this.lastSnapshotIndex) })) {
      for (const [key] of chunk) ops.push({ type: 'del', key });
    }
    await this.kv.batch(ops, { sync: true });
    this.lastSnapshotIndex = index;
  }

  /** Rewrites the segments holding (from..to) as few large ones: same lines, same keys scheme. */
  private async repack(fromIndex: number, toIndex: number): Promise<KvOp[]> {
    const oldKeys: string[] = [];
    const lines: string[] = [];
    for await (const chunk of this.kv.iterate({ gte: segmentsFrom(fromIndex).gte, lte: segmentKey(toIndex) })) {
      for (const [key, value] of chunk) {
        oldKeys.push(key);
        lines.push(...decoder.decode(value).split('\n'));
      }
    }
    if (oldKeys.length <= 1 || lines.length !== toIndex - fromIndex + 1) return [];
    const ops: KvOp[] = [];
    const newKeys = new Set<string>();
    let start = 0;
    while (start < lines.length) {
      let end = start;
      let bytes = 0;
      while (end < lines.length && end - start < PACKED_SEGMENT_ENTRIES && (end === start || bytes + lines[end]!.length < PACKED_SEGMENT_BYTES)) {
        bytes += lines[end]!.length + 1;
        end++;
      }
      const key = segmentKey(fromIndex + end - 1);
      newKeys.add(key);
      ops.push({ type: 'put', key, value: encoder.encode(lines.slice(start, end).join('\n')) });
      start = end;
    }
    for (const key of oldKeys) if (!newKeys.has(key)) ops.push({ type: 'del', key });
    return ops;
  }
}

interface LoadedSnapshot {
  index: number;
  chainHead: string;
  state: TrackerState;
}

/**
 * A format-1 store becomes format 2 in one batch: every piece list its snapshot and archive hold,
 * then the meta record that says so. Its format-1 snapshots stay and still load.
 */
async function upgradeFormat1(kv: KvStore, meta: StoreMeta, lists: ReadonlyMap<string, string>): Promise<void> {
  const ops: KvOp[] = [];
  for (const [fileId, pieces] of lists) {
    const bytes = fromBase64(pieces);
    if (bytes === null) throw new StoreCorruptError(meta.appliedIndex, `the piece list of ${fileId} is not base64`);
    ops.push({ type: 'put', key: piecesKey(fileId), value: bytes });
  }
  const upgraded: StoreMeta = { ...meta, v: STORE_FORMAT_VERSION };
  ops.push({ type: 'put', key: META_KEY, value: encoder.encode(JSON.stringify(upgraded)) });
  await kv.batch(ops, { sync: true });
}

/**
 * The newest snapshot at or below `maxIndex` whose checksum holds; a bad one falls back to the
 * one before. A format-1 snapshot's piece lists go to `legacyPieces`.
 */
async function loadLatestSnapshot(kv: KvStore, maxIndex: number, legacyPieces: LegacyPieces): Promise<LoadedSnapshot | null> {
  for await (const chunk of kv.iterate({ gte: SNAPSHOT_PREFIX, lte: snapshotKey(maxIndex), reverse: true })) {
    for (const [key, value] of chunk) {
      const text = decoder.decode(value);
      const json = text.slice(65);
      if (text.charAt(64) !== ' ' || sha256Hex(json) !== text.slice(0, 64)) continue;
      try {
        const parsed = JSON.parse(json) as { index: unknown; chainHead: unknown; state: unknown };
        const state = decodeState(parsed.state, legacyPieces);
        const index = indexOfKey(key, SNAPSHOT_PREFIX);
        if (index === null || parsed.index !== index || state.appliedIndex !== index || typeof parsed.chainHead !== 'string') continue;
        return { index, chainHead: parsed.chainHead, state };
      } catch {
        continue;
      }
    }
  }
  return null;
}
