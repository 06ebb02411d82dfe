// Why this file exists: the on-disk layout of a tracker store in one place. Keys sort as
// strings, so indices are zero-padded. A segment holds consecutive applied entries, one line
// each, `<64 hex chain hash> <canonical JSON entry>`, and is keyed by its last index.
//
//   meta              {v, appliedIndex, appliedTerm, chainHead}  in the same batch as segments
//   seg:<last index>  line\nline\n…                        the event archive, never deleted
//   snap:<index>      <sha256 hex> <canonical snapshot>    projection, reply cache, chain head
//   pieces:<file id>  the file's piece hashes, 20 bytes each  written with the entry that shares
//                     the file first, never changed (content-addressed: the id is their info-hash)
//
// Format 2 added `pieces:`, and snapshots without piece lists; a format-1 store is upgraded when
// it is opened (its lists are copied out of its snapshot and archive).

export const META_KEY = 'meta';
export const SEGMENT_PREFIX = 'seg:';
export const SNAPSHOT_PREFIX = 'snap:';
export const PIECES_PREFIX = 'pieces:';
const INDEX_DIGITS = 16;

export const GENESIS_HASH = '0'.repeat(64);
export const STORE_FORMAT_VERSION = 2;
/** The format before piece lists left the projection; read, and upgraded by TrackerStore.open. */
export const STORE_FORMAT_WITH_PIECES_IN_SNAPSHOTS = 1;

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
}
