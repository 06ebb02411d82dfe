// Why this file exists: a user shares a file that stays where it is on their machine; serving
// it needs no journal or partial state, just reads of whole pieces. Its piece list was hashed
// when it was shared; a file changed on disk since then is caught by the downloader's SHA1 check.

import type { FileMeta } from '../torrent/file-meta.js';
import { pieceCount } from '../torrent/infohash.js';
import type { FileHandle, World } from '../world/world.js';
import { Bitfield } from '../torrent/bitfield.js';
import { PieceReadCache } from './piece-read-cache.js';
import type { PieceSource } from './piece-source.js';

export class CompleteFile implements PieceSource {
  readonly pieceCount: number;
  private readonly cache: PieceReadCache;
  private closed = false;

  private constructor(
    private readonly meta: FileMeta,
    private readonly file: FileHandle,
  ) {
    this.pieceCount = pieceCount(meta.sizeBytes, meta.pieceLengthBytes);
    this.cache = new PieceReadCache(file, meta.pieceLengthBytes, meta.sizeBytes);
  }

  /** Null when the file is missing or its size is not the shared size. */
  static async open(world: World, path: string, meta: FileMeta): Promise<CompleteFile | null> {
    const stat = await world.fs.stat(path);
    if (stat === null || stat.isDirectory || stat.sizeBytes !== meta.sizeBytes) return null;
    return new CompleteFile(meta, await world.fs.open(path, 'r'));
  }

  has(pieceIndex: number): boolean {
    return !this.closed && Number.isInteger(pieceIndex) && pieceIndex >= 0 && pieceIndex < this.pieceCount;
  }

  bitfield(): Uint8Array {
    return Bitfield.full(this.pieceCount).toBytes();
  }

  async readBlock(pieceIndex: number, beginBytes: number, lengthBytes: number): Promise<Uint8Array | null> {
    if (!this.has(pieceIndex)) return null;
    const pieceBytes = Math.min(this.meta.pieceLengthBytes, this.meta.sizeBytes - pieceIndex * this.meta.pieceLengthBytes);
    if (!Number.isInteger(beginBytes) || beginBytes < 0 || lengthBytes < 1 || beginBytes + lengthBytes > pieceBytes) return null;
    return this.cache.readBlock(pieceIndex, beginBytes, lengthBytes);
  }

  onVerified(): () => void {
    return () => {};
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cache.clear();
    await this.file.close();
  }
}
