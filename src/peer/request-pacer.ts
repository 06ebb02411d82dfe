// Why this file exists: a download limit (as every BitTorrent client has) is kept by pacing the
// requests we send, since the rate of requests bounds the rate of blocks and a request is cheap
// to hold back, where a block already sent cannot be. The scheduler's requests of one download
// pass through this gate: they go out at once while the peer's shared download limiter has
// tokens for their blocks, else in order as it refills. A request cancelled while still held is
// dropped here and never reaches the wire. Held requests are not the peer's to answer, so the
// scheduler asks `sentAtMs` before snubbing a peer for slowness that is ours.

import type { BlockRef } from '../actors/piece-picker.js';
import type { Clock } from '../world/world.js';
import type { RateLimiter } from './rate-limiter.js';

interface Held {
  peer: string;
  block: BlockRef;
}

function sameBlock(a: BlockRef, b: BlockRef): boolean {
  return a.pieceIndex === b.pieceIndex && a.beginBytes === b.beginBytes && a.lengthBytes === b.lengthBytes;
}

export class RequestPacer {
  private queue: Held[] = [];
  /** Held requests by peer. */
  private readonly heldByPeer = new Map<string, number>();
  /** When held requests last went out to each peer. */
  private readonly lateSentAtMs = new Map<string, number>();
  /** Bytes paid for and not yet sent (a request paid for may be cancelled while its tokens came). */
  private creditBytes = 0;
  private waiting = false;
  private closed = false;

  constructor(
    private readonly clock: Clock,
    /** The peer's download limit, shared by all its downloads; none: requests go out when made. */
    private readonly limiter: RateLimiter | undefined,
    private readonly send: (peer: string, blocks: readonly BlockRef[]) => void,
  ) {}

  /** Requests `blocks` of `peer`: now if the limit allows (and nothing is held before them), else when it does. */
  request(peer: string, blocks: readonly BlockRef[]): void {
    if (this.closed || blocks.length === 0) return;
    if (this.limiter === undefined || (!this.limiter.limited && this.queue.length === 0)) return this.send(peer, blocks);
    for (const block of blocks) this.queue.push({ peer, block });
    this.heldByPeer.set(peer, (this.heldByPeer.get(peer) ?? 0) + blocks.length);
    this.pump(false);
  }

  /** Drops a held request; true if it was held (it never went out, so there is nothing to cancel on the wire). */
  cancel(peer: string, block: BlockRef): boolean {
    if (!this.heldByPeer.has(peer)) return false;
    const at = this.queue.findIndex((held) => held.peer === peer && sameBlock(held.block, block));
    if (at < 0) return false;
    this.queue.splice(at, 1);
    this.forgetHeld(peer, 1);
    return true;
  }

  /** Drops every request held for `peer` (it choked us, or went). */
  dropPeer(peer: string): void {
    this.lateSentAtMs.delete(peer);
    if (!this.heldByPeer.has(peer)) return;
    this.queue = this.queue.filter((held) => held.peer !== peer);
    this.heldByPeer.delete(peer);
  }

  /** Holds nothing more and sends nothing more. */
  close(): void {
    this.closed = true;
    this.queue = [];
    this.heldByPeer.clear();
  }

  /**
   * Since when `peer` has had our requests: now while we still hold some of its requests (the
   * wait is ours), else when we last sent it held ones, or -Infinity if none ever was held.
   */
  sentAtMs(peer: string): number {
    if (this.heldByPeer.has(peer)) return this.clock.monotonicMs();
    return this.lateSentAtMs.get(peer) ?? -Infinity;
  }

  /** Sends held requests in order while the limit allows; then waits for the tokens of the next. */
  private pump(late: boolean): void {
    if (this.waiting || this.closed) return;
    const limiter = this.limiter!;
    const batch = new Map<string, BlockRef[]>();
    let sent = 0;
    for (; sent < this.queue.length; sent++) {
      const { peer, block } = this.queue[sent]!;
      if (this.creditBytes >= block.lengthBytes) this.creditBytes -= block.lengthBytes;
      else if (!limiter.tryTake(block.lengthBytes - this.creditBytes)) break;
      else this.creditBytes = 0;
      const blocks = batch.get(peer);
      if (blocks) blocks.push(block);
      else batch.set(peer, [block]);
    }
    this.queue = this.queue.slice(sent);
    for (const [peer, blocks] of batch) {
      this.forgetHeld(peer, blocks.length);
      if (late) this.lateSentAtMs.set(peer, this.clock.monotonicMs());
      this.send(peer, blocks);
    }
    const next = this.queue[0];
    if (next === undefined) return;
    // Pay for the next one and wait; when paid, it (or, if cancelled meanwhile, whatever is next) goes.
    const owed = next.block.lengthBytes - this.creditBytes;
    this.waiting = true;
    void limiter.take(owed).then(() => {
      this.waiting = false;
      this.creditBytes += owed;
      this.pump(true);
    });
  }

  private forgetHeld(peer: string, count: number): void {
    const left = (this.heldByPeer.get(peer) ?? 0) - count;
    if (left > 0) this.heldByPeer.set(peer, left);
    else this.heldByPeer.delete(peer);
  }
}
