// Downloads that wait, on the simulated World (issue "Downloads as a BitTorrent client keeps
// them"): three trackers as `clique tracker` runs them and two PeerNodes. A download whose only
// holder is away waits; `wait` with a timeout gives up after that long in virtual time, counting
// the whole spell of waiting; the holder's login (heard over the push channel) lets it complete
// with the exact bytes. A download that failed no longer counts once a later download of the
// same file completed. Each download's piece map (issue 18's page) tells verified, in-flight and
// missing pieces while it runs, stays as it was while paused and across a restart, and is all
// verified once complete.

import { describe, expect, it } from 'vitest';
import type { SimWorld } from '../../src/world/sim/sim-world.js';
import type { PeerNodeOptions } from '../../src/peer/peer-node.js';
import { swarmFile } from '../../src/sim/swarm/sim-swarm.js';
import { PIECE_LENGTH_BYTES } from '../../src/torrent/infohash.js';
import { drive, startCluster } from '../helpers/sim-trackers.js';

async function twoPeers(seed: number, options: { sizeBytes?: number; bobHooks?: Pick<PeerNodeOptions, 'wireTrace'> } = {}) {
  const { sim, startPeer: start } = await startCluster(seed);
  const [alice, bob] = [await start('alice'), await start('bob', undefined, options.bobHooks)];
  const bytes = swarmFile(seed, options.sizeBytes ?? 3 * 512 * 1024 + 7);
  await drive(sim, sim.forHost('alice').fs.mkdir('/home/alice', { recursive: true }));
  await drive(sim, sim.forHost('alice').fs.writeFile('/home/alice/film.bin', bytes, { sync: true }));
  for (const dir of ['/home/dl', '/home/dl2']) await drive(sim, sim.forHost('bob').fs.mkdir(dir, { recursive: true }));
  await drive(sim, alice.createUser('alice', 'pw-a'));
  await drive(sim, bob.createUser('bob', 'pw-b'));
  await drive(sim, alice.login('alice', 'pw-a'));
  await drive(sim, bob.login('bob', 'pw-b'));
  await drive(sim, alice.command({ type: 'CreateGroup', group: 'g' }));
  await drive(sim, bob.command({ type: 'RequestJoin', group: 'g' }));
  await drive(sim, alice.command({ type: 'AcceptRequest', group: 'g', user: 'bob' }));
  await drive(sim, alice.uploadFile('/home/alice/film.bin', 'g'));
  return { sim, alice, bob, bytes, startPeer: start };
}

async function readFile(sim: SimWorld, host: string, path: string): Promise<Buffer> {
  return Buffer.from(await drive(sim, sim.forHost(host).fs.readFile(path)));
}

