// Why this file exists: the tracker's durable state machine. It applies entries (decide +
// evolve) and writes each applied batch in one atomic LevelDB batch: the segment of chained
// lines, the state records those entries changed (log/domain/records.ts), the piece lists of
// newly shared files, and the meta record. So what is on disk is always the state at the applied
// index: a checkpoint (what Raft compacts behind) is one synced write, and opening reads the
// records back. Piece lists live on disk only (piece-lists.ts); it serves them from there.

import { fromBase64, toBase64 } from '../../torrent/bytes.js';
import { applyEntry, type Applied, type EntryOutcome, type ProposedEntry } from '../domain/entry.js';
import { listFitsFile, pieceListNeeded, pieceListsShared } from '../domain/piece-lists.js';
import { InvariantError } from '../domain/evolve.js';
import { groupsTouched } from '../domain/groups-touched.js';
import { encodeRecord, fileRecordId, RecordLoader, type LoadedHolder } from '../domain/records.js';
import { FILE_NAMES_NOT_LOADED, FILES_NOT_LOADED, filesLoaded, holdingKey, initialState, type GroupRecord, type TrackerState } from '../domain/state.js';
import type { KvEntry, KvOp, KvStore } from '../../world/world.js';
import { encodeLine, type StoredEntry } from './chain.js';
import {
  GENESIS_HASH,
  keepsSnapshots,
  META_KEY,
  piecesKey,
  segmentKey,
  STATE_PREFIX,
  stateKey,
  STORE_FORMAT_VERSION,
  type StoreMeta,
} from './layout.js';
import { upgradeSnapshotStore } from './legacy-snapshots.js';
import { repackSegments } from './repack.js';
import { prefetched, readEntries, readLines, readMeta } from './read.js';
import { StoreCorruptError } from './stored-line.js';
import { readGroupTimeline, type TimelineLimits, type TimelinePage } from './group-timeline.js';
import { decodeBlob, encodeBlob } from './snapshot-blob.js';
import { currentGenerationKv } from './generations.js';
import { dropLeftoverGenerations, StoreIntake, streamRecords } from './snapshot-stream.js';

export interface TrackerStoreOptions {
  /** Checkpoint (and repack the archive behind it) after this many entries; default 10,000. */
  snapshotEveryEntries?: number;
  /**
   * Open without the groups' files: each group's are read the first time an entry or a query
   * needs them (ensureGroups). A node's restart then reads users, sessions, groups and holders,
   * not a million files. Default false: the whole projection at once.
   */
  filesOnDemand?: boolean;
  /**
   * With filesOnDemand: how many files the groups read into memory may hold together before the
   * least recently used groups' go back to disk (their records are there already; the holders
   * of their files are kept aside, as at open). Default: no bound.
   */
  maxFilesInMemory?: number;
}

export interface TermEntry extends ProposedEntry {
  term: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Where the file records' keys start (`f:<group>\0<file id>`), and the first id after them. */
const FILE_RECORDS = 'f:';
const AFTER_FILE_RECORDS = 'f;';

/** State records one read asks LevelDB for when a store opens (most are 50-300 bytes). */
const RECORDS_PER_READ = 4096;

export class TrackerStore {
  private applying = false;
  /** Piece lists of the batch being applied, until its write is done: the projection lists their files already. */
  private readonly unwritten = new Map<string, string>();
  /** The archive repack behind the last checkpoint, running beside applies (repack.ts). */
  private repacking: Promise<void> = Promise.resolve();
  /** Holders of the files of groups still on disk (filesOnDemand), by group, in order. */
  private readonly holdersOnDisk = new Map<string, LoadedHolder[]>();
  /** Groups whose files are being read. */
  private readonly loading = new Map<string, Promise<void>>();
  /**
   * Groups whose files are in memory and may go back to disk (filesOnDemand), least recently
   * used first, with how many files each held when last counted; and their sum.
   */
  private readonly filesInMemory = new Map<string, number>();
  private filesInMemoryCount = 0;
  /**
   * Groups held in memory by who uses them now (an apply under way, an ensureGroups call, a
   * read: hold), with how many hold each: never sent back to disk until the last lets go.
   */
  private readonly holds = new Map<string, number>();
  /**
   * Groups that entries not yet applied will touch (prefetch), with the last such entry's
   * index: kept in memory until the store has applied that far. An entry the log drops instead
   * releases its groups when another one at its index applies.
   */
  private readonly neededUntil = new Map<string, number>();
  /** Groups sent back to disk so far (a figure for logs and benches). */
  groupsEvicted = 0;
  /** Groups read from disk so far (the same). */
  groupsLoaded = 0;

