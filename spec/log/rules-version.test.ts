// Entries are decided by the rules they were proposed under (src/log/domain/rules.ts): a login
// proposed before observed addresses, or before reachability, gives the events it gave then;
// today's shape is not taken under the old rules nor an old shape under today's; a version this
// build does not know is refused with STORE_VERSION, never decided.

import { describe, expect, it } from 'vitest';
import { applyEntry } from '../../src/log/domain/entry.js';
import { FIRST_RULES_VERSION, RulesVersionError, RULES_VERSION } from '../../src/log/domain/rules.js';
import { Driver, passwordRecord, tokenHashOf } from '../helpers/domain-fixtures.js';

function withUser(): { d: Driver; credentialsIndex: number } {
  const d = new Driver();
  d.run({ type: 'CreateUser', user: 'alice', password: passwordRecord('a') });
  return { d, credentialsIndex: d.state.users.get('alice')!.credentialsIndex };
}

const open = (credentialsIndex: number, sessionId: string) => ({ type: 'OpenSession', user: 'alice', sessionId, tokenHash: tokenHashOf(sessionId), credentialsIndex });

describe('rules versions', () => {
  it('a version-1 login (the address the client named) opens the session it opened then', () => {
    const { d, credentialsIndex } = withUser();
    const v1 = d.run({ ...open(credentialsIndex, 'session-v1-a'), address: '[fd00::2]:6882' }, FIRST_RULES_VERSION);
    expect(v1.entry.events).toEqual([{ type: 'SessionOpened', sessionId: 'session-v1-a', user: 'alice', tokenHash: tokenHashOf('session-v1-a'), address: '[fd00::2]:6882' }]);
    const v2 = d.run({ ...open(credentialsIndex, 'session-v2-a'), observed: { host: 'fd00::2', port: 6882 } }, 2);
    expect(v2.entry.events).toEqual([{ type: 'SessionOpened', sessionId: 'session-v2-a', user: 'alice', tokenHash: tokenHashOf('session-v2-a'), address: '[fd00::2]:6882' }]);
    const v3 = d.run({ ...open(credentialsIndex, 'session-v3-a'), observed: { host: 'fd00::2', port: 6882 }, reachable: false });
    expect(v3.entry.events).toMatchObject([{ type: 'SessionOpened', address: '[fd00::2]:6882', reachable: false }]);
    expect(d.state.sessions.get('session-v1-a')).toMatchObject({ address: '[fd00::2]:6882', reachable: true });
    expect(d.state.sessions.get('session-v2-a')).toMatchObject({ address: '[fd00::2]:6882', reachable: true });
    expect(d.state.sessions.get('session-v3-a')).toMatchObject({ address: '[fd00::2]:6882', reachable: false });
  });

  it('refuses under version 1 what version 1 refused, and each shape under the other version', () => {
    const { d, credentialsIndex } = withUser();
    const code = (applied: ReturnType<Driver['run']>) => applied.reply?.error?.code ?? 'OK';
    expect(code(d.run({ ...open(credentialsIndex, 'session-bad-1'), address: 'host:0' }, 1))).toBe('BAD_ADDRESS');
    expect(code(d.run({ ...open(credentialsIndex, 'session-bad-2'), address: 7 }, 1))).toBe('BAD_COMMAND');
    expect(code(d.run({ ...open(credentialsIndex, 'session-bad-3'), observed: { host: '10.0.0.1', port: 1 } }, 1))).toBe('BAD_COMMAND');
    expect(code(d.run({ ...open(credentialsIndex, 'session-bad-4'), address: '10.0.0.1:1' }, RULES_VERSION))).toBe('BAD_COMMAND');
    expect(code(d.run({ ...open(credentialsIndex, 'session-bad-5'), observed: { host: '10.0.0.1', port: 1 }, reachable: true }, 2))).toBe('BAD_COMMAND');
    expect(code(d.run({ ...open(credentialsIndex, 'session-bad-6'), observed: { host: '10.0.0.1', port: 1 } }, RULES_VERSION))).toBe('BAD_COMMAND');
    expect(d.state.sessions.size).toBe(0);
  });

  it('other commands read the same under every version', () => {
    const { d, credentialsIndex } = withUser();
    d.run({ ...open(credentialsIndex, 'session-x'), observed: { host: '10.0.0.1', port: 6881 }, reachable: true });
    const auth = { sessionId: 'session-x', tokenHash: tokenHashOf('session-x') };
    expect(d.run({ type: 'CreateGroup', auth, group: 'old' }, 1).reply?.error).toBeNull();
    expect(d.run({ type: 'CreateGroup', auth, group: 'older' }, 2).reply?.error).toBeNull();
    expect(d.run({ type: 'CreateGroup', auth, group: 'new' }).reply?.error).toBeNull();
    expect([...d.state.groups.keys()].sort()).toEqual(['new', 'old', 'older']);
  });

  it('refuses an entry of a version it does not know with STORE_VERSION, and changes nothing', () => {
    const { d } = withUser();
    const before = d.state.appliedIndex;
    for (const version of [RULES_VERSION + 1, 0, Number.NaN]) {
      let thrown: unknown = null;
      try {
        applyEntry(d.state, { index: before + 1, timeMs: 0, clientId: 'c', requestId: 9, rulesVersion: version, command: { type: 'CreateUser', user: 'zed', password: passwordRecord('z') } }, d.pieces);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(RulesVersionError);
      expect((thrown as RulesVersionError).code).toBe('STORE_VERSION');
      expect(d.state.appliedIndex).toBe(before);
      expect(d.state.users.has('zed')).toBe(false);
    }
  });
});