describe('downloads that wait for holders (simulated)', () => {
  it('waits while the only holder is away, gives up a timed wait after that long, and completes when she is back', async () => {
    const { sim, alice, bob, bytes } = await twoPeers(11);
    await drive(sim, alice.logout());
    const started = await drive(sim, bob.downloadFile('g', 'film.bin', '/home/dl'));
    expect(started).toMatchObject({ download: 1, state: 'waiting' });
    expect(bob.showDownloads()[0]).toMatchObject({ state: 'waiting', waiting: { code: 'WAITING_FOR_HOLDERS', holders: ['alice'], message: 'waiting for holders: alice' } });
    // Waiting with no attempt running: the file's four pieces are known, none held.
    expect(bob.pieceMap(1)).toBe('----');

    const beganMs = sim.elapsedMs();
    const timed = await drive(sim, bob.waitDownloads(20_000), 120_000);
    const waitedMs = sim.elapsedMs() - beganMs;
    // The whole spell counts, through the back-off's tries in between: about 20 s, not a minute.
    expect(waitedMs).toBeGreaterThanOrEqual(19_000);
    expect(waitedMs).toBeLessThan(25_000);
    expect(timed.failed).toEqual([]);
    expect(timed.waiting.map((d) => [d.id, d.waiting?.code])).toEqual([[1, 'WAITING_FOR_HOLDERS']]);

    await drive(sim, alice.login('alice', 'pw-a'));
    const untimed = await drive(sim, bob.waitDownloads(null), 60_000);
    expect(untimed).toEqual({ failed: [], waiting: [] });
    expect(bob.showDownloads()[0]).toMatchObject({ id: 1, state: 'complete', partPath: null });
    expect(bob.pieceMap(1)).toBe('vvvv');
    expect((await readFile(sim, 'bob', '/home/dl/film.bin')).equals(Buffer.from(bytes))).toBe(true);
  }, 60_000);

  it('wait counts only the latest download of a file: a failed one no longer counts once a later one completed', async () => {
    const { sim, alice, bob, bytes } = await twoPeers(12);
    await drive(sim, alice.logout());
    await drive(sim, bob.downloadFile('g', 'film.bin', '/home/dl/film.bin'));
    // Something else lands at the destination while the download waits: the next attempt refuses it.
    await drive(sim, sim.forHost('bob').fs.writeFile('/home/dl/film.bin', new Uint8Array([1, 2, 3]), { sync: true }));
    await drive(sim, alice.login('alice', 'pw-a'));
    const first = await drive(sim, bob.waitDownloads(null), 60_000);
    expect(first.failed.map((d) => [d.id, d.failure?.code])).toEqual([[1, 'DESTINATION_EXISTS']]);

    await drive(sim, bob.downloadFile('g', 'film.bin', '/home/dl2'));
    const second = await drive(sim, bob.waitDownloads(null), 60_000);
    expect(second).toEqual({ failed: [], waiting: [] });
    expect(bob.showDownloads().map((d) => [d.id, d.state])).toEqual([
      [1, 'failed'],
      [2, 'complete'],
    ]);
    expect((await readFile(sim, 'bob', '/home/dl2/film.bin')).equals(Buffer.from(bytes))).toBe(true);
    expect([...(await readFile(sim, 'bob', '/home/dl/film.bin'))]).toEqual([1, 2, 3]);
  }, 60_000);

  it('keeps a piece map: verified and in-flight pieces while it runs, the same map while paused and after a restart, all verified once complete', async () => {
    const PIECES = 12;
    const PAUSE_AT_VERIFIED = 4;
    // The map as it was each time a piece passed its SHA1: heard on bob's trace, before the scheduler learns of it.
    const seen: Array<{ pieceIndex: number; map: string }> = [];
    let watched: { pieceMap(id: number): string; pauseDownload(id: number): Promise<unknown> } | null = null;
    const wireTrace = (line: string): void => {
      const verified = /^piece (\d+) verified$/.exec(line);
      if (verified === null || watched === null) return;
      seen.push({ pieceIndex: Number(verified[1]), map: watched.pieceMap(1) });
      if (seen.length === PAUSE_AT_VERIFIED) void watched.pauseDownload(1);
    };
    const { sim, bob, bytes, startPeer } = await twoPeers(13, { sizeBytes: PIECES * PIECE_LENGTH_BYTES - 1000, bobHooks: { wireTrace } });
    watched = bob;
    expect(() => bob.pieceMap(1)).toThrow(/no download 1/);
    await drive(sim, bob.downloadFile('g', 'film.bin', '/home/dl'));
    await sim.runUntil(() => bob.showDownloads()[0]?.state === 'paused', 60_000);

    // Mid-way: k pieces verified before, the one just hashed still in flight (awaiting its verdict), the rest not verified.
    expect(seen).toHaveLength(PAUSE_AT_VERIFIED);
    for (const [k, { pieceIndex, map }] of seen.entries()) {
      expect(map).toMatch(new RegExp(`^[vf-]{${PIECES}}$`));
      expect(map.split('').filter((c) => c === 'v')).toHaveLength(k);
      expect(map[pieceIndex]).toBe('f');
      for (const earlier of seen.slice(0, k)) expect(map[earlier.pieceIndex]).toBe('v');
    }

    // Paused: what was verified stays, nothing is in flight, and the map agrees with the verified bytes.
    const view = bob.showDownloads()[0]!;
    const paused = bob.pieceMap(1);
    expect(paused).toMatch(new RegExp(`^[v-]{${PIECES}}$`));
    for (const { pieceIndex } of seen) expect(paused[pieceIndex]).toBe('v');
    expect(paused).toContain('-');
    const mapBytes = [...paused].reduce((sum, c, i) => sum + (c === 'v' ? Math.min(PIECE_LENGTH_BYTES, bytes.length - i * PIECE_LENGTH_BYTES) : 0), 0);
    expect(mapBytes).toBe(view.verifiedBytes);
    await sim.runFor(10_000);
    expect(bob.pieceMap(1)).toBe(paused);

    // A restarted shell lists it paused, its map read once from the piece journal.
    await drive(sim, bob.close());
    watched = null;
    const later = await startPeer('bob');
    await drive(sim, later.login('bob', 'pw-b'));
    expect(later.showDownloads()[0]).toMatchObject({ id: 1, state: 'paused', verifiedBytes: view.verifiedBytes });
    expect(later.pieceMap(1)).toBe(paused);

    await drive(sim, later.resumeDownload(1));
    expect(await drive(sim, later.waitDownloads(null), 60_000)).toEqual({ failed: [], waiting: [] });
    expect(later.showDownloads()[0]).toMatchObject({ id: 1, state: 'complete' });
    expect(later.pieceMap(1)).toBe('v'.repeat(PIECES));
    expect((await readFile(sim, 'bob', '/home/dl/film.bin')).equals(Buffer.from(bytes))).toBe(true);
  }, 60_000);
});