  /** How many files the groups that may go back to disk hold in memory now (with maxFilesInMemory). */
  get filesHeld(): number {
    return this.filesInMemoryCount;
  }

  private constructor(
    private readonly kv: KvStore,
    private readonly current: TrackerState,
    private head: string,
    private term: number,
    private lastSnapshotIndex: number,
    private readonly snapshotEveryEntries: number,
    private readonly maxFilesInMemory = Infinity,
  ) {}

  /** Settles once the generations a crash left beside the current one are dropped (generations.ts). */
  leftoversDropped: Promise<void> = Promise.resolve();
  /** How many generations besides the current one open found (dropLeftovers; generation 0 counted when it is not current). */
  leftoverGenerations = 0;

  /**
   * Opens the current generation of the store in `root` (generations.ts). With dropLeftovers (a
   * node's start, when no transfer can be under way), the others a crash left are dropped.
   */
  static async open(root: KvStore, options: TrackerStoreOptions & { dropLeftovers?: boolean } = {}): Promise<TrackerStore> {
    const { generation, kv } = await currentGenerationKv(root);
    const leftovers = options.dropLeftovers ? await dropLeftoverGenerations(root, generation) : null;
    const store = await TrackerStore.openGeneration(kv, options);
    if (leftovers) {
      store.leftoversDropped = leftovers.dropped;
      store.leftoverGenerations = leftovers.count;
    }
    return store;
  }

  /** Opens a store's keys as they are (a staged generation, to check it before it becomes current). */
  static async openGeneration(kv: KvStore, options: TrackerStoreOptions): Promise<TrackerStore> {
    const meta = await readMeta(kv);
    const every = options.snapshotEveryEntries ?? 10_000;
    if (!meta) return new TrackerStore(kv, initialState(), GENESIS_HASH, 0, 0, every, options.filesOnDemand ? options.maxFilesInMemory : Infinity);
    if (keepsSnapshots(meta.v)) {
      const { state, head } = await upgradeSnapshotStore(kv, meta);
      return new TrackerStore(kv, state, head, meta.appliedTerm, meta.appliedIndex, every);
    }
    const loader = new RecordLoader();
    // Without the files (`st:f:...`) when they are read on demand.
    const ranges = options.filesOnDemand
      ? [
          { gte: STATE_PREFIX, lt: stateKey(FILE_RECORDS) },
          { gte: stateKey(AFTER_FILE_RECORDS), lt: STATE_PREFIX + '~' },
        ]
      : [{ gte: STATE_PREFIX, lt: STATE_PREFIX + '~' }];
    for (const range of ranges) {
      // The next chunk is read while this one is parsed (a million files are two million records).
      for await (const chunk of prefetched(kv.iterate(range, RECORDS_PER_READ))) {
        for (const [key, value] of chunk) loader.add(key.slice(STATE_PREFIX.length), decoder.decode(value));
      }
    }
    // Behind the last checkpoint, not the applied index: what came after is repacked, and made
    // durable by a sync, at the next one.
    const checkpointIndex = meta.checkpointIndex ?? 0;
    if (!options.filesOnDemand) return new TrackerStore(kv, loader.finish(meta.appliedIndex, meta.lastTimeMs!), meta.chainHead, meta.appliedTerm, checkpointIndex, every);
    const { state, holders } = loader.finishWithoutFiles(meta.appliedIndex, meta.lastTimeMs!);
    const store = new TrackerStore(kv, state, meta.chainHead, meta.appliedTerm, checkpointIndex, every, options.maxFilesInMemory);
    for (const [group, ofGroup] of holders) store.holdersOnDisk.set(group, ofGroup);
    return store;
  }

