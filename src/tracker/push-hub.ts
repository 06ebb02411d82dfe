// Why this file exists: the tracker's side of the push channel (DESIGN.md §4). A logged-in peer
// keeps one subscription open to any node; that node sends it the committed events that
// concern the user or the user's groups, each with its log index — first those after the index
// the peer last saw (read from the node's archive), then each batch as the node applies it — and
// the one-off requests addressed to the session (dialBack), which the node that decides them
// relays to every node, so whichever holds the stream delivers them. A leave or a removal also
// becomes a `kick` for the group's other members, sent right after that entry's events, so the
// holders among them stop serving the member at once (DESIGN.md §7). Every node applies the
// same log, so a peer that moves to another node after a failover and subscribes again from
// its last index misses nothing and sees nothing twice.

import type { EntryOutcome } from '../log/domain/entry.js';
import { eventsFor, usersConcerned } from '../log/domain/queries.js';
import type { TrackerState } from '../log/domain/state.js';
import type { Timer, World } from '../world/world.js';
import type { Push, PushRequest } from './client-protocol.js';
import type { TrackerNode } from './tracker-node.js';

/** Where a subscription's pushes go (its client connection). */
export interface PushSink {
  /** False when the subscriber is too far behind (not reading): the hub then drops it. */
  send(push: Push): boolean;
  close(): void;
}

/** A one-off request for a session, as nodes pass it to each other. */
export interface RelayedPush {
  sessionId: string;
  request: PushRequest;
}

/** How one-off requests reach the other nodes (the node-to-node transport). */
export interface PushRelay {
  relay(push: RelayedPush): void;
  onRelay(handler: (push: RelayedPush) => void): void;
}

interface Subscriber {
  readonly sessionId: string;
  readonly user: string;
  readonly sink: PushSink;
  /**
   * The last log index this subscriber has been brought past (sent or filtered out). While it
   * is live, the hub's liveUpTo stands for it: a batch that does not concern its user passes
   * it by without a look.
   */
  sentUpTo: number;
  /** Entries applied while the archive is read; sent after it. Null when caught up. */
  queued: EntryOutcome[] | null;
  /** In step with every batch this node applied, and found through the hub's byUser. */
  live: boolean;
  /** Which slice of the ticks it takes. */
  readonly slice: number;
  /** A heartbeat answer on its stream said where it stands since its last tick: that tick is left out. */
  answeredBeat: boolean;
}

/** How often a quiet stream says it is alive (a peer that hears nothing for three of these subscribes again). */
export const PUSH_TICK_MS = 5_000;

/**
 * The streams take their ticks in this many slices, one slice every PUSH_TICK_MS / slices: a
 * node holding 5,000 streams wrote 5,000 ticks in one go every 5 s, and on a loaded machine
 * that burst held the event loop long enough for followers to call elections (issue 20).
 */
const TICK_SLICES = 10;

/**
 * A node that knew no leader at this many ticks in a row ends its streams (RETRY): cut off from
 * the others, it hears no new entries and no relayed requests, while its ticks would keep the
 * peers on it. They subscribe at another node.
 */
export const LEADERLESS_TICKS_BEFORE_RETRY = 2;

/**
 * The kicks an entry means for a subscriber: each member who left or was removed from a group
 * the subscriber is (still) a member of — whoever serves that member the group's files is one.
 */
export function kicksFor(state: TrackerState, subscriber: string, entry: EntryOutcome): Extract<Push, { kind: 'kick' }>[] {
  const kicks: Extract<Push, { kind: 'kick' }>[] = [];
  for (const event of entry.events) {
    if (event.type !== 'MemberLeft' && event.type !== 'MemberRemoved') continue;
    if (event.user === subscriber || state.groups.get(event.group)?.members.has(subscriber) !== true) continue;
    kicks.push({ kind: 'kick', index: entry.index, group: event.group, user: event.user, atMs: entry.timeMs });
  }
  return kicks;
}

/** Whom an entry concerns (usersConcerned), for the state as it stands. */
type Concerned = (entry: EntryOutcome) => ReadonlySet<string>;

