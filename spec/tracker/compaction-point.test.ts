// Where a compaction cuts the Raft log (tracker-node.ts compactionPoint): behind the newest
// applied entries, up to half of each bound, so a follower a little behind catches up from the
// log rather than by a snapshot of the whole store.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compactionPoint } from '../../src/tracker/tracker-node.js';

/** A log from `first` (its snapshot index) with entries of the given sizes after it. */
function fakeLog(first: number, sizes: number[]) {
  const ends: number[] = [];
  for (const size of sizes) ends.push((ends.at(-1) ?? 0) + size);
  return {
    snapshotMeta: () => ({ index: first, term: 1 }),
    bytesThrough: (index: number) => (index <= first ? 0 : ends[Math.min(index, first + sizes.length) - first - 1]!),
  };
}

describe('compactionPoint', () => {
  it('keeps the newest applied entries within half of each bound, and no fewer than it may', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 300 }), fc.integer({ min: 2, max: 400 }), fc.integer({ min: 100, max: 200_000 }), (first, sizes, everyEntries, everyBytes) => {
        const log = fakeLog(first, sizes);
        const applied = first + sizes.length;
        const cut = compactionPoint(log, applied, everyEntries, everyBytes);
        expect(cut).toBeGreaterThanOrEqual(first);
        expect(cut).toBeLessThanOrEqual(applied);
        const keptBytes = log.bytesThrough(applied) - log.bytesThrough(cut);
        if (cut > first) {
          // Within both halves...
          expect(applied - cut).toBeLessThanOrEqual(Math.floor(everyEntries / 2));
          expect(keptBytes).toBeLessThanOrEqual(everyBytes / 2);
          // ...and one entry more would break one of them.
          const more = log.bytesThrough(applied) - log.bytesThrough(cut - 1);
          expect(applied - cut + 1 > Math.floor(everyEntries / 2) || more > everyBytes / 2).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('cuts 64 MiB of 6 KB entries at about 32 MiB', () => {
    const sizes = Array.from({ length: 11_000 }, () => 6_100);
    const cut = compactionPoint(fakeLog(0, sizes), 11_000, 50_000, 64 * 1024 * 1024);
    expect(11_000 - cut).toBe(Math.floor((32 * 1024 * 1024) / 6_100));
  });
});