  /**
   * Reads the files of those of `groups` still on disk (filesOnDemand) into the projection.
   * Whatever reads a group's files (a query, a ticket) awaits this first, and uses them in the
   * same synchronous step as it checks they are there (they may go back to disk in between);
   * apply does it for the groups its entries touch. Past maxFilesInMemory, the least recently
   * used groups go back to disk, never those held (hold: these, an apply's, a reader's) nor
   * those entries not yet applied will touch.
   */
  async ensureGroups(groups: Iterable<string>): Promise<void> {
    const named = [...new Set(groups)];
    const release = this.hold(named);
    try {
      // Held, none of them goes back to disk meanwhile; but one may have gone between its load's
      // end and this call, and another call may read one while this one waits: so round again
      // until a round finds every one there.
      for (let waited = true; waited; ) {
        waited = false;
        for (const name of named) {
          const group = this.current.groups.get(name);
          if (group === undefined || filesLoaded(group)) continue;
          waited = true;
          let load = this.loading.get(name);
          if (load === undefined) {
            load = this.loadGroup(group).finally(() => this.loading.delete(name));
            this.loading.set(name, load);
          }
          await load;
        }
      }
      for (const name of named) {
        const group = this.current.groups.get(name);
        if (group !== undefined) this.touch(name, group);
      }
      // Others go back to disk if need be, while these are still held: the caller uses them next.
      this.trim();
    } finally {
      release();
    }
  }

  /**
   * Keeps `groups`' files in memory (those loaded, and those loaded later) until the returned
   * function is called, and marks them used now: what a reader holds while it waits to read them.
   */
  hold(groups: Iterable<string>): () => void {
    const held = [...groups];
    for (const name of held) {
      this.holds.set(name, (this.holds.get(name) ?? 0) + 1);
      const group = this.current.groups.get(name);
      if (group !== undefined && filesLoaded(group)) this.touch(name, group);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const name of held) {
        const count = this.holds.get(name)! - 1;
        if (count === 0) this.holds.delete(name);
        else this.holds.set(name, count);
      }
    };
  }

  /**
   * Starts reading the files the groups of entries not yet committed will need (a node calls
   * this as they reach its log), so that their apply does not wait on the disk. Only a hint:
   * apply ensures its groups itself, and says so if a read fails.
   */
  prefetch(entries: readonly ProposedEntry[]): Promise<void> {
    if (this.maxFilesInMemory === Infinity) return Promise.resolve();
    const groups = new Set<string>();
    for (const entry of entries) {
      for (const name of groupsTouched(this.current, entry.command)) {
        const group = this.current.groups.get(name);
        if (group === undefined) continue;
        this.neededUntil.set(name, Math.max(this.neededUntil.get(name) ?? 0, entry.index));
        if (!filesLoaded(group)) groups.add(name);
      }
    }
    return groups.size > 0 ? this.ensureGroups(groups).catch(() => undefined) : Promise.resolve();
  }

  /** Marks a group's files as used now, and counts them (a group gone, or on disk, is counted out). */
  private touch(name: string, group: GroupRecord | undefined): void {
    if (this.maxFilesInMemory === Infinity) return;
    this.filesInMemoryCount -= this.filesInMemory.get(name) ?? 0;
    this.filesInMemory.delete(name);
    if (group === undefined || !filesLoaded(group)) return;
    this.filesInMemoryCount += group.files.size;
    this.filesInMemory.set(name, group.files.size);
  }

  /** Sends least recently used groups' files back to disk until the bound holds (or only held and needed groups are left). */
  private trim(): void {
    if (this.filesInMemoryCount <= this.maxFilesInMemory) return;
    for (const [name, count] of this.filesInMemory) {
      if (this.filesInMemoryCount <= this.maxFilesInMemory) break;
      if (this.holds.has(name) || this.needed(name)) continue;
      this.filesInMemory.delete(name);
      this.filesInMemoryCount -= count;
      const group = this.current.groups.get(name);
      if (group !== undefined && filesLoaded(group)) this.unloadGroup(group);
    }
  }

