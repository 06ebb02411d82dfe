// A tracker client runs calls side by side (a shell's heartbeat, a download's ticket, a query;
// a heartbeat the stream answered while the client's try goes on: stream-or-client.ts), over
// real TLS to fake nodes on 127.0.0.1. The calls share one connection and one target, and one
// call's trouble must not spoil another's:
//   - calls that start together open one connection, not one each (the others leaked);
//   - a call that follows a leader hint lets a request another call has on the old node finish
//     (closing it made that call ask again);
//   - two calls that time out on one node move on to the next node once, not twice (which
//     skipped a node).

import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ClientResponse } from '../../src/tracker/client-protocol.js';
import { encodeFrame, FrameDecoder, FrameError } from '../../src/tracker/frame-codec.js';
import { TrackerClient } from '../../src/tracker/tracker-client.js';
import { secureAcceptor } from '../../src/world/real/real-tls.js';
import { createRealWorld } from '../../src/world/real/real-world.js';
import type { CertifiedKey } from '../../src/world/world.js';

const SESSION = { sessionId: 's'.repeat(21), token: 't'.repeat(43) };

type Request = { id: number; type: string };
/** What a fake node does with a request: answer it now, later, or never (null). */
type Answer = (request: Request) => { afterMs: number; response: Omit<ClientResponse, 'id'> } | null;

interface FakeNode {
  address: string;
  /** TLS connections the node took. */
  connections: number;
  /** The requests it was sent, by type. */
  asked: string[];
}

const world = createRealWorld();
const servers: Server[] = [];
const clients: TrackerClient[] = [];

afterEach(() => {
  for (const client of clients.splice(0)) client.close();
  for (const server of servers.splice(0)) server.close();
});

async function fakeNode(ca: CertifiedKey, id: string, answer: Answer): Promise<FakeNode> {
  const own = await world.certs.issue([`clique:node/${id}`], ca);
  const node: FakeNode = { address: '', connections: 0, asked: [] };
  const accept = secureAcceptor(
    { secure: { own, caPem: ca.certificatePem, accept: () => null }, refused: () => {} },
    (tls) => {
      node.connections++;
      const decoder = new FrameDecoder(1024 * 1024);
      tls.on('data', (bytes: Buffer) => {
        const messages = decoder.tryPush(new Uint8Array(bytes));
        if (messages instanceof FrameError) return tls.destroy();
        for (const m of messages as Request[]) {
          node.asked.push(m.type);
          const reply = answer(m);
          if (reply !== null) setTimeout(() => tls.destroyed || tls.write(encodeFrame({ ...reply.response, id: m.id })), reply.afterMs);
        }
      });
      tls.resume();
    },
    (socket) => socket.destroy(),
  );
  const server = createServer({ pauseOnConnect: true }, accept);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  node.address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return node;
}

const ok = (result: unknown) => ({ afterMs: 0, response: { ok: true as const, result } });

function clientOf(ca: CertifiedKey, nodes: FakeNode[], requestTimeoutMs?: number): TrackerClient {
  const timeout = requestTimeoutMs === undefined ? {} : { requestTimeoutMs };
  const client = new TrackerClient(world, { nodes: nodes.map((n) => n.address), trust: { kind: 'ca', caPem: ca.certificatePem }, clientId: 'side-by-side', ...timeout });
  clients.push(client);
  return client;
}

describe('a tracker client with calls side by side (real TLS)', () => {
  it('calls that start together open one connection between them', async () => {
    const ca = await world.certs.authority('test cluster CA');
    const n1 = await fakeNode(ca, 'n1', () => ok({ ttlMs: 30_000 }));
    const client = clientOf(ca, [n1]);
    await Promise.all(Array.from({ length: 5 }, () => client.heartbeat(SESSION)));
    expect(n1.asked).toEqual(['heartbeat', 'heartbeat', 'heartbeat', 'heartbeat', 'heartbeat']);
    expect(n1.connections).toBe(1);
  });

  it("a call that follows a leader hint lets another call's request on the old node finish", async () => {
    const ca = await world.certs.authority('test cluster CA');
    const n2 = await fakeNode(ca, 'n2', () => ok({ ttlMs: 30_000 }));
    // n1 signs tickets (slowly: a read on its way) but points heartbeats at n2, the leader.
    const n1 = await fakeNode(ca, 'n1', (request) =>
      request.type === 'ticket'
        ? { afterMs: 300, response: { ok: true, result: { ticket: 'from-n1', expires: 0 } } }
        : { afterMs: 0, response: { ok: false, error: { code: 'NOT_LEADER', message: 'n2 leads' }, leader: { id: 'n2', client: n2.address } } },
    );
    const client = clientOf(ca, [n1, n2]);
    const ticket = client.ticket(SESSION, 'g', 'f'.repeat(40));
    // The heartbeat goes on the same connection once the ticket's request is on it.
    await new Promise((resolve) => setTimeout(resolve, 50));
    await client.heartbeat(SESSION);
    expect(n2.asked).toEqual(['heartbeat']);
    expect((await ticket).ticket).toBe('from-n1');
    expect(n1.asked.filter((type) => type === 'ticket')).toHaveLength(1);
    expect(n1.connections).toBe(1);
  });

  it('two calls that time out on one node move on to the next node once, not past it', async () => {
    const ca = await world.certs.authority('test cluster CA');
    const silent = await fakeNode(ca, 'n1', () => null);
    const n2 = await fakeNode(ca, 'n2', () => ok({ ttlMs: 30_000 }));
    const n3 = await fakeNode(ca, 'n3', () => ok({ ttlMs: 30_000 }));
    const client = clientOf(ca, [silent, n2, n3], 300);
    await Promise.all([client.heartbeat(SESSION), client.heartbeat(SESSION)]);
    expect(silent.asked).toEqual(['heartbeat', 'heartbeat']);
    expect(n2.asked).toEqual(['heartbeat', 'heartbeat']);
    expect(n3.connections).toBe(0);
  });
});
