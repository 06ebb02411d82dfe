// A tracker client checks every node before it sends a word: the certificate must chain to the
// cluster's CA and name the node expected at that address (from cluster.json, or from a leader
// hint). A node of another CA, or another node's certificate at an address, is refused at once
// with TRACKER_NOT_TRUSTED, not waited out as an outage. On the simulated world (the same
// checks as node:tls, without the cryptography), so it runs in milliseconds.

import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder } from '../../src/tracker/frame-codec.js';
import { TrackerClient, TrackerError } from '../../src/tracker/tracker-client.js';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import type { CertifiedKey, World } from '../../src/world/world.js';

/** A fake node: answers `status` with its id and everything else NOT_LEADER to the hinted leader. */
async function fakeNode(world: World, port: number, own: CertifiedKey, id: string, hint: { id: string; client: string } | null): Promise<void> {
  await world.net.listen({ host: '0.0.0.0', port }, (connection) => {
    const decoder = new FrameDecoder(1 << 20);
    connection.attach({
      data: (bytes) => {
        for (const raw of decoder.tryPush(bytes) as Array<{ id: number; type: string }>) {
          const answer = raw.type === 'status' ? { id: raw.id, ok: true, result: { id, role: 'follower' } } : { id: raw.id, ok: false, error: { code: 'NOT_LEADER', message: 'not me' }, leader: hint };
          connection.write(encodeFrame(answer));
        }
      },
      close: () => {},
    });
  }, { secure: { own, accept: () => null } });
}

describe('a tracker client trusts the nodes of its cluster only', () => {
  it('takes the node named for the address, refuses another node, another CA, and a leader hint to a stranger', async () => {
    const sim = new SimWorld({ seed: 14 });
    const settle = async <T>(promise: Promise<T>): Promise<T> => {
      let done = false;
      const watched = promise.finally(() => (done = true));
      watched.catch(() => undefined);
      await sim.runUntil(() => done, 60_000);
      return watched;
    };
    const certs = sim.forHost('ca').certs;
    const ca = await certs.authority('cluster');
    const forger = await certs.authority('forger');
    await fakeNode(sim.forHost('t1'), 7200, await certs.issue(['clique:node/n1'], ca), 'n1', { id: 'n2', client: 't2:7200' });
    // t2 shows n3's certificate: a node of the cluster, but not the one cluster.json puts there.
    await fakeNode(sim.forHost('t2'), 7200, await certs.issue(['clique:node/n3'], ca), 'n3', null);
    // t4 shows a certificate naming n1 from another CA.
    await fakeNode(sim.forHost('t4'), 7200, await certs.issue(['clique:node/n1'], forger), 'n1', null);
    const client = sim.forHost('client');
    const nodeIds = new Map([['t1:7200', 'n1'], ['t2:7200', 'n2'], ['t4:7200', 'n4']]);
    const tracker = new TrackerClient(client, { nodes: ['t1:7200', 't2:7200', 't4:7200'], trust: { kind: 'ca', caPem: ca.certificatePem, nodeIds }, clientId: 'trust-test' });
    expect(await settle(tracker.status('t1:7200'))).toMatchObject({ id: 'n1' });
    expect(await settle(tracker.status('t2:7200'))).toBeNull();
    expect(tracker.lastStatusFailure).toMatch(/TRACKER_NOT_TRUSTED: the certificate at t2:7200 is not n2's/);
    expect(await settle(tracker.status('t4:7200'))).toBeNull();
    expect(tracker.lastStatusFailure).toMatch(/TRACKER_NOT_TRUSTED: its certificate is not of this cluster's CA/);
    // A write: t1 points at t2 as leader, t2 and t4 fail the check, t1 again points on: no outage
    // to wait out, but it never reaches a trusted leader either, so it ends as unavailable.
    const startedMs = client.clock.nowMs();
    const outcome = await settle(tracker.createUser('u', 'p').catch((error: unknown) => error));
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as { code?: string }).code).toMatch(/TRACKER_NOT_TRUSTED|TRACKER_UNAVAILABLE/);
    expect(client.clock.nowMs() - startedMs).toBeLessThanOrEqual(11_000);
    tracker.close();

    // Where every node fails the check, the error is TRACKER_NOT_TRUSTED, at once.
    const strangers = new TrackerClient(client, { nodes: ['t4:7200'], trust: { kind: 'ca', caPem: ca.certificatePem }, clientId: 'trust-test' });
    const before = client.clock.nowMs();
    const refused = await settle(strangers.createUser('u', 'p').catch((error: unknown) => error));
    expect(refused).toBeInstanceOf(TrackerError);
    expect(refused).toMatchObject({ code: 'TRACKER_NOT_TRUSTED' });
    expect(client.clock.nowMs() - before).toBeLessThan(1_000);
    strangers.close();
  });
});