  /** Whether entries not yet applied will touch the group (prefetch). */
  private needed(name: string): boolean {
    return (this.neededUntil.get(name) ?? 0) > this.current.appliedIndex;
  }

  /** Forgets the groups of entries applied by now (or dropped from the log: another entry took their index). */
  private forgetApplied(): void {
    for (const [name, until] of this.neededUntil) if (until <= this.current.appliedIndex) this.neededUntil.delete(name);
  }

  /**
   * The inverse of loadGroup: the group's files leave memory, the holders of each file (in the
   * order its map keeps them) are kept aside for the next load. Its records on disk are current:
   * every apply that changed them has written its batch (an apply holds its groups till then).
   */
  private unloadGroup(group: GroupRecord): void {
    const holders: LoadedHolder[] = [];
    for (const file of group.files.values()) {
      for (const [sessionId, holder] of file.holders) holders.push({ fileKey: holdingKey(group.group, file.fileId), file: undefined, sessionId, holder });
    }
    group.files = FILES_NOT_LOADED;
    group.fileNames = FILE_NAMES_NOT_LOADED;
    if (holders.length > 0) this.holdersOnDisk.set(group.group, holders);
    this.groupsEvicted++;
  }

  /** How many groups' files are still on disk (filesOnDemand). */
  get groupsWithFilesOnDisk(): number {
    let count = 0;
    for (const group of this.current.groups.values()) if (!filesLoaded(group)) count++;
    return count;
  }

  /** Every group's files (a whole-state check, a tool). */
  async ensureAllGroups(): Promise<void> {
    await this.ensureGroups([...this.current.groups.keys()]);
  }

