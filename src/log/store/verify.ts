// Why this file exists: the checks of `clique audit`: --verify recomputes the whole chain from
// genesis and replays it, naming the first entry that does not hold (or the first snapshot that
// is not what the replay gives at its index, or a segment under the wrong key); --against walks
// two archives side by side and names the first divergence. Both read segments as bytes
// (segment-bytes.ts), one pass each, with results exactly those of reading them as text.

import { createHash } from 'node:crypto';
import { canonicalJson } from '../../torrent/canonical.js';
import { replayEntry } from '../domain/entry.js';
import { encodeState, SNAPSHOT_FORMAT_VERSION } from '../domain/snapshot.js';
import { initialState, type FileRecord, type TrackerState } from '../domain/state.js';
import { listFitsFile } from '../domain/piece-lists.js';
import type { KvStore } from '../../world/world.js';
import { isCanonicalJsonOf } from './canonical-match.js';
import { HASH_HEX_LENGTH, sha256Hex } from './chain.js';
import { GENESIS_HASH, indexOfKey, keepsSnapshots, PIECES_PREFIX, SEGMENT_PREFIX, SNAPSHOT_PREFIX, STATE_PREFIX, STORE_FORMAT_VERSION, type StoreMeta } from './layout.js';
import { allRecords } from '../domain/records.js';
import { parseSegmentLine, readMeta, readSegments, type SegmentLines } from './read.js';
import { asDecoded } from './segment-bytes.js';
import { StoreCorruptError, type ParsedLine } from './stored-line.js';

const SPACE = 0x20;
const FIRST_NON_ASCII = 0x80;

export type VerifyResult =
  | { ok: true; entries: number; chainHead: string }
  | { ok: false; index: number; reason: string; entries: number };

/** Stored snapshots by index, as stored; the checksum is checked by the caller. */
async function readSnapshots(kv: KvStore): Promise<Map<number, Uint8Array>> {
  const out = new Map<number, Uint8Array>();
  for await (const chunk of kv.iterate({ gte: SNAPSHOT_PREFIX, lt: SNAPSHOT_PREFIX + '~' })) {
    for (const [key, value] of chunk) {
      const index = indexOfKey(key, SNAPSHOT_PREFIX);
      if (index !== null) out.set(index, value);
    }
  }
  return out;
}

/**
 * The JSON of a stored snapshot `<sha256 hex> <json>` whose checksum holds; null when it does not.
 * The checksum is taken over the stored bytes where they are the text's encoding.
 */
function checkedSnapshotJson(value: Uint8Array): string | null {
  const bytes = asDecoded(value);
  let plain = bytes.length > HASH_HEX_LENGTH && bytes[HASH_HEX_LENGTH] === SPACE;
  for (let i = 0; plain && i < HASH_HEX_LENGTH; i++) plain = bytes[i]! < FIRST_NON_ASCII;
  if (!plain) {
    const text = bytes.toString('utf8');
    const json = text.slice(HASH_HEX_LENGTH + 1);
    return text.charAt(HASH_HEX_LENGTH) !== ' ' || sha256Hex(json) !== text.slice(0, HASH_HEX_LENGTH) ? null : json;
  }
  const sum = createHash('sha256').update(bytes.subarray(HASH_HEX_LENGTH + 1)).digest('hex');
  return sum === bytes.toString('latin1', 0, HASH_HEX_LENGTH) ? bytes.toString('utf8', HASH_HEX_LENGTH + 1) : null;
}

/**
 * A format-1 snapshot (piece lists inside, snapshot.ts) as this build encodes the same state:
 * without them. The lists themselves are not checked here; the archive's FileShared events hold them.
 */
function withoutPieceLists(state: unknown): unknown {
  const s = state as { v?: unknown; groups?: unknown } | null;
  if (s === null || typeof s !== 'object' || s.v !== 1 || !Array.isArray(s.groups)) return state;
  const groups = s.groups.map((group: unknown) => {
    const g = group as { files?: unknown } | null;
    if (g === null || typeof g !== 'object' || !Array.isArray(g.files)) return group;
    return {
      ...g,
      files: g.files.map((file: unknown) => {
        if (file === null || typeof file !== 'object') return file;
        const { pieces: _lists, ...rest } = file as { pieces?: unknown };
        return rest;
      }),
    };
  });
  return { ...s, v: SNAPSHOT_FORMAT_VERSION, groups };
}

/** A stored snapshot must be exactly what replaying the archive gives at its index. */
function checkSnapshot(value: Uint8Array, index: number, state: TrackerState, head: string): string | null {
  const json = checkedSnapshotJson(value);
  if (json === null) return 'checksum does not match';
  const encoded = encodeState(state);
  // Exactly what this build writes at this index: every check below would pass.
  if (isCanonicalJsonOf({ v: STORE_FORMAT_VERSION, index, chainHead: head, state: encoded }, json)) return null;
  let parsed: { chainHead?: unknown; state?: unknown };
  try {
    parsed = JSON.parse(json) as { chainHead?: unknown; state?: unknown };
  } catch {
    return 'not JSON';
  }
  if (parsed.chainHead !== head) return 'chain head differs from the archive';
  if (canonicalJson(withoutPieceLists(parsed.state)) !== canonicalJson(encoded)) return 'state differs from the replayed archive';
  return null;
}