export class PushHub {
  private readonly subscribers = new Map<string, Subscriber>();
  /** Live subscribers by user: a batch is offered only to the users it concerns. */
  private readonly liveByUser = new Map<string, Set<Subscriber>>();
  /** Subscribers reading the archive, or behind the live ones for another reason. */
  private readonly catching = new Set<Subscriber>();
  /** The last index every live subscriber has been brought past. */
  private liveUpTo: number;
  private ticker: Timer | null = null;
  private leaderlessTicks = 0;
  /** Each stream's slice of the ticks (TICK_SLICES), dealt round-robin as they subscribe. */
  private readonly slices: Set<Subscriber>[] = Array.from({ length: TICK_SLICES }, () => new Set());
  private nextSlice = 0;
  private slice = 0;
  /**
   * Whom each entry this node applied concerns, and at which applied index that was found: the
   * answer holds until the state changes (the next apply), so the streams that queued a batch
   * while they read the archive, finishing one after another, share it.
   */
  private readonly concernedAt = new WeakMap<EntryOutcome, { appliedIndex: number; users: ReadonlySet<string> }>();

  constructor(
    private readonly world: World,
    private readonly node: TrackerNode,
    private readonly relayTo: PushRelay | null,
  ) {
    this.liveUpTo = node.store.appliedIndex;
    node.onApplied((entries) => this.applied(entries));
    relayTo?.onRelay((push) => this.deliverHere(push));
    this.tick();
  }

  /**
   * Every stream hears where it stands every PUSH_TICK_MS: it knows it is alive, and where to
   * resume from. One slice of the streams at a time; once a round, the node checks it knows a
   * leader.
   */
  private tick(): void {
    this.ticker = this.world.clock.setTimer(PUSH_TICK_MS / TICK_SLICES, () => {
      this.slice = (this.slice + 1) % TICK_SLICES;
      if (this.slice === 0) this.leaderlessTicks = this.node.raft.status().leader === null ? this.leaderlessTicks + 1 : 0;
      if (this.leaderlessTicks >= LEADERLESS_TICKS_BEFORE_RETRY) {
        const message = `this tracker node has known no leader for ${Math.round((this.leaderlessTicks * PUSH_TICK_MS) / 1000)} s; subscribe at another`;
        for (const sessionId of [...this.subscribers.keys()]) this.drop(sessionId, { kind: 'end', code: 'RETRY', message });
      } else {
        for (const subscriber of [...this.slices[this.slice]!]) {
          if (subscriber.answeredBeat) subscriber.answeredBeat = false;
          else this.send(subscriber, { kind: 'tick', index: this.upTo(subscriber) });
        }
      }
      this.tick();
    });
  }

  /** Begins a session's subscription from `afterIndex` (a new one for the same session replaces the old). */
  subscribe(sessionId: string, user: string, afterIndex: number, sink: PushSink): void {
    this.drop(sessionId, { kind: 'end', code: 'REPLACED', message: 'the session subscribed again' });
    const subscriber: Subscriber = { sessionId, user, sink, sentUpTo: afterIndex, queued: [], live: false, slice: this.nextSlice, answeredBeat: false };
    this.nextSlice = (this.nextSlice + 1) % TICK_SLICES;
    this.subscribers.set(sessionId, subscriber);
    this.slices[subscriber.slice]!.add(subscriber);
    this.catching.add(subscriber);
    void this.catchUp(subscriber);
  }

  /**
   * Where the stream of `sessionId` on `sink` stands, for a heartbeat answer about to be written
   * on it: the peer takes it as it takes a tick (everything up to there was gone through, and
   * the stream lives), so the stream's next tick is left out. A peer that beats on its stream
   * every 5 s then hears no ticks: at 10,000 peers, 2,000 frames a second fewer (issue 20).
   * Null when that stream is not here.
   */
  positionForBeat(sessionId: string, sink: PushSink): number | null {
    const subscriber = this.subscribers.get(sessionId);
    if (subscriber === undefined || subscriber.sink !== sink) return null;
    subscriber.answeredBeat = true;
    return this.upTo(subscriber);
  }

  /** The subscriber's connection closed. */
  unsubscribe(sessionId: string, sink: PushSink): void {
    const subscriber = this.subscribers.get(sessionId);
    if (subscriber?.sink === sink) this.forget(subscriber);
  }

  /** A one-off request for a session: delivered here if its stream is here, and relayed to the other nodes. */
  request(sessionId: string, request: PushRequest): void {
    this.deliverHere({ sessionId, request });
    this.relayTo?.relay({ sessionId, request });
  }

