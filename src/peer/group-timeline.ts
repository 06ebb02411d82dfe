// Why this file exists: the tracker answers a group's timeline a bounded page at a time
// (the `groupTimeline` query); the shell's `group_timeline` and the web page want all of it.
// This pages through, each ask starting after the index the last reply ended at.

import type { GroupTimelinePage } from '../tracker/client-protocol.js';
import type { GroupTimeline, TimelineEntry } from './web/web-api.js';

/** A reply whose next index does not move on: the tracker would be asked the same for ever. */
export class TimelinePagingError extends Error {
  override name = 'TimelinePagingError';
}

/** Every entry of `group`'s timeline, asking `page` (after an index, or from the start) until a reply says it is the last. */
export async function wholeGroupTimeline(group: string, page: (afterIndex: number | null) => Promise<GroupTimelinePage>, startAfter: number | null = null): Promise<GroupTimeline> {
  const entries: TimelineEntry[] = [];
  let afterIndex: number | null = startAfter;
  for (;;) {
    const reply = await page(afterIndex);
    for (const entry of reply.entries) entries.push(entry);
    if (reply.nextAfterIndex === null) return { group, entries };
    if (afterIndex !== null && reply.nextAfterIndex <= afterIndex) {
      throw new TimelinePagingError(`the tracker's timeline of ${group} did not move on after entry ${afterIndex}`);
    }
    afterIndex = reply.nextAfterIndex;
  }
}
