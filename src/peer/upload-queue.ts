// Why this file exists: a downloader keeps many requests outstanding; the serving side answers
// them in order, one read at a time, and stops writing while the socket's send queue is full
// (backpressure), so a slow downloader cannot make us buffer the file in memory; an upload
// limit, when set, paces the sends. Requests for
// pieces we cannot serve (not verified) are dropped: no unverified byte ever leaves.

import type { PeerWire } from './peer-wire.js';
import type { RateLimiter } from './rate-limiter.js';
import type { PieceSource } from './piece-source.js';

/** More queued requests than this from one downloader are dropped (BEP 3 clients keep far fewer). */
export const MAX_QUEUED_REQUESTS = 512;

interface Request {
  pieceIndex: number;
  beginBytes: number;
  lengthBytes: number;
}

export class UploadQueue {
  private queue: Request[] = [];
  private head = 0;
  private pumping = false;
  private waitingForDrain = false;
  /** Requests for pieces we could not serve. */
  refused = 0;

  constructor(
    private readonly source: PieceSource,
    private readonly wire: PeerWire,
    private readonly onSent: (bytes: number) => void,
    /** Test hook: a lying peer's bytes, or null for a peer that silently stops answering. */
    private readonly tamper?: (pieceIndex: number, beginBytes: number, block: Uint8Array) => Uint8Array | null,
    /** The host's upload limit, shared by all its connections. */
    private readonly limiter?: RateLimiter,
  ) {}

  push(pieceIndex: number, beginBytes: number, lengthBytes: number): void {
    if (this.queue.length - this.head >= MAX_QUEUED_REQUESTS) return;
    this.queue.push({ pieceIndex, beginBytes, lengthBytes });
    void this.pump();
  }

  cancel(pieceIndex: number, beginBytes: number, lengthBytes: number): void {
    const at = this.queue.findIndex((r, i) => i >= this.head && r.pieceIndex === pieceIndex && r.beginBytes === beginBytes && r.lengthBytes === lengthBytes);
    if (at >= 0) this.queue.splice(at, 1);
  }

  clear(): void {
    this.queue = [];
    this.head = 0;
  }

  drained(): void {
    this.waitingForDrain = false;
    void this.pump();
  }

  /** Sends queued blocks; a failed read (the shared file changed or vanished) closes this connection only. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.waitingForDrain && !this.wire.closed && this.head < this.queue.length) {
        const request = this.queue[this.head++]!;
        if (this.head > 1024 && this.head * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.head);
          this.head = 0;
        }
        const block = await this.source.readBlock(request.pieceIndex, request.beginBytes, request.lengthBytes);
        if (block === null) {
          this.refused++;
          continue;
        }
        const bytes = this.tamper ? this.tamper(request.pieceIndex, request.beginBytes, block) : block;
        if (bytes === null) continue;
        if (this.limiter?.limited) await this.limiter.take(bytes.length);
        if (this.wire.closed) return;
        const more = this.wire.sendPiece(request.pieceIndex, request.beginBytes, bytes);
        this.onSent(bytes.length);
        if (!more) this.waitingForDrain = true;
      }
    } catch (error) {
      this.wire.close(`READ_FAILED: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      this.pumping = false;
    }
  }
}
