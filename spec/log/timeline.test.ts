// A group's timeline (src/log/domain/timeline.ts): the events it shows (and how FileShared
// loses its piece list) and the fold `groupAsOf`, by hand. Against the tracker's own
// projection, over seeded workloads read back from a store: group-timeline-store.test.ts.

import { describe, expect, it } from 'vitest';
import type { Event } from '../../src/log/domain/events.js';
import { groupAsOf, timelineEventOf, timelineEventsOf, type GroupAsOf, type TimelineEntry, type TimelineEvent } from '../../src/log/domain/timeline.js';

const G = 'friends';
let nextIndex = 0;
/** Entries at consecutive indices, one event each (a second of tracker time apart). */
function timeline(...events: TimelineEvent[]): TimelineEntry[] {
  nextIndex = 0;
  return events.map((event) => ({ index: ++nextIndex, timeMs: 1_000 * nextIndex, event }));
}

const shared = (fileId: string, name: string, user: string, sizeBytes = 10): TimelineEvent => ({ type: 'FileShared', group: G, fileId, name, sizeBytes, user });

describe('timelineEventOf', () => {
  it('keeps the events of a group’s life, strips FileShared of its pieces, and drops the rest', () => {
    const fileShared: Event = { type: 'FileShared', group: G, fileId: 'f1', name: 'notes.txt', sizeBytes: 1234, pieceLengthBytes: 524_288, pieces: 'AAAA', user: 'alice' };
    expect(timelineEventOf(fileShared)).toEqual({ type: 'FileShared', group: G, fileId: 'f1', name: 'notes.txt', sizeBytes: 1234, user: 'alice' });
    const kept: Event[] = [
      { type: 'GroupCreated', group: G, owner: 'alice' },
      { type: 'JoinRequested', group: G, user: 'bob' },
      { type: 'JoinAccepted', group: G, user: 'bob', by: 'alice' },
      { type: 'JoinRejected', group: G, user: 'carol', by: 'alice' },
      { type: 'MemberLeft', group: G, user: 'bob' },
      { type: 'MemberRemoved', group: G, user: 'bob', by: 'alice' },
      { type: 'OwnershipTransferred', group: G, from: 'alice', to: 'bob' },
      { type: 'GroupDeleted', group: G },
      { type: 'SharerAdded', group: G, fileId: 'f1', user: 'bob' },
      { type: 'SharerRemoved', group: G, fileId: 'f1', user: 'bob' },
      { type: 'FileUnshared', group: G, fileId: 'f1', name: 'notes.txt' },
    ];
    for (const event of kept) expect(timelineEventOf(event)).toEqual(event);
    const dropped: Event[] = [
      { type: 'UserRegistered', user: 'bob', password: { algorithm: 'scrypt', costN: 16, blockSizeR: 1, parallelP: 1, salt: '00', hash: '00' } },
      { type: 'SessionOpened', sessionId: 's', user: 'bob', tokenHash: 'h', address: 'a:1' },
      { type: 'SessionMoved', sessionId: 's', user: 'bob', address: 'a:2', reachable: true },
      { type: 'RefreshRevoked', refreshHash: 'r', user: 'bob' },
      { type: 'SessionClosed', sessionId: 's', user: 'bob' },
      { type: 'SessionExpired', sessionId: 's', user: 'bob' },
      { type: 'HolderAdded', group: G, fileId: 'f1', sessionId: 's', user: 'bob', complete: true },
      { type: 'HolderRemoved', group: G, fileId: 'f1', sessionId: 's', user: 'bob' },
      { type: 'HolderReported', group: G, fileId: 'f1', user: 'bob', reporter: 'alice', pieceIndex: 0, expectedSha1: 'a', receivedSha1: 'b' },
      { type: 'HolderDelisted', group: G, fileId: 'f1', user: 'bob', reporters: ['alice'] },
      { type: 'HolderReinstated', group: G, fileId: 'f1', user: 'bob' },
      { type: 'CommandRejected', command: 'RequestJoin', user: 'bob', group: G, code: 'REQUEST_PENDING', message: 'already asked' },
    ];
    for (const event of dropped) expect(timelineEventOf(event)).toBeNull();
  });

  it('picks one group’s events out of an entry, in order', () => {
    const events: Event[] = [
      { type: 'HolderRemoved', group: G, fileId: 'f1', sessionId: 's', user: 'bob' },
      { type: 'SharerRemoved', group: G, fileId: 'f1', user: 'bob' },
      { type: 'JoinRequested', group: 'other', user: 'bob' },
      { type: 'FileUnshared', group: G, fileId: 'f1', name: 'notes.txt' },
      { type: 'MemberLeft', group: G, user: 'bob' },
    ];
    expect(timelineEventsOf(events, G).map((e) => e.type)).toEqual(['SharerRemoved', 'FileUnshared', 'MemberLeft']);
  });
});

