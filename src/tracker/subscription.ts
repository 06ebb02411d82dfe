// Why this file exists: the peer's end of the push channel. It keeps one subscription open to
// some tracker node, hands on the events (each once, in index order) and the one-off requests
// that arrive, and when the stream breaks — the node died, the leader moved — subscribes again,
// at the next node, from the last index it saw. It moves to the leader when the node it reached
// names one (requests such as dialBack start there). It stops for good when the session ends.

import type { Event } from '../log/domain/events.js';
import type { Connection, ConnectOptions, Timer, World } from '../world/world.js';
import type { ClientResponse, Push, PushFrame, PushRequest, SessionCredential } from './client-protocol.js';
import { nodeAddress } from './cluster-config.js';
import { encodeFrame, FrameDecoder, FrameError } from './frame-codec.js';
import { PUSH_TICK_MS } from './push-hub.js';
import { trackerSecure, withNodeAt, type TrackerTrust } from './tracker-trust.js';

export interface SubscriptionHandlers {
  /** Committed events at `index` that concern the user; each index once, in order. */
  events(index: number, events: readonly Event[]): void;
  request(request: PushRequest): void;
  /** `user` is out of `group` since the tracker's time `atMs`, by the entry at `index` (it may come twice: the answer is the same). */
  kick(group: string, user: string, atMs: number, index: number): void;
  /** The subscription is over for good (the session ended, or the tracker refuses it). */
  ended(code: string, message: string): void;
}

/** A stream silent this long (no event, no tick) is taken for dead: the node or the way to it is gone. */
const SILENCE_MS = 3 * PUSH_TICK_MS;
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2_000;
const CONNECT_TIMEOUT_MS = 3_000;
/** Codes after which subscribing again cannot help. */
const FINAL_CODES = new Set(['NOT_LOGGED_IN', 'SESSION_ENDED', 'REPLACED']);

export interface SubscriptionOptions {
  /** The local host to connect from (TrackerClientOptions.localAddress). */
  localAddress?: string;
}

export class TrackerSubscription {
  private seen: number;
  private nextNode = 0;
  private connection: Connection | null = null;
  private retry: Timer | null = null;
  private retryMs = RETRY_MIN_MS;
  private closed = false;
  /** The node the stream is on now, while it is. */
  node: string | null = null;

  constructor(
    private readonly world: World,
    private readonly nodes: readonly string[],
    private trust: TrackerTrust,
    private readonly session: SessionCredential,
    afterIndex: number,
    private readonly handlers: SubscriptionHandlers,
    private readonly options: SubscriptionOptions = {},
  ) {
    if (nodes.length === 0) throw new Error('a subscription needs at least one node address');
    this.seen = afterIndex;
    this.open();
  }

  /** The last log index whose events were handed on (or the one subscribed after). */
  get lastIndex(): number {
    return this.seen;
  }

  close(): void {
    this.closed = true;
    this.retry?.cancel();
    this.connection?.destroy();
    this.connection = null;
  }

  private connectOptions(address: string): ConnectOptions {
    const local = this.options.localAddress === undefined ? {} : { localAddress: this.options.localAddress };
    return { timeoutMs: CONNECT_TIMEOUT_MS, secure: trackerSecure(this.trust, address), ...local };
  }

  private open(preferred: string | null = null): void {
    if (this.closed) return;
    const address = preferred ?? this.nodes[this.nextNode++ % this.nodes.length]!;
    this.world.net.connect(nodeAddress(address), this.connectOptions(address)).then(
      (connection) => this.attach(connection, address),
      () => this.again(),
    );
  }

  /** Leaves a follower's stream for the leader's, once; the follower's serves meanwhile. */
  private toLeader(connection: Connection, leader: string): void {
    this.world.net.connect(nodeAddress(leader), this.connectOptions(leader)).then(
      (moved) => {
        if (this.closed || this.connection !== connection) return moved.destroy();
        this.attach(moved, leader);
        connection.destroy();
      },
      () => undefined,
    );
  }

  private attach(connection: Connection, address: string): void {
    if (this.closed) return connection.destroy();
    this.connection = connection;
    const decoder = new FrameDecoder(16 * 1024 * 1024);
    let ended = false;
    let silence: Timer | null = null;
    const heard = (): void => {
      silence?.cancel();
      silence = this.world.clock.setTimer(SILENCE_MS, () => connection.destroy());
    };
    heard();
    connection.attach({
      data: (bytes) => {
        if (this.connection !== connection) return; // a stream we left (for the leader's)
        heard();
        const frames = decoder.tryPush(bytes);
        if (frames instanceof FrameError) return connection.destroy();
        for (const frame of frames) {
          if (ended) return;
          if ('push' in (frame as object)) ended = this.pushed((frame as PushFrame).push);
          else ended = this.answered(frame as ClientResponse, address, connection);
          if (ended) connection.destroy();
        }
      },
      close: () => {
        silence?.cancel();
        if (this.connection !== connection) return;
        this.connection = null;
        this.node = null;
        this.again();
      },
    });
    connection.write(encodeFrame({ id: 1, type: 'subscribe', session: this.session, afterIndex: this.seen }));
  }

  /** The answer to our subscribe; true when this stream is over. */
  private answered(response: ClientResponse, address: string, connection: Connection): boolean {
    if (response.ok) {
      this.node = address;
      this.retryMs = RETRY_MIN_MS;
      const hint = (response.result as { leader?: { id?: unknown; client?: unknown } | null }).leader;
      const leader = hint?.client;
      if (typeof leader === 'string' && typeof hint?.id === 'string' && leader !== address) {
        this.trust = withNodeAt(this.trust, leader, hint.id);
        this.toLeader(connection, leader);
      }
      return false;
    }
    if (FINAL_CODES.has(response.error.code)) this.finish(response.error.code, response.error.message);
    return true;
  }

  /** One push; true when this stream is over. */
  private pushed(push: Push): boolean {
    switch (push.kind) {
      case 'events':
        if (push.index <= this.seen) return false; // seen already, from another node
        this.seen = push.index;
        this.handlers.events(push.index, push.events);
        return false;
      case 'request':
        this.handlers.request(push.request);
        return false;
      case 'kick':
        // It follows its entry's events (which moved `seen` to its index): handed on whatever `seen` says.
        if (typeof push.group === 'string' && typeof push.user === 'string' && Number.isSafeInteger(push.atMs) && Number.isSafeInteger(push.index)) this.handlers.kick(push.group, push.user, push.atMs, push.index);
        return false;
      case 'tick':
        // Everything up to there was gone through: a new subscription may start after it.
        this.seen = Math.max(this.seen, push.index);
        return false;
      case 'end':
        if (FINAL_CODES.has(push.code)) this.finish(push.code, push.message);
        return true;
    }
  }

  private finish(code: string, message: string): void {
    if (this.closed) return;
    this.close();
    this.handlers.ended(code, message);
  }

  private again(): void {
    if (this.closed || this.retry) return;
    this.retry = this.world.clock.setTimer(this.retryMs, () => {
      this.retry = null;
      this.open();
    });
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
  }
}
