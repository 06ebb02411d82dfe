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
import { eventsFor } from '../log/domain/queries.js';
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
  /** The last log index this subscriber has been brought past (sent or filtered out). */
  sentUpTo: number;
  /** Entries applied while the archive is read; sent after it. Null when live. */
  queued: EntryOutcome[] | null;
}

/** How often a quiet stream says it is alive (a peer that hears nothing for three of these subscribes again). */
export const PUSH_TICK_MS = 5_000;

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

export class PushHub {
  private readonly subscribers = new Map<string, Subscriber>();
  private ticker: Timer | null = null;

  constructor(
    private readonly world: World,
    private readonly node: TrackerNode,
    private readonly relayTo: PushRelay | null,
  ) {
    node.onApplied((entries) => {
      for (const subscriber of [...this.subscribers.values()]) this.forward(subscriber, entries);
    });
    relayTo?.onRelay((push) => this.deliverHere(push));
    this.tick();
  }

  /** Every live stream hears where it stands: it knows it is alive, and where to resume from. */
  private tick(): void {
    this.ticker = this.world.clock.setTimer(PUSH_TICK_MS, () => {
      for (const subscriber of [...this.subscribers.values()]) this.send(subscriber, { kind: 'tick', index: subscriber.sentUpTo });
      this.tick();
    });
  }

  /** Begins a session's subscription from `afterIndex` (a new one for the same session replaces the old). */
  subscribe(sessionId: string, user: string, afterIndex: number, sink: PushSink): void {
    this.drop(sessionId, { kind: 'end', code: 'REPLACED', message: 'the session subscribed again' });
    const subscriber: Subscriber = { sessionId, user, sink, sentUpTo: afterIndex, queued: [] };
    this.subscribers.set(sessionId, subscriber);
    void this.catchUp(subscriber);
  }

  /** The subscriber's connection closed. */
  unsubscribe(sessionId: string, sink: PushSink): void {
    if (this.subscribers.get(sessionId)?.sink === sink) this.subscribers.delete(sessionId);
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

  private deliverHere(push: RelayedPush): void {
    const subscriber = this.subscribers.get(push.sessionId);
    if (subscriber) this.send(subscriber, { kind: 'request', request: push.request });
  }

  /** Reads the archive after sentUpTo, then goes live with what was applied meanwhile. */
  private async catchUp(subscriber: Subscriber): Promise<void> {
    subscriber.queued ??= [];
    try {
      for await (const batch of this.node.store.archiveFrom(subscriber.sentUpTo + 1)) {
        if (this.subscribers.get(subscriber.sessionId) !== subscriber) return;
        this.deliver(subscriber, batch);
      }
    } catch (error) {
      this.drop(subscriber.sessionId, { kind: 'end', code: 'RETRY', message: `the archive could not be read: ${error instanceof Error ? error.message : String(error)}` });
      return;
    }
    const queued = subscriber.queued ?? [];
    subscriber.queued = null;
    this.deliver(subscriber, queued);
  }

  /** A batch the node applied: sent, or queued while the archive is read, or a gap to catch up over. */
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
    this.deliver(subscriber, entries);
  }

  private deliver(subscriber: Subscriber, entries: readonly EntryOutcome[]): void {
    const state = this.node.store.state;
    for (const entry of entries) {
      if (entry.index <= subscriber.sentUpTo) continue;
      if (entry.index !== subscriber.sentUpTo + 1) {
        return this.drop(subscriber.sessionId, { kind: 'end', code: 'RETRY', message: `entry ${subscriber.sentUpTo + 1} is missing here; subscribe again` });
      }
      subscriber.sentUpTo = entry.index;
      const events = eventsFor(state, subscriber.user, entry.events);
      if (events.length > 0 && !this.send(subscriber, { kind: 'events', index: entry.index, events })) return;
      for (const kick of kicksFor(state, subscriber.user, entry)) if (!this.send(subscriber, kick)) return;
      const ended = entry.events.some((event) => (event.type === 'SessionClosed' || event.type === 'SessionExpired') && event.sessionId === subscriber.sessionId);
      if (ended) return this.drop(subscriber.sessionId, { kind: 'end', code: 'SESSION_ENDED', message: 'the session is over' });
    }
  }

  private send(subscriber: Subscriber, push: Push): boolean {
    if (this.subscribers.get(subscriber.sessionId) !== subscriber) return false;
    if (subscriber.sink.send(push)) return true;
    // Not reading: dropped, and it catches up from its last index when it subscribes again.
    this.subscribers.delete(subscriber.sessionId);
    subscriber.sink.close();
    return false;
  }

  private drop(sessionId: string, end: Extract<Push, { kind: 'end' }>): void {
    const subscriber = this.subscribers.get(sessionId);
    if (!subscriber) return;
    this.subscribers.delete(sessionId);
    subscriber.sink.send(end);
    subscriber.sink.close();
  }
}
