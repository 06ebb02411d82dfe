// The token bucket on virtual time: it paces at its rate, and a rate set while it runs applies
// at once — to senders already waiting too; unlimited lets everything through.

import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/peer/rate-limiter.js';
import { SimWorld } from '../../src/world/sim/sim-world.js';

const KIB = 1024;

/** Sends `count` blocks back to back through the limiter; returns the virtual time each went at. */
function sender(limiter: RateLimiter, clock: { monotonicMs(): number }, count: number, blockBytes = 16 * KIB): { sentAtMs: number[]; done: Promise<void> } {
  const sentAtMs: number[] = [];
  const done = (async () => {
    for (let i = 0; i < count; i++) {
      await limiter.take(blockBytes);
      sentAtMs.push(clock.monotonicMs());
    }
  })();
  return { sentAtMs, done };
}

describe('RateLimiter', () => {
  it('paces at its rate after the burst', async () => {
    const sim = new SimWorld({ seed: 1 });
    const { clock } = sim.forHost('h');
    const startMs = clock.monotonicMs();
    const limiter = new RateLimiter(clock, 64 * KIB); // burst 64 KiB: four blocks at once
    const run = sender(limiter, clock, 12);
    await sim.runFor(10_000);
    await run.done;
    const elapsed = run.sentAtMs.map((t) => t - startMs);
    expect(elapsed.slice(0, 4)).toEqual([0, 0, 0, 0]);
    // Then one 16 KiB block every 250 ms.
    expect(elapsed.slice(4)).toEqual([250, 500, 750, 1000, 1250, 1500, 1750, 2000]);
  });

  it('setRate while senders wait: they go at the new rate from then on', async () => {
    const sim = new SimWorld({ seed: 1 });
    const { clock } = sim.forHost('h');
    const startMs = clock.monotonicMs();
    const limiter = new RateLimiter(clock, 16 * KIB, 16 * KIB); // one block a second
    const run = sender(limiter, clock, 8);
    await sim.runFor(2_500);
    expect(run.sentAtMs.map((t) => t - startMs)).toEqual([0, 1000, 2000]);
    limiter.setRate(160 * KIB); // ten blocks a second
    expect(limiter.bytesPerSecond).toBe(160 * KIB);
    await sim.runFor(2_000);
    await run.done;
    const after = run.sentAtMs.slice(3).map((t) => t - startMs);
    // The block that waited since 2000 owed 1 s at the old rate; half of it was paid by 2500, the rest goes ten times faster.
    expect(after[0]).toBe(2550);
    expect(after.slice(1)).toEqual([2650, 2750, 2850, 2950]);
  });

  it('setRate lower slows down those waiting; null releases them at once and lets everything through', async () => {
    const sim = new SimWorld({ seed: 1 });
    const { clock } = sim.forHost('h');
    const startMs = clock.monotonicMs();
    const limiter = new RateLimiter(clock, 160 * KIB, 16 * KIB);
    const run = sender(limiter, clock, 40);
    await sim.runFor(1_000);
    const atOneSecond = run.sentAtMs.length;
    expect(atOneSecond).toBe(11); // one at once, then one every 100 ms
    limiter.setRate(16 * KIB);
    await sim.runFor(2_000);
    expect(run.sentAtMs.length - atOneSecond).toBeLessThanOrEqual(3);
    expect(run.sentAtMs.length - atOneSecond).toBeGreaterThanOrEqual(1);
    limiter.setRate(null);
    expect(limiter.limited).toBe(false);
    await sim.runFor(0);
    await run.done;
    expect(run.sentAtMs.length).toBe(40);
    expect(run.sentAtMs.at(-1)! - startMs).toBe(3_000);
    // Unlimited and then limited again: a fresh bucket, full (its burst: 16 KiB).
    limiter.setRate(64 * KIB);
    expect(limiter.tryTake(16 * KIB)).toBe(true);
    expect(limiter.tryTake(1)).toBe(false);
  });

  it('tryTake spends only what the bucket holds', async () => {
    const sim = new SimWorld({ seed: 1 });
    const { clock } = sim.forHost('h');
    const limiter = new RateLimiter(clock, 32 * KIB, 32 * KIB);
    expect(limiter.tryTake(16 * KIB)).toBe(true);
    expect(limiter.tryTake(16 * KIB)).toBe(true);
    expect(limiter.tryTake(16 * KIB)).toBe(false);
    await sim.runFor(500);
    expect(limiter.tryTake(16 * KIB)).toBe(true);
    expect(() => limiter.setRate(0)).toThrow(RangeError);
    expect(() => limiter.setRate(-5)).toThrow(RangeError);
    expect(new RateLimiter(clock, null).tryTake(1 << 30)).toBe(true);
  });
});
