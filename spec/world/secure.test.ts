// Secure connections through the World, on the real machine (node:tls, X.509 made with
// @peculiar/x509) and in the simulation (statements, no cryptography) alike: a server
// certificate signed by the cluster CA and naming the expected node is accepted, and one naming
// another node, or signed by another CA, is refused with a reason; a server asking for the
// client's certificate sees it; a plaintext client is answered in clear; pinning a self-signed
// certificate by its key fingerprint works, and another key is refused. A real listener starts
// a burst of handshakes a few per turn of its event loop (HandshakePacer) and lets them all in.

import { describe, expect, it } from 'vitest';
import { createRealWorld } from '../../src/world/real/real-world.js';
import { HANDSHAKES_PER_TURN, HandshakePacer, secureAcceptor } from '../../src/world/real/real-tls.js';
import { createServer, type AddressInfo } from 'node:net';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import type { Connection, PeerIdentity, SecureOptions, World } from '../../src/world/world.js';

interface Harness {
  server: World;
  client: World;
  host: string;
  /** Runs until `promise` settles. */
  settle<T>(promise: Promise<T>): Promise<T>;
}

function real(): Harness {
  const world = createRealWorld();
  return { server: world, client: world, host: '127.0.0.1', settle: (promise) => promise };
}

function sim(): Harness {
  const sim = new SimWorld({ seed: 3 });
  return {
    server: sim.forHost('server'),
    client: sim.forHost('client'),
    host: 'server',
    settle: async (promise) => {
      let done = false;
      const watched = promise.finally(() => (done = true));
      watched.catch(() => undefined);
      await sim.runUntil(() => done, 60_000);
      return watched;
    },
  };
}

/** Resolves once `done` holds (checked every few ms); fails after `timeoutMs` if given. */
function until(done: () => boolean, timeoutMs = Infinity): Promise<void> {
  const startedMs = performance.now();
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (done()) return resolve();
      if (performance.now() - startedMs > timeoutMs) return reject(new Error(`not so within ${timeoutMs} ms`));
      setTimeout(check, 5);
    };
    check();
  });
}

const wantNode = (id: string, _caPem: string, seen: Array<PeerIdentity | null>): SecureOptions['accept'] => (peer) => {
  seen.push(peer);
  if (peer === null || !peer.trusted) return 'NOT_THE_CLUSTER: no certificate from the cluster CA';
  return peer.uris.includes(`clique:node/${id}`) ? null : `WRONG_NODE: expected clique:node/${id}, got ${peer.uris.join(',') || 'no name'}`;
};

