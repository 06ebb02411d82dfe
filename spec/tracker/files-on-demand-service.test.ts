// After a restart a node leaves each group's files on disk until first needed (issue 20). On
// three simulated nodes exactly as `clique tracker` runs them, restarted together: a logged-in
// stranger's queries and tickets answer NOT_A_MEMBER and read no files; a member's file list,
// file detail and ticket read the group's files and answer as before the restart. With a bound
// of one file in memory, a member's reads and tickets in two groups, between writes to both,
// answer as they would with every file in memory while the groups go back and forth to disk.

import { describe, expect, it } from 'vitest';
import { startTracker } from '../../src/tracker/tracker-process.js';
import { fileBytes, fileMeta } from '../helpers/domain-fixtures.js';
import { drive, startCluster } from '../helpers/sim-trackers.js';

const KEY = 'ab'.repeat(32);
const FILE = fileMeta('film.mkv', fileBytes(1_200_000, 5));

describe('files read on demand after a restart (simulated)', () => {
  it('reads a group\'s files for a member who needs them, never for a stranger', async () => {
    const { sim, trackers, client, leader } = await startCluster(61);
    for (const user of ['alice', 'bob', 'eve']) await drive(sim, client.createUser(user, 'pw'));
    const login = (user: string) => drive(sim, client.login(user, 'pw', 6881, KEY));
    let alice = await login('alice');
    await drive(sim, client.command(alice, { type: 'CreateGroup', group: 'films' }));
    let bob = await login('bob');
    await drive(sim, client.command(bob, { type: 'RequestJoin', group: 'films' }));
    await drive(sim, client.command(alice, { type: 'AcceptRequest', group: 'films', user: 'bob' }));
    await drive(sim, client.command(alice, { type: 'ShareFile', group: 'films', file: FILE }));
    const before = await drive(sim, client.query(bob, { name: 'listFiles', group: 'films' }));
    expect(before).toMatchObject([{ name: 'film.mkv', fileId: FILE.fileId }]);

    // Every node stops and starts again from its disk (a restart reads no files).
    const config = [...trackers.values()][0]!.config;
    for (const [host, tracker] of [...trackers]) {
      await drive(sim, tracker.stop());
      const id = config.nodes[Number(host.slice(1)) - 1]!.id;
      trackers.set(host, await drive(sim, startTracker(sim.forHost(host), { id, clusterPath: '/etc/clique/cluster.json', dataDir: '/var/clique', sessionTtlMs: 60_000, log: () => {} })));
    }
    await sim.runUntil(() => leader() !== null, 10_000);
    const store = () => trackers.get(leader()!)!.node.store;
    expect(store().groupsWithFilesOnDisk).toBe(1);

    // Fresh logins: the tickets are bound to the session's key, and this keeps the test clear of session expiry.
    alice = await login('alice');
    bob = await login('bob');
    const eve = await login('eve');
    await expect(drive(sim, client.query(eve, { name: 'listFiles', group: 'films' }))).rejects.toMatchObject({ code: 'NOT_A_MEMBER' });
    await expect(drive(sim, client.ticket(eve, 'films', FILE.fileId))).rejects.toMatchObject({ code: 'NOT_A_MEMBER' });
    expect(store().groupsWithFilesOnDisk).toBe(1);

    expect(await drive(sim, client.query(bob, { name: 'listFiles', group: 'films' }))).toEqual(before);
    expect(store().groupsWithFilesOnDisk).toBe(0);
    expect(await drive(sim, client.query(bob, { name: 'file', group: 'films', file: 'film.mkv' }))).toMatchObject({ fileId: FILE.fileId, pieces: FILE.pieces });
    expect(await drive(sim, client.ticket(bob, 'films', FILE.fileId))).toMatchObject({ ticket: expect.any(String) });
    for (const tracker of trackers.values()) await drive(sim, tracker.stop());
  });

  it('answers reads and tickets in groups that go back to disk between them (a bound of one file)', async () => {
    const { sim, trackers, client } = await startCluster(62, { maxFilesInMemory: 1 });
    for (const user of ['alice', 'bob']) await drive(sim, client.createUser(user, 'pw'));
    const alice = await drive(sim, client.login('alice', 'pw', 6881, KEY));
    const bob = await drive(sim, client.login('bob', 'pw', 6881, KEY));
    const files = new Map<string, ReturnType<typeof fileMeta>[]>();
    for (const group of ['films', 'books']) {
      await drive(sim, client.command(alice, { type: 'CreateGroup', group }));
      await drive(sim, client.command(bob, { type: 'RequestJoin', group }));
      await drive(sim, client.command(alice, { type: 'AcceptRequest', group, user: 'bob' }));
      files.set(group, []);
    }
    for (let round = 0; round < 3; round++) {
      for (const group of ['films', 'books']) {
        const file = fileMeta(`${group}-${round}.bin`, fileBytes(600_000 + round, round * 2 + (group === 'films' ? 0 : 1)));
        await drive(sim, client.command(alice, { type: 'ShareFile', group, file }));
        files.get(group)!.push(file);
      }
      for (const group of ['films', 'books']) {
        const listed = await drive(sim, client.query(bob, { name: 'listFiles', group }));
        expect(listed.map((f) => f.fileId).sort()).toEqual(files.get(group)!.map((f) => f.fileId).sort());
        const detail = await drive(sim, client.query(bob, { name: 'file', group, file: files.get(group)![0]!.name }));
        expect(detail.holders.map((h) => h.user)).toEqual(['alice']);
        await drive(sim, client.ticket(bob, group, files.get(group)!.at(-1)!.fileId));
      }
    }
    // The groups did go back to disk, on every node: a bound of one file holds no group of three.
    for (const tracker of trackers.values()) expect(tracker.node.store.groupsEvicted).toBeGreaterThan(0);
  });
});
