// Why this file exists: users cap what their peer uploads (as every BitTorrent client lets them),
// and tests slow seeders down to watch a download midway. A token bucket on the World's clock:
// bytes are spent as they are sent; when the bucket is empty the sender waits until it refills.

import type { Clock } from '../world/world.js';

export class RateLimiter {
  private tokens: number;
  private lastRefillMs: number;

  /** `bytesPerSecond` sustained, bursts up to `burstBytes`. */
  constructor(
    private readonly clock: Clock,
    private readonly bytesPerSecond: number,
    private readonly burstBytes = Math.max(bytesPerSecond / 10, 64 * 1024),
  ) {
    if (!(bytesPerSecond > 0)) throw new RangeError(`rate ${bytesPerSecond}`);
    this.tokens = this.burstBytes;
    this.lastRefillMs = clock.monotonicMs();
  }

  /** Spends `bytes`; resolves at once while within budget, else when the debt is paid. */
  async take(bytes: number): Promise<void> {
    const nowMs = this.clock.monotonicMs();
    this.tokens = Math.min(this.burstBytes, this.tokens + ((nowMs - this.lastRefillMs) * this.bytesPerSecond) / 1000);
    this.lastRefillMs = nowMs;
    this.tokens -= bytes;
    if (this.tokens >= 0) return;
    const waitMs = Math.ceil((-this.tokens * 1000) / this.bytesPerSecond);
    await new Promise<void>((resolve) => this.clock.setTimer(waitMs, resolve));
  }
}
