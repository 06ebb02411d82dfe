// The seeded rng replays, forks independently, and draws uniformly; the crypto rng honours the same contract.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cryptoRng, SeededRng } from '../../src/world/rng.js';

function draws(rng: SeededRng, count: number): number[] {
  return Array.from({ length: count }, () => rng.uint32());
}

describe('SeededRng', () => {
  it('replays the same stream for the same seed and differs for another', () => {
    expect(draws(new SeededRng(42), 50)).toEqual(draws(new SeededRng(42), 50));
    expect(draws(new SeededRng('42'), 50)).toEqual(draws(new SeededRng(42), 50));
    expect(draws(new SeededRng(43), 50)).not.toEqual(draws(new SeededRng(42), 50));
    expect(new SeededRng(7).id()).toBe(new SeededRng(7).id());
    expect(new SeededRng(7).bytes(33)).toEqual(new SeededRng(7).bytes(33));
  });

  it('forks by label only, whatever the parent drew', () => {
    const parent = new SeededRng('root');
    const before = draws(parent.fork('host/a'), 20);
    draws(parent, 1000);
    expect(draws(parent.fork('host/a'), 20)).toEqual(before);
    expect(draws(parent.fork('host/b'), 20)).not.toEqual(before);
  });

  it('int(bound) stays in range for any bound, including beyond 2^32', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), fc.integer(), (bound, seed) => {
        const rng = new SeededRng(seed);
        for (let i = 0; i < 20; i++) {
          const value = rng.int(bound);
          expect(Number.isInteger(value) && value >= 0 && value < bound).toBe(true);
        }
      }),
    );
  });

  it('int(bound) is roughly uniform (chi-square over 10 buckets)', () => {
    const rng = new SeededRng(1);
    const buckets = new Array<number>(10).fill(0);
    const samples = 100_000;
    for (let i = 0; i < samples; i++) {
      const bucket = rng.int(10);
      buckets[bucket] = (buckets[bucket] ?? 0) + 1;
    }
    const expected = samples / 10;
    const chiSquare = buckets.reduce((sum, observed) => sum + (observed - expected) ** 2 / expected, 0);
    // 9 degrees of freedom: p = 0.001 at 27.9.
    expect(chiSquare).toBeLessThan(27.9);
  });

  it('int(3 * 2^30) shows no modulo bias toward small values', () => {
    // With a plain `uint32 % bound`, values below 2^30 would come twice as often as others.
    const rng = new SeededRng(2);
    const bound = 3 * 2 ** 30;
    let low = 0;
    const samples = 30_000;
    for (let i = 0; i < samples; i++) if (rng.int(bound) < 2 ** 30) low++;
    expect(low / samples).toBeGreaterThan(0.31);
    expect(low / samples).toBeLessThan(0.36);
  });

  it('float() is in [0, 1) with mean near 1/2; bytes and ids have the asked length', () => {
    const rng = new SeededRng(3);
    let sum = 0;
    for (let i = 0; i < 10_000; i++) {
      const x = rng.float();
      expect(x >= 0 && x < 1).toBe(true);
      sum += x;
    }
    expect(Math.abs(sum / 10_000 - 0.5)).toBeLessThan(0.02);
    expect(rng.bytes(0).length).toBe(0);
    expect(rng.bytes(7).length).toBe(7);
    expect(rng.id()).toMatch(/^[A-Za-z0-9_-]{21}$/);
    expect(rng.id(8)).toMatch(/^[A-Za-z0-9_-]{8}$/);
  });

  it('rejects bad bounds', () => {
    const rng = new SeededRng(4);
    expect(() => rng.int(0)).toThrow(RangeError);
    expect(() => rng.int(1.5)).toThrow(RangeError);
    expect(() => rng.int(2 ** 60)).toThrow(RangeError);
  });
});

describe('cryptoRng', () => {
  it('draws in range and does not repeat', () => {
    const rng = cryptoRng();
    for (let i = 0; i < 1000; i++) {
      const value = rng.int(6);
      expect(value >= 0 && value < 6).toBe(true);
      const word = rng.uint32();
      expect(Number.isInteger(word) && word >= 0 && word < 2 ** 32).toBe(true);
    }
    expect(rng.id()).not.toBe(rng.id());
    expect(rng.bytes(16)).not.toEqual(rng.bytes(16));
  });
});
