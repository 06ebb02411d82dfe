// Why this file exists: reading a store's archive back: its meta record, and its segments, lines
// and entries in index order for replay, audit and the checks of verify.ts. Everything read
// from disk is untrusted.

import type { KvEntry, KvStore } from '../../world/world.js';
import { indexOfKey, keepsSnapshots, META_KEY, SEGMENT_PREFIX, segmentsFrom, SEGMENTS_PER_READ, STORE_FORMAT_VERSION, type StoreMeta } from './layout.js';
import { segmentBytes, type SegmentBytes } from './segment-bytes.js';
import { ParsedLine, parseLineAt, StoreCorruptError } from './stored-line.js';

export { ParsedLine, parseLine, StoreCorruptError } from './stored-line.js';

const decoder = new TextDecoder('utf-8', { fatal: false });

/** A store written by a build that this one cannot read. */
export class StoreVersionError extends Error {
  override name = 'StoreVersionError';
  readonly code = 'STORE_VERSION';
}

export async function readMeta(kv: KvStore): Promise<StoreMeta | null> {
  const bytes = await kv.get(META_KEY);
  if (bytes === undefined) return null;
  let meta: unknown;
  try {
    meta = JSON.parse(decoder.decode(bytes));
  } catch {
    throw new StoreCorruptError(0, 'store meta record is not JSON');
  }
  const m = meta as Partial<StoreMeta> | null;
  const known = m?.v === STORE_FORMAT_VERSION || (typeof m?.v === 'number' && keepsSnapshots(m.v));
  if (m && typeof m.v === 'number' && !known) {
    throw new StoreVersionError(`the store is of format ${m.v}; this build reads formats 1 to ${STORE_FORMAT_VERSION}: run a newer build`);
  }
  if (m?.v === STORE_FORMAT_VERSION && (!Number.isSafeInteger(m.lastTimeMs) || !(m.checkpointIndex === undefined || Number.isSafeInteger(m.checkpointIndex)))) {
    throw new StoreCorruptError(0, 'store meta record has no entry time or a bad checkpoint index');
  }
  if (!m || !known || !Number.isSafeInteger(m.appliedIndex) || !Number.isSafeInteger(m.appliedTerm) || typeof m.chainHead !== 'string') {
    throw new StoreCorruptError(0, 'store meta record is malformed');
  }
  return m as StoreMeta;
}

/** Consecutive stored lines; the first must carry `firstIndex`, each next one the index after. */
export interface LineBatch {
  firstIndex: number;
  lines: string[];
}

/** A stored segment's lines from `firstIndex` on, as bytes (segment-bytes.ts). */
export interface SegmentLines extends SegmentBytes {
  key: string;
  firstIndex: number;
}

/** Iterates a range with the next chunk's read already in flight while the caller works on this one. */
export async function* prefetched(source: AsyncIterable<readonly KvEntry[]>): AsyncGenerator<readonly KvEntry[]> {
  const iterator = source[Symbol.asyncIterator]();
  try {
    let pending = iterator.next();
    for (;;) {
      const result = await pending;
      if (result.done) return;
      pending = iterator.next();
      yield result.value;
    }
  } finally {
    await iterator.return?.();
  }
}

/**
 * Every stored segment from the one holding `fromIndex` on, in order, its lines from `fromIndex`
 * on (an async step per segment, not per entry: replay runs at millions of entries a second).
 */
export async function* readSegments(kv: KvStore, fromIndex = 1): AsyncGenerator<SegmentLines> {
  let nextIndex: number | null = null;
  for await (const chunk of prefetched(kv.iterate(segmentsFrom(fromIndex), SEGMENTS_PER_READ))) {
    for (const [key, value] of chunk) {
      const { bytes, starts } = segmentBytes(value);
      const count = starts.length - 1;
      // The archive starts at entry 1. Read from elsewhere, the first segment may start before
      // fromIndex: its lines are numbered back from its key. Numbering forward from 1 keeps a
      // corrupted segment (a byte turned into a newline) from shifting the blame to entry 1.
      const firstIndex: number = nextIndex ?? (fromIndex === 1 ? 1 : (indexOfKey(key, SEGMENT_PREFIX) ?? fromIndex) - count + 1);
      nextIndex = firstIndex + count;
      if (firstIndex >= fromIndex) yield { key, firstIndex, bytes, starts };
      else if (fromIndex < nextIndex) yield { key, firstIndex: fromIndex, bytes, starts: starts.slice(fromIndex - firstIndex) };
    }
  }
}

/** Every stored line from `fromIndex` on, in order, as text, a segment at a time. */
export async function* readLines(kv: KvStore, fromIndex = 1): AsyncGenerator<LineBatch> {
  for await (const { firstIndex, bytes, starts } of readSegments(kv, fromIndex)) {
    const lines: string[] = [];
    for (let i = 0; i + 1 < starts.length; i++) lines.push(bytes.toString('utf8', starts[i]!, starts[i + 1]! - 1));
    yield { firstIndex, lines };
  }
}

/** Parses line `i` of a segment (replay: its hash is not checked); throws StoreCorruptError. */
export function parseSegmentLine(segment: SegmentLines, i: number): ParsedLine {
  return parseLineAt(segment.bytes, segment.starts[i]!, segment.starts[i + 1]! - 1, segment.firstIndex + i);
}

/** Parsed entries from `fromIndex` on, a segment at a time. */
export async function* readEntries(kv: KvStore, fromIndex = 1): AsyncGenerator<ParsedLine[]> {
  for await (const segment of readSegments(kv, fromIndex)) {
    const parsed: ParsedLine[] = [];
    for (let i = 0; i + 1 < segment.starts.length; i++) parsed.push(parseSegmentLine(segment, i));
    yield parsed;
  }
}
