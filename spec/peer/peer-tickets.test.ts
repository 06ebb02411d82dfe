// Tickets at a serving peer (issue 6, DESIGN.md §7): a downloader with no ticket, a forged one,
// an expired one, one for another file, one bound to another peer id, or one for another group
// (a non-member) is refused with its code — logged, counted, told to the downloader — and not
// one byte of the file is sent, even when the downloader asks for blocks at once. A valid
// ticket gets the bitfield and the blocks.

import { describe, expect, it } from 'vitest';
import { toHex } from '../../src/torrent/bytes.js';
import { ed25519FromSeed, signTicket, type TicketClaims } from '../../src/torrent/ticket.js';
import { CompleteFile } from '../../src/peer/complete-file.js';
import { PeerHost } from '../../src/peer/peer-host.js';
import { concatBytes } from '../../src/torrent/bytes.js';
import { decodeExtendedHandshake, encodeExtendedHandshake, encodeHandshake, encodeMessage, WireDecoder, type WireEvent } from '../../src/torrent/wire-codec.js';
import { metaOf, swarmFile } from '../../src/sim/swarm/sim-swarm.js';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import type { Connection } from '../../src/world/world.js';

const cluster = ed25519FromSeed(new Uint8Array(32).fill(1));
const forger = ed25519FromSeed(new Uint8Array(32).fill(2));
const file = swarmFile(5, 600_000);
const meta = metaOf('report.pdf', file);
const other = metaOf('other.bin', swarmFile(6, 1000));

/** Runs the simulation until the connection is up (nothing moves unless the test drives it). */
async function connectOnSim(sim: SimWorld, connecting: Promise<Connection>): Promise<Connection> {
  let connection: Connection | undefined;
  void connecting.then((c) => (connection = c));
  await sim.runUntil(() => connection !== undefined, 10_000);
  return connection!;
}

interface Attempt {
  events: WireEvent[];
  logs: string[];
  refusals: Record<string, number>;
}

/** A raw downloader: handshake, extension handshake with `ticket`, then interested and a request in the same write. */
async function attempt(ticketFor: (peerIdHex: string, nowMs: number) => string | undefined): Promise<Attempt> {
  const sim = new SimWorld({ seed: 9 });
  const serverWorld = sim.forHost('server');
  await serverWorld.fs.writeFile('/f', file, { sync: true });
  const logs: string[] = [];
  const host = await PeerHost.start(serverWorld, { listen: { host: 'server', port: 6881 }, peerId: new Uint8Array(20).fill(7), clusterPublicKey: cluster.publicKey, log: (line) => logs.push(line) });
  host.share({ meta, group: 'g', source: (await CompleteFile.open(serverWorld, '/f', meta))! });

  const world = sim.forHost('client');
  const peerId = new Uint8Array(20).fill(3);
  const connection = await connectOnSim(sim, world.net.connect({ host: 'server', port: 6881 }));
  const decoder = new WireDecoder();
  const events: WireEvent[] = [];
  let closed = false;
  connection.attach({ data: (bytes) => events.push(...decoder.push(bytes)), close: () => (closed = true) });
  const ticket = ticketFor(toHex(peerId), world.clock.nowMs());
  connection.write(
    concatBytes([
      encodeHandshake({ infoHash: Buffer.from(meta.fileId, 'hex'), peerId, extensions: true }),
      encodeMessage({ type: 'extended', extId: 0, payload: encodeExtendedHandshake(ticket === undefined ? { m: {} } : { m: {}, ticket }) }),
      encodeMessage({ type: 'interested' }),
      encodeMessage({ type: 'request', index: 0, begin: 0, length: 16384 }),
    ]),
  );
  await sim.runUntil(() => closed || events.some((e) => e.type === 'piece'), 60_000);
  return { events, logs, refusals: host.counters.refusals };
}

function claims(peerIdHex: string, nowMs: number, change: Partial<TicketClaims> = {}): TicketClaims {
  return { v: 1, user: 'bob', peerId: peerIdHex, group: 'g', fileId: meta.fileId, notBefore: nowMs - 1000, expires: nowMs + 60_000, ...change };
}