  close(): void {
    this.ticker?.cancel();
    for (const sessionId of [...this.subscribers.keys()]) this.drop(sessionId, { kind: 'end', code: 'NODE_STOPPING', message: 'this tracker node is stopping; subscribe elsewhere' });
  }

  /** usersConcerned for an entry this node applied, as the state stands now (concernedAt). */
  private readonly concernedNow = (entry: EntryOutcome): ReadonlySet<string> => {
    const appliedIndex = this.node.store.appliedIndex;
    const known = this.concernedAt.get(entry);
    if (known !== undefined && known.appliedIndex === appliedIndex) return known.users;
    const users = usersConcerned(this.node.store.state, entry.events);
    this.concernedAt.set(entry, { appliedIndex, users });
    return users;
  };

  private upTo(subscriber: Subscriber): number {
    return subscriber.live ? this.liveUpTo : subscriber.sentUpTo;
  }

  /**
   * A batch this node applied. Live subscribers whose user it concerns get it; the others pass
   * it by (their position is liveUpTo). Subscribers still catching up each see it, and join the
   * live ones once they are in step.
   */
  private applied(entries: readonly EntryOutcome[]): void {
    const last = entries.at(-1)?.index;
    if (last === undefined) return;
    if (entries[0]!.index > this.liveUpTo + 1) {
      // The node jumped (it installed a snapshot): every live stream catches up over the gap.
      for (const subscriber of this.liveSubscribers()) this.leaveLive(subscriber);
    } else if (last > this.liveUpTo) {
      // Each live stream gets only the entries that concern its user: a batch of a thousand
      // session expiries (a failover's) once went whole to every stream on the node, each entry
      // looked at again per stream, and held a follower's loop for 11 s (bench/online).
      for (const [user, concerning] of this.entriesByUser(entries)) {
        for (const subscriber of [...(this.liveByUser.get(user) ?? [])]) this.deliverLive(subscriber, concerning);
      }
    }
    this.liveUpTo = Math.max(this.liveUpTo, last);
    for (const subscriber of [...this.catching]) {
      this.forward(subscriber, entries);
      this.joinLiveIfInStep(subscriber);
    }
  }

  /** The batch's entries by the users they concern that have a live stream here, in log order. */
  private entriesByUser(entries: readonly EntryOutcome[]): Map<string, EntryOutcome[]> {
    const byUser = new Map<string, EntryOutcome[]>();
    for (const entry of entries) {
      if (entry.index <= this.liveUpTo) continue;
      for (const user of this.concernedNow(entry)) {
        if (!this.liveByUser.has(user)) continue;
        const list = byUser.get(user);
        if (list === undefined) byUser.set(user, [entry]);
        else list.push(entry);
      }
    }
    return byUser;
  }

  private *liveSubscribers(): Generator<Subscriber> {
    for (const set of [...this.liveByUser.values()]) yield* [...set];
  }

  private joinLiveIfInStep(subscriber: Subscriber): void {
    if (subscriber.live || subscriber.queued !== null || subscriber.sentUpTo !== this.liveUpTo) return;
    if (this.subscribers.get(subscriber.sessionId) !== subscriber) return;
    this.catching.delete(subscriber);
    subscriber.live = true;
    const set = this.liveByUser.get(subscriber.user);
    if (set) set.add(subscriber);
    else this.liveByUser.set(subscriber.user, new Set([subscriber]));
  }

  private leaveLive(subscriber: Subscriber): void {
    if (!subscriber.live) return;
    subscriber.sentUpTo = this.liveUpTo;
    subscriber.live = false;
    const set = this.liveByUser.get(subscriber.user);
    set?.delete(subscriber);
    if (set?.size === 0) this.liveByUser.delete(subscriber.user);
    if (this.subscribers.get(subscriber.sessionId) === subscriber) this.catching.add(subscriber);
  }

  /** Gone: no longer reached by anything. */
  private forget(subscriber: Subscriber): void {
    if (this.subscribers.get(subscriber.sessionId) === subscriber) this.subscribers.delete(subscriber.sessionId);
    this.leaveLive(subscriber);
    this.catching.delete(subscriber);
    this.slices[subscriber.slice]!.delete(subscriber);
  }

  private deliverHere(push: RelayedPush): void {
    const subscriber = this.subscribers.get(push.sessionId);
    if (subscriber) this.send(subscriber, { kind: 'request', request: push.request });
  }

