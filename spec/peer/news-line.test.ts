// newsLine (src/peer/news-line.ts): every event type, as each party reads it. alice owns
// `friends` and answers bob's request; bob is the one the event is about; carol is another
// member; dave is nobody in particular. The table is typed by event type, so a new event type
// fails to compile here until its words are decided.

import { describe, expect, it } from 'vitest';
import type { PasswordRecord } from '../../src/log/domain/commands.js';
import type { Event, EventOf, EventType } from '../../src/log/domain/events.js';
import { newsLine, newsLines, type NewsViewer } from '../../src/peer/news-line.js';

type Reader = 'alice' | 'bob' | 'carol';
const READERS: readonly Reader[] = ['alice', 'bob', 'carol'];
const FILE_ID = 'a'.repeat(40);

function viewer(user: string, owned: readonly string[] = user === 'alice' ? ['friends'] : [], names: ReadonlyMap<string, string> = new Map([[FILE_ID, 'notes.txt']])): NewsViewer {
  return { user, owns: (group) => owned.includes(group), fileName: (fileId) => names.get(fileId) ?? null };
}

interface Case<T extends EventType> {
  event: EventOf<T>;
  /** The entry's events, when the words depend on them. */
  entry?: Event[];
  lines: Record<Reader, string | null>;
}

const none: Record<Reader, null> = { alice: null, bob: null, carol: null };
const same = (line: string | null, except: Partial<Record<Reader, string | null>>): Record<Reader, string | null> => ({ alice: line, bob: line, carol: line, ...except });
const password: PasswordRecord = { algorithm: 'scrypt', costN: 16_384, blockSizeR: 8, parallelP: 1, salt: '00', hash: '00' };

const CASES: { [T in EventType]: Case<T> } = {
  UserRegistered: { event: { type: 'UserRegistered', user: 'bob', password }, lines: none },
  SessionOpened: { event: { type: 'SessionOpened', sessionId: 's1', user: 'bob', tokenHash: 't', address: '10.0.0.2:6881' }, lines: none },
  SessionMoved: { event: { type: 'SessionMoved', sessionId: 's1', user: 'bob', address: '10.0.0.3:6881', reachable: true }, lines: none },
  RefreshRevoked: { event: { type: 'RefreshRevoked', refreshHash: 'r', user: 'bob' }, lines: none },
  SessionClosed: { event: { type: 'SessionClosed', sessionId: 's1', user: 'bob' }, lines: none },
  SessionExpired: { event: { type: 'SessionExpired', sessionId: 's1', user: 'bob' }, lines: none },
  GroupCreated: { event: { type: 'GroupCreated', group: 'friends', owner: 'alice' }, lines: same('alice created friends', { alice: null }) },
  JoinRequested: { event: { type: 'JoinRequested', group: 'friends', user: 'bob' }, lines: { alice: 'bob asks to join friends', bob: null, carol: null } },
  JoinAccepted: { event: { type: 'JoinAccepted', group: 'friends', user: 'bob', by: 'alice' }, lines: { alice: null, bob: 'alice accepted you into friends', carol: 'bob joined friends' } },
  JoinRejected: { event: { type: 'JoinRejected', group: 'friends', user: 'bob', by: 'alice' }, lines: { alice: null, bob: 'alice turned down your request to join friends', carol: null } },
  MemberLeft: { event: { type: 'MemberLeft', group: 'friends', user: 'bob' }, lines: same('bob left friends', { bob: null }) },
  MemberRemoved: { event: { type: 'MemberRemoved', group: 'friends', user: 'bob', by: 'alice' }, lines: { alice: null, bob: 'you were removed from friends by alice', carol: 'alice removed bob from friends' } },
  OwnershipTransferred: {
    event: { type: 'OwnershipTransferred', group: 'friends', from: 'alice', to: 'bob' },
    lines: { alice: 'you passed friends on to bob', bob: 'alice passed friends on to you', carol: 'alice passed friends on to bob' },
  },
  GroupDeleted: {
    event: { type: 'GroupDeleted', group: 'friends' },
    entry: [{ type: 'MemberLeft', group: 'friends', user: 'alice' }, { type: 'GroupDeleted', group: 'friends' }],
    lines: same('friends was deleted', { alice: null }),
  },
  FileShared: {
    event: { type: 'FileShared', group: 'friends', fileId: FILE_ID, name: 'notes.txt', sizeBytes: 5, pieceLengthBytes: 524_288, pieces: 'p', user: 'bob' },
    lines: same('bob shared notes.txt in friends', { bob: null }),
  },
  SharerAdded: { event: { type: 'SharerAdded', group: 'friends', fileId: FILE_ID, user: 'bob' }, lines: none },
  SharerRemoved: { event: { type: 'SharerRemoved', group: 'friends', fileId: FILE_ID, user: 'bob' }, lines: none },
  FileUnshared: {
    event: { type: 'FileUnshared', group: 'friends', fileId: FILE_ID, name: 'notes.txt' },
    entry: [{ type: 'SharerRemoved', group: 'friends', fileId: FILE_ID, user: 'bob' }, { type: 'FileUnshared', group: 'friends', fileId: FILE_ID, name: 'notes.txt' }],
    lines: same('bob stopped sharing notes.txt in friends', { bob: null }),
  },
  HolderAdded: { event: { type: 'HolderAdded', group: 'friends', fileId: FILE_ID, sessionId: 's1', user: 'bob', complete: true }, lines: none },
  HolderRemoved: { event: { type: 'HolderRemoved', group: 'friends', fileId: FILE_ID, sessionId: 's1', user: 'bob' }, lines: none },
  HolderReported: {
    event: { type: 'HolderReported', group: 'friends', fileId: FILE_ID, user: 'bob', reporter: 'carol', pieceIndex: 0, expectedSha1: 'e', receivedSha1: 'r' },
    lines: none,
  },
  HolderDelisted: {
    event: { type: 'HolderDelisted', group: 'friends', fileId: FILE_ID, user: 'bob', reporters: ['alice', 'carol'] },
    lines: { alice: null, bob: 'you are no longer listed as a holder of notes.txt in friends (reported by alice, carol)', carol: null },
  },
  HolderReinstated: { event: { type: 'HolderReinstated', group: 'friends', fileId: FILE_ID, user: 'bob' }, lines: none },
  CommandRejected: { event: { type: 'CommandRejected', command: 'AcceptRequest', user: 'bob', group: 'friends', code: 'NOT_OWNER', message: 'only the owner' }, lines: none },
};

