// Why this file exists: reading a store's archive back: entries in index order for replay and
// audit, a full chain verification that names the first bad entry, and a comparison of two
// stores that names the first divergence. Everything read from disk is untrusted.

import { canonicalJson } from '../../torrent/canonical.js';
import { replayEntry } from '../domain/entry.js';
import { encodeState } from '../domain/snapshot.js';
import { initialState, type TrackerState } from '../domain/state.js';
import type { KvEntry, KvStore } from '../../world/world.js';
import { chainHash, decodeBody, LineFormatError, sha256Hex, splitLine, type StoredOutcome } from './chain.js';
import { GENESIS_HASH, indexOfKey, META_KEY, SEGMENT_PREFIX, segmentsFrom, SEGMENTS_PER_READ, SNAPSHOT_PREFIX, STORE_FORMAT_VERSION, type StoreMeta } from './layout.js';

const decoder = new TextDecoder('utf-8', { fatal: false });

export class StoreCorruptError extends Error {
  override name = 'StoreCorruptError';
  constructor(
    readonly index: number,
    reason: string,
  ) {
    super(`entry #${index}: ${reason}`);
  }
}

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
  if (m && typeof m.v === 'number' && m.v !== STORE_FORMAT_VERSION) {
    throw new StoreVersionError(`the store is of format ${m.v}; this build reads format ${STORE_FORMAT_VERSION}: run a newer build`);
  }
  if (!m || m.v !== STORE_FORMAT_VERSION || !Number.isSafeInteger(m.appliedIndex) || !Number.isSafeInteger(m.appliedTerm) || typeof m.chainHead !== 'string') {
    throw new StoreCorruptError(0, 'store meta record is malformed');
  }
  return m as StoreMeta;
}

/** Consecutive stored lines; the first must carry `firstIndex`, each next one the index after. */
export interface LineBatch {
  firstIndex: number;
  lines: string[];
}

/** Iterates a range with the next chunk's read already in flight while the caller works on this one. */
async function* prefetched(source: AsyncIterable<readonly KvEntry[]>): AsyncGenerator<readonly KvEntry[]> {
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
 * Every stored line from `fromIndex` on, in order, a segment at a time (an async step per
 * segment, not per entry: replay runs at millions of entries a second).
 */
export async function* readLines(kv: KvStore, fromIndex = 1): AsyncGenerator<LineBatch> {
  let nextIndex: number | null = null;
  for await (const chunk of prefetched(kv.iterate(segmentsFrom(fromIndex), SEGMENTS_PER_READ))) {
    for (const [key, value] of chunk) {
      const lines = decoder.decode(value).split('\n');
      // The archive starts at entry 1. Read from elsewhere, the first segment may start before
      // fromIndex: its lines are numbered back from its key. Numbering forward from 1 keeps a
      // corrupted segment (a byte turned into a newline) from shifting the blame to entry 1.
      let firstIndex: number = nextIndex ?? (fromIndex === 1 ? 1 : (indexOfKey(key, SEGMENT_PREFIX) ?? fromIndex) - lines.length + 1);
      nextIndex = firstIndex + lines.length;
      if (firstIndex < fromIndex) {
        lines.splice(0, fromIndex - firstIndex);
        firstIndex = fromIndex;
      }
      if (lines.length > 0) yield { firstIndex, lines };
    }
  }
}

export interface ParsedLine {
  entry: StoredOutcome;
  /** The stored chain hash of this entry. */
  hash: string;
  /** The hashed text. */
  body: string;
}

/** Parses one line without checking its hash (replay); throws StoreCorruptError. */
export function parseLine(line: string, expectedIndex: number): ParsedLine {
  const parts = splitLine(line);
  if (!parts) throw new StoreCorruptError(expectedIndex, 'line is not `<hash> <entry>`');
  try {
    return { entry: decodeBody(parts.body, expectedIndex), hash: parts.hash, body: parts.body };
  } catch (error) {
    if (error instanceof LineFormatError) throw new StoreCorruptError(expectedIndex, error.message);
    throw error;
  }
}

/** Parsed entries from `fromIndex` on, a segment at a time. */
export async function* readEntries(kv: KvStore, fromIndex = 1): AsyncGenerator<ParsedLine[]> {
  for await (const batch of readLines(kv, fromIndex)) {
    yield batch.lines.map((line, i) => parseLine(line, batch.firstIndex + i));
  }
}

export type VerifyResult =
  | { ok: true; entries: number; chainHead: string }
  | { ok: false; index: number; reason: string; entries: number };

/** Stored snapshots by index, as text; the checksum is checked by the caller. */
async function readSnapshots(kv: KvStore): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for await (const chunk of kv.iterate({ gte: SNAPSHOT_PREFIX, lt: SNAPSHOT_PREFIX + '~' })) {
    for (const [key, value] of chunk) {
      const index = indexOfKey(key, SNAPSHOT_PREFIX);
      if (index !== null) out.set(index, decoder.decode(value));
    }
  }
  return out;
}

