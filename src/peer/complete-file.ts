// Why this file exists: a user shares a file that stays where it is on their machine; serving
// it needs no journal or partial state, just reads of whole pieces. Its piece list was hashed
// when it was shared, and the file may be edited or truncated since: each piece read in for
// serving is SHA1-checked first, and a piece that fails, a short read or a read error stops the
// serving (FILE_CHANGED) instead of sending bytes that are not the file or dropping requests
// silently. Opened again at login, a sample of pieces is checked before anything is offered.

import { fromBase64 } from '../torrent/bytes.js';
import type { FileMeta } from '../torrent/file-meta.js';
import { PIECE_HASH_BYTES, pieceCount } from '../torrent/infohash.js';
import type { FileHandle, World } from '../world/world.js';
import { Bitfield } from '../torrent/bitfield.js';
import { CompleteFileError, pieceMatches, samplePieceIndexes } from './file-changed.js';
import { PieceReadCache } from './piece-read-cache.js';
import type { PieceSource } from './piece-source.js';

export interface CompleteFileOptions {
  /** Re-hash the first, the last and a few pieces the World's rng picks before serving (a file shared at an earlier login). */
  checkSample?: boolean;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class CompleteFile implements PieceSource {
  readonly pieceCount: number;
  private readonly cache: PieceReadCache;
  private closed = false;
  /** Why it no longer matches, once a read found out. */
  private changedBy: CompleteFileError | null = null;
  private readonly changeListeners = new Set<(error: CompleteFileError) => void>();

  private constructor(
    readonly path: string,
    private readonly meta: FileMeta,
    private readonly file: FileHandle,
    private readonly pieceHashes: Uint8Array,
  ) {
    this.pieceCount = pieceCount(meta.sizeBytes, meta.pieceLengthBytes);
    this.cache = new PieceReadCache(file, meta.pieceLengthBytes, meta.sizeBytes, { check: (pieceIndex, piece) => this.check(pieceIndex, piece) });
  }

  /** The file, ready to serve; or why not: missing (FILE_NOT_FOUND), another size or a sampled piece that fails (FILE_CHANGED). */
  static async open(world: World, path: string, meta: FileMeta, options: CompleteFileOptions = {}): Promise<CompleteFile | CompleteFileError> {
    const pieceHashes = fromBase64(meta.pieces);
    if (pieceHashes === null || pieceHashes.length !== pieceCount(meta.sizeBytes, meta.pieceLengthBytes) * PIECE_HASH_BYTES) {
      return new CompleteFileError('BAD_META', path, 'has a piece list that does not fit its size');
    }
    const stat = await world.fs.stat(path);
    if (stat === null) return new CompleteFileError('FILE_NOT_FOUND', path, 'is missing');
    if (stat.isDirectory) return new CompleteFileError('FILE_NOT_FOUND', path, 'is a directory');
    if (stat.sizeBytes !== meta.sizeBytes) return new CompleteFileError('FILE_CHANGED', path, `its size is ${stat.sizeBytes} bytes, not ${meta.sizeBytes}`);
    let file: FileHandle;
    try {
      file = await world.fs.open(path, 'r');
    } catch (error) {
      return new CompleteFileError('FILE_NOT_FOUND', path, `cannot be opened (${messageOf(error)})`);
    }
    const complete = new CompleteFile(path, meta, file, pieceHashes);
    if (options.checkSample === true) {
      for (const pieceIndex of samplePieceIndexes(complete.pieceCount, world.rng)) {
        try {
          await complete.check(pieceIndex, await complete.readPiece(pieceIndex));
        } catch (error) {
          await complete.close();
          return error instanceof CompleteFileError ? error : new CompleteFileError('FILE_CHANGED', path, `piece ${pieceIndex} cannot be read (${messageOf(error)})`);
        }
      }
    }
    return complete;
  }

  has(pieceIndex: number): boolean {
    return !this.closed && this.changedBy === null && Number.isInteger(pieceIndex) && pieceIndex >= 0 && pieceIndex < this.pieceCount;
  }

  bitfield(): Uint8Array {
    return Bitfield.full(this.pieceCount).toBytes();
  }

  /** A block of a piece that still hashes right; null otherwise (and the first such read tells the listeners why). */
  async readBlock(pieceIndex: number, beginBytes: number, lengthBytes: number): Promise<Uint8Array | null> {
    if (!this.has(pieceIndex)) return null;
    if (!Number.isInteger(beginBytes) || beginBytes < 0 || lengthBytes < 1 || beginBytes + lengthBytes > this.pieceBytes(pieceIndex)) return null;
    try {
      return await this.cache.readBlock(pieceIndex, beginBytes, lengthBytes);
    } catch (error) {
      // Closed under the read (we stopped sharing it): nothing changed.
      if (this.closed) return null;
      this.changed(error instanceof CompleteFileError ? error : new CompleteFileError('FILE_CHANGED', this.path, `piece ${pieceIndex} cannot be read (${messageOf(error)})`));
      return null;
    }
  }

  onVerified(): () => void {
    return () => {};
  }

  /** Hears, once, that the file no longer matches what was shared (called in the turn the read found out). */
  onChanged(listener: (error: CompleteFileError) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.changeListeners.clear();
    this.cache.clear();
    await this.file.close();
  }

  private pieceBytes(pieceIndex: number): number {
    return Math.min(this.meta.pieceLengthBytes, this.meta.sizeBytes - pieceIndex * this.meta.pieceLengthBytes);
  }

  private readPiece(pieceIndex: number): Promise<Uint8Array> {
    return this.file.read(pieceIndex * this.meta.pieceLengthBytes, this.pieceBytes(pieceIndex));
  }

  /** Throws a FILE_CHANGED CompleteFileError when the piece read is short (the file was truncated) or fails its SHA1. */
  private async check(pieceIndex: number, piece: Uint8Array): Promise<void> {
    if (piece.length < this.pieceBytes(pieceIndex)) {
      const sizeBytes = await this.file.sizeBytes().catch(() => null);
      throw new CompleteFileError('FILE_CHANGED', this.path, sizeBytes === null ? `piece ${pieceIndex} reads short` : `truncated to ${sizeBytes} bytes`);
    }
    if (!pieceMatches(this.pieceHashes, pieceIndex, piece)) throw new CompleteFileError('FILE_CHANGED', this.path, `piece ${pieceIndex} fails its SHA1`);
  }

  private changed(error: CompleteFileError): void {
    if (this.changedBy !== null) return;
    this.changedBy = error;
    this.cache.clear();
    for (const listener of [...this.changeListeners]) listener(error);
  }
}