describe('newsLine', () => {
  for (const [type, c] of Object.entries(CASES) as [EventType, Case<EventType>][]) {
    it(`${type}: ${READERS.map((r) => `${r} reads ${c.lines[r] === null ? 'nothing' : JSON.stringify(c.lines[r])}`).join(', ')}`, () => {
      for (const reader of READERS) expect(newsLine(c.event, viewer(reader), c.entry ?? [c.event]), reader).toBe(c.lines[reader]);
      // Nobody in particular reads what members read, or nothing.
      const stranger = newsLine(c.event, viewer('dave'), c.entry ?? [c.event]);
      expect([c.lines.carol, null]).toContain(stranger);
    });
  }

  it('tells a join request to the owner only: a member who does not own the group reads nothing', () => {
    const asked: Event = { type: 'JoinRequested', group: 'friends', user: 'bob' };
    expect(newsLine(asked, viewer('carol', []))).toBeNull();
    expect(newsLine(asked, viewer('carol', ['friends']))).toBe('bob asks to join friends');
  });

  it('names a file that stopped being shared without its sharer when the entry does not say who', () => {
    expect(newsLine(CASES.FileUnshared.event, viewer('carol'))).toBe('notes.txt is no longer shared in friends');
  });

  it('says a group was deleted to whoever hears it when its last member was not the reader', () => {
    expect(newsLine({ type: 'GroupDeleted', group: 'friends' }, viewer('alice'))).toBe('friends was deleted');
  });

  it('names a delisted file by its id when the peer does not know its name', () => {
    expect(newsLine(CASES.HolderDelisted.event, viewer('bob', [], new Map()))).toBe(`you are no longer listed as a holder of file ${FILE_ID.slice(0, 12)} in friends (reported by alice, carol)`);
  });

  it('never names a session id or an address', () => {
    for (const c of Object.values(CASES) as Case<EventType>[]) {
      for (const reader of [...READERS, 'dave']) {
        const line = newsLine(c.event, viewer(reader), c.entry ?? [c.event]) ?? '';
        expect(line).not.toMatch(/s1|10\.0\.0|6881/);
      }
    }
  });

  it("words a whole entry in order: a member's leave takes the files only they shared", () => {
    const entry: Event[] = [
      { type: 'HolderRemoved', group: 'friends', fileId: FILE_ID, sessionId: 's1', user: 'erin' },
      { type: 'SharerRemoved', group: 'friends', fileId: FILE_ID, user: 'erin' },
      { type: 'FileUnshared', group: 'friends', fileId: FILE_ID, name: 'notes.txt' },
      { type: 'MemberLeft', group: 'friends', user: 'erin' },
    ];
    expect(newsLines(entry, viewer('carol'))).toEqual(['erin stopped sharing notes.txt in friends', 'erin left friends']);
    expect(newsLines(entry, viewer('erin'))).toEqual([]);
  });
});
