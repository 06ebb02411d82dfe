// A tracker client waits out a busy node's TLS handshake queue (issue 20), on the real machine:
// a node that took the TCP connection but paces its handshakes (real-tls.ts: a survivor of a
// failover takes the dead node's clients) finishes this client's handshake after two seconds,
// and the client's request is answered over that one connection. Giving up after the connect
// timeout (1 s, what the client did) would have thrown the queued handshake away and come back
// to the queue's end with another connection.

import { createServer, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder, FrameError } from '../../src/tracker/frame-codec.js';
import { HANDSHAKE_PATIENCE_MS, TrackerClient } from '../../src/tracker/tracker-client.js';
import { HANDSHAKES_PER_TURN, HandshakePacer, secureAcceptor } from '../../src/world/real/real-tls.js';
import { createRealWorld } from '../../src/world/real/real-world.js';

const QUEUED_MS = 2_000;

describe("a tracker client and a node's handshake queue (real TLS)", () => {
  it(`waits up to ${HANDSHAKE_PATIENCE_MS} ms for a handshake the node has queued, on one connection`, async () => {
    const world = createRealWorld();
    const ca = await world.certs.authority('test cluster CA');
    const n1 = await world.certs.issue(['clique:node/n1'], ca);
    // The node holds its handshake turns for QUEUED_MS, then runs them as they come.
    let held = true;
    const turns: Array<() => void> = [];
    const pacer = new HandshakePacer(HANDSHAKES_PER_TURN, (run) => (held ? turns.push(run) : setImmediate(run)));
    const release = setTimeout(() => {
      held = false;
      turns.splice(0).forEach((turn) => turn());
    }, QUEUED_MS);
    let arrived = 0;
    const accept = secureAcceptor(
      { secure: { own: n1, caPem: ca.certificatePem, accept: () => null }, refused: () => {} },
      (tls) => {
        // Answers every request ok, as a node answers a heartbeat.
        const decoder = new FrameDecoder(1024 * 1024);
        tls.on('data', (bytes: Buffer) => {
          const messages = decoder.tryPush(new Uint8Array(bytes));
          if (messages instanceof FrameError) return tls.destroy();
          for (const m of messages) tls.write(encodeFrame({ id: (m as { id: number }).id, ok: true, result: { ttlMs: 30_000 } }));
        });
        tls.resume();
      },
      (socket) => socket.destroy(),
      pacer,
    );
    const server = createServer({ pauseOnConnect: true }, (socket) => {
      arrived++;
      accept(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const client = new TrackerClient(world, { nodes: [address], trust: { kind: 'ca', caPem: ca.certificatePem }, clientId: 'patient' });
    try {
      const startedMs = performance.now();
      await client.heartbeat({ sessionId: 's'.repeat(21), token: 't'.repeat(43) });
      expect(performance.now() - startedMs).toBeGreaterThanOrEqual(QUEUED_MS - 200);
      expect(arrived).toBe(1);
    } finally {
      clearTimeout(release);
      client.close();
      server.close();
    }
  }, 20_000);
});