/** A stored snapshot must be exactly what replaying the archive gives at its index. */
function checkSnapshot(text: string, state: TrackerState, head: string): string | null {
  const json = text.slice(65);
  if (text.charAt(64) !== ' ' || sha256Hex(json) !== text.slice(0, 64)) return 'checksum does not match';
  let parsed: { chainHead?: unknown; state?: unknown };
  try {
    parsed = JSON.parse(json) as { chainHead?: unknown; state?: unknown };
  } catch {
    return 'not JSON';
  }
  if (parsed.chainHead !== head) return 'chain head differs from the archive';
  if (canonicalJson(parsed.state) !== canonicalJson(encodeState(state))) return 'state differs from the replayed archive';
  return null;
}

/**
 * Recomputes the whole chain from genesis and replays it; names the first entry that does not
 * hold, or the first snapshot that is not what the replay gives at its index.
 */
export async function verifyStore(kv: KvStore): Promise<VerifyResult> {
  let meta: StoreMeta | null;
  try {
    meta = await readMeta(kv);
  } catch (error) {
    return { ok: false, index: 0, reason: (error as Error).message, entries: 0 };
  }
  const snapshots = await readSnapshots(kv);
  const state = initialState();
  let previous = GENESIS_HASH;
  let count = 0;
  for await (const batch of readLines(kv)) {
    for (let i = 0; i < batch.lines.length; i++) {
      const index = batch.firstIndex + i;
      let parsed: ParsedLine;
      try {
        parsed = parseLine(batch.lines[i]!, index);
      } catch (error) {
        if (!(error instanceof StoreCorruptError)) throw error;
        return { ok: false, index, reason: error.message.replace(/^entry #\d+: /, ''), entries: count };
      }
      if (chainHash(previous, parsed.body) !== parsed.hash) {
        return { ok: false, index, reason: 'hash does not match its content and the chain before it', entries: count };
      }
      try {
        replayEntry(state, parsed.entry);
      } catch (error) {
        return { ok: false, index, reason: `cannot be replayed: ${error instanceof Error ? error.message : String(error)}`, entries: count };
      }
      previous = parsed.hash;
      count++;
      const snapshot = snapshots.get(index);
      const bad = snapshot === undefined ? null : checkSnapshot(snapshot, state, previous);
      if (bad !== null) return { ok: false, index, reason: `the snapshot at this entry: ${bad}`, entries: count };
    }
  }
  for (const index of snapshots.keys()) {
    if (index > count) return { ok: false, index, reason: 'a snapshot beyond the end of the archive', entries: count };
  }
  const appliedIndex = meta?.appliedIndex ?? 0;
  if (count !== appliedIndex) {
    return { ok: false, index: count + 1, reason: `meta says applied ${appliedIndex}, archive ends at ${count}`, entries: count };
  }
  if (previous !== (meta?.chainHead ?? GENESIS_HASH)) {
    return { ok: false, index: count, reason: 'meta chain head differs from the archive', entries: count };
  }
  const badKey = await firstMisnamedSegment(kv);
  if (badKey !== null) return { ok: false, index: badKey, reason: 'segment key does not match its last entry', entries: count };
  return { ok: true, entries: count, chainHead: previous };
}

/** A segment's key must be its last entry's index; returns the first entry of the first that is not. */
async function firstMisnamedSegment(kv: KvStore): Promise<number | null> {
  let expected = 1;
  for await (const chunk of kv.iterate(segmentsFrom(1), SEGMENTS_PER_READ)) {
    for (const [key, value] of chunk) {
      const last = expected + decoder.decode(value).split('\n').length - 1;
      if (indexOfKey(key, SEGMENT_PREFIX) !== last) return expected;
      expected = last + 1;
    }
  }
  return null;
}

export type CompareResult = { diverged: false; compared: number } | { diverged: true; index: number; compared: number };

async function* eachLine(kv: KvStore): AsyncGenerator<{ index: number; line: string }> {
  for await (const batch of readLines(kv)) {
    for (let i = 0; i < batch.lines.length; i++) yield { index: batch.firstIndex + i, line: batch.lines[i]! };
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
      if (l.value.line !== r.value.line) return { diverged: true, index: l.value.index, compared };
      compared++;
    }
  } finally {
    await Promise.all([left.return(undefined), right.return(undefined)]);
  }
}
