// A session saved for one-shot commands (`clique login` with no shell running), on the simulated
// World with a 3 s session life: nothing beats for it, so the tracker ends it; the next one-shot's
// peer revives it from its refresh credential (a new session, the old refresh used up) and runs
// its command in it; a session still alive is kept as it is.

import { describe, expect, it } from 'vitest';
import { drive, startCluster, TTL_MS } from '../helpers/sim-trackers.js';

describe('a saved session (simulated)', () => {
  it('is kept while alive, and renewed from its refresh credential once the tracker has ended it', async () => {
    const { sim, startPeer } = await startCluster(21);
    const first = await startPeer('bob');
    await drive(sim, first.createUser('bob', 'pw-b'));
    const saved = await drive(sim, first.openForOneShots('bob', 'pw-b'));
    expect(saved.refresh).toBeDefined();
    await drive(sim, first.close()); // adopted: the session stays open

    const soon = await startPeer('bob');
    expect(await drive(sim, soon.revive(saved))).toEqual(saved);
    await drive(sim, soon.close());

    await sim.runFor(3 * TTL_MS);
    const later = await startPeer('bob');
    const revived = await drive(sim, later.revive(saved));
    expect(revived.sessionId).not.toBe(saved.sessionId);
    expect(revived.refresh).not.toBe(saved.refresh);
    await drive(sim, later.adopt(revived));
    expect(await drive(sim, later.query({ name: 'whoami' }))).toMatchObject({ user: 'bob' });
    await drive(sim, later.close());
  }, 60_000);
});
