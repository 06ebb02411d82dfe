// Why this file exists: the on-disk layout of a tracker store in one place. Keys sort as
// strings, so indices are zero-padded. A segment holds consecutive applied entries, one line
// each, `<64 hex chain hash> <canonical JSON entry>`, and is keyed by its last index.
//
//   meta              {v, appliedIndex, appliedTerm, chainHead, lastTimeMs, checkpointIndex}  in every batch
//   seg:<last index>  line\nline\n…                        the event archive, never deleted
//   st:<record id>    canonical JSON of one record of the projection (log/domain/records.ts),
//                     written in the batch whose entries changed it: the state at appliedIndex
//   pieces:<file id>  the file's piece hashes, 20 bytes each  written with the entry that shares
//                     the file first, never changed (content-addressed: the id is their info-hash)
//
// Formats 1 and 2 kept the projection as whole snapshots, `snap:<index>` (`<sha256 hex>
// <canonical snapshot>`); format 1 also kept piece lists only there and in the archive. Such a
// store is read from its snapshot and archive, and upgraded to format 3 when a node opens it.

export const META_KEY = 'meta';
export const SEGMENT_PREFIX = 'seg:';
export const SNAPSHOT_PREFIX = 'snap:';
export const PIECES_PREFIX = 'pieces:';
export const STATE_PREFIX = 'st:';
const INDEX_DIGITS = 16;

export const GENESIS_HASH = '0'.repeat(64);
export const STORE_FORMAT_VERSION = 3;
/** The format before piece lists left the projection; read, and upgraded by TrackerStore.open. */
export const STORE_FORMAT_WITH_PIECES_IN_SNAPSHOTS = 1;
/** The format whose projection lived in whole snapshots; read, and upgraded by TrackerStore.open. */
export const STORE_FORMAT_WITH_SNAPSHOTS = 2;

/** Whether a store of this format keeps its projection in snapshots (1, 2) rather than records (3). */
export function keepsSnapshots(format: number): boolean {
  return format === STORE_FORMAT_WITH_PIECES_IN_SNAPSHOTS || format === STORE_FORMAT_WITH_SNAPSHOTS;
}

/** Entries a repacked segment holds at most, and its size bound. */
export const PACKED_SEGMENT_ENTRIES = 1024;
export const PACKED_SEGMENT_BYTES = 512 * 1024;

/** Segments one archive read asks LevelDB for (replay reads the next such chunk while it works on this one). */
export const SEGMENTS_PER_READ = 4;

function pad(index: number): string {
  return index.toString().padStart(INDEX_DIGITS, '0');
}

export function segmentKey(lastIndex: number): string {
  return SEGMENT_PREFIX + pad(lastIndex);
}

export function piecesKey(fileId: string): string {
  return PIECES_PREFIX + fileId;
}

export function stateKey(recordId: string): string {
  return STATE_PREFIX + recordId;
}

export function snapshotKey(index: number): string {
  return SNAPSHOT_PREFIX + pad(index);
}

/** The index in a segment or snapshot key, or null when the key is not one. */
export function indexOfKey(key: string, prefix: string): number | null {
  if (!key.startsWith(prefix)) return null;
  const digits = key.slice(prefix.length);
  return /^[0-9]{16}$/.test(digits) ? Number(digits) : null;
}

/** Range of segment keys holding entries at or after `index`. */
export function segmentsFrom(index: number): { gte: string; lt: string } {
  return { gte: segmentKey(index), lt: SEGMENT_PREFIX + '~' };
}

export interface StoreMeta {
  v: number;
  appliedIndex: number;
  /** The Raft term of the entry at appliedIndex (0 before the first). */
  appliedTerm: number;
  chainHead: string;
  /** The time of the entry at appliedIndex (format 3: the records hold the rest of the state). */
  lastTimeMs?: number;
  /** Format 3: the applied index of the last checkpoint (a synced write Raft compacted behind); the archive after it is not repacked yet. */
  checkpointIndex?: number;
}
