// A downloaded piece is served to others at once (DESIGN.md §5): alice downloads from a seeder
// over a fast link while serving what she has verified; bob, far from the seeder, downloads from
// both and gets most of his bytes from alice, whose download is still running at the time.

import { describe, expect, it } from 'vitest';
import { PIECE_LENGTH_BYTES } from '../../src/torrent/infohash.js';
import { ed25519FromSeed, signTicket, TICKET_VERSION } from '../../src/torrent/ticket.js';
import { newPeerKey } from '../../src/peer/peer-key.js';
import { CompleteFile } from '../../src/peer/complete-file.js';
import { Download } from '../../src/peer/download.js';
import { PeerHost } from '../../src/peer/peer-host.js';
import { PieceStoreError } from '../../src/peer/piece-store.js';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import { metaOf, SIM_DOWNLOAD_TIMINGS, swarmFile } from '../../src/sim/swarm/sim-swarm.js';
import type { World } from '../../src/world/world.js';

const keys = ed25519FromSeed(new Uint8Array(32).fill(4));
const file = swarmFile(11, 16 * PIECE_LENGTH_BYTES);
const meta = metaOf('talk.mp4', file);

async function leecher(world: World, name: string, holders: string[], serve: boolean): Promise<{ download: Download; host: PeerHost | null }> {
  await world.fs.mkdir('/home', { recursive: true });
  const peerId = world.rng.bytes(20);
  const nowMs = world.clock.nowMs();
  const own = await newPeerKey(world);
  const ticket = signTicket({ v: TICKET_VERSION, user: name, key: own.identity.keyFingerprint, group: 'g', fileId: meta.fileId, notBefore: nowMs, expires: nowMs + 3_600_000 }, keys.privateKey);
  const host = serve ? await PeerHost.start(world, { listen: { host: name, port: 6881 }, peerId, own, clusterPublicKey: keys.publicKey }) : null;
  const download = await Download.start(world, {
    meta,
    destinationPath: `/home/${meta.name}`,
    journal: await world.kv.open('/home/db', { createIfMissing: true }),
    peerId,
    ticket: () => ticket,
    holders: holders.map((h) => ({ address: { host: h, port: 6881 }, keyFingerprint: null })),
    timings: SIM_DOWNLOAD_TIMINGS,
    host: host ?? { own },
  });
  if (download instanceof PieceStoreError) throw download;
  host?.share({ meta, group: 'g', source: download.store });
  return { download, host };
}

describe('relaying', () => {
  it('a leecher serves its verified pieces while it is still downloading', async () => {
    const sim = new SimWorld({ seed: 8 });
    const seederWorld = sim.forHost('seeder');
    await seederWorld.fs.writeFile('/talk.mp4', file, { sync: true });
    const seeder = await PeerHost.start(seederWorld, { listen: { host: 'seeder', port: 6881 }, peerId: seederWorld.rng.bytes(20), own: await newPeerKey(seederWorld), clusterPublicKey: keys.publicKey });
    seeder.share({ meta, group: 'g', source: (await CompleteFile.open(seederWorld, '/talk.mp4', meta)) as CompleteFile });
    // The seeder is near alice and far from bob; alice is near bob.
    sim.net.setLink('seeder', 'alice', { latencyMs: 5 });
    sim.net.setLink('seeder', 'bob', { latencyMs: 400 });
    sim.net.setLink('bob', 'seeder', { latencyMs: 400 });

    const alice = await leecher(sim.forHost('alice'), 'alice', ['seeder'], true);
    let uploadedWhileRunning = -1;
    void alice.download.done.then(() => (uploadedWhileRunning = alice.host!.counters.bytesUploaded));
    await sim.runUntil(() => alice.download.store.verifiedBytes() >= 2 * PIECE_LENGTH_BYTES, 60_000);
    const bobStartedWhileAliceRan = alice.download.state === 'running';
    const bob = await leecher(sim.forHost('bob'), 'bob', ['seeder', 'alice'], false);
    await sim.runUntil(() => bob.download.state !== 'running' && alice.download.state !== 'running', 600_000);

    expect(bobStartedWhileAliceRan).toBe(true);
    expect(await alice.download.done).toEqual({ state: 'complete' });
    expect(await bob.download.done).toEqual({ state: 'complete' });
    const bobFile = await sim.forHost('bob').fs.readFile(`/home/${meta.name}`);
    expect(Buffer.from(bobFile).equals(Buffer.from(file))).toBe(true);
    const fromPeers = bob.download.counters().bytesFromPeer;
    expect(fromPeers['alice:6881']).toBeGreaterThan(0);
    expect(uploadedWhileRunning).toBeGreaterThan(0); // alice served before her own download ended
    expect(alice.host!.counters.bytesUploaded).toBeGreaterThanOrEqual(fromPeers['alice:6881']!);
  });
});