for (const [name, make] of [['real', real], ['simulated', sim]] as const) {
  describe(`secure connections (${name} world)`, () => {
    it('accepts the expected node of the cluster, refuses another node or another CA, and answers a plaintext client in clear', async () => {
      const h = make();
      const ca = await h.server.certs.authority('test cluster CA');
      const other = await h.server.certs.authority('another CA');
      const n1 = await h.server.certs.issue(['clique:node/n1'], ca);
      const client = await h.client.certs.issue(['clique:peer'], ca);
      const serverSaw: Array<PeerIdentity | null> = [];
      const refused: string[] = [];
      const accepted: Connection[] = [];
      const listener = await h.settle(
        h.server.net.listen(
          { host: h.host, port: 0 },
          (connection) => {
            accepted.push(connection);
            connection.attach({ data: (bytes) => connection.write(bytes), close: () => {} });
          },
          {
            secure: { own: n1, caPem: ca.certificatePem, requestPeerCertificate: true, accept: (peer) => (serverSaw.push(peer), null) },
            plaintext: (connection) => {
              connection.attach({ data: () => {}, close: () => {} });
              connection.write(new TextEncoder().encode('TLS_REQUIRED'));
              connection.end();
            },
            refused: (_remote, reason) => refused.push(reason),
          },
        ),
      );
      const at = { host: h.host, port: listener.address.port };
      const clientSaw: Array<PeerIdentity | null> = [];
      const good = await h.settle(h.client.net.connect(at, { secure: { own: client, caPem: ca.certificatePem, accept: wantNode('n1', ca.certificatePem, clientSaw) } }));
      expect(good.peer).toEqual({ keyFingerprint: n1.identity.keyFingerprint, uris: ['clique:node/n1'], trusted: true });
      // In TLS 1.3 the client is through before the server has read its certificate.
      await h.settle(until(() => accepted.length > 0));
      expect(serverSaw.at(-1)).toEqual({ keyFingerprint: client.identity.keyFingerprint, uris: ['clique:peer'], trusted: true });
      const echoed = h.settle(new Promise<string>((resolve) => good.attach({ data: (bytes) => resolve(new TextDecoder().decode(bytes)), close: () => {} })));
      good.write(new TextEncoder().encode('hello'));
      expect(await echoed).toBe('hello');
      good.destroy();

      const wrong = h.settle(h.client.net.connect(at, { secure: { own: null, caPem: ca.certificatePem, accept: wantNode('n2', ca.certificatePem, []) } }));
      await expect(wrong).rejects.toMatchObject({ code: 'ETLS', message: expect.stringContaining('WRONG_NODE: expected clique:node/n2, got clique:node/n1') });
      const stranger = h.settle(h.client.net.connect(at, { secure: { own: null, caPem: other.certificatePem, accept: wantNode('n1', other.certificatePem, []) } }));
      await expect(stranger).rejects.toMatchObject({ code: 'ETLS', message: expect.stringContaining('NOT_THE_CLUSTER') });

      // An old client speaks first, in clear: it is answered in clear at once.
      const plain = await h.settle(h.client.net.connect(at));
      const answer = h.settle(new Promise<string>((resolve) => plain.attach({ data: (bytes) => resolve(new TextDecoder().decode(bytes)), close: () => resolve('(closed)') })));
      plain.write(new TextEncoder().encode('{"id":1}'));
      expect(await answer).toBe('TLS_REQUIRED');
      await listener.close();
    }, 30_000);

    it('pins a self-signed certificate by its key, and refuses another key; a server refusing a client is told by a closed handshake', async () => {
      const h = make();
      const holder = await h.server.certs.issue([], null);
      const impostor = await h.server.certs.issue([], null);
      const refused: string[] = [];
      const expected = holder.identity.keyFingerprint;
      const listenWith = (own: typeof holder) =>
        h.settle(
          h.server.net.listen({ host: h.host, port: 0 }, (c) => c.attach({ data: () => {}, close: () => {} }), {
            secure: { own, requestPeerCertificate: true, accept: (peer) => (peer === null ? 'NO_CERTIFICATE: the downloader showed none' : null) },
            refused: (_remote, reason) => refused.push(reason),
          }),
        );
      const pin: SecureOptions['accept'] = (peer) => (peer?.keyFingerprint === expected ? null : `WRONG_KEY: the tracker named ${expected.slice(0, 8)}, this peer shows ${peer?.keyFingerprint.slice(0, 8)}`);
      const me = await h.client.certs.issue([], null);
      const honest = await listenWith(holder);
      const ok = await h.settle(h.client.net.connect({ host: h.host, port: honest.address.port }, { secure: { own: me, accept: pin } }));
      expect(ok.peer).toMatchObject({ keyFingerprint: expected, trusted: false });
      ok.destroy();
      const fake = await listenWith(impostor);
      await expect(h.settle(h.client.net.connect({ host: h.host, port: fake.address.port }, { secure: { own: me, accept: pin } }))).rejects.toMatchObject({ code: 'ETLS', message: expect.stringContaining('WRONG_KEY') });
      // A client the server refuses: in TLS 1.3 it may be through before the server judges it;
      // either way its connection ends at once, and the server logs why.
      const anonymous = h.settle(
        h.client.net.connect({ host: h.host, port: honest.address.port }, { secure: { own: null, accept: pin } }).then(
          (connection) => new Promise<string>((resolve) => connection.attach({ data: () => resolve('data'), close: () => resolve('closed') })),
          (error: { code?: string }) => `rejected ${error.code}`,
        ),
      );
      expect(['closed', 'rejected ETLS']).toContain(await anonymous);
      await h.settle(until(() => refused.length > 0));
      expect(refused).toContain('NO_CERTIFICATE: the downloader showed none');
      await honest.close();
      await fake.close();
    }, 30_000);
  });
}

