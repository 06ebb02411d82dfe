// Why this file exists: the `groupTimeline` query reads a group's entries out of the event
// archive (the lines the push channel and the audit read too, read.ts). An archive holds every
// group's history interleaved, so each line is first tested as text for the group's name, and
// only the lines that name it are parsed; one reply is bounded both in the entries it returns
// and in the lines it reads, and says where the next one goes on.

import { timelineEventsOf, type TimelineEntry } from '../domain/timeline.js';
import { parseLine, type LineBatch } from './read.js';

export interface TimelineLimits {
  /** A reply stops once it holds this many entries (a log entry's events are never split). */
  maxEntries: number;
  /** A reply stops after reading this many lines of the archive, found or not. */
  maxScannedEntries: number;
}

/**
 * 2,000 entries of at most ~800 bytes of JSON (a FileShared whose 250-byte name is all quotes,
 * escaped) keep a reply under 1.6 MB, well under the 8 MiB client frame; 100,000 lines are
 * read in tens of milliseconds, a chunk of segments per turn of the event loop. One log entry
 * is never split: a leave by a member who shares thousands of files in the group (two events a
 * file) makes one reply that much larger.
 */
export const DEFAULT_TIMELINE_LIMITS: TimelineLimits = { maxEntries: 2_000, maxScannedEntries: 100_000 };

export interface TimelinePage {
  entries: TimelineEntry[];
  /** Ask again after this index for more; null when everything up to the range's end is here. */
  nextAfterIndex: number | null;
}

/** What the stored text of an entry holds when one of its events names `group` (canonical JSON: sorted keys, no spaces). */
function groupNeedle(group: string): string {
  return `"group":${JSON.stringify(group)}`;
}

/**
 * The timeline entries of `group` among `lines` (which start at `fromIndex`), up to `toIndex`.
 * The needle is looked for in the events' part of a line only (before the tab: the command
 * after it names the group of refused and duplicate requests too).
 */
export async function readGroupTimeline(lines: AsyncIterable<LineBatch>, group: string, fromIndex: number, toIndex: number, limits: TimelineLimits = DEFAULT_TIMELINE_LIMITS): Promise<TimelinePage> {
  const entries: TimelineEntry[] = [];
  if (fromIndex > toIndex) return { entries, nextAfterIndex: null };
  const needle = groupNeedle(group);
  let scanned = 0;
  for await (const batch of lines) {
    for (let i = 0; i < batch.lines.length; i++) {
      const index = batch.firstIndex + i;
      if (index < fromIndex) continue;
      if (index > toIndex) return { entries, nextAfterIndex: null };
      const line = batch.lines[i]!;
      const at = line.indexOf(needle);
      if (at !== -1 && at < line.indexOf('\t')) {
        const { entry } = parseLine(line, index);
        const events = timelineEventsOf(entry.events, group);
        // Full: this entry goes in the next reply (unless it is the first, which goes in whole).
        if (events.length > 0 && entries.length > 0 && entries.length + events.length > limits.maxEntries) return { entries, nextAfterIndex: index - 1 };
        for (const event of events) entries.push({ index, timeMs: entry.timeMs, event });
        if (entries.length >= limits.maxEntries) return { entries, nextAfterIndex: index < toIndex ? index : null };
      }
      if (++scanned >= limits.maxScannedEntries && index < toIndex) return { entries, nextAfterIndex: index };
    }
  }
  // The archive ended before toIndex (it holds no more than the state has applied).
  return { entries, nextAfterIndex: null };
}
