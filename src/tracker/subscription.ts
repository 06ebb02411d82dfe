// Why this file exists: the peer's end of the push channel. It keeps one subscription open to
// some tracker node, hands on the events (each once, in index order) and the one-off requests
// that arrive, and when the stream breaks — the node died, the leader moved — subscribes again,
// at the next node, from the last index it saw. It stops for good when the session ends.
// The stream stays on the node it reached, follower or leader (every node applies the same log
// and hears the leader's one-off requests), and the first node it tries is drawn from the
// session id, so 10,000 peers' streams spread over the nodes (issue 20). The peer's heartbeats
// and ticket requests travel on the same connection (any node answers them), so an online peer
// holds one connection to the tracker, not two, and renewing its tickets costs no handshake.
// When a node dies, its streams come back spread over five seconds, and the heartbeats and
// tickets meanwhile wait for them (until a third of the session's TTL has passed since the last
// answered heartbeat) instead of each opening a connection; which way each goes is
// stream-or-client.ts's to decide.

import type { Event } from '../log/domain/events.js';
import type { Connection, ConnectOptions, Timer, World } from '../world/world.js';
import type { ClientRequest, ClientResponse, Push, PushFrame, PushRequest, SessionCredential } from './client-protocol.js';
import { nodeAddress } from './cluster-config.js';
import { encodeFrame, FrameDecoder, FrameError } from './frame-codec.js';
import { PUSH_TICK_MS } from './push-hub.js';
import { trackerSecure, type TrackerTrust } from './tracker-trust.js';

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
/**
 * After a stream that stood breaks, the first reconnect waits a random part of this: the
 * thousands of streams a dead node held come back spread over it, not in one burst of TLS
 * handshakes at the survivors (issue 20: four elections in 45 s at 10,000 peers).
 */
export const RECONNECT_SPREAD_MS = 5_000;
/**
 * After its stream broke, a heartbeat or a ticket waits for the stream to stand again rather
 * than open a connection of its own (at 10,000 peers, a connection each doubled the survivors'
 * TLS handshakes): until a third of the session's TTL (its heartbeats' answers tell it), at
 * most MAX_STREAM_WAIT_MS, has passed since a heartbeat was last answered, so two thirds are
 * left for the tracker client (the node may have heard of that heartbeat a beat late); for
 * STREAM_WAIT_MS before any answer told the TTL.
 */
export const STREAM_WAIT_MS = 5_000;
export const MAX_STREAM_WAIT_MS = 10_000;
const RETRY_MAX_MS = 2_000;
const CONNECT_TIMEOUT_MS = 3_000;
/**
 * How long the stream's TLS handshake may take once connected: as long as a node lets it (10 s).
 * A node that a failover just sent thousands of streams queues their handshakes, and a client
 * that gave up on a queued one wasted its work (5,679 resets at 10,000 peers when it was 3 s).
 */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Codes after which subscribing again cannot help. */
const FINAL_CODES = new Set(['NOT_LOGGED_IN', 'SESSION_ENDED', 'REPLACED']);
/** How long a heartbeat on the stream waits for its answer before the peer tries its tracker client instead. */
const HEARTBEAT_TIMEOUT_MS = 2_000;
/** How long a ticket asked on the stream waits: a follower gives up its read after two election timeouts (2 s). */
const TICKET_TIMEOUT_MS = 3_000;
/**
 * What a standing stream's node answers while it cannot answer yet: it knows no leader (an
 * election is on), or it is behind the log, or busy. The request is asked again on the stream,
 * after a pause growing from ASK_AGAIN_MIN_MS to ASK_AGAIN_MAX_MS, within the same wait a broken
 * stream gets (STREAM_WAIT_MS): a new leader is a second or two away, and a peer that went to
 * its tracker client instead opened a connection and made a TLS handshake at a survivor in the
 * middle of the failover (issue 20: ten a peer, in the simulation of a leader's crash, and
 * thousands of handshakes refused at 10,000 peers). A node that stays leaderless past the wait
 * (it is cut off) sends the request through the client.
 */
const ASK_AGAIN_CODES = new Set(['NOT_LEADER', 'RETRY']);
const ASK_AGAIN_MIN_MS = 250;
const ASK_AGAIN_MAX_MS = 2_000;
/** The subscribe request's id on a stream; heartbeats and tickets take the ids after it. */
const SUBSCRIBE_ID = 1;

/** A heartbeat's answer on the stream; null when no stream is open or it did not answer in time. */
export type StreamHeartbeat = { ok: true } | { ok: false; code: string; message: string } | null;

