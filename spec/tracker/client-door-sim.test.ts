// The client door's idle timeout, on simulated tracker nodes (issue 15): a connection that has
// sent its request and then says nothing is closed by the node after IDLE_TIMEOUT_MS (and not
// before), and the client, asking again, simply opens a new one.

import { describe, expect, it } from 'vitest';
import { IDLE_TIMEOUT_MS } from '../../src/tracker/client-door.js';
import { drive, startCluster } from '../helpers/sim-trackers.js';

describe('the client door (simulated)', () => {
  it('closes a connection idle past the timeout, not before, and the client asks again on a new one', async () => {
    const { sim, trackers, client, logs } = await startCluster(21);
    const idleClosed = (): string[] => logs.filter((line) => line.includes('client_refused') && line.includes('idle for'));
    await drive(sim, client.createUser('alice', 'pw-a'));
    const quietFromMs = sim.elapsedMs();
    await sim.runUntil(() => false, IDLE_TIMEOUT_MS - 1_000);
    expect(idleClosed()).toEqual([]);
    await sim.runUntil(() => idleClosed().length > 0, 5_000);
    expect(idleClosed()).toHaveLength(1);
    // Measured by the node from the request's arrival (a few ms of network before our answer).
    expect(Number(/idle for (\d+) ms/.exec(idleClosed()[0]!)![1])).toBeGreaterThanOrEqual(IDLE_TIMEOUT_MS);
    expect(sim.elapsedMs() - quietFromMs).toBeLessThan(IDLE_TIMEOUT_MS + 1_000);
    await drive(sim, client.login('alice', 'pw-a', 6881, 'ab'.repeat(32)));
    for (const t of trackers.values()) await drive(sim, t.stop());
  });
});
