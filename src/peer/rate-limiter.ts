// Why this file exists: users cap what their peer uploads and downloads (as every BitTorrent
// client lets them), change those caps while it runs, and tests slow seeders down to watch a
// download midway. A token bucket on the World's clock: bytes are spent as they are sent; when
// the bucket is empty the sender waits until it refills. A new rate applies at once, to those
// already waiting too.

import type { Clock, Timer } from '../world/world.js';

/** Which way a limit applies: what we upload, or what we download. */
export type RateDirection = 'up' | 'down';

/** The burst a rate gets when none is given: a tenth of a second of it, at least four blocks. */
function defaultBurst(bytesPerSecond: number): number {
  return Math.max(bytesPerSecond / 10, 64 * 1024);
}

function checkRate(bytesPerSecond: number | null): void {
  if (bytesPerSecond !== null && !(bytesPerSecond > 0 && Number.isFinite(bytesPerSecond))) throw new RangeError(`rate ${bytesPerSecond}`);
}

/** A sender waiting for its bytes to be paid: released once `refilled` reaches `untilRefilled`. */
interface Waiter {
  untilRefilled: number;
  resolve: () => void;
}

export class RateLimiter {
  private rate: number | null;
  private burstBytes: number;
  private tokens: number;
  private lastRefillMs: number;
  /** Tokens added since the start, uncapped: a waiter's release point does not move when the rate does. */
  private refilled = 0;
  /** In order of their release points (later takers owe more). */
  private readonly waiters: Waiter[] = [];
  private timer: Timer | null = null;

  /**
   * `bytesPerSecond` sustained (null: unlimited), bursts up to `burstBytes` (by default a tenth
   * of a second of the rate, at least 64 KiB).
   */
  constructor(
    private readonly clock: Clock,
    bytesPerSecond: number | null,
    private readonly fixedBurstBytes?: number,
  ) {
    checkRate(bytesPerSecond);
    this.rate = bytesPerSecond;
    this.burstBytes = this.burstFor(bytesPerSecond);
    this.tokens = this.burstBytes;
    this.lastRefillMs = clock.monotonicMs();
  }

  /** The sustained rate, or null when unlimited. */
  get bytesPerSecond(): number | null {
    return this.rate;
  }

  get limited(): boolean {
    return this.rate !== null;
  }

  /**
   * A new rate from now on (null: unlimited). Bytes already spent stay spent; those waiting are
   * released at the new rate (at once when unlimited).
   */
  setRate(bytesPerSecond: number | null): void {
    checkRate(bytesPerSecond);
    this.refill();
    const wasUnlimited = this.rate === null;
    this.rate = bytesPerSecond;
    this.burstBytes = this.burstFor(bytesPerSecond);
    // From unlimited, a full bucket, as a new limiter has.
    this.tokens = wasUnlimited ? this.burstBytes : Math.min(this.tokens, this.burstBytes);
    this.timer?.cancel();
    this.timer = null;
    if (bytesPerSecond === null) {
      // Debts are forgiven: nothing waits for an unlimited rate.
      this.tokens = this.burstBytes;
      for (const waiter of this.waiters.splice(0)) waiter.resolve();
      return;
    }
    this.schedule();
  }

  /** Spends `bytes`; resolves at once while within budget, else when the debt is paid. */
  take(bytes: number): Promise<void> {
    if (this.rate === null) return Promise.resolve();
    this.refill();
    this.tokens -= bytes;
    if (this.tokens >= 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.waiters.push({ untilRefilled: this.refilled - this.tokens, resolve });
      if (this.timer === null) this.schedule();
    });
  }

  /** Spends `bytes` only if they are in the bucket now (true); otherwise spends nothing (false). Always true when unlimited. */
  tryTake(bytes: number): boolean {
    if (this.rate === null) return true;
    this.refill();
    if (this.tokens < bytes) return false;
    this.tokens -= bytes;
    return true;
  }

  private burstFor(bytesPerSecond: number | null): number {
    return this.fixedBurstBytes ?? (bytesPerSecond === null ? 0 : defaultBurst(bytesPerSecond));
  }

  private refill(): void {
    const nowMs = this.clock.monotonicMs();
    if (this.rate !== null) {
      const added = ((nowMs - this.lastRefillMs) * this.rate) / 1000;
      this.refilled += added;
      this.tokens = Math.min(this.burstBytes, this.tokens + added);
    }
    this.lastRefillMs = nowMs;
  }

  /** One timer, for the first waiter; each release arms the next. */
  private schedule(): void {
    const first = this.waiters[0];
    if (first === undefined || this.rate === null) return;
    const waitMs = Math.max(0, Math.ceil(((first.untilRefilled - this.refilled) * 1000) / this.rate));
    this.timer = this.clock.setTimer(waitMs, () => {
      this.timer = null;
      this.refill();
      // A hair of tolerance: the wait was rounded up to whole milliseconds.
      while (this.waiters.length > 0 && this.waiters[0]!.untilRefilled <= this.refilled + 1e-6) this.waiters.shift()!.resolve();
      this.schedule();
    });
  }
}