  /**
   * One group's file records, read as they are on disk now: no apply changes them meanwhile,
   * since an apply first waits for the groups its entries touch (and a record is written only by
   * an entry that touches its group).
   */
  private async loadGroup(group: GroupRecord): Promise<void> {
    const loader = new RecordLoader();
    const range = { gte: stateKey(fileRecordId(group.group, '')), lt: stateKey(`${FILE_RECORDS}${group.group}\u0001`) };
    for await (const chunk of this.kv.iterate(range, RECORDS_PER_READ)) {
      for (const [key, value] of chunk) loader.add(key.slice(STATE_PREFIX.length), decoder.decode(value));
    }
    if (this.current.groups.get(group.group) !== group || filesLoaded(group)) throw new InvariantError(`the files of ${group.group} changed while they were read`);
    loader.loadGroupFiles(this.current, group, this.holdersOnDisk.get(group.group) ?? []);
    this.holdersOnDisk.delete(group.group);
    this.groupsLoaded++;
    this.touch(group.group, group);
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

  /**
   * Applies consecutive entries and makes them durable in one atomic batch. With sync:false a
   * crash may lose the batch whole (Raft re-applies it); never a part of it.
   */
  async apply(entries: readonly TermEntry[], options: { sync: boolean }): Promise<Applied[]> {
    if (entries.length === 0) return [];
    if (this.applying) throw new InvariantError('TrackerStore.apply called while another apply runs');
    this.applying = true;
    let releaseTouched = (): void => undefined;
    try {
      // The groups whose files these entries touch, and the lists deciding them needs, are read
      // first: decide itself never waits.
      const touched = new Set(entries.flatMap((proposed) => groupsTouched(this.current, proposed.command)));
      releaseTouched = this.hold(touched);
      await this.ensureGroups(touched);
      const lists = new Map<string, string>();
      for (const proposed of entries) {
        const needed = pieceListNeeded(proposed.command);
        if (needed === null || lists.has(needed.fileId)) continue;
        const list = await this.pieceList(needed.fileId);
        if (list === undefined) continue;
        const file = this.current.groups.get(needed.group)?.files.get(needed.fileId);
        if (file !== undefined && !listFitsFile(file, fromBase64(list)!)) {
          throw new StoreCorruptError(this.current.appliedIndex, `the piece list of ${needed.fileId} on disk is not the file's (run clique audit --verify)`);
        }
        lists.set(needed.fileId, list);
      }
      const results: Applied[] = [];
      const lines: string[] = [];
      const ops: KvOp[] = [];
      const changed = new Set<string>();
      for (const proposed of entries) {
        const applied = applyEntry(this.current, proposed, lists, changed);
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
      for (const id of changed) {
        const json = encodeRecord(this.current, id);
        ops.push(json === null ? { type: 'del', key: stateKey(id) } : { type: 'put', key: stateKey(id), value: encoder.encode(json) });
      }
      ops.push(
        { type: 'put', key: segmentKey(this.current.appliedIndex), value: encoder.encode(lines.join('\n')) },
        { type: 'put', key: META_KEY, value: this.metaBytes(this.lastSnapshotIndex) },
      );
      try {
        await this.kv.batch(ops, options);
      } finally {
        this.unwritten.clear();
      }
      // The touched groups' records are on disk now: they may go back there, after the others
      // (a group the batch deleted leaves the count).
      for (const name of touched) this.touch(name, this.current.groups.get(name));
      releaseTouched();
      this.forgetApplied();
      this.trim();
      if (this.current.appliedIndex - this.lastSnapshotIndex >= this.snapshotEveryEntries) await this.snapshot();
      return results;
    } finally {
      this.applying = false;
      releaseTouched();
    }
  }

  /**
   * The store's records for a follower that must catch up by snapshot (snapshot-stream.ts): the
   * meta record first, then the state records, the piece lists and the whole event archive, as
   * of the applied index the meta record names. Read through one iterator: applies may go on.
   */
  exportRecords(maxChunkBytes: number): AsyncGenerator<KvEntry[]> {
    return streamRecords(this.kv, maxChunkBytes);
  }

  /** The whole store as one blob (the live audit's copy: archive-export.ts). */
  async exportSnapshot(): Promise<Uint8Array> {
    if (this.applying) throw new InvariantError('exportSnapshot called while an apply runs');
    const records: KvEntry[] = [];
    for await (const chunk of this.exportRecords(1024 * 1024)) records.push(...chunk);
    return encodeBlob(records);
  }

  /** Installs an exported blob into `root` as a new generation, then opens it. */
  static async importSnapshot(root: KvStore, blob: Uint8Array, options: TrackerStoreOptions = {}): Promise<TrackerStore> {
    const intake = await StoreIntake.begin(root);
    const records = decodeBlob(blob);
    for (let at = 0; at < records.length; at += 256) await intake.write(records.slice(at, at + 256));
    await intake.finish();
    await intake.commit();
    return TrackerStore.open(root, options);
  }

  /**
   * A checkpoint: everything applied so far made durable (one synced write; the records on disk
   * are the state already), so Raft may compact its log up to here. The archive written since
   * the last checkpoint is repacked behind it, beside later applies.
   */
  async snapshot(): Promise<void> {
    const index = this.current.appliedIndex;
    if (index === this.lastSnapshotIndex) return;
    await this.kv.batch([{ type: 'put', key: META_KEY, value: this.metaBytes(index) }], { sync: true });
    const from = this.lastSnapshotIndex + 1;
    this.lastSnapshotIndex = index;
    // A repack that fails (the store closed under it, a disk error) leaves the old segments:
    // each pack is one atomic batch. The next checkpoint's repack covers only its own range.
    this.repacking = this.repacking.then(() => repackSegments(this.kv, from, index)).then(
      () => undefined,
      () => undefined,
    );
  }

  private metaBytes(checkpointIndex: number): Uint8Array {
    const { appliedIndex, lastTimeMs } = this.current;
    const meta: StoreMeta = { v: STORE_FORMAT_VERSION, appliedIndex, appliedTerm: this.term, chainHead: this.head, lastTimeMs, checkpointIndex };
    return encoder.encode(JSON.stringify(meta));
  }

  /** Waits for the archive repack under way, if any: before the store is replaced or closed. */
  async quiesce(): Promise<void> {
    await this.repacking;
  }
}
