// The projection kept record by record (records.ts): after every entry of a workload (reports,
// delistings, logouts and group deletions included), writing just the records evolve named
// leaves exactly the records of the state, and reading them back gives the same state, map
// orders included. A change that forgot to name a record it changed fails here.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/torrent/canonical.js';
import { applyEntry } from '../../src/log/domain/entry.js';
import { MemoryPieceLists } from '../../src/log/domain/piece-lists.js';
import { allRecords, encodeRecord, holderRecordId, refreshRecordId, sessionRecordId, stateFromRecords } from '../../src/log/domain/records.js';
import { RULES_VERSION } from '../../src/log/domain/rules.js';
import { authFor, Driver, fileBytes, fileMeta, tokenHashOf } from '../helpers/domain-fixtures.js';
import { encodeState } from '../../src/log/domain/snapshot.js';
import { initialState, MAX_REFRESHES_PER_USER, type TrackerState } from '../../src/log/domain/state.js';
import { makeWorkload, withReports } from '../helpers/workload.js';

/** The state as text, map orders and the indices records keep (refreshes, holders) included. */
function text(state: TrackerState): string {
  const since = [...state.groups.values()].flatMap((g) => [...g.files.values()].flatMap((f) => [...f.holders.values()].map((h) => h.sinceIndex)));
  return canonicalJson({ state: encodeState(state), refreshes: [...state.refreshes.values()].map((r) => r.issuedIndex), since });
}

describe('state records', () => {
  it('written as evolve names them, are the state’s records, and read back to the same state', () => {
    const kinds = new Map<string, number>();
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), (seed) => {
        const state = initialState();
        const pieces = new MemoryPieceLists();
        const disk = new Map<string, string>();
        for (const entry of withReports(makeWorkload(seed, 300).entries, seed)) {
          const changed = new Set<string>();
          pieces.record(applyEntry(state, entry, pieces, changed).entry.events);

          for (const id of changed) {
            const json = encodeRecord(state, id);
            if (json === null) disk.delete(id);
            else disk.set(id, json);
            kinds.set(id.charAt(0), (kinds.get(id.charAt(0)) ?? 0) + 1);
          }
          expect(new Map(allRecords(state))).toEqual(disk);
          if (entry.index % 25 === 0) expect(text(stateFromRecords(disk, state.appliedIndex, state.lastTimeMs))).toBe(text(state));
        }
        expect(text(stateFromRecords([...disk].reverse(), state.appliedIndex, state.lastTimeMs))).toBe(text(state));
      }),
      { numRuns: 40 },
    );
    // Every kind of record was written.
    expect([...kinds.keys()].sort()).toEqual(['f', 'g', 'h', 'r', 's', 'u', 'x']);
  });

  it('names the holders of a file when the file goes (their sessions’ holdings change too)', () => {
    const d = new Driver();
    for (const user of ['alice', 'bob']) {
      d.createUser(user);
      d.login(user, `session-${user}`, `t-${user}`);
    }
    const auth = (user: string) => authFor(`session-${user}`, `t-${user}`);
    const file = fileMeta('f.bin', fileBytes(700_000, 4));
    d.run({ type: 'CreateGroup', auth: auth('alice'), group: 'g' });
    d.run({ type: 'RequestJoin', auth: auth('bob'), group: 'g' });
    d.run({ type: 'AcceptRequest', auth: auth('alice'), group: 'g', user: 'bob' });
    d.run({ type: 'ShareFile', auth: auth('alice'), group: 'g', file });
    d.run({ type: 'HoldPartial', auth: auth('bob'), group: 'g', fileId: file.fileId });
    expect([...d.state.sessions.get('session-bob')!.holdings]).toHaveLength(1);
    const changed = new Set<string>();
    const applied = applyEntry(d.state, { index: d.state.appliedIndex + 1, timeMs: 1_800_000_000_000, clientId: 'c', requestId: 1, rulesVersion: RULES_VERSION, command: { type: 'StopShare', auth: auth('alice'), group: 'g', name: 'f.bin' } }, d.pieces, changed);
    expect(applied.entry.events.map((e) => e.type)).toContain('FileUnshared');
    expect(d.state.sessions.get('session-bob')!.holdings.size).toBe(0);
    // Bob's holding goes with its holder record (his session's holdings are made of those).
    expect(changed).toContain(holderRecordId('g', file.fileId, 'session-bob'));
    expect(changed).not.toContain(sessionRecordId('session-bob'));
  });

  it('names the refresh credential a user loses past MAX_REFRESHES_PER_USER', () => {
    const d = new Driver();
    d.createUser('alice');
    const login = (n: number, changes?: Set<string>) =>
      applyEntry(
        d.state,
        { index: d.state.appliedIndex + 1, timeMs: 1_800_000_000_000 + n, clientId: 'c', requestId: n, rulesVersion: RULES_VERSION, command: { type: 'OpenSession', user: 'alice', sessionId: `session-${n}`, tokenHash: tokenHashOf(`t${n}`), observed: { host: '10.0.0.1', port: 6881 }, reachable: true, credentialsIndex: d.state.users.get('alice')!.credentialsIndex, refreshHash: tokenHashOf(`r${n}`) } },
        d.pieces,
        changes,
      );
    for (let n = 1; n <= MAX_REFRESHES_PER_USER; n++) login(n);
    expect(d.state.refreshes.size).toBe(MAX_REFRESHES_PER_USER);
    const changed = new Set<string>();
    login(MAX_REFRESHES_PER_USER + 1, changed);
    expect(d.state.refreshes.size).toBe(MAX_REFRESHES_PER_USER);
    expect(d.state.refreshes.has(tokenHashOf('r1'))).toBe(false);
    expect(changed).toContain(refreshRecordId(tokenHashOf('r1')));
    expect(changed).toContain(refreshRecordId(tokenHashOf(`r${MAX_REFRESHES_PER_USER + 1}`)));
  });
});
