// Downloads that wait, on the simulated World (issue "Downloads as a BitTorrent client keeps
// them"): three trackers as `clique tracker` runs them and two PeerNodes. A download whose only
// holder is away waits; `wait` with a timeout gives up after that long in virtual time, counting
// the whole spell of waiting; the holder's login (heard over the push channel) lets it complete
// with the exact bytes. A download that failed no longer counts once a later download of the
// same file completed.

import { describe, expect, it } from 'vitest';
import type { SimWorld } from '../../src/world/sim/sim-world.js';
import { swarmFile } from '../../src/sim/swarm/sim-swarm.js';
import { drive, startCluster } from '../helpers/sim-trackers.js';

async function twoPeers(seed: number) {
  const { sim, startPeer: start } = await startCluster(seed);
  const [alice, bob] = [await start('alice'), await start('bob')];
  const bytes = swarmFile(seed, 3 * 512 * 1024 + 7);
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
  return { sim, alice, bob, bytes };
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
});
