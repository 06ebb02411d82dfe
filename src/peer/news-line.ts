// Why this file exists: the push channel brings the events that concern a user (DESIGN.md §4),
// and a person wants to read them as news, in words, naming people and groups — never session
// ids or addresses. `newsLine` says what one event means to one viewer, or null when it is
// nothing to tell them. The shell prints these lines above its prompt, in `news`, and in the
// login summary; the JSON of `news` stays the events themselves.
//
// What is told, and to whom (the viewer is "you"):
//   JoinRequested         the group's owner: "bob asks to join friends"
//   JoinAccepted          the requester: "alice accepted you into friends"; other members: "bob joined friends"
//   JoinRejected          the requester: "alice turned down your request to join friends"
//   MemberLeft            the other members: "erin left friends"
//   MemberRemoved         the removed: "you were removed from friends by alice"; the other members: "alice removed erin from friends"
//   OwnershipTransferred  the new owner: "alice passed friends on to you"; the old: "you passed friends on to bob";
//                         the other members: "alice passed friends on to bob"
//   GroupDeleted          whoever hears it, but the last member who left: "friends was deleted"
//   GroupCreated          anyone but its creator: "carol created friends"
//   FileShared            the other members: "carol shared notes.txt in friends"
//   FileUnshared          the other members: "carol stopped sharing notes.txt in friends" (the sharer
//                         is the SharerRemoved of the same entry)
//   HolderDelisted        the delisted: "you are no longer listed as a holder of notes.txt in friends (reported by bob, carol)"
// Nothing is told of what the viewer did themself (their command's answer said it), except what
// was done to them (a removal, a delisting). Noise, never told: users registering; sessions
// opening, moving, closing, expiring, refresh credentials used up; holders and sharers of a
// file that stays listed coming and going (HolderAdded/Removed, SharerAdded/Removed); reports
// against holders and reinstatements (HolderReported, HolderReinstated); refused commands
// (CommandRejected: the command's own answer said so).

import type { Event } from '../log/domain/events.js';

/** Who reads the news: the user, and what the peer knows around them. */
export interface NewsViewer {
  user: string;
  /** Whether the viewer owns the group (join requests are the owner's business). */
  owns(group: string): boolean;
  /** A file's name where the event names only its id (null: unknown). */
  fileName(fileId: string): string | null;
}

/**
 * What `event` means to `viewer`, in one line, or null when it is nothing to tell them.
 * `entry`: every event of the same log entry (FileUnshared's sharer is found there).
 */
export function newsLine(event: Event, viewer: NewsViewer, entry: readonly Event[] = [event]): string | null {
  const you = viewer.user;
  switch (event.type) {
    case 'UserRegistered':
    case 'SessionOpened':
    case 'SessionMoved':
    case 'RefreshRevoked':
    case 'SessionClosed':
    case 'SessionExpired':
    case 'SharerAdded':
    case 'SharerRemoved':
    case 'HolderAdded':
    case 'HolderRemoved':
    case 'HolderReported':
    case 'HolderReinstated':
    case 'CommandRejected':
      return null;
    case 'GroupCreated':
      return event.owner === you ? null : `${event.owner} created ${event.group}`;
    case 'JoinRequested':
      return event.user !== you && viewer.owns(event.group) ? `${event.user} asks to join ${event.group}` : null;
    case 'JoinAccepted':
      if (event.user === you) return `${event.by} accepted you into ${event.group}`;
      return event.by === you ? null : `${event.user} joined ${event.group}`;
    case 'JoinRejected':
      return event.user === you && event.by !== you ? `${event.by} turned down your request to join ${event.group}` : null;
    case 'MemberLeft':
      return event.user === you ? null : `${event.user} left ${event.group}`;
    case 'MemberRemoved':
      if (event.user === you) return `you were removed from ${event.group} by ${event.by}`;
      return event.by === you ? null : `${event.by} removed ${event.user} from ${event.group}`;
    case 'OwnershipTransferred':
      if (event.to === you) return `${event.from} passed ${event.group} on to you`;
      if (event.from === you) return `you passed ${event.group} on to ${event.to}`;
      return `${event.from} passed ${event.group} on to ${event.to}`;
    case 'GroupDeleted':
      // Its last member left: if that was you, your leave's answer said so.
      return entry.some((e) => e.type === 'MemberLeft' && e.group === event.group && e.user === you) ? null : `${event.group} was deleted`;
    case 'FileShared':
      return event.user === you ? null : `${event.user} shared ${event.name} in ${event.group}`;
    case 'FileUnshared': {
      const sharer = entry.find((e): e is Extract<Event, { type: 'SharerRemoved' }> => e.type === 'SharerRemoved' && e.group === event.group && e.fileId === event.fileId)?.user;
      if (sharer === you) return null;
      return sharer === undefined ? `${event.name} is no longer shared in ${event.group}` : `${sharer} stopped sharing ${event.name} in ${event.group}`;
    }
    case 'HolderDelisted': {
      if (event.user !== you) return null;
      const name = viewer.fileName(event.fileId) ?? `file ${event.fileId.slice(0, 12)}`;
      return `you are no longer listed as a holder of ${name} in ${event.group} (reported by ${event.reporters.join(', ')})`;
    }
    default:
      return unknownEvent(event);
  }
}

/** The lines one log entry's events make for `viewer`, in order. */
export function newsLines(events: readonly Event[], viewer: NewsViewer): string[] {
  return events.flatMap((event) => newsLine(event, viewer, events) ?? []);
}

/** Compiles only while every event type has its case above. */
function unknownEvent(event: never): null {
  void event;
  return null;
}
