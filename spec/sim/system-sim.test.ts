// The whole system on the simulated World (issue 7): three tracker nodes as `clique tracker`
// runs them and K peers as `clique shell` runs them, with fast-check choosing the seed, the
// number of peers, the file size, slow, lossy, duplicating and reordering peer links, and when
// the tracker leader is killed, and how long access tickets last (short ones are renewed while
// downloads run, through the failover too), and whether the owner sits behind a home router
// (then members get its pieces only over links it dials back). Properties: every member's download ends with the exact bytes;
// the non-member is refused by the tracker and gets no byte; nothing fatal happens; and the
// same seed gives the same run.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PIECE_LENGTH_BYTES } from '../../src/torrent/infohash.js';
import { runSystem, type SystemResult, type SystemSpec } from '../../src/sim/system/sim-system.js';

const LONG = process.env.CLIQUE_LONG === '1';

const specArb: fc.Arbitrary<SystemSpec> = fc.record(
  {
    seed: fc.nat(),
    peers: fc.integer({ min: 3, max: 6 }),
    sizeBytes: fc.oneof(fc.constantFrom(0, 1, PIECE_LENGTH_BYTES, PIECE_LENGTH_BYTES + 1), fc.integer({ min: 2, max: 6 * PIECE_LENGTH_BYTES })),
    killLeaderAtMs: fc.integer({ min: 0, max: 300 }),
    ticketLifetimeMs: fc.integer({ min: 500, max: 5_000 }),
    ownerBehindRouter: fc.boolean(),
    peerLinks: fc.record({
      latencyMs: fc.integer({ min: 1, max: 40 }),
      jitterMs: fc.integer({ min: 0, max: 10 }),
      dropProbability: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.001, noNaN: true })),
      duplicateProbability: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.02, noNaN: true })),
      reorderProbability: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.02, noNaN: true })),
      reorderDelayMs: fc.integer({ min: 1, max: 20 }),
    }),
  },
  { requiredKeys: ['seed', 'peers', 'sizeBytes'] },
);

const coverage = { runs: 0, leaderKills: 0, downloads: 0, fromSeveralPeers: 0, emptyFiles: 0, ticketRenewals: 0, reversals: 0 };

function check(spec: SystemSpec, result: SystemResult): void {
  coverage.runs++;
  expect(result.violations).toEqual([]);
  expect(result.downloads).toHaveLength(spec.peers - 2);
  for (const d of result.downloads) {
    expect(d, JSON.stringify(d)).toMatchObject({ state: 'complete', exact: true });
    coverage.downloads++;
    if (Object.values(d.bytesFromPeer).filter((b) => b > 0).length > 1) coverage.fromSeveralPeers++;
    // The owner behind a router served only over links it dialed (the tracker asked it to).
    if (spec.ownerBehindRouter === true && (d.bytesFromPeer['owner:6881'] ?? 0) > 0) coverage.reversals++;
  }
  expect(result.nonMember).toEqual({ code: 'NOT_A_MEMBER', bytesOnDisk: 0 });
  coverage.leaderKills += result.leaderKills;
  coverage.ticketRenewals += result.ticketRenewals;
  if (spec.sizeBytes === 0) coverage.emptyFiles++;
}

describe('the whole system, simulated', () => {
  it('the same seed gives the same run', async () => {
    const spec: SystemSpec = { seed: 7, peers: 4, sizeBytes: 3 * PIECE_LENGTH_BYTES, killLeaderAtMs: 10, peerLinks: { latencyMs: 20, jitterMs: 5 } };
    const [a, b] = [await runSystem(spec), await runSystem(spec)];
    check(spec, a);
    expect(b).toEqual(a);
  });

  it('members get exact bytes through faults; the non-member gets nothing', async () => {
    await fc.assert(
      fc.asyncProperty(specArb, async (spec) => check(spec, await runSystem(spec))),
      { numRuns: LONG ? 500 : 40, seed: 20261125, endOnFailure: true },
    );
    console.log(`system coverage ${JSON.stringify(coverage)}`);
    for (const [name, count] of Object.entries(coverage)) expect(count, name).toBeGreaterThan(0);
  }, 600_000);
});
