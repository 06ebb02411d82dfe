// The swarm on the simulated world (issue 6): fast-check generates swarms as plain data — 1 to 8
// holders with random partial bitfields, files of 0 B, 1 B, one piece, one piece + 1 B and
// several MiB, slow, duplicating, reordering, lossy and partitioned links, holders that vanish
// mid-download, holders that stall, holders that lie. Properties: a download whose every piece is held by an
// honest, reliably reachable holder ends with exactly the original bytes; any other ends with
// those bytes or fails with a clear code and no complete-looking file; no unverified byte is
// ever served; strikes fall only on liars, and a liar proven twice is banned.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BAN_STRIKES } from '../../src/actors/scheduler.js';
import { PIECE_LENGTH_BYTES, pieceCount } from '../../src/torrent/infohash.js';
import { runSwarm, type HolderSpec, type SwarmResult, type SwarmSpec } from '../../src/sim/swarm/sim-swarm.js';

const LONG = process.env.CLIQUE_LONG === '1';

const sizeArb = fc.oneof(
  fc.constantFrom(0, 1, PIECE_LENGTH_BYTES, PIECE_LENGTH_BYTES + 1),
  fc.integer({ min: 2, max: 10 * PIECE_LENGTH_BYTES + 77 }),
);

function holderArb(pieces: number): fc.Arbitrary<HolderSpec> {
  return fc.record(
    {
      pieces: fc.oneof(fc.constant('all' as const), fc.uniqueArray(fc.nat({ max: Math.max(0, pieces - 1) }), { maxLength: pieces })),
      liar: fc.boolean(),
      link: fc.record({
        latencyMs: fc.integer({ min: 1, max: 80 }),
        jitterMs: fc.integer({ min: 0, max: 20 }),
        dropProbability: fc.oneof(fc.constant(0), fc.constant(0), fc.double({ min: 0.0001, max: 0.002, noNaN: true })),
        duplicateProbability: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.05, noNaN: true })),
        reorderProbability: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.05, noNaN: true })),
        reorderDelayMs: fc.integer({ min: 1, max: 30 }),
      }),
      vanishAtMs: fc.integer({ min: 0, max: 3_000 }),
      partitioned: fc.boolean(),
      stallAtMs: fc.integer({ min: 0, max: 2_000 }),
    },
    { requiredKeys: ['pieces', 'link'] },
  );
}

const swarmArb: fc.Arbitrary<SwarmSpec> = fc
  .record({ seed: fc.nat(), sizeBytes: sizeArb })
  .chain(({ seed, sizeBytes }) =>
    fc.record({
      seed: fc.constant(seed),
      sizeBytes: fc.constant(sizeBytes),
      holders: fc.array(holderArb(pieceCount(sizeBytes)), { minLength: 1, maxLength: 8 }),
    }),
  );

function reliable(holder: HolderSpec): boolean {
  return !holder.liar && !holder.partitioned && holder.vanishAtMs === undefined && holder.stallAtMs === undefined && (holder.link?.dropProbability ?? 0) === 0;
}

/** Every piece is held by an honest holder that stays reachable on a link that loses nothing. */
function coveredByReliableHolders(spec: SwarmSpec): boolean {
  const pieces = pieceCount(spec.sizeBytes);
  for (let i = 0; i < pieces; i++) {
    if (!spec.holders.some((h) => reliable(h) && (h.pieces === 'all' || h.pieces.includes(i)))) return false;
  }
  return spec.holders.some(reliable) || pieces === 0;
}

function exact(result: SwarmResult): boolean {
  return result.destinationBytes !== null && Buffer.from(result.destinationBytes).equals(Buffer.from(result.original));
}

const coverage = { runs: 0, complete: 0, failedClearly: 0, covered: 0, bans: 0, piecesFailed: 0, endgame: 0, reconnects: 0, snubs: 0, emptyFiles: 0 };

