// Why this file exists: reading a store's archive back: entries in index order for replay and
// audit, a full chain verification that names the first bad entry, and a comparison of two
// stores that names the first divergence. Everything read from disk is untrusted.

import type { KvStore } from '../../sim/world.js';
import { chainHash, splitLine, type StoredEntry } from './chain.js';
import { GENESIS_HASH, indexOfKey, META_KEY, SEGMENT_PREFIX, segmentsFrom, STORE_FORMAT_VERSION, type StoreMeta } from './layout.js';

const decoder = new TextDecoder('utf-8', { fatal: false });
const SEGMENTS_PER_READ = 64;

export class StoreCorruptError extends Error {
  override name = 'StoreCorruptError';
  constructor(
    readonly index: number,
    reason: string,
  ) {
    super(`entry #${index}: ${reason}`);
  }
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
  if (!m || m.v !== STORE_FORMAT_VERSION || !Number.isSafeInteger(m.appliedIndex) || typeof m.chainHead !== 'string') {
    throw new StoreCorruptError(0, 'store meta record is malformed');
  }
  return m as StoreMeta;
}

export interface RawLine {
  /** The index this line must have: the previous line's + 1. */
  expectedIndex: number;
  line: string;
}

/** Consecutive stored lines; the first must carry `firstIndex`, each next one the index after. */
export interface LineBatch {
  firstIndex: number;
  lines: string[];
}

/**
 * Every stored line from `fromIndex` on, in order, a segment at a time (an async step per
 * segment, not per entry: replay runs at millions of entries a second).
 */
export async function* readLines(kv: KvStore, fromIndex = 1): AsyncGenerator<LineBatch> {
  let nextIndex: number | null = null;
  for await (const chunk of kv.iterate(segmentsFrom(fromIndex), SEGMENTS_PER_READ)) {
    for (const [key, value] of chunk) {
      const lines = decoder.decode(value).split('\n');
      // The first segment read may start before fromIndex: its lines are numbered back from its key.
      let firstIndex: number = nextIndex ?? (indexOfKey(key, SEGMENT_PREFIX) ?? fromIndex) - lines.length + 1;
      nextIndex = firstIndex + lines.length;
      if (firstIndex < fromIndex) {
        lines.splice(0, fromIndex - firstIndex);
        firstIndex = fromIndex;
      }
      if (lines.length > 0) yield { firstIndex, lines };
    }
  }
}

/** Parses a line's entry without checking its hash (replay). */
export function parseEntry(raw: RawLine): { entry: StoredEntry; hash: string; json: string } {
  const parts = splitLine(raw.line);
  if (!parts) throw new StoreCorruptError(raw.expectedIndex, 'line is not `<hash> <entry>`');
  let entry: StoredEntry;
  try {
    entry = JSON.parse(parts.json) as StoredEntry;
  } catch {
    throw new StoreCorruptError(raw.expectedIndex, 'entry is not JSON');
  }
  if (typeof entry !== 'object' || entry === null || entry.index !== raw.expectedIndex || !Array.isArray(entry.events)) {
    throw new StoreCorruptError(raw.expectedIndex, 'entry is malformed or out of order');
  }
  return { entry, hash: parts.hash, json: parts.json };
}

/** Parsed entries from `fromIndex` on, a segment at a time. */
export async function* readEntries(kv: KvStore, fromIndex = 1): AsyncGenerator<{ entry: StoredEntry; hash: string; json: string }[]> {
  for await (const batch of readLines(kv, fromIndex)) {
    yield batch.lines.map((line, i) => parseEntry({ expectedIndex: batch.firstIndex + i, line }));
  }
}

export type VerifyResult =
  | { ok: true; entries: number; chainHead: string }
  | { ok: false; index: number; reason: string; entries: number };

/** Recomputes the whole chain from genesis; names the first entry that does not hold. */
export async function verifyStore(kv: KvStore): Promise<VerifyResult> {
  let meta: StoreMeta | null;
  try {
    meta = await readMeta(kv);
  } catch (error) {
    return { ok: false, index: 0, reason: (error as Error).message, entries: 0 };
  }
  let previous = GENESIS_HASH;
  let count = 0;
  let lastIndex = 0;
  for await (const batch of readLines(kv)) {
    for (let i = 0; i < batch.lines.length; i++) {
      const index = batch.firstIndex + i;
      let parsed;
      try {
        parsed = parseEntry({ expectedIndex: index, line: batch.lines[i]! });
      } catch (error) {
        return { ok: false, index, reason: (error as StoreCorruptError).message.replace(/^entry #\d+: /, ''), entries: count };
      }
      if (chainHash(previous, parsed.json) !== parsed.hash) {
        return { ok: false, index, reason: 'hash does not match its content and the chain before it', entries: count };
      }
      previous = parsed.hash;
      lastIndex = index;
      count++;
    }
  }
  if (lastIndex !== (meta?.appliedIndex ?? 0)) {
    return { ok: false, index: lastIndex + 1, reason: `meta says applied ${meta?.appliedIndex ?? 0}, archive ends at ${lastIndex}`, entries: count };
  }
  if (previous !== (meta?.chainHead ?? GENESIS_HASH)) {
    return { ok: false, index: lastIndex, reason: 'meta chain head differs from the archive', entries: count };
  }
  const segmentKeysOk = await checkSegmentKeys(kv);
  if (segmentKeysOk !== null) return { ok: false, index: segmentKeysOk, reason: 'segment key does not match its last entry', entries: count };
  return { ok: true, entries: count, chainHead: previous };
}

async function checkSegmentKeys(kv: KvStore): Promise<number | null> {
  let expected = 1;
  for await (const chunk of kv.iterate(segmentsFrom(1), SEGMENTS_PER_READ)) {
    for (const [key, value] of chunk) {
      const lines = decoder.decode(value).split('\n').length;
      const last = expected + lines - 1;
      if (indexOfKey(key, SEGMENT_PREFIX) !== last) return expected;
      expected = last + 1;
    }
  }
  return null;
}

export type CompareResult = { diverged: false; compared: number } | { diverged: true; index: number; compared: number };

async function* eachLine(kv: KvStore): AsyncGenerator<RawLine> {
  for await (const batch of readLines(kv)) {
    for (let i = 0; i < batch.lines.length; i++) yield { expectedIndex: batch.firstIndex + i, line: batch.lines[i]! };
  }
}

/** Walks two archives side by side; the first differing line is the first divergence. */
export async function compareStores(a: KvStore, b: KvStore): Promise<CompareResult> {
  const left = eachLine(a);
  const right = eachLine(b);
  let compared = 0;
  try {
    for (;;) {
      const [l, r] = await Promise.all([left.next(), right.next()]);
      if (l.done || r.done) return { diverged: false, compared };
      if (l.value.line !== r.value.line) return { diverged: true, index: l.value.expectedIndex, compared };
      compared++;
    }
  } finally {
    await Promise.all([left.return(undefined), right.return(undefined)]);
  }
}
