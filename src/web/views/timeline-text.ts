// Why this file exists: a timeline entry as a sentence (`bob accepted carol`), with the file
// names SharerAdded and SharerRemoved leave out found in the entries before them.

import type { TimelineEntry, TimelineEvent } from '../../peer/web/web-api.js';
import { formatBytes } from '../format.js';
import { timelineSentence } from '../../log/domain/timeline.js';

/** Each file's name, from the entries that name it. */
export function fileNames(entries: readonly TimelineEntry[]): Map<string, string> {
  const names = new Map<string, string>();
  for (const { event } of entries) if (event.type === 'FileShared' || event.type === 'FileUnshared') names.set(event.fileId, event.name);
  return names;
}

export function eventText(event: TimelineEvent, names: ReadonlyMap<string, string>): string {
  return timelineSentence(event, (fileId) => names.get(fileId) ?? fileId.slice(0, 12), formatBytes);
}
