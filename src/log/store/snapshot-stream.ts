// Why this file exists: a whole store moved between nodes without ever being whole in memory
// (gigabytes at a million files). The sending side reads its current generation through one
// LevelDB iterator, whose implicit snapshot is a consistent store at some applied index: every
// applied batch writes its records and the meta record together, and the meta record sorts
// first, so it leads the stream. The receiving side writes the records into a fresh generation
// beside its own store and makes it current only once the last one is durable (generations.ts).

import type { KvEntry, KvStore } from '../../world/world.js';
import { currentGeneration, dropGeneration, generationKv, isStoreKey, listGenerations, makeCurrent } from './generations.js';
import { META_KEY, STORE_FORMAT_VERSION, type StoreMeta } from './layout.js';
import { SnapshotBlobError } from './snapshot-blob.js';

/** The Raft position a streamed store stands at: its meta record's applied index and term. */
export interface StreamedStoreMeta {
  index: number;
  term: number;
}

const RECORDS_PER_READ = 64;
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The records of a store's generation (keys without prefix), in chunks of at most
 * `maxChunkBytes`, or of one record larger than that (a record is never split). The iterator opens on the first call of next(): its snapshot is
 * taken then.
 */
export async function* streamRecords(kv: KvStore, maxChunkBytes: number): AsyncGenerator<KvEntry[]> {
  let chunk: KvEntry[] = [];
  let bytes = 0;
  for await (const read of kv.iterate({}, RECORDS_PER_READ)) {
    for (const record of read) {
      const recordBytes = record[0].length + record[1].length;
      // A large record (a segment of one big applied batch: up to 8 MiB) goes in a chunk of its own.
      if (chunk.length > 0 && bytes + recordBytes > maxChunkBytes) {
        yield chunk;
        chunk = [];
        bytes = 0;
      }
      chunk.push(record);
      bytes += recordBytes;
    }
  }
  if (chunk.length > 0) yield chunk;
}

/** The meta record of a stream's first record, validated: where the store stands. */
export function metaOfRecord(record: KvEntry | undefined): StreamedStoreMeta {
  if (record === undefined || record[0] !== META_KEY) throw new SnapshotBlobError('a store stream starts with its meta record');
  let meta: Partial<StoreMeta>;
  try {
    meta = JSON.parse(decoder.decode(record[1])) as Partial<StoreMeta>;
  } catch {
    throw new SnapshotBlobError('the stream\'s meta record is not JSON');
  }
  if (meta.v !== STORE_FORMAT_VERSION) throw new SnapshotBlobError(`the stream is a store of format ${String(meta.v)}; this build installs format ${STORE_FORMAT_VERSION}`);
  const { appliedIndex, appliedTerm } = meta;
  if (!Number.isSafeInteger(appliedIndex) || !Number.isSafeInteger(appliedTerm) || appliedIndex! < 1) throw new SnapshotBlobError('the stream\'s meta record has no applied index or term');
  return { index: appliedIndex!, term: appliedTerm! };
}

/**
 * A store arriving record by record into a generation of its own. Nothing it writes is seen by
 * the current store; commit() makes it current. Abandoned (a lost leader, a crash), it is
 * dropped by the next intake or the next open.
 */
export class StoreIntake {
  private meta: StreamedStoreMeta | null = null;
  private metaRecord: KvEntry | null = null;
  private records = 0;

  private constructor(
    private readonly root: KvStore,
    /** Never used before: no drop of an older leftover can touch it. */
    readonly generation: number,
  ) {}

  /**
   * A new intake in a generation above every one on disk and above `above` (the caller's last:
   * an intake that has written nothing yet is not on disk, and two must never share one).
   */
  static async begin(root: KvStore, above = 0): Promise<StoreIntake> {
    const generations = [above, await currentGeneration(root), ...(await listGenerations(root))];
    return new StoreIntake(root, Math.max(...generations) + 1);
  }

  /** Writes the next records (not synced: finish() syncs). The first must be the meta record. */
  async write(records: readonly KvEntry[]): Promise<void> {
    if (records.length === 0) return;
    if (this.meta === null) {
      this.meta = metaOfRecord(records[0]);
      this.metaRecord = records[0]!;
    }
    for (const [key, value] of records) {
      if (!isStoreKey(key) || (key === META_KEY && this.records > 0)) throw new SnapshotBlobError(`unexpected key ${key.slice(0, 40)} in a store stream`);
      if (!(value instanceof Uint8Array)) throw new SnapshotBlobError(`record ${key.slice(0, 40)} has no bytes`);
      this.records++;
    }
    await generationKv(this.root, this.generation).batch(
      records.map(([key, value]) => ({ type: 'put', key, value })),
      { sync: false },
    );
  }

  /** Everything written is made durable; returns where the store stands. */
  async finish(): Promise<StreamedStoreMeta> {
    if (this.meta === null || this.metaRecord === null) throw new SnapshotBlobError('an empty store stream');
    // One synced write (the meta record again) flushes LevelDB's log with every write before it.
    const [key, value] = this.metaRecord;
    await generationKv(this.root, this.generation).batch([{ type: 'put', key, value }], { sync: true });
    return this.meta;
  }

  /** The arrived store's keys (to open and check it before commit). */
  view(): KvStore {
    return generationKv(this.root, this.generation);
  }

  /**
   * Makes the arrived store current (one synced write). The store it replaces is dropped in the
   * background: `dropped` settles when it is gone (a crash leaves it to the next open).
   */
  async commit(): Promise<{ dropped: Promise<void> }> {
    const previous = await currentGeneration(this.root);
    await makeCurrent(this.root, this.generation);
    return { dropped: dropGeneration(this.root, previous).catch(() => undefined) };
  }

  /** Drops what arrived (a transfer that cannot finish). */
  async abandon(): Promise<void> {
    await dropGeneration(this.root, this.generation);
  }
}

/**
 * At open: finds the generations other than the current one (left by a crash) and drops them in
 * the background. They are listed before this returns, so an intake begun later never picks a
 * number among them.
 */
export async function dropLeftoverGenerations(root: KvStore, current: number): Promise<{ count: number; dropped: Promise<void> }> {
  const leftovers = (await listGenerations(root)).filter((generation) => generation !== current);
  if (current !== 0 && (await root.get(META_KEY)) !== undefined) leftovers.push(0); // dropped last of all its keys
  const dropped = (async () => {
    for (const generation of leftovers) await dropGeneration(root, generation);
  })().catch(() => undefined);
  return { count: leftovers.length, dropped };
}