  /** Reads the archive after sentUpTo, then goes live with what was applied meanwhile. */
  private async catchUp(subscriber: Subscriber): Promise<void> {
    subscriber.queued ??= [];
    try {
      // Nothing to read (a peer back on another node after a failover, in step): no iterator.
      const behind = subscriber.sentUpTo < this.node.store.appliedIndex;
      for await (const batch of behind ? this.node.store.archiveFrom(subscriber.sentUpTo + 1) : []) {
        if (this.subscribers.get(subscriber.sessionId) !== subscriber) return;
        this.deliver(subscriber, batch);
      }
    } catch (error) {
      this.drop(subscriber.sessionId, { kind: 'end', code: 'RETRY', message: `the archive could not be read: ${error instanceof Error ? error.message : String(error)}` });
      return;
    }
    const queued = subscriber.queued ?? [];
    subscriber.queued = null;
    this.deliver(subscriber, queued, this.concernedNow);
    this.joinLiveIfInStep(subscriber);
  }

  /** A batch the node applied, to a subscriber not live: queued while the archive is read, or sent, or a gap to catch up over. */
  private forward(subscriber: Subscriber, entries: readonly EntryOutcome[]): void {
    if (subscriber.queued !== null) {
      subscriber.queued.push(...entries);
      return;
    }
    const next = entries.find((entry) => entry.index > subscriber.sentUpTo);
    if (next !== undefined && next.index > subscriber.sentUpTo + 1) {
      // The node jumped (it installed a snapshot): what lies between is in the archive.
      subscriber.queued = [...entries];
      void this.catchUp(subscriber);
      return;
    }
    this.deliver(subscriber, entries, this.concernedNow);
  }

  /**
   * The entries after the subscriber's position, in order, each sent if it concerns the
   * subscriber's user (`concerned`, when the caller found it for the state as it stands, spares
   * looking at the others).
   */
  private deliver(subscriber: Subscriber, entries: readonly EntryOutcome[], concerned?: Concerned): void {
    for (const entry of entries) {
      if (entry.index <= subscriber.sentUpTo) continue;
      if (entry.index !== subscriber.sentUpTo + 1) {
        return this.drop(subscriber.sessionId, { kind: 'end', code: 'RETRY', message: `entry ${subscriber.sentUpTo + 1} is missing here; subscribe again` });
      }
      subscriber.sentUpTo = entry.index;
      if (concerned !== undefined && !concerned(entry).has(subscriber.user)) continue;
      if (!this.sendEntry(subscriber, entry)) return;
    }
  }

  /** A live subscriber's share of a batch: the entries that concern its user (its position is the hub's). */
  private deliverLive(subscriber: Subscriber, concerning: readonly EntryOutcome[]): void {
    for (const entry of concerning) if (!this.sendEntry(subscriber, entry)) return;
  }

  /**
   * One entry to a subscriber: its events the user sees, the kicks it means, and the end of the
   * stream if it ends the subscriber's session. False when the subscriber is gone.
   */
  private sendEntry(subscriber: Subscriber, entry: EntryOutcome): boolean {
    const state = this.node.store.state;
    const events = eventsFor(state, subscriber.user, entry.events);
    if (events.length > 0 && !this.send(subscriber, { kind: 'events', index: entry.index, events })) return false;
    for (const kick of kicksFor(state, subscriber.user, entry)) if (!this.send(subscriber, kick)) return false;
    const ended = entry.events.some((event) => (event.type === 'SessionClosed' || event.type === 'SessionExpired') && event.sessionId === subscriber.sessionId);
    if (ended) {
      this.drop(subscriber.sessionId, { kind: 'end', code: 'SESSION_ENDED', message: 'the session is over' });
      return false;
    }
    return true;
  }

  private send(subscriber: Subscriber, push: Push): boolean {
    if (this.subscribers.get(subscriber.sessionId) !== subscriber) return false;
    if (subscriber.sink.send(push)) return true;
    // Not reading: dropped, and it catches up from its last index when it subscribes again.
    this.forget(subscriber);
    subscriber.sink.close();
    return false;
  }

  private drop(sessionId: string, end: Extract<Push, { kind: 'end' }>): void {
    const subscriber = this.subscribers.get(sessionId);
    if (!subscriber) return;
    this.forget(subscriber);
    subscriber.sink.send(end);
    subscriber.sink.close();
  }
}