describe('tickets at a serving peer', () => {
  const refusals: Array<[string, string, (peerIdHex: string, nowMs: number) => string | undefined]> = [
    ['no ticket', 'TICKET_MISSING', () => undefined],
    ['a forged signature', 'TICKET_BAD_SIGNATURE', (p, now) => signTicket(claims(p, now), forger.privateKey)],
    ['an expired ticket (beyond the 30 s skew)', 'TICKET_EXPIRED', (p, now) => signTicket(claims(p, now, { notBefore: now - 120_000, expires: now - 30_001 }), cluster.privateKey)],
    ['a ticket not valid yet (beyond the 30 s skew)', 'TICKET_NOT_YET_VALID', (p, now) => signTicket(claims(p, now, { notBefore: now + 31_000 }), cluster.privateKey)],
    ['a ticket for another file', 'TICKET_WRONG_FILE', (p, now) => signTicket(claims(p, now, { fileId: other.fileId }), cluster.privateKey)],
    ["another user's peer id", 'TICKET_WRONG_PEER', (_p, now) => signTicket(claims('ab'.repeat(20), now), cluster.privateKey)],
    ['a non-member (a ticket for another group)', 'TICKET_WRONG_GROUP', (p, now) => signTicket(claims(p, now, { group: 'elsewhere' }), cluster.privateKey)],
    ['garbage', 'TICKET_MALFORMED', () => 'not-a-ticket'],
  ];

  for (const [what, code, ticket] of refusals) {
    it(`refuses ${what} with ${code} and sends no byte of the file`, async () => {
      const result = await attempt(ticket);
      // Its own extension handshake (where it listens), then the refusal.
      expect(result.events.map((e) => e.type)).toEqual(['handshake', 'extended', 'extended']);
      const [own, answer] = result.events.slice(1).map((e) => decodeExtendedHandshake((e as Extract<WireEvent, { type: 'extended' }>).payload));
      expect(own).toEqual({ m: {}, v: 'clique 0.1', p: 6881 });
      expect(answer!.refused).toBe(code);
      expect(result.refusals).toEqual({ [code]: 1 });
      expect(result.logs).toEqual([expect.stringMatching(new RegExp(`^refused client:[0-9]+ ${code}: `))]);
    });
  }

  it('accepts a ticket 29 s past its expiry (clock skew) and serves the block', async () => {
    const result = await attempt((p, now) => signTicket(claims(p, now, { notBefore: now - 120_000, expires: now - 29_000 }), cluster.privateKey));
    expect(result.events.map((e) => e.type)).toEqual(['handshake', 'extended', 'bitfield', 'unchoke', 'piece']);
    // Interest got a free upload slot at once, so the request that followed it was served.
    const piece = result.events[4] as Extract<WireEvent, { type: 'piece' }>;
    expect(Buffer.from(piece.block).equals(Buffer.from(file.subarray(0, 16384)))).toBe(true);
    expect(result.refusals).toEqual({});
  });

  it('closes a connection that never sends its handshake', async () => {
    const sim = new SimWorld({ seed: 2 });
    await PeerHost.start(sim.forHost('server'), { listen: { host: 'server', port: 6881 }, peerId: new Uint8Array(20), clusterPublicKey: cluster.publicKey });
    const connection = await connectOnSim(sim, sim.forHost('client').net.connect({ host: 'server', port: 6881 }));
    let closedAtMs: number | null = null;
    const startMs = sim.elapsedMs();
    connection.attach({ data: () => {}, close: () => (closedAtMs = sim.elapsedMs() - startMs) });
    expect(await sim.runUntil(() => closedAtMs !== null, 60_000)).toBe(true);
    expect(closedAtMs).toBeGreaterThanOrEqual(10_000);
    expect(closedAtMs).toBeLessThan(11_000);
  });

  it('refuses a handshake for a file it does not share', async () => {
    const sim = new SimWorld({ seed: 1 });
    const logs: string[] = [];
    const host = await PeerHost.start(sim.forHost('server'), { listen: { host: 'server', port: 6881 }, peerId: new Uint8Array(20), clusterPublicKey: cluster.publicKey, log: (l) => logs.push(l) });
    const connection = await connectOnSim(sim, sim.forHost('client').net.connect({ host: 'server', port: 6881 }));
    const received: Uint8Array[] = [];
    let closed = false;
    connection.attach({ data: (b) => received.push(b), close: () => (closed = true) });
    connection.write(encodeHandshake({ infoHash: Buffer.from(other.fileId, 'hex'), peerId: new Uint8Array(20).fill(3), extensions: true }));
    expect(await sim.runUntil(() => closed, 10_000)).toBe(true);
    expect(received).toEqual([]);
    expect(host.counters.refusals).toEqual({ UNKNOWN_FILE: 1 });
    expect(logs[0]).toMatch(/UNKNOWN_FILE/);
  });
});