describe('TLS handshakes at a real listener, paced', () => {
  it('start a few per turn of the event loop, in order of arrival; one withdrawn before its turn never starts', async () => {
    const perTurn = 8;
    const pacer = new HandshakePacer(perTurn);
    const started: number[] = [];
    const withdraw = Array.from({ length: 3 * perTurn }, (_, i) => pacer.enqueue(() => started.push(i)));
    withdraw[2]!();
    expect(started).toEqual([]);
    const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    await turn();
    expect(started).toEqual([0, 1, 3, 4, 5, 6, 7, 8]);
    await turn();
    expect(started).toHaveLength(2 * perTurn);
    await turn();
    expect(started).toHaveLength(3 * perTurn - 1);
    expect(pacer.waitingCount).toBe(0);
  });

  it('drop unstarted a client that left while it waited, and let a burst through, each in its turn', async () => {
    const world = createRealWorld();
    const ca = await world.certs.authority('test cluster CA');
    const n1 = await world.certs.issue(['clique:node/n1'], ca);
    // The listener's turns are held here, and run when the test says.
    const turns: Array<() => void> = [];
    const pacer = new HandshakePacer(HANDSHAKES_PER_TURN, (run) => turns.push(run));
    const refused: string[] = [];
    let accepted = 0;
    const accept = secureAcceptor(
      { secure: { own: n1, caPem: ca.certificatePem, accept: () => null }, refused: (_remote, reason) => refused.push(reason) },
      (tls) => {
        accepted++;
        tls.on('data', (bytes: Buffer) => tls.write(bytes));
        tls.resume();
      },
      (socket) => socket.destroy(),
      pacer,
    );
    let arrived = 0;
    const server = createServer({ pauseOnConnect: true }, (socket) => {
      arrived++;
      accept(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const at = { host: '127.0.0.1', port: (server.address() as AddressInfo).port };
    // Clients that send a malformed ClientHello and leave (a FIN) while they wait: the server
    // sees them go, and starts no handshake for them (one started would fail on the bad record,
    // and be refused with a TLS reason).
    const leavers = await Promise.all(Array.from({ length: 8 }, () => world.net.connect(at)));
    for (const leaver of leavers) {
      leaver.write(new Uint8Array([0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0xff]));
      leaver.end();
    }
    await until(() => arrived === leavers.length);
    await until(() => pacer.waitingCount === 0, 5_000);
    expect(turns).toHaveLength(1); // a turn was asked for them, and none has run
    // One that sends more than a handshake's worth while it waits is cut, not held in memory.
    const flooder = await world.net.connect(at);
    flooder.write(new Uint8Array(128 * 1024).fill(0x16));
    await until(() => refused.length === 1, 5_000);
    expect(refused).toEqual(['TLS: too many bytes before the handshake']);
    flooder.destroy();
    refused.length = 0;
    // Then a burst of real clients: each waits for a turn, and a turn starts at most HANDSHAKES_PER_TURN.
    const secure = { own: null, caPem: ca.certificatePem, accept: wantNode('n1', ca.certificatePem, []) };
    const count = 3 * HANDSHAKES_PER_TURN;
    const burst = Promise.all(Array.from({ length: count }, () => world.net.connect(at, { secure })));
    await until(() => pacer.waitingCount === count, 10_000);
    for (let started = 0; started < count; started += HANDSHAKES_PER_TURN) {
      turns.shift()!();
      expect(pacer.waitingCount).toBe(count - started - HANDSHAKES_PER_TURN);
    }
    const connections = await burst;
    const echoes = await Promise.all(
      connections.map(
        (connection, i) =>
          new Promise<string>((resolve) => {
            connection.attach({ data: (bytes) => resolve(new TextDecoder().decode(bytes)), close: () => resolve('(closed)') });
            connection.write(new TextEncoder().encode(`hello ${i}`));
          }),
      ),
    );
    expect(echoes).toEqual(connections.map((_, i) => `hello ${i}`));
    expect(accepted).toBe(count);
    expect(refused).toEqual([]);
    for (const connection of connections) connection.destroy();
    await new Promise((resolve) => server.close(resolve));
  }, 30_000);
});