/** A format-3 store's state records must be exactly those of the state its archive replays to. */
async function checkRecords(kv: KvStore, state: TrackerState): Promise<string | null> {
  const expected = new Map(allRecords(state));
  for await (const chunk of kv.iterate({ gte: STATE_PREFIX, lt: STATE_PREFIX + '~' }, 1024)) {
    for (const [key, value] of chunk) {
      const id = key.slice(STATE_PREFIX.length);
      const want = expected.get(id);
      const shown = JSON.stringify(id.replace('\u0000', '/'));
      if (want === undefined) return `the state record ${shown} is not in the state the archive replays to`;
      if (Buffer.from(value).toString('utf8') !== want) return `the state record ${shown} differs from the replayed archive`;
      expected.delete(id);
    }
  }
  const [missing] = expected.keys();
  return missing === undefined ? null : `the state record ${JSON.stringify(missing.replace('\u0000', '/'))} is missing`;
}

/** Every file the state lists has its piece list on disk, and the list hashes to the file's id. */
async function checkPieceLists(kv: KvStore, state: TrackerState): Promise<string | null> {
  const live = new Map<string, { group: string; file: FileRecord }>();
  // A file shared in several groups has one list (content-addressed): named by its first group.
  for (const group of state.groups.values()) for (const file of group.files.values()) if (!live.has(file.fileId)) live.set(file.fileId, { group: group.group, file });
  for await (const chunk of kv.iterate({ gte: PIECES_PREFIX, lt: PIECES_PREFIX + '~' }, 256)) {
    for (const [key, value] of chunk) {
      const found = live.get(key.slice(PIECES_PREFIX.length));
      if (found === undefined) continue; // a list outlives its file: content-addressed, never deleted
      if (!listFitsFile(found.file, value)) return `the piece list of ${found.file.name} in ${found.group} does not hash to its file id`;
      live.delete(found.file.fileId);
    }
  }
  const [missing] = live.values();
  return missing === undefined ? null : `the piece list of ${missing.file.name} in ${missing.group} is missing`;
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
  // A segment's key must be its last entry's index: the first entry of the first that is not.
  let misnamedAt: number | null = null;
  for await (const segment of readSegments(kv)) {
    const lines = segment.starts.length - 1;
    if (misnamedAt === null && indexOfKey(segment.key, SEGMENT_PREFIX) !== segment.firstIndex + lines - 1) misnamedAt = segment.firstIndex;
    for (let i = 0; i < lines; i++) {
      const index = segment.firstIndex + i;
      let parsed: ParsedLine;
      try {
        parsed = parseSegmentLine(segment, i);
      } catch (error) {
        if (!(error instanceof StoreCorruptError)) throw error;
        return { ok: false, index, reason: error.message.replace(/^entry #\d+: /, ''), entries: count };
      }
      const hash = parsed.hash;
      if (parsed.chainHash(previous) !== hash) {
        return { ok: false, index, reason: 'hash does not match its content and the chain before it', entries: count };
      }
      try {
        replayEntry(state, parsed.entry);
      } catch (error) {
        return { ok: false, index, reason: `cannot be replayed: ${error instanceof Error ? error.message : String(error)}`, entries: count };
      }
      previous = hash;
      count++;
      const snapshot = snapshots.get(index);
      const bad = snapshot === undefined ? null : checkSnapshot(snapshot, index, state, previous);
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
  if (misnamedAt !== null) return { ok: false, index: misnamedAt, reason: 'segment key does not match its last entry', entries: count };
  if (meta !== null && !keepsSnapshots(meta.v)) {
    if (meta.lastTimeMs !== state.lastTimeMs) return { ok: false, index: count, reason: 'meta entry time differs from the archive', entries: count };
    const bad = (await checkRecords(kv, state)) ?? (await checkPieceLists(kv, state));
    if (bad !== null) return { ok: false, index: count, reason: bad, entries: count };
  }
  return { ok: true, entries: count, chainHead: previous };
}

export type CompareResult = { diverged: false; compared: number } | { diverged: true; index: number; compared: number };

/** Whether line i of a and line j of b are the same bytes (so the same text: both are valid UTF-8). */
function sameLine(a: SegmentLines, i: number, b: SegmentLines, j: number): boolean {
  return a.bytes.compare(b.bytes, b.starts[j]!, b.starts[j + 1]! - 1, a.starts[i]!, a.starts[i + 1]! - 1) === 0;
}

/** Walks two archives side by side; the first differing line is the first divergence. */
export async function compareStores(a: KvStore, b: KvStore): Promise<CompareResult> {
  const left = readSegments(a);
  const right = readSegments(b);
  let compared = 0;
  try {
    let [l, r] = await Promise.all([left.next(), right.next()]);
    let i = 0;
    let j = 0;
    for (;;) {
      if (l.done || r.done) return { diverged: false, compared };
      const leftLines = l.value.starts.length - 1;
      const rightLines = r.value.starts.length - 1;
      for (; i < leftLines && j < rightLines; i++, j++) {
        if (!sameLine(l.value, i, r.value, j)) return { diverged: true, index: l.value.firstIndex + i, compared };
        compared++;
      }
      const [nextLeft, nextRight] = await Promise.all([i === leftLines ? left.next() : l, j === rightLines ? right.next() : r]);
      if (i === leftLines) i = 0;
      if (j === rightLines) j = 0;
      l = nextLeft;
      r = nextRight;
    }
  } finally {
    await Promise.all([left.return(undefined), right.return(undefined)]);
  }
}
