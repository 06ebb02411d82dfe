// Why this file exists: a group's history as its members may read it (the web page's timeline),
// and the group as it was at any log index, folded from that history alone. Pure: the tracker
// answers the `groupTimeline` query with these entries, and the page folds them in the browser.
// It imports types only, so the browser bundle takes nothing else of the domain with it.

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

/**
 * The timeline's form of an event: null for what is not about a group's life (users, sessions,
 * holders, reports, refusals), FileShared without its piece list (a member fetches that with
 * the file, and it is most of the entry's bytes).
 */
export function timelineEventOf(event: Event): TimelineEvent | null {
  // Field by field: whatever else a stored event may carry is not the members' to read.
  switch (event.type) {
    case 'GroupCreated':
      return { type: event.type, group: event.group, owner: event.owner };
    case 'JoinRequested':
      return { type: event.type, group: event.group, user: event.user };
    case 'JoinAccepted':
    case 'JoinRejected':
      return { type: event.type, group: event.group, user: event.user, by: event.by };
    case 'MemberLeft':
      return { type: event.type, group: event.group, user: event.user };
    case 'MemberRemoved':
      return { type: event.type, group: event.group, user: event.user, by: event.by };
    case 'OwnershipTransferred':
      return { type: event.type, group: event.group, from: event.from, to: event.to };
    case 'GroupDeleted':
      return { type: event.type, group: event.group };
    case 'SharerAdded':
    case 'SharerRemoved':
      return { type: event.type, group: event.group, fileId: event.fileId, user: event.user };
    case 'FileUnshared':
      return { type: event.type, group: event.group, fileId: event.fileId, name: event.name };
    case 'FileShared': {
      const { group, fileId, name, sizeBytes, user } = event;
      return { type: 'FileShared', group, fileId, name, sizeBytes, user };
    }
    case 'UserRegistered':
    case 'SessionOpened':
    case 'SessionMoved':
    case 'RefreshRevoked':
    case 'SessionClosed':
    case 'SessionExpired':
    case 'HolderAdded':
    case 'HolderRemoved':
    case 'HolderReported':
    case 'HolderDelisted':
    case 'HolderReinstated':
    case 'CommandRejected':
      return null;
    default:
      return unknownEvent(event);
  }
}

/** The events of one log entry that belong on `group`'s timeline, in their order. */
export function timelineEventsOf(events: readonly Event[], group: string): TimelineEvent[] {
  const out: TimelineEvent[] = [];
  for (const event of events) {
    const shown = timelineEventOf(event);
    if (shown !== null && shown.group === group) out.push(shown);
  }
  return out;
}

/** Compiles only while every event type has its case above. */
function unknownEvent(event: never): null {
  void event;
  return null;
}

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

interface FileAsOf {
  fileId: string;
  name: string;
  sizeBytes: number;
  sharers: Set<string>;
}

/**
 * The group as it was once every entry at or below `index` applied: its owner, its members (by
 * name), the users waiting for an answer (in the order they asked) and its files (by name) with
 * who shares each. Entries may come in any order; events the fold cannot place (a sharer of a
 * file it never saw shared) change nothing. A GroupCreated starts the group afresh (a name can
 * be used again once its group is deleted).
 */
export function groupAsOf(entries: readonly TimelineEntry[], index: number): GroupAsOf {
  let exists = false;
  let owner: string | null = null;
  const members = new Set<string>();
  const pending = new Set<string>();
  const files = new Map<string, FileAsOf>();
  const reset = (): void => {
    members.clear();
    pending.clear();
    files.clear();
  };
  const ordered = entries.filter((entry) => entry.index <= index);
  // A stable sort: events of one entry keep their order.
  ordered.sort((a, b) => a.index - b.index);
  for (const { event } of ordered) {
    switch (event.type) {
      case 'GroupCreated':
        reset();
        exists = true;
        owner = event.owner;
        members.add(event.owner);
        break;
      case 'JoinRequested':
        pending.add(event.user);
        break;
      case 'JoinAccepted':
        pending.delete(event.user);
        members.add(event.user);
        break;
      case 'JoinRejected':
        pending.delete(event.user);
        break;
      case 'MemberLeft':
      case 'MemberRemoved':
        members.delete(event.user);
        break;
      case 'OwnershipTransferred':
        owner = event.to;
        break;
      case 'GroupDeleted':
        reset();
        exists = false;
        owner = null;
        break;
      case 'FileShared':
        files.set(event.fileId, { fileId: event.fileId, name: event.name, sizeBytes: event.sizeBytes, sharers: new Set([event.user]) });
        break;
      case 'SharerAdded':
        files.get(event.fileId)?.sharers.add(event.user);
        break;
      case 'SharerRemoved':
        files.get(event.fileId)?.sharers.delete(event.user);
        break;
      case 'FileUnshared':
        files.delete(event.fileId);
        break;
    }
  }
  return {
    index,
    exists,
    owner,
    members: [...members].sort(byName),
    pending: [...pending],
    files: [...files.values()]
      .map((file) => ({ fileId: file.fileId, name: file.name, sizeBytes: file.sizeBytes, sharers: [...file.sharers].sort(byName) }))
      .sort((a, b) => byName(a.name, b.name)),
  };
}

/**
 * What one event of a group's life says, the same in the shell and on the page: `fileName`
 * finds a file's name where the event names only its id, `size` words a size in bytes.
 */
export function timelineSentence(event: TimelineEvent, fileName: (fileId: string) => string, size: (bytes: number) => string): string {
  switch (event.type) {
    case 'GroupCreated':
      return `${event.owner} created ${event.group}`;
    case 'JoinRequested':
      return `${event.user} asked to join`;
    case 'JoinAccepted':
      return `${event.by} accepted ${event.user}`;
    case 'JoinRejected':
      return `${event.by} turned ${event.user} down`;
    case 'MemberLeft':
      return `${event.user} left`;
    case 'MemberRemoved':
      return `${event.by} removed ${event.user}`;
    case 'OwnershipTransferred':
      return `${event.from} passed the group on to ${event.to}`;
    case 'GroupDeleted':
      return `${event.group} was deleted`;
    case 'FileShared':
      return `${event.user} shared ${event.name} (${size(event.sizeBytes)})`;
    case 'SharerAdded':
      return `${event.user} shared ${fileName(event.fileId)} too`;
    case 'SharerRemoved':
      return `${event.user} stopped sharing ${fileName(event.fileId)}`;
    case 'FileUnshared':
      return `${event.name} is no longer shared`;
  }
}
