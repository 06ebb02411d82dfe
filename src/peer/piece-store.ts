// Why this file exists: a download writes untrusted blocks from many peers into one partial file
// (DESIGN.md §5–§7, issue 6 "Piece store"). This store checks the piece list against the
// info-hash before anything is written, gathers each piece's blocks in memory (a copy straight
// from the socket's buffer, no disk round trip), hashes the piece there, writes it at its offset
// into `<name>.part` in one write, and counts it only once its bytes are synced and journaled —
// syncs are group-committed, so many pieces share one fsync under load. It serves only verified
// pieces, resumes after kill -9 by re-checking only unjournaled pieces, and renames the finished
// file into place atomically, so a partial file never looks complete.

import { fromBase64, toHex, utf8 } from '../torrent/bytes.js';
import type { FileMeta } from '../torrent/file-meta.js';
import { infoHash, PIECE_HASH_BYTES, PIECE_LENGTH_BYTES, pieceCount, sha1, sha1Hex } from '../torrent/infohash.js';
import { checkSharedFileName } from '../log/domain/names.js';
import { WorldError, type FileHandle, type KvStore, type World } from '../world/world.js';
import { GroupCommit } from './group-commit.js';
import { PieceJournal } from './piece-journal.js';
import { PieceReadCache } from './piece-read-cache.js';
import type { PieceSource } from './piece-source.js';

export type PieceStoreErrorCode =
  | 'BAD_PIECE_LIST'
  | 'BAD_NAME'
  | 'ALREADY_COMPLETE'
  | 'DESTINATION_EXISTS'
  | 'BAD_BLOCK'
  | 'INCOMPLETE'
  | 'CLOSED';

/** Returned by open() and finish(); thrown by writeBlock() and verifyPiece() on misuse. */
export class PieceStoreError extends Error {
  constructor(
    readonly code: PieceStoreErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'PieceStoreError';
  }
}

export interface PieceStoreOptions {
  meta: FileMeta;
  /** Where the finished file goes; the partial file is `<destinationPath>.part`. */
  destinationPath: string;
  /** The peer's home LevelDB, holding the journal of verified pieces. */
  journal: KvStore;
}

/**
 * Spare piece buffers kept for reuse, up to 48 MiB: as many as a download has in use at its
 * busiest (bounded by its memory cap and its requests in flight), so that it makes no garbage:
 * dropped 512 KiB buffers would wait for a full GC and swell the process.
 */
const MAX_SPARE_BUFFERS = 96;

/** A half-open byte range [start, end) within a piece. */
type Range = [startBytes: number, endBytes: number];

/** The piece hashes of `meta` when its piece list and shape match its info-hash, else null. */
/** Where a file on disk first differs from `meta`'s pieces, or null if it is that file. */
async function firstDifference(world: World, path: string, meta: FileMeta, pieceHashes: Uint8Array): Promise<string | null> {
  const file = await world.fs.open(path, 'r');
  try {
    for (let pieceIndex = 0; pieceIndex < pieceCount(meta.sizeBytes); pieceIndex++) {
      const startBytes = pieceIndex * PIECE_LENGTH_BYTES;
      const bytes = await file.read(startBytes, Math.min(PIECE_LENGTH_BYTES, meta.sizeBytes - startBytes));
      const expected = pieceHashes.subarray(pieceIndex * PIECE_HASH_BYTES, (pieceIndex + 1) * PIECE_HASH_BYTES);
      if (!sameBytes(sha1(bytes), expected)) return `piece ${pieceIndex} fails its SHA1`;
    }
    return null;
  } finally {
    await file.close();
  }
}

/** One journal per (file, destination): two downloads of one file to two places never share it. */
function journalOf(options: PieceStoreOptions): PieceJournal {
  return new PieceJournal(options.journal, `${options.meta.fileId}/${sha1Hex(utf8(options.destinationPath)).slice(0, 16)}`);
}

