// Refresh credentials in the domain (issue 7: "re-opening the session with its refresh
// credential if it expired"): a login may register one (its SHA-256); RenewSession with it opens
// a new session — closing the old one if it is still open, holdings included — and uses it up;
// a logout withdraws it; an unknown, used or other user's credential is BAD_REFRESH and changes
// nothing; snapshots keep them.

import { describe, expect, it } from 'vitest';
import { decodeState, encodeState } from '../../src/log/domain/snapshot.js';
import { authFor, Driver, fileBytes, fileMeta, tokenHashOf } from '../helpers/domain-fixtures.js';

const R1 = tokenHashOf('refresh-1');
const R2 = tokenHashOf('refresh-2');
const R3 = tokenHashOf('refresh-3');

function setUp(): Driver {
  const d = new Driver();
  d.createUser('alice');
  d.createUser('bob');
  const credentialsIndex = d.state.users.get('alice')!.credentialsIndex;
  d.run({ type: 'OpenSession', user: 'alice', sessionId: 'session-a1', tokenHash: tokenHashOf('t1'), observed: { host: '10.0.0.1', port: 6881 }, reachable: true, credentialsIndex, refreshHash: R1 });
  return d;
}

const renew = (refreshHash: string, sessionId: string, newRefreshHash: string, user = 'alice') => ({
  type: 'RenewSession',
  user,
  refreshHash,
  sessionId,
  tokenHash: tokenHashOf(`token-${sessionId}`),
  observed: { host: '10.0.0.1', port: 6881 },
  reachable: true,
  newRefreshHash,
});

describe('refresh credentials', () => {
  it('re-open an expired session once, and the new session gets a new credential', () => {
    const d = setUp();
    expect(d.code(d.run({ type: 'ExpireSession', sessionId: 'session-a1' }))).toBe('OK');
    const renewed = d.run(renew(R1, 'session-a2', R2));
    expect(d.code(renewed)).toBe('OK');
    expect(renewed.entry.events.map((e) => e.type)).toEqual(['RefreshRevoked', 'SessionOpened']);
    expect(d.state.sessions.get('session-a2')?.user).toBe('alice');
    expect([...d.state.refreshes.keys()]).toEqual([R2]);
    // Used up: a second renewal with it fails and changes nothing.
    const again = d.run(renew(R1, 'session-a3', R3));
    expect(d.code(again)).toBe('BAD_REFRESH');
    expect(again.entry.events.map((e) => e.type)).toEqual(['CommandRejected']);
    expect(d.state.sessions.has('session-a3')).toBe(false);
  });

  it('close a still-open session first, with its holdings', () => {
    const d = setUp();
    const auth = authFor('session-a1', 't1');
    d.run({ type: 'CreateGroup', auth, group: 'g' });
    d.run({ type: 'ShareFile', auth, group: 'g', file: fileMeta('a.bin', fileBytes(10)) });
    const renewed = d.run(renew(R1, 'session-a2', R2));
    expect(renewed.entry.events.map((e) => e.type)).toEqual(['HolderRemoved', 'SessionClosed', 'RefreshRevoked', 'SessionOpened']);
    expect(d.state.sessions.has('session-a1')).toBe(false);
  });

  it("refuse another user's credential, an unknown one, and one withdrawn by a logout", () => {
    const d = setUp();
    expect(d.code(d.run(renew(R1, 'session-b1', R2, 'bob')))).toBe('BAD_REFRESH');
    expect(d.code(d.run(renew(R3, 'session-a2', R2)))).toBe('BAD_REFRESH');
    expect(d.code(d.run({ type: 'CloseSession', auth: authFor('session-a1', 't1') }))).toBe('OK');
    expect(d.state.refreshes.size).toBe(0);
    expect(d.code(d.run(renew(R1, 'session-a2', R2)))).toBe('BAD_REFRESH');
  });

  it('are kept by snapshots, and a snapshot without them reads as none', () => {
    const d = setUp();
    const json = JSON.parse(JSON.stringify(encodeState(d.state)));
    // In order, without the index that issued them (state records keep it; records.test.ts).
    const plain = (refreshes: typeof d.state.refreshes) => [...refreshes].map(([hash, r]) => [hash, r.user, r.sessionId]);
    expect(plain(decodeState(json).refreshes)).toEqual(plain(d.state.refreshes));
    expect(plain(d.state.refreshes)).toHaveLength(1);
    delete json.refreshes;
    expect(decodeState(json).refreshes.size).toBe(0);
  });

  it('are not taken from a client as a raw command', () => {
    const d = setUp();
    // RenewSession with a bad hash shape is refused by decide; the session service never forwards it from clients.
    expect(d.code(d.run({ ...renew(R1, 'session-a2', 'nothex'), newRefreshHash: 'nothex' }))).toBe('BAD_COMMAND');
    expect([...d.state.refreshes.keys()]).toEqual([R1]);
  });
});
