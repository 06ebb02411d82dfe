// Bad input to every command — empty, '/', control characters, 10 KB names, wrong arity,
// unknown commands, garbage — is a typed refusal recorded as CommandRejected, and changes
// nothing but the applied index and the reply cache.

import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/torrent/canonical.js';
import { applyEntry } from '../../src/log/domain/entry.js';
import { RULES_VERSION } from '../../src/log/domain/rules.js';
import { DOMAIN_ERROR_CODES } from '../../src/log/domain/errors.js';
import { encodeState } from '../../src/log/domain/snapshot.js';
import { authFor, Driver, fileBytes, fileMeta, passwordRecord, tokenHashOf } from '../helpers/domain-fixtures.js';

const BAD_NAMES: [string, unknown][] = [
  ['empty', ''],
  ['slash', '/'],
  ['a path', 'a/b'],
  ['dot-dot', '..'],
  ['a control character', 'a\u0007b'],
  ['a newline', 'a\nb'],
  ['NUL', 'a\u0000b'],
  ['10 KB', 'x'.repeat(10 * 1024)],
  ['a number', 42],
  ['null', null],
];

function world(): { d: Driver; auth: ReturnType<typeof authFor> } {
  const d = new Driver();
  d.createUser('alice');
  d.login('alice', 'session-a', 'ta');
  const auth = authFor('session-a', 'ta');
  d.run({ type: 'CreateGroup', auth, group: 'g' });
  d.run({ type: 'ShareFile', auth, group: 'g', file: fileMeta('f.bin', fileBytes(100)) });
  return { d, auth };
}

function projection(d: Driver): string {
  const { users, sessions, groups } = encodeState(d.state);
  return canonicalJson({ users, sessions, groups });
}

function expectRefused(d: Driver, command: unknown, code?: string): void {
  const before = projection(d);
  const applied = d.run(command);
  const error = applied.reply?.error;
  expect(error, JSON.stringify(command).slice(0, 200)).not.toBeNull();
  expect(DOMAIN_ERROR_CODES).toContain(error?.code);
  if (code) expect(error?.code).toBe(code);
  expect(error?.message.length).toBeLessThan(300);
  expect(error?.message).not.toMatch(/\n/);
  expect(applied.entry.events).toHaveLength(1);
  expect(applied.entry.events[0]?.type).toBe('CommandRejected');
  expect(projection(d)).toBe(before);
}

