// Why this file exists: the upload side serves pieces from two kinds of files — a partial
// download (PieceStore: only verified pieces) and a complete shared file (CompleteFile). This
// is what both offer to a serving connection.

import type { CompleteFileError } from './file-changed.js';

export interface PieceSource {
  readonly pieceCount: number;
  has(pieceIndex: number): boolean;
  /** BEP 3 bitfield of the pieces that may be served now. */
  bitfield(): Uint8Array;
  /** A block of a servable piece; null for anything else (unverified, out of range, closed). */
  readBlock(pieceIndex: number, beginBytes: number, lengthBytes: number): Promise<Uint8Array | null>;
  /** Hears of pieces that become servable later; returns the unsubscribe. */
  onVerified(listener: (pieceIndex: number) => void): () => void;
  /** A source that can stop matching its file (a complete file edited on disk) says so, once; returns the unsubscribe. */
  onChanged?(listener: (error: CompleteFileError) => void): () => void;
}
