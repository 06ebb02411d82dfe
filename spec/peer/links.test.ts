// Links carry both directions (issue 12), on the simulated world: two peers each hold half of a
// file and each is told of the other, so they dial each other at the same instant. Each end
// closes the connection dialed by the higher peer id, so one link is left, the same one at both
// ends, and each fetches the other's half over it.

import { describe, expect, it } from 'vitest';
import { PIECE_LENGTH_BYTES } from '../../src/torrent/infohash.js';
import { ed25519FromSeed, signTicket, TICKET_VERSION } from '../../src/torrent/ticket.js';
import { newPeerKey } from '../../src/peer/peer-key.js';
import { Download } from '../../src/peer/download.js';
import { PeerHost } from '../../src/peer/peer-host.js';
import { PieceStore, PieceStoreError } from '../../src/peer/piece-store.js';
import { metaOf, SIM_DOWNLOAD_TIMINGS, swarmFile } from '../../src/sim/swarm/sim-swarm.js';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import type { World } from '../../src/world/world.js';

const keys = ed25519FromSeed(new Uint8Array(32).fill(5));
const file = swarmFile(21, 8 * PIECE_LENGTH_BYTES + 1234);
const meta = metaOf('half.bin', file);
const pieceCount = 9;

/** A peer holding the pieces `has` (verified and journaled), downloading the rest from `other`. */
async function halfPeer(world: World, name: string, peerId: Uint8Array, has: (i: number) => boolean, other: string): Promise<{ host: PeerHost; download: Download; logs: string[] }> {
  await world.fs.mkdir('/home', { recursive: true });
  const journal = await world.kv.open('/home/db', { createIfMissing: true });
  const partial = await PieceStore.open(world, { meta, destinationPath: `/home/${meta.name}`, journal });
  if (partial instanceof PieceStoreError) throw partial;
  for (let i = 0; i < pieceCount; i++) {
    if (!has(i)) continue;
    partial.writeBlock(i, 0, file.subarray(i * PIECE_LENGTH_BYTES, Math.min((i + 1) * PIECE_LENGTH_BYTES, file.length)));
    expect(await partial.verifyPiece(i)).toBe('verified');
  }
  await partial.close();
  const logs: string[] = [];
  const own = await newPeerKey(world);
  const host = await PeerHost.start(world, { listen: { host: name, port: 6881 }, peerId, own, clusterPublicKey: keys.publicKey, log: (line) => logs.push(line), ...(process.env.LINKS_TRACE ? { trace: (line: string) => console.log(name, world.clock.nowMs(), line) } : {}) });
  const nowMs = world.clock.nowMs();
  const ticket = signTicket({ v: TICKET_VERSION, user: name, key: own.identity.keyFingerprint, group: 'g', fileId: meta.fileId, notBefore: nowMs, expires: nowMs + 3_600_000 }, keys.privateKey);
  const download = await Download.start(world, { meta, destinationPath: `/home/${meta.name}`, journal, peerId, ticket: () => ticket, holders: [{ address: { host: other, port: 6881 }, keyFingerprint: null }], timings: SIM_DOWNLOAD_TIMINGS, host });
  if (download instanceof PieceStoreError) throw download;
  host.share({ meta, group: 'g', source: download.store });
  return { host, download, logs };
}

describe('links', () => {
  it.each([1, 2, 3])('two peers dialing each other at once keep one link and fetch both ways over it (seed %i)', async (seed) => {
    const sim = new SimWorld({ seed });
    const lowId = new Uint8Array(20).fill(0x11);
    const highId = new Uint8Array(20).fill(0x22);
    const [a, b] = await Promise.all([
      halfPeer(sim.forHost('a'), 'a', lowId, (i) => i % 2 === 0, 'b'),
      halfPeer(sim.forHost('b'), 'b', highId, (i) => i % 2 === 1, 'a'),
    ]);
    await sim.runUntil(() => a.download.state !== 'running' && b.download.state !== 'running', 120_000);
    expect(await a.download.done).toEqual({ state: 'complete' });
    expect(await b.download.done).toEqual({ state: 'complete' });
    for (const name of ['a', 'b']) expect(Buffer.from(await sim.forHost(name).fs.readFile(`/home/${meta.name}`)).equals(Buffer.from(file))).toBe(true);
    // Each fetched the other's half: 4 pieces from b to a, 5 from a to b (one the short last).
    expect(a.download.counters().bytesFromPeer).toEqual({ 'b:6881': 4 * PIECE_LENGTH_BYTES });
    expect(b.download.counters().bytesFromPeer).toEqual({ 'a:6881': 4 * PIECE_LENGTH_BYTES + 1234 });
    // Both dialed; both ends kept the link that the lower peer id (a) dialed, and only it.
    expect(a.host.counters.duplicateLinks).toBe(1);
    expect(b.host.counters.duplicateLinks).toBe(1);
    expect(a.logs).toEqual([`two links to b:6881 for ${meta.fileId.slice(0, 8)}: kept the one dialed by 11111111`]);
    expect(b.logs).toEqual([expect.stringMatching(new RegExp(`^two links to a:\\d+ for ${meta.fileId.slice(0, 8)}: kept the one dialed by 11111111$`))]);
    expect(a.host.linkCount()).toBe(1);
    expect(b.host.linkCount()).toBe(1);
  });
});
