// A tracker client and a push subscription that connect from a local address they are given
// (issue 20: a load generator spreads 10,000 peers over 127.0.0.2-127.0.0.41 so that the
// per-address caps stay as shipped). On simulated nodes a host has one address, its name: from
// it the login is recorded there and the subscription opens; from an address the host lacks
// nothing connects.

import { describe, expect, it } from 'vitest';
import { clusterTrust } from '../../src/tracker/cluster-config.js';
import { TrackerClient } from '../../src/tracker/tracker-client.js';
import { TrackerSubscription } from '../../src/tracker/subscription.js';
import { drive, startCluster } from '../helpers/sim-trackers.js';

describe('connecting from a given local address', () => {
  it('is where the tracker sees the login and the subscription come from; an address the host lacks reaches nothing', async () => {
    const { sim, trackers, client } = await startCluster(31);
    const config = [...trackers.values()][0]!.config;
    const options = { nodes: config.nodes.map((n) => n.client), trust: clusterTrust(config) };
    await drive(sim, client.createUser('alice', 'pw-a'));

    const here = new TrackerClient(sim.forHost('laptop'), { ...options, clientId: 'here', localAddress: 'laptop' });
    const opened = await drive(sim, here.login('alice', 'pw-a', 6881, 'ab'.repeat(32)));
    expect(opened.address).toBe('laptop:6881');

    const elsewhere = new TrackerClient(sim.forHost('laptop'), { ...options, clientId: 'elsewhere', localAddress: 'phone', deadlineMs: 2_000 });
    await expect(drive(sim, elsewhere.login('alice', 'pw-a', 6881, 'ab'.repeat(32)))).rejects.toMatchObject({ code: 'TRACKER_UNAVAILABLE' });

    const handlers = { events: () => {}, request: () => {}, kick: () => {}, ended: () => {} };
    const session = { sessionId: opened.sessionId, token: opened.token };
    const subscribed = new TrackerSubscription(sim.forHost('laptop'), options.nodes, options.trust, session, opened.index, handlers, { localAddress: 'laptop' });
    const stranded = new TrackerSubscription(sim.forHost('laptop'), options.nodes, options.trust, session, opened.index, handlers, { localAddress: 'phone' });
    await sim.runUntil(() => subscribed.node !== null, 10_000);
    await sim.runUntil(() => false, 3_000);
    expect(subscribed.node).not.toBeNull();
    expect(stranded.node).toBeNull();
    subscribed.close();
    stranded.close();
    here.close();
    for (const t of trackers.values()) await drive(sim, t.stop());
  });
});