/** A request a peer may send on its stream's connection (one of its session's, answered by the node the stream is on). */
type StreamRequest = Extract<ClientRequest, { type: 'heartbeat' } | { type: 'ticket' }>;
type Unnumbered<T> = T extends unknown ? Omit<T, 'id'> : never;

/** Where a session's stream starts: a node drawn from its (random) id, the same every time, no randomness drawn. */
function firstNodeOf(sessionId: string, nodes: number): number {
  let hash = 2_166_136_261;
  for (let i = 0; i < sessionId.length; i++) hash = Math.imul(hash ^ sessionId.charCodeAt(i), 16_777_619) >>> 0;
  return hash % nodes;
}

/** The session's TTL a heartbeat answer carries (null: none, or not a positive whole number of ms). */
function ttlOf(result: unknown): number | null {
  if (typeof result !== 'object' || result === null || !('ttlMs' in result)) return null;
  const { ttlMs } = result;
  return typeof ttlMs === 'number' && Number.isSafeInteger(ttlMs) && ttlMs > 0 ? ttlMs : null;
}

/** The stream position a heartbeat answer carries (a node before issue 20's change sends none). */
function streamPositionOf(result: unknown): number | null {
  if (typeof result !== 'object' || result === null || !('index' in result)) return null;
  const { index } = result;
  return typeof index === 'number' && Number.isSafeInteger(index) && index >= 0 ? index : null;
}

export interface SubscriptionOptions {
  /** The local host to connect from (TrackerClientOptions.localAddress). */
  localAddress?: string;
  /** How long after its stream broke requests wait for it until a heartbeat's answer told the session's TTL (default STREAM_WAIT_MS; a peer gives its heartbeat interval). */
  streamWaitMs?: number;
}

