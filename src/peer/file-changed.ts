// Why this file exists: a shared file stays where it is on the user's disk, so it can be edited
// or truncated after it was hashed. This is how the peer says so (a stable code and a reason a
// person can act on) and which pieces it re-reads at login to notice, without hashing the whole
// file again.

import { PIECE_HASH_BYTES, sha1 } from '../torrent/infohash.js';
import type { Rng } from '../world/world.js';

/** Pieces picked at random for the login check, besides the first and the last. */
export const SAMPLED_MIDDLE_PIECES = 6;

export type CompleteFileErrorCode = 'FILE_CHANGED' | 'FILE_NOT_FOUND' | 'BAD_META';

/** Why a shared file is not (or no longer) served: `reason` is e.g. "piece 3 fails its SHA1". */
export class CompleteFileError extends Error {
  constructor(
    readonly code: CompleteFileErrorCode,
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path} ${code === 'FILE_CHANGED' ? `no longer matches what was shared (${reason})` : reason}`);
    this.name = 'CompleteFileError';
  }
}

/**
 * The pieces a login re-hashes: the first, the last and up to `middlePieces` others drawn by the
 * World's rng (Floyd's sampling: exactly one draw each), in ascending order.
 */
export function samplePieceIndexes(pieceCount: number, rng: Rng, middlePieces = SAMPLED_MIDDLE_PIECES): number[] {
  if (pieceCount <= middlePieces + 2) return Array.from({ length: pieceCount }, (_, i) => i);
  // Distinct draws from the middle pieces 1 … pieceCount - 2.
  const middleCount = pieceCount - 2;
  const picked = new Set<number>();
  for (let j = middleCount - middlePieces; j < middleCount; j++) {
    const draw = rng.int(j + 1);
    picked.add(picked.has(draw) ? j : draw);
  }
  return [0, ...[...picked].map((i) => i + 1).sort((a, b) => a - b), pieceCount - 1];
}

/** Whether `bytes` hash to piece `pieceIndex` of the concatenated piece hashes. */
export function pieceMatches(pieceHashes: Uint8Array, pieceIndex: number, bytes: Uint8Array): boolean {
  const expected = pieceHashes.subarray(pieceIndex * PIECE_HASH_BYTES, (pieceIndex + 1) * PIECE_HASH_BYTES);
  const actual = sha1(bytes);
  return expected.length === PIECE_HASH_BYTES && actual.every((byte, i) => byte === expected[i]);
}
