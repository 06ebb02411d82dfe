// Why this file exists: a timeline entry as a sentence (`bob accepted carol`), with the file
// names SharerAdded and SharerRemoved leave out found in the entries before them.

import type { TimelineEntry, TimelineEvent } from '../../peer/web/web-api.js';
import { formatBytes } from '../format.js';

/** Each file's name, from the entries that name it. */
export function fileNames(entries: readonly TimelineEntry[]): Map<string, string> {
  const names = new Map<string, string>();
  for (const { event } of entries) if (event.type === 'FileShared' || event.type === 'FileUnshared') names.set(event.fileId, event.name);
  return names;
}

export function eventText(event: TimelineEvent, names: ReadonlyMap<string, string>): string {
  const file = (fileId: string): string => names.get(fileId) ?? fileId.slice(0, 12);
  switch (event.type) {
    case 'GroupCreated':
      return `${event.owner} made the group`;
    case 'JoinRequested':
      return `${event.user} asked to join`;
    case 'JoinAccepted':
      return `${event.by} accepted ${event.user}`;
    case 'JoinRejected':
      return `${event.by} rejected ${event.user}`;
    case 'MemberLeft':
      return `${event.user} left`;
    case 'MemberRemoved':
      return `${event.by} removed ${event.user}`;
    case 'OwnershipTransferred':
      return `${event.from} handed the group to ${event.to}`;
    case 'GroupDeleted':
      return 'the group was deleted';
    case 'FileShared':
      return `${event.user} shared ${event.name} (${formatBytes(event.sizeBytes)})`;
    case 'SharerAdded':
      return `${event.user} shares ${file(event.fileId)} too`;
    case 'SharerRemoved':
      return `${event.user} stopped sharing ${file(event.fileId)}`;
    case 'FileUnshared':
      return `${event.name} is shared by nobody now`;
  }
}
