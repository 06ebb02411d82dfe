// Why this file exists: how a group's timeline reads to a person in the shell (`group_timeline`):
// one line an entry, `#<index>  <ISO time>  <words>`, the words naming people and files as the
// group's members know them (scripts get the entries themselves with --json).

import type { GroupTimeline, TimelineEntry, TimelineEvent } from '../peer/web/web-api.js';
import { mib } from './shell-format.js';
import { timelineSentence } from '../log/domain/timeline.js';

/** `2026-12-06T07:01:02Z`: the tracker's time of the entry, to the second. */
export function isoSeconds(timeMs: number): string {
  return new Date(timeMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** What one event of the group's life says; `fileName` finds a file's name where the event names only its id. */
export function timelineWords(event: TimelineEvent, fileName: (fileId: string) => string): string {
  return timelineSentence(event, fileName, mib);
}

/** `#12  2026-12-06T07:01:02Z  bob asked to join`, one line an entry, oldest first. */
export function timelineText(timeline: GroupTimeline): string {
  const names = new Map<string, string>();
  const fileName = (fileId: string): string => names.get(fileId) ?? `file ${fileId.slice(0, 12)}`;
  const lines = timeline.entries.map((entry: TimelineEntry) => {
    if (entry.event.type === 'FileShared') names.set(entry.event.fileId, entry.event.name);
    return `#${entry.index}  ${isoSeconds(entry.timeMs)}  ${timelineWords(entry.event, fileName)}`;
  });
  return lines.join('\n') || `the timeline of ${timeline.group} is empty`;
}
