// RemoveMember (issue 15): the owner takes a member out of a group. decide answers the removal
// with the member's holdings and shares withdrawn first, as a leave does, or a typed refusal
// recorded like any other; evolve takes the member out; older rules never knew the command.

import { describe, expect, it } from 'vitest';
import { formatRecord } from '../../src/cli/audit-format.js';
import type { Auth } from '../../src/log/domain/commands.js';
import { RULES_VERSION } from '../../src/log/domain/rules.js';
import { authFor, Driver, fileBytes, fileMeta } from '../helpers/domain-fixtures.js';

const FILE = fileMeta('movie.bin', fileBytes(700_000, 5));
const OTHER = fileMeta('notes.txt', fileBytes(1000, 9));

/** alice owns g; bob and carol are members; bob shares one file, holds another partially, and shares OTHER alone. */
function group(): { d: Driver; alice: Auth; bob: Auth; carol: Auth; dave: Auth } {
  const d = new Driver();
  for (const u of ['alice', 'bob', 'carol', 'dave']) d.createUser(u);
  d.login('alice', 'session-alice', 'ta');
  d.login('bob', 'session-bob', 'tb');
  d.login('carol', 'session-carol', 'tc');
  d.login('dave', 'session-dave', 'td');
  const [alice, bob, carol, dave] = [authFor('session-alice', 'ta'), authFor('session-bob', 'tb'), authFor('session-carol', 'tc'), authFor('session-dave', 'td')];
  d.run({ type: 'CreateGroup', auth: alice, group: 'g' });
  for (const [auth, user] of [[bob, 'bob'], [carol, 'carol']] as const) {
    d.run({ type: 'RequestJoin', auth, group: 'g' });
    d.run({ type: 'AcceptRequest', auth: alice, group: 'g', user });
  }
  expect(d.code(d.run({ type: 'ShareFile', auth: alice, group: 'g', file: FILE }))).toBe('OK');
  expect(d.code(d.run({ type: 'HoldPartial', auth: bob, group: 'g', fileId: FILE.fileId }))).toBe('OK');
  expect(d.code(d.run({ type: 'ShareFile', auth: bob, group: 'g', file: OTHER }))).toBe('OK');
  return { d, alice, bob, carol, dave };
}

