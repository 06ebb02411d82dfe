// A node opens its store with every group's files left on disk (filesOnDemand, issue 20) and
// reads a group's the first time an entry or a query needs them. The entries that touch files
// of groups they do not name (a logout, an expiry, a renewal ending the old session: each drops
// the session's holdings everywhere) must apply after such a restart exactly as in memory, and
// a query of files not yet read must fail loudly, never answer "no files".

import { describe, expect, it } from 'vitest';
import type { Command } from '../../src/log/domain/commands.js';
import { applyEntry } from '../../src/log/domain/entry.js';
import { MemoryPieceLists } from '../../src/log/domain/piece-lists.js';
import { listFiles } from '../../src/log/domain/queries.js';
import { RULES_VERSION } from '../../src/log/domain/rules.js';
import { encodeState } from '../../src/log/domain/snapshot.js';
import { filesLoaded, initialState } from '../../src/log/domain/state.js';
import { TrackerStore, type TermEntry } from '../../src/log/store/tracker-store.js';
import { canonicalJson } from '../../src/torrent/canonical.js';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import { authFor, fileBytes, fileMeta, passwordRecord, tokenHashOf } from '../helpers/domain-fixtures.js';

const A = fileMeta('a.bin', fileBytes(700_000, 1));
const B = fileMeta('b.bin', fileBytes(20, 2));
const alice = authFor('session-alice', 'ta');
const bob = authFor('session-0-bob', 'tb'); // sorts before Alice's: holders come back by index, not key
const observed = { host: '10.0.0.1', port: 6881 };

/** Alice shares a file in each of two groups and holds both; Bob is a member of both and holds A partly. */
const setup: Command[] = [
  { type: 'CreateUser', user: 'alice', password: passwordRecord('a') },
  { type: 'CreateUser', user: 'bob', password: passwordRecord('b') },
  { type: 'OpenSession', user: 'alice', sessionId: 'session-alice', tokenHash: tokenHashOf('ta'), observed, reachable: true, credentialsIndex: 1, refreshHash: tokenHashOf('ra') },
  { type: 'OpenSession', user: 'bob', sessionId: 'session-0-bob', tokenHash: tokenHashOf('tb'), observed, reachable: true, credentialsIndex: 2 },
  { type: 'CreateGroup', auth: alice, group: 'g1' },
  { type: 'CreateGroup', auth: alice, group: 'g2' },
  { type: 'RequestJoin', auth: bob, group: 'g1' },
  { type: 'AcceptRequest', auth: alice, group: 'g1', user: 'bob' },
  { type: 'RequestJoin', auth: bob, group: 'g2' },
  { type: 'AcceptRequest', auth: alice, group: 'g2', user: 'bob' },
  { type: 'ShareFile', auth: alice, group: 'g1', file: A },
  { type: 'ShareFile', auth: alice, group: 'g2', file: B },
  { type: 'HoldPartial', auth: bob, group: 'g1', fileId: A.fileId },
  { type: 'ShareFile', auth: bob, group: 'g1', file: B },
];

const entriesOf = (commands: readonly Command[], from: number): TermEntry[] =>
  commands.map((command, i) => ({ index: from + i, term: 1, timeMs: 1_800_000_000_000 + (from + i) * 1000, clientId: `c${from + i}`, requestId: 1, rulesVersion: RULES_VERSION, command }));

const afterRestart: Record<string, Command | Command[]> = {
  'a logout': { type: 'CloseSession', auth: alice },
  'a batch where an earlier entry gives the session a holding a later one ends': [
    { type: 'HoldPartial', auth: bob, group: 'g2', fileId: B.fileId },
    { type: 'CloseSession', auth: bob },
  ],
  'an expiry': { type: 'ExpireSession', sessionId: 'session-alice' },
  'a renewal that ends the old session': {
    type: 'RenewSession',
    user: 'alice',
    refreshHash: tokenHashOf('ra'),
    sessionId: 'session-alice-2',
    tokenHash: tokenHashOf('ta2'),
    observed,
    reachable: true,
    newRefreshHash: tokenHashOf('ra2'),
  },
  'a member leaving one group': { type: 'LeaveGroup', auth: bob, group: 'g1' },
  'a second share': { type: 'ShareFile', auth: bob, group: 'g2', file: A },
};

/** A store that applied `setup`, opened again as a node opens it: every group's files on disk. */
async function reopenedAfterSetup(seed: number) {
  const host = new SimWorld({ seed }).forHost('node1');
  const first = await host.kv.open('/data/tracker', { createIfMissing: true });
  await (await TrackerStore.open(first)).apply(entriesOf(setup, 1), { sync: true });
  await first.close();
  const kv = await host.kv.open('/data/tracker', { createIfMissing: false });
  return { kv, store: await TrackerStore.open(kv, { filesOnDemand: true }) };
}

describe('a store opened with the files on disk', () => {
  it.each(Object.keys(afterRestart))('applies %s as the whole projection in memory does', async (name) => {
    const given = afterRestart[name]!;
    const commands = Array.isArray(given) ? given : [given];
    const all = [...entriesOf(setup, 1), ...entriesOf(commands, setup.length + 1)];
    const model = initialState();
    const lists = new MemoryPieceLists();
    for (const entry of all) lists.record(applyEntry(model, entry, lists).entry.events);

    const { kv, store } = await reopenedAfterSetup(1);
    expect([...store.state.groups.values()].map(filesLoaded)).toEqual([false, false]);
    // Holdings come back without the files: a logout finds what the session held in every group.
    expect([...store.state.sessions.get('session-alice')!.holdings].map((key) => key.split('\u0000')[0])).toEqual(['g1', 'g2']);

    const applied = await store.apply(entriesOf(commands, setup.length + 1), { sync: true });
    expect(applied.map((a) => a.reply?.error ?? null)).toEqual(commands.map(() => null));
    await store.ensureAllGroups();
    expect(canonicalJson(encodeState(store.state))).toBe(canonicalJson(encodeState(model)));
    await kv.close();
  });

  it('refuses a query of files it has not read, and answers it once they are read', async () => {
    const host = new SimWorld({ seed: 2 }).forHost('node1');
    let kv = await host.kv.open('/data/tracker', { createIfMissing: true });
    const before = await TrackerStore.open(kv);
    await before.apply(entriesOf(setup, 1), { sync: true });
    const expected = listFiles(before.state, 'bob', 'g1');
    await kv.close();
    kv = await host.kv.open('/data/tracker', { createIfMissing: false });
    const store = await TrackerStore.open(kv, { filesOnDemand: true });
    expect(() => listFiles(store.state, 'bob', 'g1')).toThrow(/before they were read from disk/);
    await Promise.all([store.ensureGroups(['g1']), store.ensureGroups(['g1', 'no-such-group'])]);
    expect(listFiles(store.state, 'bob', 'g1')).toEqual(expected);
    expect(filesLoaded(store.state.groups.get('g2')!)).toBe(false);
    await kv.close();
  });

  it('reads each group once when calls ask for the same groups in different orders at once', async () => {
    const { kv, store } = await reopenedAfterSetup(3);
    // The second call finds g1 loaded by the first (its read over) after its own list was made.
    await Promise.all([store.ensureGroups(['g1', 'g2']), store.ensureGroups(['g2', 'g1']), store.ensureGroups(['g2']), store.ensureGroups(['g1', 'g2'])]);
    expect([...store.state.groups.values()].map(filesLoaded)).toEqual([true, true]);
    expect(store.groupsLoaded).toBe(2);
    await kv.close();
  });
});
