// Why this file exists: a peer's news, apart from the rest of PeerNode. It keeps what the push
// channel brought (the events for `news --json`, and the lines they read as, news-line.ts), what
// it needs to word them (which groups the user owns, file names), and the last log index of
// news the user has received, in the home, so the next login starts the push channel there and
// tells "since you were last here". While a login runs it gathers the lines for the login's
// answer; afterwards each line goes to whoever listens (the shell at a terminal).

import type { Event } from '../log/domain/events.js';
import { fromUtf8, utf8 } from '../torrent/bytes.js';
import type { Clock, KvOp, KvStore } from '../world/world.js';
import { newsLine, type NewsViewer } from './news-line.js';

/** One push of news: the committed events at a log index that concern the user. */
export interface NewsItem {
  index: number;
  events: readonly Event[];
}

/** One line of news, with the log index of its entry. */
export interface NewsLine {
  index: number;
  line: string;
}

/** News kept for `news` (the oldest go first). */
const MAX_NEWS_ITEMS = 1_000;

/**
 * How far back a login's push channel may start, in log entries: the node reads its archive
 * from there (the hub sets no bound), so a home unused for a very long time does not make it
 * read the whole history for a handful of lines.
 */
export const NEWS_REPLAY_MAX_ENTRIES = 100_000;

/** The home's key for the last index of news `user` received. */
const SEEN_PREFIX = 'news-seen:';

/** The last index of news `user` received, as the home remembers it (null: never). */
export async function loadNewsSeen(home: KvStore, user: string): Promise<number | null> {
  const stored = await home.get(`${SEEN_PREFIX}${user}`);
  if (stored === undefined) return null;
  const index = Number(fromUtf8(stored));
  return Number.isSafeInteger(index) && index >= 0 ? index : null;
}

/** Remembers the last index of news `user` received. */
export function newsSeenOp(user: string, index: number): KvOp {
  return { type: 'put', key: `${SEEN_PREFIX}${user}`, value: utf8(String(index)) };
}

/**
 * Where a push channel opened at `loginIndex` starts: after the last index seen (news since
 * then is told), bounded by NEWS_REPLAY_MAX_ENTRIES; after the login itself for a user this
 * home never saw (or a seen index from another cluster's longer log).
 */
export function newsStartAfter(seen: number | null, loginIndex: number): number {
  if (seen === null || seen >= loginIndex) return loginIndex;
  return Math.max(seen, loginIndex - NEWS_REPLAY_MAX_ENTRIES);
}

interface StoredItem extends NewsItem {
  lines: readonly string[];
}

export class PeerNews {
  private readonly items: StoredItem[] = [];
  private readonly owned = new Set<string>();
  private readonly names = new Map<string, string>();
  private readonly listeners = new Set<(line: NewsLine) => void>();
  /** Lines gathered for a running login's answer (null: none runs). */
  private gathered: NewsLine[] | null = null;
  /** The last index the open channel has brought news up to (or started after). */
  private through = 0;
  private waiters: Array<{ index: number; done: () => void }> = [];
  /** The last index of news received, per user, in this process. */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    /** A file's name the events did not say (a download's, say). */
    private readonly nameOf: (fileId: string) => string | null,
  ) {}

  /** Another user logs in to this peer: what the one before was told is not theirs to read. */
  forgetItems(): void {
    this.items.length = 0;
  }

  /** The groups the user owns now (from listGroups); events keep it up to date. */
  setOwned(groups: Iterable<string>): void {
    this.owned.clear();
    for (const group of groups) this.owned.add(group);
  }

  learnName(fileId: string, name: string): void {
    this.names.set(fileId, name);
  }

  /** The last index of news `user` received: in this process, or as `stored` in the home. */
  lastSeen(user: string, stored: number | null): number | null {
    const here = this.seen.get(user);
    return here === undefined ? stored : Math.max(here, stored ?? 0);
  }

  /** The user went past `index` (a tick); true if that is further than before. */
  passed(user: string, index: number): boolean {
    if (index <= (this.seen.get(user) ?? -1)) return false;
    this.seen.set(user, index);
    return true;
  }

  /** A push channel opens after `afterIndex`. */
  started(afterIndex: number): void {
    this.through = afterIndex;
    this.wake();
  }

  /** Events at `index` for `user`: kept, worded, and told (or gathered for the login's answer). */
  received(user: string, index: number, events: readonly Event[]): void {
    const viewer = this.viewer(user);
    const lines: string[] = [];
    for (const event of events) {
      const line = newsLine(event, viewer, events);
      if (line !== null) lines.push(line);
      this.learn(user, event);
    }
    this.items.push({ index, events, lines });
    if (this.items.length > MAX_NEWS_ITEMS) this.items.shift();
    this.passed(user, index);
    this.through = Math.max(this.through, index);
    this.wake();
    for (const line of lines) {
      if (this.gathered !== null) this.gathered.push({ index, line });
      else for (const listener of this.listeners) listener({ index, line });
    }
  }

  /** A login begins: its lines are kept for its answer, not told. */
  gather(): void {
    this.gathered = [];
  }

  /** The login's lines; later lines are told again. */
  takeGathered(): NewsLine[] {
    const lines = this.gathered ?? [];
    this.gathered = null;
    return lines;
  }

  /** Resolves once the channel has brought news up to `index`, or after `timeoutMs`. */
  waitThrough(index: number, timeoutMs: number): Promise<void> {
    if (this.through >= index) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = this.clock.setTimer(timeoutMs, () => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve();
      });
      const waiter = {
        index,
        done: () => {
          timer.cancel();
          resolve();
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** Tells each new line to `listener` (until the returned function is called). */
  onLine(listener: (line: NewsLine) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The events, as the tracker sent them. */
  list(): NewsItem[] {
    return this.items.map(({ index, events }) => ({ index, events }));
  }

  /** The lines they read as. */
  lines(): NewsLine[] {
    return this.items.flatMap(({ index, lines }) => lines.map((line) => ({ index, line })));
  }

  private viewer(user: string): NewsViewer {
    return { user, owns: (group) => this.owned.has(group), fileName: (fileId) => this.names.get(fileId) ?? this.nameOf(fileId) };
  }

  /** What an event changes in what the wording needs. */
  private learn(user: string, event: Event): void {
    switch (event.type) {
      case 'GroupCreated':
        if (event.owner === user) this.owned.add(event.group);
        return;
      case 'OwnershipTransferred':
        if (event.to === user) this.owned.add(event.group);
        if (event.from === user) this.owned.delete(event.group);
        return;
      case 'GroupDeleted':
        this.owned.delete(event.group);
        return;
      case 'MemberLeft':
      case 'MemberRemoved':
        if (event.user === user) this.owned.delete(event.group);
        return;
      case 'FileShared':
        this.names.set(event.fileId, event.name);
        return;
      default:
        return;
    }
  }

  private wake(): void {
    const ready = this.waiters.filter((w) => w.index <= this.through);
    this.waiters = this.waiters.filter((w) => w.index > this.through);
    for (const waiter of ready) waiter.done();
  }
}
