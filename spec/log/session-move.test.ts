// A session that moves (issue 13): the leader saw its heartbeats come from another address, or
// name another port, dialed it there, and proposes MoveSession. The session's address and
// reachability change with it; nothing changes when nothing moved; a client cannot send it.

import { describe, expect, it } from 'vitest';
import { parseSessionCommand } from '../../src/log/domain/commands.js';
import { fileDetail } from '../../src/log/domain/queries.js';
import { authFor, Driver, fileBytes, fileMeta, passwordRecord } from '../helpers/domain-fixtures.js';

function world(): Driver {
  const d = new Driver();
  d.run({ type: 'CreateUser', user: 'alice', password: passwordRecord('a') });
  d.login('alice', 'session-a', 'ta', { host: '10.0.0.1', port: 6881 });
  d.run({ type: 'CreateGroup', auth: authFor('session-a', 'ta'), group: 'g' });
  d.run({ type: 'ShareFile', auth: authFor('session-a', 'ta'), group: 'g', file: fileMeta('f', fileBytes(10)) });
  return d;
}

describe('MoveSession', () => {
  it('moves the session, and holders are found at the new address', () => {
    const d = world();
    const moved = d.run({ type: 'MoveSession', sessionId: 'session-a', observed: { host: '10.0.0.9', port: 7000 }, reachable: false });
    expect(moved.entry.events).toEqual([{ type: 'SessionMoved', sessionId: 'session-a', user: 'alice', address: '10.0.0.9:7000', reachable: false }]);
    const detail = fileDetail(d.state, 'alice', 'g', { name: 'f' });
    expect(detail).toMatchObject({ holders: [{ address: '10.0.0.9:7000', reachable: false }] });
    const back = d.run({ type: 'MoveSession', sessionId: 'session-a', observed: { host: '10.0.0.9', port: 7000 }, reachable: true });
    expect(back.entry.events).toEqual([{ type: 'SessionMoved', sessionId: 'session-a', user: 'alice', address: '10.0.0.9:7000', reachable: true }]);
  });

  it('changes nothing when nothing moved, and refuses an unknown session or a bad address', () => {
    const d = world();
    expect(d.run({ type: 'MoveSession', sessionId: 'session-a', observed: { host: '10.0.0.1', port: 6881 }, reachable: true }).entry.events).toEqual([]);
    expect(d.run({ type: 'MoveSession', sessionId: 'session-x', observed: { host: '10.0.0.1', port: 6881 }, reachable: true }).reply?.error?.code).toBe('NO_SUCH_SESSION');
    expect(d.run({ type: 'MoveSession', sessionId: 'session-a', observed: { host: 'a b', port: 1 }, reachable: true }).reply?.error?.code).toBe('BAD_ADDRESS');
    expect(d.state.sessions.get('session-a')).toMatchObject({ address: '10.0.0.1:6881', reachable: true });
  });

  it("is the tracker's own: no client may send it", () => {
    expect(parseSessionCommand({ type: 'MoveSession', sessionId: 'session-a', observed: { host: '10.0.0.9', port: 1 }, reachable: true })).toMatchObject({ code: 'BAD_COMMAND' });
  });
});
