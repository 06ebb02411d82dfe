// Why this file exists: a downloader asks for a piece as 32 consecutive 16 KiB blocks, so a
// serving peer that read each block separately would make 32 small reads per piece. This
// cache reads whole pieces and keeps the last few, so serving costs one read per piece. A
// check given to it (a complete file's SHA1) runs once per piece read in, before any block of it
// is handed out.

import type { FileHandle } from '../world/world.js';

const DEFAULT_CACHED_PIECES = 8;

export interface PieceReadCacheOptions {
  maxPieces?: number;
  /** Runs on each piece as it is read in; a throw fails that read (and every block waiting on it). */
  check?: (pieceIndex: number, piece: Uint8Array) => Promise<void>;
}

export class PieceReadCache {
  /** Insertion order is recency order (a Map re-inserted on use). */
  private readonly pieces = new Map<number, Promise<Uint8Array>>();

  constructor(
    private readonly file: FileHandle,
    private readonly pieceLengthBytes: number,
    private readonly sizeBytes: number,
    private readonly options: PieceReadCacheOptions = {},
  ) {}

  /** The caller has checked that the block lies inside the piece; null when the file is shorter now. */
  async readBlock(pieceIndex: number, beginBytes: number, lengthBytes: number): Promise<Uint8Array | null> {
    let piece = this.pieces.get(pieceIndex);
    if (piece === undefined) {
      const startBytes = pieceIndex * this.pieceLengthBytes;
      piece = this.file.read(startBytes, Math.min(this.pieceLengthBytes, this.sizeBytes - startBytes));
      const { check } = this.options;
      if (check) {
        piece = piece.then(async (bytes) => {
          await check(pieceIndex, bytes);
          return bytes;
        });
      }
      // A failed read must not stay cached.
      piece.catch(() => this.pieces.delete(pieceIndex));
    } else {
      this.pieces.delete(pieceIndex);
    }
    this.pieces.set(pieceIndex, piece);
    while (this.pieces.size > (this.options.maxPieces ?? DEFAULT_CACHED_PIECES)) this.pieces.delete(this.pieces.keys().next().value!);
    const block = (await piece).subarray(beginBytes, beginBytes + lengthBytes);
    return block.length === lengthBytes ? block : null;
  }

  clear(): void {
    this.pieces.clear();
  }
}
