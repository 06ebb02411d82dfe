// Why this file exists: a group's history as its members may read it (the web page's timeline),
// and the group as it was at any log index, folded from that history alone. Pure: the tracker
// answers the `groupTimeline` query with these entries, and the page folds them in the browser.

import type { Event } from './events.js';

/** The events of a group's life that its timeline shows (holders come and go too often to tell). */
export type TimelineEvent =
  | Extract<Event, { type: 'GroupCreated' | 'JoinRequested' | 'JoinAccepted' | 'JoinRejected' | 'MemberLeft' | 'MemberRemoved' | 'OwnershipTransferred' | 'GroupDeleted' | 'SharerAdded' | 'SharerRemoved' | 'FileUnshared' }>
  /** FileShared without its piece list. */
  | { type: 'FileShared'; group: string; fileId: string; name: string; sizeBytes: number; user: string };

/** One entry of the timeline: an event with the log index and tracker time of its entry. */
export interface TimelineEntry {
  index: number;
  timeMs: number;
  event: TimelineEvent;
}

/** The group at some index, as the timeline's slider shows it. */
export interface GroupAsOf {
  index: number;
  exists: boolean;
  owner: string | null;
  members: string[];
  pending: string[];
  files: Array<{ fileId: string; name: string; sizeBytes: number; sharers: string[] }>;
}

/** The group as it was once every entry at or below `index` applied. */
export function groupAsOf(entries: readonly TimelineEntry[], index: number): GroupAsOf {
  void entries;
  void index;
  throw new Error('groupAsOf: not written yet');
}