describe('RemoveMember', () => {
  it("withdraws the member's holdings and shares, then removes the member; the group and its owner stay", () => {
    const { d, alice } = group();
    const removed = d.run({ type: 'RemoveMember', auth: alice, group: 'g', user: 'bob' });
    expect(d.code(removed)).toBe('OK');
    expect(removed.entry.events).toEqual([
      { type: 'HolderRemoved', group: 'g', fileId: FILE.fileId, sessionId: 'session-bob', user: 'bob' },
      { type: 'HolderRemoved', group: 'g', fileId: OTHER.fileId, sessionId: 'session-bob', user: 'bob' },
      { type: 'SharerRemoved', group: 'g', fileId: OTHER.fileId, user: 'bob' },
      { type: 'FileUnshared', group: 'g', fileId: OTHER.fileId, name: 'notes.txt' },
      { type: 'MemberRemoved', group: 'g', user: 'bob', by: 'alice' },
    ]);
    const g = d.state.groups.get('g')!;
    expect([...g.members.keys()].sort()).toEqual(['alice', 'carol']);
    expect(g.owner).toBe('alice');
    expect([...g.files.keys()]).toEqual([FILE.fileId]);
    expect([...g.files.get(FILE.fileId)!.holders.keys()]).toEqual(['session-alice']);
    expect([...d.state.sessions.get('session-bob')!.holdings]).toEqual([]);
    // The session stays open: bob is out of the group, not logged out.
    expect(d.state.sessions.has('session-bob')).toBe(true);
  });

  it('lets the removed user ask to join again, and the owner let them back in', () => {
    const { d, alice, bob } = group();
    d.run({ type: 'RemoveMember', auth: alice, group: 'g', user: 'bob' });
    expect(d.code(d.run({ type: 'HoldPartial', auth: bob, group: 'g', fileId: FILE.fileId }))).toBe('NOT_A_MEMBER');
    expect(d.code(d.run({ type: 'RequestJoin', auth: bob, group: 'g' }))).toBe('OK');
    expect(d.code(d.run({ type: 'AcceptRequest', auth: alice, group: 'g', user: 'bob' }))).toBe('OK');
    expect(d.state.groups.get('g')!.members.has('bob')).toBe(true);
  });

  it('refuses with typed codes, each recorded as a CommandRejected, and changes nothing', () => {
    const { d, alice, bob, dave } = group();
    const before = JSON.stringify([...d.state.groups.get('g')!.members]);
    const cases: Array<[Auth, string, string, string]> = [
      [bob, 'g', 'carol', 'NOT_OWNER'],
      [dave, 'g', 'carol', 'NOT_OWNER'],
      [alice, 'g', 'alice', 'CANNOT_REMOVE_SELF'],
      [alice, 'g', 'dave', 'NOT_A_MEMBER'],
      [alice, 'g', 'nobody', 'NOT_A_MEMBER'],
      [alice, 'nope', 'bob', 'NO_SUCH_GROUP'],
      [alice, 'g', '../bob', 'BAD_NAME'],
      [authFor('session-ghost', 'tx'), 'g', 'bob', 'NOT_LOGGED_IN'],
    ];
    for (const [auth, groupId, user, code] of cases) {
      const refused = d.run({ type: 'RemoveMember', auth, group: groupId, user });
      expect(d.code(refused), `${user} from ${groupId}`).toBe(code);
      expect(refused.entry.events).toEqual([expect.objectContaining({ type: 'CommandRejected', command: 'RemoveMember', code })]);
    }
    expect(JSON.stringify([...d.state.groups.get('g')!.members])).toBe(before);
    // A shape the command does not have is BAD_COMMAND.
    expect(d.code(d.run({ type: 'RemoveMember', auth: alice, group: 'g' }))).toBe('BAD_COMMAND');
  });

  it('is an unknown command under the rules of version 4 and before', () => {
    const { d, alice } = group();
    for (const version of [1, 4]) {
      const old = d.run({ type: 'RemoveMember', auth: alice, group: 'g', user: 'bob' }, version);
      expect(d.code(old)).toBe('BAD_COMMAND');
    }
    expect(d.state.groups.get('g')!.members.has('bob')).toBe(true);
    expect(d.code(d.run({ type: 'RemoveMember', auth: alice, group: 'g', user: 'bob' }, RULES_VERSION))).toBe('OK');
  });

  it('shows in the audit: the removal, and a denied attempt with its code', () => {
    const { d, alice, bob } = group();
    const denied = d.run({ type: 'RemoveMember', auth: bob, group: 'g', user: 'carol' });
    const removed = d.run({ type: 'RemoveMember', auth: alice, group: 'g', user: 'carol' });
    const record = (applied: typeof denied, actor: string) => ({
      index: applied.entry.index,
      term: 1,
      timeMs: applied.entry.timeMs,
      actor,
      command: 'RemoveMember',
      outcome: applied.reply?.error ? ('rejected' as const) : ('applied' as const),
      error: applied.reply?.error ? { code: applied.reply.error.code, message: applied.reply.error.message } : null,
      request: { type: 'RemoveMember', group: 'g', user: 'carol' },
      events: applied.entry.events,
    });
    expect(formatRecord(record(denied, 'bob'))).toMatch(/ bob RemoveMember g carol -> DENIED NOT_OWNER: /);
    expect(formatRecord(record(removed, 'alice'))).toMatch(/ alice RemoveMember g carol -> MemberRemoved\(group=g user=carol by=alice\)$/);
  });
});