describe('bad input to every command', () => {
  it.each(BAD_NAMES)('a user id that is %s', (_label, name) => {
    const { d } = world();
    expectRefused(d, { type: 'CreateUser', user: name, password: passwordRecord('x') });
  });

  it.each(BAD_NAMES)('a group id that is %s, in every group command', (_label, name) => {
    const { d, auth } = world();
    for (const type of ['CreateGroup', 'RequestJoin', 'LeaveGroup'] as const) expectRefused(d, { type, auth, group: name });
    for (const type of ['AcceptRequest', 'RejectRequest'] as const) expectRefused(d, { type, auth, group: name, user: 'alice' });
    expectRefused(d, { type: 'ShareFile', auth, group: name, file: fileMeta('ok.bin', fileBytes(10)) });
    expectRefused(d, { type: 'StopShare', auth, group: name, name: 'f.bin' });
    expectRefused(d, { type: 'HoldPartial', auth, group: name, fileId: 'ab'.repeat(20) });
  });

  it.each(BAD_NAMES.filter(([, name]) => typeof name === 'string'))('a file name that is %s', (_label, name) => {
    const { d, auth } = world();
    const good = fileMeta('ok.bin', fileBytes(10));
    expectRefused(d, { type: 'ShareFile', auth, group: 'g', file: { ...good, name } });
    expectRefused(d, { type: 'StopShare', auth, group: 'g', name });
  });

  it('a user id in accept/reject that is bad or unknown', () => {
    const { d, auth } = world();
    for (const [, name] of BAD_NAMES) expectRefused(d, { type: 'AcceptRequest', auth, group: 'g', user: name });
    expectRefused(d, { type: 'RejectRequest', auth, group: 'g', user: 'nobody' }, 'NO_SUCH_REQUEST');
  });

  it('wrong arity: a missing field, an extra field', () => {
    const { d, auth } = world();
    expectRefused(d, { type: 'CreateGroup', auth }, 'BAD_COMMAND');
    expectRefused(d, { type: 'CreateGroup', auth, group: 'h', extra: 1 }, 'BAD_COMMAND');
    expectRefused(d, { type: 'AcceptRequest', auth, group: 'g' }, 'BAD_COMMAND');
    expectRefused(d, { type: 'CloseSession' }, 'BAD_COMMAND');
    expectRefused(d, { type: 'CreateUser', user: 'zed' }, 'BAD_COMMAND');
  });

  it('unknown commands and garbage', () => {
    const { d, auth } = world();
    for (const junk of [{ type: 'DropTables', auth }, { type: '' }, {}, [], 'CreateGroup g', 17, true, { type: 'x'.repeat(10_000) }]) {
      expectRefused(d, junk, 'BAD_COMMAND');
    }
  });

  it('bad auth, addresses and files', () => {
    const { d, auth } = world();
    expectRefused(d, { type: 'CreateGroup', auth: { ...auth, tokenHash: tokenHashOf('wrong') }, group: 'h' }, 'NOT_LOGGED_IN');
    expectRefused(d, { type: 'CreateGroup', auth: { sessionId: 'x', tokenHash: 'y' }, group: 'h' }, 'BAD_COMMAND');
    const credentialsIndex = d.state.users.get('alice')!.credentialsIndex;
    const open = { type: 'OpenSession', user: 'alice', sessionId: 'session-b', tokenHash: tokenHashOf('tb'), reachable: true, credentialsIndex };
    for (const observed of [{ host: '', port: 1 }, { host: 'host', port: 0 }, { host: 'host', port: 70000 }, { host: 'a b', port: 1 }, { host: 'x'.repeat(254), port: 1 }, { host: '/etc', port: 1 }, { host: '[::1]', port: 1 }]) {
      expectRefused(d, { ...open, observed }, 'BAD_ADDRESS');
    }
    expectRefused(d, { ...open, observed: { host: '127.0.0.1', port: 1 }, credentialsIndex: credentialsIndex + 1 }, 'BAD_CREDENTIALS');
    expectRefused(d, { ...open, observed: { host: '127.0.0.1', port: 1 }, sessionId: 'session-a' }, 'SESSION_EXISTS');
    const good = fileMeta('ok.bin', fileBytes(700_000));
    expectRefused(d, { type: 'ShareFile', auth, group: 'g', file: { ...good, fileId: 'ab'.repeat(20) } }, 'BAD_FILE');
    expectRefused(d, { type: 'ShareFile', auth, group: 'g', file: { ...good, sizeBytes: good.sizeBytes + 524_288 } }, 'BAD_FILE');
    expectRefused(d, { type: 'ShareFile', auth, group: 'g', file: { ...good, pieceLengthBytes: 262_144 } }, 'BAD_FILE');
    expectRefused(d, { type: 'ShareFile', auth, group: 'g', file: { ...good, pieces: good.pieces + '!' } }, 'BAD_FILE');
    expectRefused(d, { type: 'ShareFile', auth, group: 'g', file: { ...good, sizeBytes: 2 ** 45 } }, 'FILE_TOO_LARGE');
    expectRefused(d, { type: 'ShareFile', auth, group: 'g', file: { ...fileMeta('f.bin', fileBytes(100, 99)) } }, 'FILE_NAME_TAKEN');
  });

  it('a stale or malformed request id', () => {
    const { d } = world();
    const before = projection(d);
    const stale = d.run({ type: 'CreateGroup', auth: authFor('session-a', 'ta'), group: 'h' });
    expect(stale.reply?.error).toBeNull();
    // A request id older than the client's latest cannot be answered again.
    const old = applyEntry(d.state, { index: d.state.appliedIndex + 1, timeMs: 0, clientId: 'test-client', requestId: 1, rulesVersion: RULES_VERSION, command: { type: 'CreateGroup', auth: authFor('session-a', 'ta'), group: 'k' } }, d.pieces);
    expect(old.reply?.error?.code).toBe('STALE_REQUEST');
    expect(d.state.groups.has('k')).toBe(false);
    expect(projection(d)).not.toBe(before); // h exists
  });
});
