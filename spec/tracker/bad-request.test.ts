// A request of the protocol with fields of the wrong shape is answered BAD_REQUEST at once, on
// simulated nodes as `clique tracker` runs them: before, the node closed the connection and the
// client, taking that for an outage, tried every node until its deadline (TRACKER_UNAVAILABLE).

import { describe, expect, it } from 'vitest';
import { drive, startCluster } from '../helpers/sim-trackers.js';

const KEY = 'ab'.repeat(32);

describe('a malformed request', () => {
  it('is answered BAD_REQUEST, and the connection serves the next request', async () => {
    const { sim, client } = await startCluster(62);
    await drive(sim, client.createUser('alice', 'pw'));
    const alice = await drive(sim, client.login('alice', 'pw', 6881, KEY));
    await drive(sim, client.command(alice, { type: 'CreateGroup', group: 'films' }));
    const startedMs = sim.nowMs();
    const bad = { name: 'file', group: 'films', fileId: 'x' } as unknown as { name: 'file'; group: string; file: string };
    const outcome = await drive(sim, client.query(alice, bad).then((v) => ({ ok: v }), (e: Error & { code?: string }) => ({ code: e.code })));
    expect(outcome).toEqual({ code: 'BAD_REQUEST' });
    expect(sim.nowMs() - startedMs).toBeLessThan(1_000);
    expect(await drive(sim, client.query(alice, { name: 'listFiles', group: 'films' }))).toEqual([]);
  });
});
