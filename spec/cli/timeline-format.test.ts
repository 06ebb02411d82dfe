// How a group's timeline reads in the shell (src/cli/timeline-format.ts): `group_timeline` as
// `#index  ISO time  words`, one line an entry, every kind of event in words.

import { describe, expect, it } from 'vitest';
import { isoSeconds, timelineText } from '../../src/cli/timeline-format.js';
import type { TimelineEvent } from '../../src/log/domain/timeline.js';

const G = 'friends';
const T0 = Date.UTC(2026, 11, 6, 7, 1, 2, 345);

describe('timeline text', () => {
  it('shows times to the second, in UTC', () => {
    expect(isoSeconds(T0)).toBe('2026-12-06T07:01:02Z');
  });

  it('is one `#index  time  words` a line, each event in words', () => {
    const events: TimelineEvent[] = [
      { type: 'GroupCreated', group: G, owner: 'alice' },
      { type: 'JoinRequested', group: G, user: 'bob' },
      { type: 'JoinAccepted', group: G, user: 'bob', by: 'alice' },
      { type: 'JoinRejected', group: G, user: 'carol', by: 'alice' },
      { type: 'FileShared', group: G, fileId: 'f'.repeat(40), name: 'notes.txt', sizeBytes: 1_258_291, user: 'alice' },
      { type: 'FileShared', group: G, fileId: 'e'.repeat(40), name: 'tiny', sizeBytes: 12, user: 'bob' },
      { type: 'SharerAdded', group: G, fileId: 'f'.repeat(40), user: 'bob' },
      { type: 'SharerRemoved', group: G, fileId: 'f'.repeat(40), user: 'alice' },
      { type: 'SharerRemoved', group: G, fileId: '0123456789abcdef', user: 'bob' },
      { type: 'FileUnshared', group: G, fileId: 'e'.repeat(40), name: 'tiny' },
      { type: 'OwnershipTransferred', group: G, from: 'alice', to: 'bob' },
      { type: 'MemberLeft', group: G, user: 'alice' },
      { type: 'MemberRemoved', group: G, user: 'dave', by: 'bob' },
      { type: 'GroupDeleted', group: G },
    ];
    const text = timelineText({ group: G, entries: events.map((event, i) => ({ index: 10 + i, timeMs: T0 + i * 1000, event })) });
    expect(text.split('\n')).toEqual([
      '#10  2026-12-06T07:01:02Z  alice created friends',
      '#11  2026-12-06T07:01:03Z  bob asked to join',
      '#12  2026-12-06T07:01:04Z  alice accepted bob',
      '#13  2026-12-06T07:01:05Z  alice turned carol down',
      '#14  2026-12-06T07:01:06Z  alice shared notes.txt (1.2 MiB)',
      '#15  2026-12-06T07:01:07Z  bob shared tiny (12 B)',
      '#16  2026-12-06T07:01:08Z  bob shared notes.txt too',
      '#17  2026-12-06T07:01:09Z  alice stopped sharing notes.txt',
      '#18  2026-12-06T07:01:10Z  bob stopped sharing file 0123456789ab',
      '#19  2026-12-06T07:01:11Z  tiny is no longer shared',
      '#20  2026-12-06T07:01:12Z  alice passed the group on to bob',
      '#21  2026-12-06T07:01:13Z  alice left',
      '#22  2026-12-06T07:01:14Z  bob removed dave',
      '#23  2026-12-06T07:01:15Z  friends was deleted',
    ]);
  });

  it('says so when there is nothing', () => {
    expect(timelineText({ group: G, entries: [] })).toBe('the timeline of friends is empty');
  });
});