export class TrackerSubscription {
  private seen: number;
  private nextNode = 0;
  private connection: Connection | null = null;
  private retry: Timer | null = null;
  private retryMs = RETRY_MIN_MS;
  /** Failed opens since the stream last stood. */
  private failures = 0;
  /** When the stream that stood last broke (monotonic ms); null while it stands, or before it first stood. */
  private brokeAtMs: number | null = null;
  /** The session's TTL, as the last heartbeat answered on the stream told it. */
  private ttlMs: number | null = null;
  /** When a heartbeat of the session was last answered, on the stream or elsewhere (monotonic ms). */
  private lastBeatMs: number | null = null;
  /** Requests waiting for the stream to stand again (each also ends when its wait is over). */
  private readonly waitingForStream = new Set<() => void>();
  private closed = false;
  /** The node the stream is on now, while it is. */
  node: string | null = null;
  /** Requests sent on the stream's connection, by request id, waiting for their answers (null: none came). */
  private readonly asked = new Map<number, (answer: ClientResponse | null) => void>();
  private nextRequestId = SUBSCRIBE_ID + 1;

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
    this.nextNode = firstNodeOf(session.sessionId, nodes.length);
    this.open();
  }

  /** The last log index this stream has gone through: a new subscription resumes after it. */
  get seenIndex(): number {
    return this.seen;
  }

  /** The session this stream is for. */
  get sessionId(): string {
    return this.session.sessionId;
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
    this.endRequests();
    this.streamStood();
  }

  /**
   * A heartbeat for the session on the stream's connection, answered by the node the stream is
   * on. While the stream reconnects it waits for it, and while its node cannot answer yet it asks
   * again (ASK_AGAIN_CODES): a third of the TTL since the last answered heartbeat at most, see
   * STREAM_WAIT_MS. Null when no stream is open then, or when no answer came in time. Its answer
   * says where the stream stands, as a tick does.
   */
  async heartbeat(port?: number): Promise<StreamHeartbeat> {
    return this.heartbeatAnswer(await this.askPatiently(this.heartbeatRequest(port), HEARTBEAT_TIMEOUT_MS, this.lastBeatMs));
  }

  /**
   * A heartbeat on the stream as soon as it stands again, unless `given` comes first (null then):
   * asked beside the tracker client's try when the stream's wait ran out (heartbeatVia in stream-or-client.ts).
   */
  async heartbeatOnceStanding(port: number | undefined, given: Promise<unknown>): Promise<StreamHeartbeat> {
    return (await this.standsBefore(given)) ? this.heartbeatAnswer(await this.ask(this.heartbeatRequest(port), HEARTBEAT_TIMEOUT_MS)) : null;
  }

  /** A ticket on the stream as soon as it stands again, unless `given` comes first (null then); see heartbeatOnceStanding. */
  async ticketOnceStanding(group: string, fileId: string, given: Promise<unknown>): Promise<ClientResponse | null> {
    return (await this.standsBefore(given)) ? this.ask({ type: 'ticket', session: this.session, group, fileId }, TICKET_TIMEOUT_MS) : null;
  }

  private heartbeatRequest(port: number | undefined): Unnumbered<StreamRequest> {
    return { type: 'heartbeat', session: this.session, ...(port === undefined ? {} : { port }) };
  }

  private heartbeatAnswer(response: ClientResponse | null): StreamHeartbeat {
    if (response === null) return null;
    if (!response.ok) return { ok: false, code: response.error.code, message: response.error.message };
    // Its `index` is a tick's: every push up to there came before this answer on the stream.
    this.seen = Math.max(this.seen, streamPositionOf(response.result) ?? this.seen);
    this.ttlMs = ttlOf(response.result) ?? this.ttlMs;
    this.heartbeatAnswered();
    return { ok: true };
  }

  /** Whether the stream stands (now, or once it stands again) before `given` settles or the subscription closes. */
  private standsBefore(given: Promise<unknown>): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (this.node !== null) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (): void => {
        this.waitingForStream.delete(done);
        resolve(this.node !== null);
      };
      this.waitingForStream.add(done);
      const giveUp = (): void => {
        if (this.waitingForStream.delete(done)) resolve(false);
      };
      given.then(giveUp, giveUp);
    });
  }

  /** A heartbeat of this session was answered (here, or through the tracker client): waits for the stream count from now. */
  heartbeatAnswered(): void {
    this.lastBeatMs = this.world.clock.monotonicMs();
  }

  /** A ticket asked on the stream's connection (any node signs one, after a linearizable read), waiting for the stream and asking again as a heartbeat does, for the stream wait from now; null when no stream is open or no answer came in time. */
  async ticket(group: string, fileId: string): Promise<ClientResponse | null> {
    return this.askPatiently({ type: 'ticket', session: this.session, group, fileId }, TICKET_TIMEOUT_MS, null);
  }

  /**
   * A request on the stream (askOnStream), asked again while its node answers that it cannot
   * answer yet (ASK_AGAIN_CODES), until the stream wait counted from `sinceMs` (monotonic; null:
   * from now) is over. The last answer is returned, refusal or not.
   */
  private async askPatiently(body: Unnumbered<StreamRequest>, timeoutMs: number, sinceMs: number | null): Promise<ClientResponse | null> {
    const untilMs = (sinceMs ?? this.world.clock.monotonicMs()) + this.streamWaitMs();
    for (let attempt = 0; ; attempt++) {
      const response = await this.askOnStream(body, timeoutMs);
      if (response === null || response.ok || !ASK_AGAIN_CODES.has(response.error.code) || this.closed) return response;
      const capMs = Math.min(ASK_AGAIN_MAX_MS, ASK_AGAIN_MIN_MS * 2 ** attempt);
      const pauseMs = capMs / 2 + this.world.rng.int(capMs / 2);
      if (this.world.clock.monotonicMs() + pauseMs >= untilMs) return response;
      await new Promise<void>((resolve) => this.world.clock.setTimer(pauseMs, resolve));
    }
  }

  /**
   * A request (a heartbeat or a ticket: asking twice does no harm) on the stream once it stands;
   * asked again once if the stream broke under it. Null when no stream stood within the wait, or
   * a standing one did not answer in time.
   */
  private async askOnStream(body: Unnumbered<StreamRequest>, timeoutMs: number): Promise<ClientResponse | null> {
    // One deadline for both waits: a stream that breaks again does not stretch it.
    let deadlineMs = this.waitDeadlineMs();
    await this.standing(deadlineMs);
    const answer = await this.ask(body, timeoutMs);
    if (answer !== null || this.brokeAtMs === null) return answer;
    deadlineMs ??= this.waitDeadlineMs();
    await this.standing(deadlineMs);
    return this.ask(body, timeoutMs);
  }

  /** How long a request waits for the stream, or asks again: a third of the session's TTL once an answer told it (at most MAX_STREAM_WAIT_MS), else the options' wait. */
  private streamWaitMs(): number {
    return this.ttlMs === null ? (this.options.streamWaitMs ?? STREAM_WAIT_MS) : Math.min(this.ttlMs / 3, MAX_STREAM_WAIT_MS);
  }

  /** Until when (monotonic ms) a request may wait for the stream that broke; null while it stands, or before it first stood. */
  private waitDeadlineMs(): number | null {
    if (this.brokeAtMs === null) return null;
    return (this.lastBeatMs ?? this.brokeAtMs) + this.streamWaitMs();
  }

  /** Resolves once the stream stands, or at `deadlineMs` (at once if it stands, or there is none). */
  private standing(deadlineMs: number | null): Promise<void> {
    if (this.node !== null || this.closed || deadlineMs === null) return Promise.resolve();
    const leftMs = deadlineMs - this.world.clock.monotonicMs();
    if (leftMs <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        timer.cancel();
        this.waitingForStream.delete(done);
        resolve();
      };
      const timer = this.world.clock.setTimer(leftMs, done);
      this.waitingForStream.add(done);
    });
  }

  /** The stream stands again (or is closed for good): whatever waited for it goes on. */
  private streamStood(): void {
    for (const done of [...this.waitingForStream]) done();
  }

  private ask(body: Unnumbered<StreamRequest>, timeoutMs: number): Promise<ClientResponse | null> {
    const connection = this.connection;
    if (connection === null || this.node === null) return Promise.resolve(null);
    const id = this.nextRequestId++;
    return new Promise((resolve) => {
      const timer = this.world.clock.setDeadline(timeoutMs, () => {
        if (this.asked.delete(id)) resolve(null);
      });
      this.asked.set(id, (answer) => {
        timer.cancel();
        resolve(answer);
      });
      connection.write(encodeFrame({ id, ...body }));
    });
  }

  /** Requests waiting on a stream that is gone: no answer. */
  private endRequests(): void {
    const waiting = [...this.asked.values()];
    this.asked.clear();
    for (const answer of waiting) answer(null);
  }

  private connectOptions(address: string): ConnectOptions {
    const local = this.options.localAddress === undefined ? {} : { localAddress: this.options.localAddress };
    return { timeoutMs: CONNECT_TIMEOUT_MS, handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS, secure: trackerSecure(this.trust, address), ...local };
  }

  private open(preferred: string | null = null): void {
    if (this.closed) return;
    // After a failure, any node but the one that failed: the streams of a dead node spread over
    // the survivors instead of all moving to the next one in the list.
    if (preferred === null && this.failures > 0 && this.nodes.length > 2) this.nextNode += this.world.rng.int(this.nodes.length - 1);
    const address = preferred ?? this.nodes[this.nextNode++ % this.nodes.length]!;
    this.world.net.connect(nodeAddress(address), this.connectOptions(address)).then(
      (connection) => this.attach(connection, address),
      () => this.again(),
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
      silence = this.world.clock.setDeadline(SILENCE_MS, () => connection.destroy());
    };
    heard();
    connection.attach({
      data: (bytes) => {
        if (this.connection !== connection) return; // a stream we left
        heard();
        const frames = decoder.tryPush(bytes);
        if (frames instanceof FrameError) return connection.destroy();
        for (const frame of frames) {
          if (ended) return;
          if ('push' in (frame as object)) ended = this.pushed((frame as PushFrame).push);
          else if ((frame as ClientResponse).id !== SUBSCRIBE_ID) this.requestAnswered(frame as ClientResponse);
          else ended = this.answered(frame as ClientResponse, address);
          if (ended) connection.destroy();
        }
      },
      close: () => {
        silence?.cancel();
        if (this.connection !== connection) return;
        const stood = this.node !== null;
        this.connection = null;
        this.node = null;
        if (stood) this.brokeAtMs = this.world.clock.monotonicMs();
        this.endRequests();
        this.again(stood);
      },
    });
    connection.write(encodeFrame({ id: SUBSCRIBE_ID, type: 'subscribe', session: this.session, afterIndex: this.seen }));
  }

  /** The answer to our subscribe; true when this stream is over. */
  private answered(response: ClientResponse, address: string): boolean {
    if (response.ok) {
      this.node = address;
      this.retryMs = RETRY_MIN_MS;
      this.failures = 0;
      this.brokeAtMs = null;
      this.streamStood();
      return false;
    }
    if (FINAL_CODES.has(response.error.code)) this.finish(response.error.code, response.error.message);
    return true;
  }

  /** The answer to a request sent on the stream. */
  private requestAnswered(response: ClientResponse): void {
    const answer = this.asked.get(response.id);
    if (answer === undefined) return;
    this.asked.delete(response.id);
    answer(response);
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

  /** Opens the stream again later: `stood` when the stream that broke had stood (else an open failed). */
  private again(stood = false): void {
    if (this.closed || this.retry) return;
    this.failures++;
    // The first reconnect after a break is spread over RECONNECT_SPREAD_MS; after a failed open,
    // half the back-off plus a random part of it. Either way the thousands of streams a node
    // held when it died come back spread over time, not in one burst of handshakes.
    const delayMs = stood
      ? 1 + this.world.rng.int(RECONNECT_SPREAD_MS)
      : this.retryMs / 2 + this.world.rng.int(Math.max(1, Math.floor(this.retryMs / 2)));
    this.retry = this.world.clock.setTimer(delayMs, () => {
      this.retry = null;
      this.open();
    });
    if (!stood) this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
  }
}
