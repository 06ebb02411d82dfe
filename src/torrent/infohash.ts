// Why this file exists: a file's identity is its BitTorrent v1 info-hash (DESIGN.md §6), the SHA1
// of the bencoded info dictionary {length, name, piece length, pieces}, so that `mktorrent -l 19`
// and `aria2c -S` agree with us byte for byte.

import { createHash } from 'node:crypto';
import { concatBytes, utf8 } from './bytes.js';

/** 512 KiB pieces, BitTorrent's "piece length" 2^19. */
export const PIECE_LENGTH_BYTES = 524_288;
export const PIECE_HASH_BYTES = 20;

export function pieceCount(sizeBytes: number, pieceLengthBytes: number = PIECE_LENGTH_BYTES): number {
  return Math.ceil(sizeBytes / pieceLengthBytes);
}

export interface InfoDictionary {
  name: string;
  sizeBytes: number;
  pieceLengthBytes: number;
  /** The concatenated SHA1 of every piece, 20 bytes each. */
  pieces: Uint8Array;
}

/** Bencoded info dictionary; keys in bencode's required byte order. */
export function bencodeInfo(info: InfoDictionary): Uint8Array {
  const name = utf8(info.name);
  return concatBytes([
    utf8(`d6:lengthi${info.sizeBytes}e4:name${name.length}:`),
    name,
    utf8(`12:piece lengthi${info.pieceLengthBytes}e6:pieces${info.pieces.length}:`),
    info.pieces,
    utf8('e'),
  ]);
}

/** Lower-case hex of the 20-byte info-hash. */
export function infoHash(info: InfoDictionary): string {
  return createHash('sha1').update(bencodeInfo(info)).digest('hex');
}

export function sha1Hex(bytes: Uint8Array): string {
  return createHash('sha1').update(bytes).digest('hex');
}

export function sha1(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha1').update(bytes).digest());
}

/** Piece hashes of a whole in-memory file (tests, small files). */
export function hashPieces(file: Uint8Array, pieceLengthBytes: number = PIECE_LENGTH_BYTES): Uint8Array {
  const count = pieceCount(file.length, pieceLengthBytes);
  const out = new Uint8Array(count * PIECE_HASH_BYTES);
  for (let i = 0; i < count; i++) {
    out.set(sha1(file.subarray(i * pieceLengthBytes, (i + 1) * pieceLengthBytes)), i * PIECE_HASH_BYTES);
  }
  return out;
}
