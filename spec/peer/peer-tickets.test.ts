// Tickets at a serving peer (issue 6, DESIGN.md §7): a downloader with no ticket, a forged one,
// an expired one, one for another file, one bound to another peer's key (a stolen ticket), or
// one for another group (a non-member) is refused with its code — logged, counted, told to the
// downloader — and not one byte of the file is sent, not even the bitfield, even when the
// downloader asks for blocks at once. A valid ticket gets the bitfield and the blocks. Below
// the tickets, TLS: a connection in clear, or without a certificate, is refused at once.

import { describe, expect, it } from 'vitest';
import { ed25519FromSeed, signTicket, TICKET_VERSION, type TicketClaims } from '../../src/torrent/ticket.js';
import { newPeerKey } from '../../src/peer/peer-key.js';
import { CompleteFile } from '../../src/peer/complete-file.js';
import { PeerHost } from '../../src/peer/peer-host.js';
import { concatBytes } from '../../src/torrent/bytes.js';
import { decodeExtendedHandshake, encodeExtendedHandshake, encodeHandshake, encodeMessage, WireDecoder, type WireEvent } from '../../src/torrent/wire-codec.js';
import { metaOf, swarmFile } from '../../src/sim/swarm/sim-swarm.js';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import type { CertifiedKey, Connection, SecureOptions, World } from '../../src/world/world.js';

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

/** TLS as a peer: our key, any key at the other end (these tests are about what the server does). */
function asPeer(own: CertifiedKey): SecureOptions {
  return { own, accept: () => null };
}

async function server(sim: SimWorld, logs: string[]): Promise<PeerHost> {
  const world = sim.forHost('server');
  return PeerHost.start(world, { listen: { host: 'server', port: 6881 }, peerId: new Uint8Array(20), own: await newPeerKey(world), clusterPublicKey: cluster.publicKey, log: (l) => logs.push(l) });
}

async function clientKey(world: World): Promise<CertifiedKey> {
  return newPeerKey(world);
}

/** A raw downloader: handshake, extension handshake with `ticket`, then interested and a request in the same write. */
async function attempt(ticketFor: (keyHex: string, nowMs: number) => string | undefined): Promise<Attempt> {
  const sim = new SimWorld({ seed: 9 });
  const serverWorld = sim.forHost('server');
  await serverWorld.fs.writeFile('/f', file, { sync: true });
  const logs: string[] = [];
  const host = await PeerHost.start(serverWorld, { listen: { host: 'server', port: 6881 }, peerId: new Uint8Array(20).fill(7), own: await newPeerKey(serverWorld), clusterPublicKey: cluster.publicKey, log: (line) => logs.push(line) });
  host.share({ meta, group: 'g', source: (await CompleteFile.open(serverWorld, '/f', meta)) as CompleteFile });

  const world = sim.forHost('client');
  const peerId = new Uint8Array(20).fill(3);
  const own = await clientKey(world);
  const connection = await connectOnSim(sim, world.net.connect({ host: 'server', port: 6881 }, { secure: asPeer(own) }));
  const decoder = new WireDecoder();
  const events: WireEvent[] = [];
  let closed = false;
  connection.attach({ data: (bytes) => events.push(...decoder.push(bytes)), close: () => (closed = true) });
  const ticket = ticketFor(own.identity.keyFingerprint, world.clock.nowMs());
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

function claims(keyHex: string, nowMs: number, change: Partial<TicketClaims> = {}): TicketClaims {
  return { v: TICKET_VERSION, user: 'bob', key: keyHex, group: 'g', fileId: meta.fileId, notBefore: nowMs - 1000, expires: nowMs + 60_000, ...change };
}

describe('tickets at a serving peer', () => {
  const refusals: Array<[string, string, (keyHex: string, nowMs: number) => string | undefined]> = [
    ['no ticket', 'TICKET_MISSING', () => undefined],
    ['a forged signature', 'TICKET_BAD_SIGNATURE', (p, now) => signTicket(claims(p, now), forger.privateKey)],
    ['an expired ticket (beyond the 30 s skew)', 'TICKET_EXPIRED', (p, now) => signTicket(claims(p, now, { notBefore: now - 120_000, expires: now - 30_001 }), cluster.privateKey)],
    ['a ticket not valid yet (beyond the 30 s skew)', 'TICKET_NOT_YET_VALID', (p, now) => signTicket(claims(p, now, { notBefore: now + 31_000 }), cluster.privateKey)],
    ['a ticket for another file', 'TICKET_WRONG_FILE', (p, now) => signTicket(claims(p, now, { fileId: other.fileId }), cluster.privateKey)],
    ["a stolen ticket (valid, but for another peer's key)", 'TICKET_WRONG_KEY', (_p, now) => signTicket(claims('ab'.repeat(32), now), cluster.privateKey)],
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
    await server(sim, []);
    const client = sim.forHost('client');
    const connection = await connectOnSim(sim, client.net.connect({ host: 'server', port: 6881 }, { secure: asPeer(await clientKey(client)) }));
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
    const host = await server(sim, logs);
    const client = sim.forHost('client');
    const connection = await connectOnSim(sim, client.net.connect({ host: 'server', port: 6881 }, { secure: asPeer(await clientKey(client)) }));
    const received: Uint8Array[] = [];
    let closed = false;
    connection.attach({ data: (b) => received.push(b), close: () => (closed = true) });
    connection.write(encodeHandshake({ infoHash: Buffer.from(other.fileId, 'hex'), peerId: new Uint8Array(20).fill(3), extensions: true }));
    expect(await sim.runUntil(() => closed, 10_000)).toBe(true);
    expect(received).toEqual([]);
    expect(host.counters.refusals).toEqual({ UNKNOWN_FILE: 1 });
    expect(logs[0]).toMatch(/UNKNOWN_FILE/);
  });

  it('refuses a peer in clear (TLS_REQUIRED) and one without a certificate (PEER_KEY_MISSING) at once, saying nothing', async () => {
    const sim = new SimWorld({ seed: 4 });
    const logs: string[] = [];
    const host = await server(sim, logs);
    const client = sim.forHost('client');
    // An old peer: `\x13BitTorrent protocol` in clear.
    const plain = await connectOnSim(sim, client.net.connect({ host: 'server', port: 6881 }));
    const received: Uint8Array[] = [];
    let closed = false;
    plain.attach({ data: (b) => received.push(b), close: () => (closed = true) });
    plain.write(encodeHandshake({ infoHash: Buffer.from(meta.fileId, 'hex'), peerId: new Uint8Array(20).fill(3), extensions: true }));
    expect(await sim.runUntil(() => closed, 1_000)).toBe(true);
    expect(received).toEqual([]);
    // TLS without a certificate of our own: the handshake is refused.
    const refused = await (async () => {
      let outcome: string | null = null;
      client.net.connect({ host: 'server', port: 6881 }, { secure: { own: null, accept: () => null } }).then(
        () => (outcome = 'connected'),
        (error: Error) => (outcome = error.message),
      );
      await sim.runUntil(() => outcome !== null, 10_000);
      return outcome;
    })();
    expect(refused).not.toBe('connected');
    expect(host.counters.refusals).toEqual({ TLS_REQUIRED: 1, PEER_KEY_MISSING: 1 });
    expect(logs).toEqual([expect.stringMatching(/^refused client:[0-9]+ TLS_REQUIRED: /), expect.stringMatching(/^refused client:[0-9]+ PEER_KEY_MISSING: no certificate/)]);
  });
});