describe('groupAsOf', () => {
  const story = timeline(
    { type: 'GroupCreated', group: G, owner: 'alice' }, // 1
    { type: 'JoinRequested', group: G, user: 'carol' }, // 2
    { type: 'JoinRequested', group: G, user: 'bob' }, // 3
    { type: 'JoinAccepted', group: G, user: 'bob', by: 'alice' }, // 4
    { type: 'JoinRejected', group: G, user: 'carol', by: 'alice' }, // 5
    shared('f1', 'notes.txt', 'alice'), // 6
    { type: 'SharerAdded', group: G, fileId: 'f1', user: 'bob' }, // 7
    shared('f2', 'a.bin', 'bob', 99), // 8
    { type: 'SharerRemoved', group: G, fileId: 'f1', user: 'alice' }, // 9
    { type: 'OwnershipTransferred', group: G, from: 'alice', to: 'bob' }, // 10
    { type: 'MemberLeft', group: G, user: 'alice' }, // 11
    { type: 'SharerRemoved', group: G, fileId: 'f2', user: 'bob' }, // 12
    { type: 'FileUnshared', group: G, fileId: 'f2', name: 'a.bin' }, // 13
    { type: 'JoinRequested', group: G, user: 'dave' }, // 14
    { type: 'JoinAccepted', group: G, user: 'dave', by: 'bob' }, // 15
    { type: 'MemberRemoved', group: G, user: 'dave', by: 'bob' }, // 16
    { type: 'GroupDeleted', group: G }, // 17
    { type: 'GroupCreated', group: G, owner: 'erin' }, // 18
  );
  const at = (index: number): GroupAsOf => groupAsOf(story, index);

  it('is nothing before the group is created', () => {
    expect(at(0)).toEqual({ index: 0, exists: false, owner: null, members: [], pending: [], files: [] });
  });

  it('follows requests, answers, files and their sharers, owners, leaves and removals', () => {
    expect(at(1)).toEqual({ index: 1, exists: true, owner: 'alice', members: ['alice'], pending: [], files: [] });
    expect(at(3)).toMatchObject({ members: ['alice'], pending: ['carol', 'bob'] });
    expect(at(4)).toMatchObject({ members: ['alice', 'bob'], pending: ['carol'] });
    expect(at(5)).toMatchObject({ members: ['alice', 'bob'], pending: [] });
    expect(at(7).files).toEqual([{ fileId: 'f1', name: 'notes.txt', sizeBytes: 10, sharers: ['alice', 'bob'] }]);
    // Files by name, sharers by name.
    expect(at(9).files).toEqual([
      { fileId: 'f2', name: 'a.bin', sizeBytes: 99, sharers: ['bob'] },
      { fileId: 'f1', name: 'notes.txt', sizeBytes: 10, sharers: ['bob'] },
    ]);
    expect(at(10)).toMatchObject({ owner: 'bob', members: ['alice', 'bob'] });
    expect(at(11)).toMatchObject({ owner: 'bob', members: ['bob'] });
    expect(at(13).files.map((f) => f.name)).toEqual(['notes.txt']);
    expect(at(15)).toMatchObject({ members: ['bob', 'dave'], pending: [] });
    expect(at(16)).toMatchObject({ members: ['bob'] });
  });

  it('ends with GroupDeleted, and a GroupCreated of the same name starts afresh', () => {
    expect(at(17)).toEqual({ index: 17, exists: false, owner: null, members: [], pending: [], files: [] });
    expect(at(18)).toEqual({ index: 18, exists: true, owner: 'erin', members: ['erin'], pending: [], files: [] });
    expect(at(1_000)).toEqual({ ...at(18), index: 1_000 });
  });

  it('takes entries in any order, and ignores what it cannot place', () => {
    const shuffled = [...story].reverse();
    for (const index of [4, 9, 13, 18]) expect(groupAsOf(shuffled, index)).toEqual(at(index));
    const stray = timeline({ type: 'GroupCreated', group: G, owner: 'alice' }, { type: 'SharerAdded', group: G, fileId: 'nope', user: 'bob' }, { type: 'FileUnshared', group: G, fileId: 'nope', name: 'x' });
    expect(groupAsOf(stray, 3)).toEqual({ index: 3, exists: true, owner: 'alice', members: ['alice'], pending: [], files: [] });
  });
});