function checkedPieceHashes(meta: FileMeta): Uint8Array | null {
  if (!Number.isSafeInteger(meta.sizeBytes) || meta.sizeBytes < 0) return null;
  if (meta.pieceLengthBytes !== PIECE_LENGTH_BYTES) return null;
  const pieces = fromBase64(meta.pieces);
  if (pieces === null || pieces.length !== pieceCount(meta.sizeBytes, meta.pieceLengthBytes) * PIECE_HASH_BYTES) return null;
  const hash = infoHash({ name: meta.name, sizeBytes: meta.sizeBytes, pieceLengthBytes: meta.pieceLengthBytes, pieces });
  return hash === meta.fileId ? pieces : null;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

export class PieceStore implements PieceSource {
  /** Unrecorded pieces hashed by recheckUnrecorded(). */
  piecesRechecked = 0;
  /** A partial file from an earlier run was found (so recheckUnrecorded() is worth running). */
  readonly resumed: boolean;
  private readonly verified: boolean[];
  /** Received, not yet verified byte ranges per piece, sorted and merged. */
  private readonly received = new Map<number, Range[]>();
  /** The bytes of pieces being received. */
  private readonly buffers = new Map<number, Uint8Array>();
  /** Full-size piece buffers to reuse: a download then allocates a few, not one per piece. */
  private readonly spareBuffers: Uint8Array[] = [];
  /** Verified pieces' bytes waiting for their write to the partial file. */
  private unwrittenBytes = 0;
  private readonly writtenListeners: Array<() => void> = [];
  /** Pieces between hashing and journaling; writes to them are dropped. */
  private readonly verifying = new Set<number>();
  /** The last piece that failed its SHA1, with both hashes (hex): the evidence a report carries. */
  lastCorrupt: { pieceIndex: number; expectedSha1: string; receivedSha1: string } | null = null;
  private readonly listeners = new Set<(pieceIndex: number) => void>();
  private readonly commits: GroupCommit<number>;
  private readonly cache: PieceReadCache;
  private readonly inflight = new Set<Promise<unknown>>();
  private closed = false;
  /** finish() has renamed the file into place: nothing more is written; serving goes on. */
  private finished = false;

  private constructor(
    private readonly world: World,
    private readonly meta: FileMeta,
    private readonly pieceHashes: Uint8Array,
    private readonly destinationPath: string,
    /** Where the partial file is: `<destinationPath>.part`. */
    readonly partPath: string,
    private readonly file: FileHandle,
    private readonly journal: PieceJournal,
    recorded: ReadonlySet<number>,
    resumed: boolean,
  ) {
    this.resumed = resumed;
    this.verified = Array.from({ length: this.pieceCount }, (_, i) => recorded.has(i));
    this.commits = new GroupCommit(async (pieces) => {
      await this.file.sync();
      await this.journal.recordMany(pieces.map((i) => [i, this.expectedHash(i)] as const));
    });
    this.cache = new PieceReadCache(this.file, meta.pieceLengthBytes, meta.sizeBytes);
  }

  static async open(world: World, options: PieceStoreOptions): Promise<PieceStore | PieceStoreError> {
    const { meta, destinationPath } = options;
    // The tracker's rule for names shared today (a name, never a path, no control, invisible or
    // direction-changing characters, room for `.part`), even for a file shared under older rules.
    const badName = checkSharedFileName(meta.name);
    if (badName) return new PieceStoreError('BAD_NAME', badName.message);
    const pieceHashes = checkedPieceHashes(meta);
    if (pieceHashes === null) return new PieceStoreError('BAD_PIECE_LIST', `piece list of ${meta.fileId} does not match its info-hash`);
    const journal = journalOf(options);

    const existing = await world.fs.stat(destinationPath);
    if (existing !== null) {
      // Complete only if every piece hashes right (a same-size file of anything else is not).
      const differs = existing.isDirectory || existing.sizeBytes !== meta.sizeBytes ? 'its size differs' : await firstDifference(world, destinationPath, meta, pieceHashes);
      if (differs === null) {
        await journal.clear(); // left over if a crash came between the rename and the clear
        return new PieceStoreError('ALREADY_COMPLETE', `${destinationPath} is already complete (every piece checked)`);
      }
      return new PieceStoreError('DESTINATION_EXISTS', `${destinationPath} exists and is not this file (${differs}); choose another destination or move it away`);
    }

    const partPath = `${destinationPath}.part`;
    const part = await world.fs.stat(partPath);
    let file: FileHandle;
    let recorded = new Set<number>();
    const reused = part !== null && !part.isDirectory && part.sizeBytes === meta.sizeBytes;
    if (reused) {
      file = await world.fs.open(partPath, 'r+');
      const count = pieceCount(meta.sizeBytes, meta.pieceLengthBytes);
      for (const [index, hash] of await journal.load()) {
        const expected = pieceHashes.subarray(index * PIECE_HASH_BYTES, (index + 1) * PIECE_HASH_BYTES);
        if (index < count && sameBytes(hash, expected)) recorded.add(index);
      }
    } else {
      // No usable partial file: the journal describes bytes that are gone.
      file = await world.fs.open(partPath, part === null ? 'w+' : 'r+');
      await file.truncate(meta.sizeBytes);
      await file.sync();
      await journal.clear();
      recorded = new Set();
    }
    return new PieceStore(world, meta, pieceHashes, destinationPath, partPath, file, journal, recorded, reused);
  }

  /** The pieces journaled for a download not open now (a paused one, after a restart), and their bytes: one read of the journal. */
  static async journaled(options: PieceStoreOptions): Promise<{ pieces: ReadonlySet<number>; verifiedBytes: number }> {
    const { sizeBytes, pieceLengthBytes } = options.meta;
    const count = pieceCount(sizeBytes, pieceLengthBytes);
    const pieces = new Set<number>();
    let verifiedBytes = 0;
    for (const pieceIndex of (await journalOf(options).load()).keys()) {
      if (pieceIndex >= count) continue;
      pieces.add(pieceIndex);
      verifiedBytes += Math.min(pieceLengthBytes, sizeBytes - pieceIndex * pieceLengthBytes);
    }
    return { pieces, verifiedBytes };
  }

  /** A cancelled download leaves nothing: its `.part` goes, and its journal. The store must be closed. */
  static async discard(world: World, options: PieceStoreOptions): Promise<void> {
    const partPath = `${options.destinationPath}.part`;
    if ((await world.fs.stat(partPath)) !== null) await world.fs.unlink(partPath);
    await journalOf(options).clear();
  }

  get pieceCount(): number {
    return pieceCount(this.meta.sizeBytes, this.meta.pieceLengthBytes);
  }

  pieceLengthBytes(pieceIndex: number): number {
    return Math.min(this.meta.pieceLengthBytes, this.meta.sizeBytes - pieceIndex * this.meta.pieceLengthBytes);
  }

  /** Hashes every piece not in the journal (from disk) and marks those whose bytes already match. */
  async recheckUnrecorded(): Promise<number[]> {
    const found: number[] = [];
    for (const pieceIndex of this.missing()) {
      this.piecesRechecked++;
      const bytes = await this.file.read(pieceIndex * this.meta.pieceLengthBytes, this.pieceLengthBytes(pieceIndex));
      if (sameBytes(sha1(bytes), this.expectedHash(pieceIndex))) {
        await this.commits.add(pieceIndex);
        this.markVerified(pieceIndex);
        found.push(pieceIndex);
      }
    }
    return found;
  }

  /**
   * Copies a block into its piece's buffer (synchronous: the socket's bytes can be reused at
   * once). Throws BAD_BLOCK when it does not lie inside one piece. Blocks for verified pieces
   * are ignored.
   */
  writeBlock(pieceIndex: number, beginBytes: number, bytes: Uint8Array): void {
    this.checkOpen();
    if (!this.blockInside(pieceIndex, beginBytes, bytes.length)) {
      throw new PieceStoreError('BAD_BLOCK', `block ${pieceIndex}:${beginBytes}+${bytes.length} is outside the piece`);
    }
    if (this.verified[pieceIndex] === true || this.verifying.has(pieceIndex)) return;
    let buffer = this.buffers.get(pieceIndex);
    if (buffer === undefined) {
      buffer = this.takeBuffer(this.pieceLengthBytes(pieceIndex));
      this.buffers.set(pieceIndex, buffer);
    }
    buffer.set(bytes, beginBytes);
    const ranges = this.received.get(pieceIndex);
    const last = ranges?.[ranges.length - 1];
    // The common case, blocks in order, extends the last range in place (no allocation).
    if (last !== undefined && last[1] === beginBytes) last[1] += bytes.length;
    else this.received.set(pieceIndex, addRange(ranges ?? [], [beginBytes, beginBytes + bytes.length]));
  }

  /** Forgets the received bytes of a piece (its download starts over). */
  discardPiece(pieceIndex: number): void {
    if (this.verifying.has(pieceIndex)) return;
    this.received.delete(pieceIndex);
    const buffer = this.buffers.get(pieceIndex);
    this.buffers.delete(pieceIndex);
    if (buffer) this.giveBack(buffer);
  }

  private takeBuffer(lengthBytes: number): Uint8Array {
    if (lengthBytes === this.meta.pieceLengthBytes) {
      const spare = this.spareBuffers.pop();
      if (spare) return spare;
    }
    return new Uint8Array(lengthBytes);
  }

  private giveBack(buffer: Uint8Array): void {
    if (buffer.length === this.meta.pieceLengthBytes && this.spareBuffers.length < MAX_SPARE_BUFFERS) this.spareBuffers.push(buffer);
  }

  /** Bytes held in memory: pieces being received, and verified pieces not yet written. */
  bufferedBytes(): number {
    return this.unwrittenBytes + this.buffers.size * this.meta.pieceLengthBytes;
  }

  /** Pieces are being hashed or written: memory will be freed soon. */
  writesPending(): boolean {
    return this.inflight.size > 0;
  }

  /** `listener` hears when a verified piece has been written out (memory was freed). */
  onWritten(listener: () => void): void {
    this.writtenListeners.push(listener);
  }

  /** Every byte of the piece has been received (it may still be corrupt). */
  pieceComplete(pieceIndex: number): boolean {
    const ranges = this.received.get(pieceIndex);
    return ranges?.length === 1 && ranges[0]?.[0] === 0 && ranges[0][1] === this.pieceLengthBytes(pieceIndex);
  }

  /**
   * On a SHA1 match: write, sync (group-committed), journal, then the piece counts and
   * listeners hear of it. On a mismatch the bytes are dropped and the piece must be fetched again.
   */
  verifyPiece(pieceIndex: number): Promise<'verified' | 'corrupt'> {
    const run = this.verifyNow(pieceIndex);
    this.inflight.add(run);
    const forget = (): void => void this.inflight.delete(run);
    run.then(forget, forget);
    return run;
  }

  private async verifyNow(pieceIndex: number): Promise<'verified' | 'corrupt'> {
    this.checkOpen();
    if (this.verified[pieceIndex] === true) return 'verified';
    const buffer = this.buffers.get(pieceIndex);
    if (buffer === undefined || !this.pieceComplete(pieceIndex)) throw new PieceStoreError('INCOMPLETE', `piece ${pieceIndex} is not fully received`);
    this.verifying.add(pieceIndex);
    this.buffers.delete(pieceIndex);
    this.received.delete(pieceIndex);
    try {
      const received = sha1(buffer);
      if (!sameBytes(received, this.expectedHash(pieceIndex))) {
        this.world.trace(`piece ${this.meta.fileId.slice(0, 8)}:${pieceIndex} failed its hash`);
        this.lastCorrupt = { pieceIndex, expectedSha1: toHex(this.expectedHash(pieceIndex)), receivedSha1: toHex(received) };
        this.giveBack(buffer);
        return 'corrupt';
      }
      this.unwrittenBytes += buffer.length;
      try {
        await this.file.write(pieceIndex * this.meta.pieceLengthBytes, buffer);
      } finally {
        this.unwrittenBytes -= buffer.length;
      }
      this.giveBack(buffer);
      for (const listener of this.writtenListeners) listener();
      await this.commits.add(pieceIndex);
      this.markVerified(pieceIndex);
      return 'verified';
    } finally {
      this.verifying.delete(pieceIndex);
    }
  }

  /** `listener` hears of every piece that becomes verified (and servable) from now on. */
  onVerified(listener: (pieceIndex: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  has(pieceIndex: number): boolean {
    return this.verified[pieceIndex] === true;
  }

  /** BEP 3 bitfield: the high bit of byte 0 is piece 0; spare bits are zero. */
  bitfield(): Uint8Array {
    const out = new Uint8Array(Math.ceil(this.pieceCount / 8));
    this.verified.forEach((isVerified, i) => {
      if (isVerified) out[i >> 3]! |= 0x80 >> (i & 7);
    });
    return out;
  }

  missing(): number[] {
    return this.verified.flatMap((isVerified, i) => (isVerified ? [] : [i]));
  }

  verifiedBytes(): number {
    return this.verified.reduce((sum, isVerified, i) => sum + (isVerified ? this.pieceLengthBytes(i) : 0), 0);
  }

  /** Bytes of a verified piece; null for anything else, so no unverified byte is ever served. */
  async readBlock(pieceIndex: number, beginBytes: number, lengthBytes: number): Promise<Uint8Array | null> {
    if (this.closed || !this.has(pieceIndex) || !this.blockInside(pieceIndex, beginBytes, lengthBytes)) return null;
    return this.cache.readBlock(pieceIndex, beginBytes, lengthBytes);
  }

  /**
   * When every piece is verified: sync, rename `.part` onto the destination, clear the journal.
   * The store then keeps serving the finished file through its open handle (a rename keeps the
   * file), so a finished download goes on seeding on the connections it has; close() ends that.
   */
  async finish(): Promise<'complete' | PieceStoreError> {
    if (this.closed || this.finished) return new PieceStoreError('CLOSED', 'the piece store is closed');
    const missingCount = this.missing().length;
    if (missingCount > 0) return new PieceStoreError('INCOMPLETE', `${missingCount} pieces are not verified yet`);
    await Promise.allSettled([...this.inflight]);
    await this.commits.drain();
    await this.file.sync();
    this.finished = true;
    this.spareBuffers.length = 0;
    try {
      // Never over a file that appeared at the destination meanwhile: the .part and its journal stay.
      await this.world.fs.renameNoReplace(this.partPath, this.destinationPath);
    } catch (error) {
      if (!(error instanceof WorldError) || error.code !== 'EEXIST') throw error;
      return new PieceStoreError('DESTINATION_EXISTS', `${this.destinationPath} appeared during the download and was left as it is; the file is complete in ${this.partPath}`);
    }
    await this.journal.clear();
    return 'complete';
  }

  /** Closes the partial file; pieces being verified finish first. Pieces in memory are dropped. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.buffers.clear();
    this.received.clear();
    this.spareBuffers.length = 0;
    await Promise.allSettled([...this.inflight]);
    await this.commits.drain();
    this.cache.clear();
    await this.file.close();
  }

  private checkOpen(): void {
    if (this.closed || this.finished) throw new PieceStoreError('CLOSED', 'the piece store is closed');
  }

  private blockInside(pieceIndex: number, beginBytes: number, lengthBytes: number): boolean {
    return (
      Number.isSafeInteger(pieceIndex) &&
      pieceIndex >= 0 &&
      pieceIndex < this.pieceCount &&
      Number.isSafeInteger(beginBytes) &&
      beginBytes >= 0 &&
      lengthBytes > 0 &&
      beginBytes + lengthBytes <= this.pieceLengthBytes(pieceIndex)
    );
  }

  private markVerified(pieceIndex: number): void {
    this.verified[pieceIndex] = true;
    for (const listener of this.listeners) listener(pieceIndex);
  }

  private expectedHash(pieceIndex: number): Uint8Array {
    return this.pieceHashes.subarray(pieceIndex * PIECE_HASH_BYTES, (pieceIndex + 1) * PIECE_HASH_BYTES);
  }
}

/** Inserts [start, end) into sorted, disjoint ranges, merging what touches or overlaps. */
function addRange(ranges: readonly Range[], added: Range): Range[] {
  let [start, end] = added;
  const out: Range[] = [];
  for (const range of ranges) {
    if (range[1] < start || range[0] > end) out.push(range);
    else {
      start = Math.min(start, range[0]);
      end = Math.max(end, range[1]);
    }
  }
  out.push([start, end]);
  return out.sort((a, b) => a[0] - b[0]);
}
