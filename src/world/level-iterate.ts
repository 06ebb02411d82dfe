// Reading a KvRange out of an abstract-level database (memory-level in the simulation,
// classic-level for real) in chunks, shared by both worlds so their iteration cannot drift.

import type { KvEntry, KvRange } from './world.js';

interface ChunkedIterator {
  nextv(size: number): Promise<Array<[string, Uint8Array]>>;
  close(): Promise<void>;
}

export interface IterableLevel {
  iterator(options: LevelRangeOptions): ChunkedIterator;
}

/** abstract-level takes the same range options as the World's KvRange. */
export type LevelRangeOptions = KvRange;

export const DEFAULT_CHUNK_SIZE = 100;

/** Copies only the bounds that are set (abstract-level treats a present-but-undefined bound differently across versions). */
export function toLevelRange(range: KvRange): LevelRangeOptions {
  const options: LevelRangeOptions = {};
  if (range.gt !== undefined) options.gt = range.gt;
  if (range.gte !== undefined) options.gte = range.gte;
  if (range.lt !== undefined) options.lt = range.lt;
  if (range.lte !== undefined) options.lte = range.lte;
  if (range.reverse !== undefined) options.reverse = range.reverse;
  if (range.limit !== undefined) {
    if (!Number.isInteger(range.limit)) throw new RangeError(`limit must be an integer, got ${range.limit}`);
    options.limit = range.limit;
  }
  return options;
}

/**
 * Yields the range in chunks of at most `chunkSize` entries. `beforeChunk` runs before each
 * read (to refuse reading through a closed or crashed handle); `copyValue` may detach values
 * from the store's memory.
 */
export async function* iterateLevel(
  db: IterableLevel,
  range: KvRange,
  chunkSize: number,
  beforeChunk: () => void,
  copyValue: (value: Uint8Array) => Uint8Array = (value) => value,
): AsyncGenerator<readonly KvEntry[]> {
  if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`);
  beforeChunk();
  const iterator = db.iterator(toLevelRange(range));
  try {
    for (;;) {
      beforeChunk();
      const entries = await iterator.nextv(chunkSize);
      if (entries.length === 0) return;
      yield entries.map(([key, value]): KvEntry => [key, copyValue(value)]);
    }
  } finally {
    await iterator.close();
  }
}