function check(spec: SwarmSpec, result: SwarmResult): void {
  coverage.runs++;
  expect(result.unverifiedBytesServed).toBe(0);
  if (coveredByReliableHolders(spec)) {
    coverage.covered++;
    expect(result.outcome).toEqual({ state: 'complete' });
  }
  if (result.outcome.state === 'complete') {
    coverage.complete++;
    if (spec.sizeBytes === 0) coverage.emptyFiles++;
    expect(exact(result)).toBe(true);
    expect(result.destinationDirectory).toEqual(['file.bin']);
  } else {
    coverage.failedClearly++;
    expect(result.outcome).toMatchObject({ state: 'failed', code: expect.stringMatching(/^(NO_SOURCES|PIECES_UNAVAILABLE|STALLED)$/) });
    expect(result.destinationDirectory).not.toContain('file.bin');
  }
  // Strikes fall only on liars; a liar proven BAN_STRIKES times is banned.
  const liars = new Set(spec.holders.flatMap((h, i) => (h.liar ? [result.holderKeys[i]] : [])));
  for (const [peer, strikes] of Object.entries(result.counters.strikes)) {
    expect(liars.has(peer)).toBe(true);
    if (strikes >= BAN_STRIKES) expect(result.counters.bans[peer]).toMatch(/^BANNED: /);
  }
  for (const peer of Object.keys(result.counters.bans)) expect(liars.has(peer)).toBe(true);
  coverage.bans += Object.keys(result.counters.bans).length;
  coverage.piecesFailed += result.counters.piecesFailed;
  coverage.endgame += result.counters.endgameRequests;
  coverage.snubs += result.counters.snubs;
  coverage.reconnects += result.counters.connectAttempts - spec.holders.length;
}

describe('swarm simulation', () => {
  it('one liar holding everything beside an honest seeder: the liar is banned, the bytes are exact', async () => {
    const spec: SwarmSpec = { seed: 3, sizeBytes: 8 * PIECE_LENGTH_BYTES + 5, holders: [{ pieces: 'all', liar: true }, { pieces: 'all' }] };
    const result = await runSwarm(spec);
    check(spec, result);
    expect(result.outcome).toEqual({ state: 'complete' });
    expect(result.counters.bans['h0:6881']).toMatch(/^BANNED: 2 pieces/);
    expect(result.counters.bytesFromPeer['h1:6881']).toBeGreaterThan(0);
  });

  it('pieces held only by an unreachable holder: fails PIECES_UNAVAILABLE or NO_SOURCES, no file at the destination', async () => {
    const spec: SwarmSpec = { seed: 4, sizeBytes: 3 * PIECE_LENGTH_BYTES, holders: [{ pieces: [0, 1] }, { pieces: 'all', partitioned: true }] };
    const result = await runSwarm(spec);
    check(spec, result);
    expect(result.outcome).toMatchObject({ state: 'failed', code: 'PIECES_UNAVAILABLE' });
  });

  it('the only holder stalls: the download fails STALLED instead of waiting forever', async () => {
    const spec: SwarmSpec = { seed: 6, sizeBytes: 4 * PIECE_LENGTH_BYTES, holders: [{ pieces: 'all', stallAtMs: 0 }] };
    const result = await runSwarm(spec);
    check(spec, result);
    expect(result.outcome).toMatchObject({ state: 'failed', code: 'STALLED' });
    expect(result.counters.snubs).toBeGreaterThan(0);
  });

  it('a holder that vanishes mid-download: the others finish it', async () => {
    const spec: SwarmSpec = {
      seed: 5,
      sizeBytes: 6 * PIECE_LENGTH_BYTES,
      holders: [{ pieces: 'all', vanishAtMs: 300, link: { latencyMs: 20 } }, { pieces: 'all', link: { latencyMs: 30 } }],
    };
    const result = await runSwarm(spec);
    check(spec, result);
    expect(result.outcome).toEqual({ state: 'complete' });
    expect(result.counters.bytesFromPeer['h0:6881']).toBeGreaterThan(0);
  });

  it('random swarms keep the properties', async () => {
    await fc.assert(
      fc.asyncProperty(swarmArb, async (spec) => check(spec, await runSwarm(spec))),
      { numRuns: LONG ? 1_000 : 60, seed: 20261124, endOnFailure: true },
    );
    console.log(`swarm coverage ${JSON.stringify(coverage)}`);
    for (const [name, count] of Object.entries(coverage)) expect(count, name).toBeGreaterThan(0);
  }, 600_000);
});
