// Why this file exists: the Timeline view keeps the entries it has read and, on news, asks only
// for what is new (`group_timeline <group> --after <last index>`), instead of reading the whole
// history again (a scan of the tracker's archive) for every news line on every open page. The
// first read, and the first after a read that found nothing, is the whole history. Reads never
// overlap: news while one is under way asks for one more read after it.

import { useEffect, useMemo, useState } from 'preact/hooks';
import type { TimelineEntry } from '../peer/web/web-api.js';
import type { ApiClient } from './api.js';
import { errorLine } from './hooks.js';

export interface TimelineSnapshot {
  /** The entries read so far, by index (null before the first read answered). */
  entries: readonly TimelineEntry[] | null;
  /** Why the last read failed (the entries read before it stay). */
  error: string | null;
  loading: boolean;
}

/** `entries` with `fresh` added: only those after the last index held, in index order (stable within an index). */
export function appendEntries(entries: readonly TimelineEntry[], fresh: readonly TimelineEntry[]): TimelineEntry[] {
  const last = entries.at(-1)?.index ?? -1;
  const added = fresh.filter((entry) => entry.index > last).sort((a, b) => a.index - b.index);
  return added.length === 0 ? [...entries] : [...entries, ...added];
}

/** One group's timeline as a page holds it. `refresh()` on open and on each news line. */
export class TimelineFeed {
  private snapshot: TimelineSnapshot = { entries: null, error: null, loading: false };
  private readonly listeners = new Set<() => void>();
  private reading = false;
  private again = false;
  private closed = false;

  constructor(
    private readonly api: Pick<ApiClient, 'command'>,
    readonly group: string,
  ) {}

  get(): TimelineSnapshot {
    return this.snapshot;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Reads what is new (all of it the first time); while a read is under way, one more after it. */
  refresh(): void {
    if (this.closed) return;
    if (this.reading) {
      this.again = true;
      return;
    }
    void this.read();
  }

  /** The view left this group: answers still on their way are dropped. */
  close(): void {
    this.closed = true;
    this.listeners.clear();
  }

  private async read(): Promise<void> {
    this.reading = true;
    this.set({ loading: true });
    do {
      this.again = false;
      const held = this.snapshot.entries;
      const last = held?.at(-1)?.index;
      try {
        const answer = await this.api.command('group_timeline', last === undefined ? [this.group] : [this.group, '--after', String(last)]);
        if (this.closed) return;
        this.set({ entries: appendEntries(last === undefined ? [] : (held ?? []), answer.entries), error: null });
      } catch (error) {
        if (this.closed) return;
        this.set({ error: errorLine(error) });
      }
    } while (this.again && !this.closed);
    this.reading = false;
    this.set({ loading: false });
  }

  private set(patch: Partial<TimelineSnapshot>): void {
    this.snapshot = { ...this.snapshot, ...patch };
    for (const listener of this.listeners) listener();
  }
}

/** The group's timeline: read whole when the group (or client) changes, and only what is new when `generation` grows. */
export function useTimelineFeed(api: ApiClient, group: string, generation: number): TimelineSnapshot {
  const feed = useMemo(() => new TimelineFeed(api, group), [api, group]);
  const [shown, setShown] = useState<{ feed: TimelineFeed; snapshot: TimelineSnapshot }>({ feed, snapshot: feed.get() });
  useEffect(() => {
    setShown({ feed, snapshot: feed.get() });
    const unsubscribe = feed.subscribe(() => setShown({ feed, snapshot: feed.get() }));
    return () => {
      unsubscribe();
      feed.close();
    };
  }, [feed]);
  useEffect(() => feed.refresh(), [feed, generation]);
  return shown.feed === feed ? shown.snapshot : feed.get();
}
