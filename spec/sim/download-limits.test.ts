// Downloads as a BitTorrent client keeps them, on the simulated swarm: a download limit paces
// our requests (so the file takes about size/limit of virtual time, and no holder is snubbed
// for a wait that is ours), a limit changed midway applies at once, and a destination
// directory (or .part) removed midway fails the download DESTINATION_GONE within seconds, not
// at the final rename.

import { describe, expect, it } from 'vitest';
import { runSwarm, type SwarmSpec } from '../../src/sim/swarm/sim-swarm.js';

const KIB = 1024;
const MIB = 1024 * KIB;

function exact(result: Awaited<ReturnType<typeof runSwarm>>): boolean {
  return result.destinationBytes !== null && Buffer.from(result.destinationBytes).equals(Buffer.from(result.original));
}

const threeSeeders: SwarmSpec['holders'] = [
  { pieces: 'all', link: { latencyMs: 10 } },
  { pieces: 'all', link: { latencyMs: 25 } },
  { pieces: 'all', link: { latencyMs: 40 } },
];

describe('download limit', () => {
  it('4 MiB at 256 KiB/s from three seeders takes about 16 s of virtual time, with no snub', async () => {
    const limit = 256 * KIB;
    const result = await runSwarm({ seed: 21, sizeBytes: 4 * MIB, holders: threeSeeders, downloadBytesPerSecond: limit });
    expect(result.outcome).toEqual({ state: 'complete' });
    expect(exact(result)).toBe(true);
    const idealMs = ((4 * MIB) / limit) * 1000;
    expect(result.elapsedMs).toBeGreaterThanOrEqual(0.8 * idealMs);
    expect(result.elapsedMs).toBeLessThanOrEqual(1.25 * idealMs);
    expect(result.counters.snubs).toBe(0);
    // Every seeder served a share: the pacing is over the whole download, not one peer.
    for (const key of result.holderKeys) expect(result.counters.bytesFromPeer[key]).toBeGreaterThan(0);
  });

  it('a low limit shared by many seeders (64 KiB/s, six of them): requests wait in our pacer, yet nobody is snubbed', async () => {
    const limit = 64 * KIB;
    const holders = Array.from({ length: 6 }, (_, i) => ({ pieces: 'all' as const, link: { latencyMs: 5 + 10 * i } }));
    const result = await runSwarm({ seed: 22, sizeBytes: 4 * MIB, holders, downloadBytesPerSecond: limit });
    expect(result.outcome).toEqual({ state: 'complete' });
    expect(exact(result)).toBe(true);
    expect(result.elapsedMs).toBeGreaterThanOrEqual(0.8 * (((4 * MIB) / limit) * 1000));
    expect(result.counters.snubs).toBe(0);
  });

  it('raised midway, the rest goes at the new limit', async () => {
    // 128 KiB/s for 8 s (about 1 MiB), then 1 MiB/s for the remaining 3 MiB: about 11 s, where 128 KiB/s throughout takes 32 s.
    const result = await runSwarm({
      seed: 23,
      sizeBytes: 4 * MIB,
      holders: threeSeeders,
      downloadBytesPerSecond: 128 * KIB,
      downloadRateChanges: [{ atMs: 8_000, bytesPerSecond: MIB }],
    });
    expect(result.outcome).toEqual({ state: 'complete' });
    expect(exact(result)).toBe(true);
    expect(result.elapsedMs).toBeGreaterThanOrEqual(0.8 * 11_000);
    expect(result.elapsedMs).toBeLessThanOrEqual(14_000);
    expect(result.counters.snubs).toBe(0);
  });

  it('lifted midway (unlimited): the rest comes at once', async () => {
    const result = await runSwarm({
      seed: 24,
      sizeBytes: 4 * MIB,
      holders: threeSeeders,
      downloadBytesPerSecond: 64 * KIB,
      downloadRateChanges: [{ atMs: 5_000, bytesPerSecond: null }],
    });
    expect(result.outcome).toEqual({ state: 'complete' });
    expect(exact(result)).toBe(true);
    expect(result.elapsedMs).toBeGreaterThanOrEqual(5_000);
    expect(result.elapsedMs).toBeLessThanOrEqual(7_000);
  });
});

describe('upload limit', () => {
  it("a seeder's upload limit changed while it serves applies at once, on the connection already open", async () => {
    // 64 KiB/s for 4 s (about 256 KiB), then 1 MiB/s for the rest of 2 MiB: about 5.75 s, where 64 KiB/s throughout takes 32 s.
    const result = await runSwarm({
      seed: 26,
      sizeBytes: 2 * MIB,
      holders: [{ pieces: 'all', link: { latencyMs: 10 }, uploadBytesPerSecond: 64 * KIB, uploadRateChanges: [{ atMs: 4_000, bytesPerSecond: MIB }] }],
    });
    expect(result.outcome).toEqual({ state: 'complete' });
    expect(exact(result)).toBe(true);
    expect(result.elapsedMs).toBeGreaterThanOrEqual(0.8 * 5_750);
    expect(result.elapsedMs).toBeLessThanOrEqual(8_000);
  });
});

describe('destination removed midway', () => {
  it.each(['directory', 'part'] as const)('the %s removed: DESTINATION_GONE within 5 s, naming the path', async (what) => {
    const removeAtMs = 6_500;
    const result = await runSwarm({
      seed: 25,
      sizeBytes: 4 * MIB,
      holders: threeSeeders,
      downloadBytesPerSecond: 256 * KIB, // 16 s: the removal comes midway
      removeDestination: { atMs: removeAtMs, what },
    });
    expect(result.outcome).toMatchObject({ state: 'failed', code: 'DESTINATION_GONE' });
    if (result.outcome.state !== 'failed') throw new Error('unreachable');
    expect(result.outcome.message).toContain('/home/leecher/downloads/file.bin.part');
    expect(result.outcome.message).not.toContain('\n');
    expect(result.elapsedMs).toBeGreaterThan(removeAtMs);
    expect(result.elapsedMs).toBeLessThanOrEqual(removeAtMs + 5_000);
    expect(result.destinationBytes).toBeNull();
  });
});
