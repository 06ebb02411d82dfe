// Why this file exists: Raft messages between tracker processes over framed TCP in mutual TLS.
// Each node dials every peer (one outgoing connection each, redialled with backoff) and
// accepts their dials. Both ends show a certificate of the cluster's CA naming them
// (`clique:node/n2`): the listener learns who dialled from the certificate, the dialer checks
// it reached the node it meant, and nothing is read before that. Frames queued in one turn of
// the event loop go out in one write; a full queue drops the oldest (Raft recovers from lost
// messages). The same links carry the push channel's one-off requests between nodes (relay),
// and once a second a clock ping to every peer, answered with the peer's wall time over its own
// link to us: the round trips by which each node knows how far its clock is (clock-watch.ts).
// A follower also sends the leader, once a second, the sessions whose heartbeats it answered
// (session-service.ts), so heartbeats need not all reach the leader.

import type { CertifiedKey, Connection, Listener, NetAddress, PeerIdentity, Timer, World } from '../world/world.js';
import { encodeFrame, FrameDecoder, FrameError } from './frame-codec.js';
import type { RaftTransport } from './transport.js';
import type { Message, NodeId } from '../raft/types.js';
import { formatNetAddress } from '../world/net-address.js';
import type { PushRelay, RelayedPush } from './push-hub.js';
import { HEARD_BATCH_MAX_SESSIONS, type HeardBatch, type HeartbeatRelay } from './session-service.js';
import { nodeUri } from './tracker-trust.js';
import { CLOCK_PING_EVERY_MS, ClockWatch } from './clock-watch.js';
import type { SnapshotAck, SnapshotChunk } from './snapshot-transfer.js';

export const MAX_QUEUED_FRAMES = 4096;
/**
 * Frames between nodes (both ends proven by certificate before a byte is read) may be larger than
 * a client's: a snapshot chunk holds at least one whole record, and an archive segment of one big
 * applied batch is up to 8 MiB, a third more in base64.
 */
export const PEER_MAX_FRAME_BYTES = 24 * 1024 * 1024;
const MAX_INBOUND_CONNECTIONS = 256;
const BACKOFF_MIN_MS = 50;
const BACKOFF_MAX_MS = 1_000;

type Frame =
  | { type: 'raft'; message: Message }
  | { type: 'relay'; push: RelayedPush }
  /** The sessions a follower heard heartbeats from, for the leader. */
  | { type: 'heartbeats'; batch: HeardBatch }
  /** The sender's monotonic clock, opaque to the receiver, which echoes it back. */
  | { type: 'clockPing'; sentMonotonicMs: number }
  /** The echo, with the answering node's wall clock. */
  | { type: 'clockPong'; sentMonotonicMs: number; wallMs: number }
  /** Part of a store on its way to a follower (snapshot-transfer.ts), and the follower's answer. */
  | { type: 'snapshotChunk'; chunk: SnapshotChunk }
  | { type: 'snapshotAck'; ack: SnapshotAck };

export interface TransportLog {
  (event: string, fields: Record<string, unknown>): void;
}

/** This node's TLS key and certificate, and the cluster CA every node's certificate chains to. */
export interface ClusterTls {
  own: CertifiedKey;
  caPem: string;
}

/** Our outgoing connection to one peer. */
class PeerLink {
  private connection: Connection | null = null;
  private ready = false;
  private connecting = false;
  private queue: Uint8Array[] = [];
  private flushScheduled = false;
  private backoffMs = BACKOFF_MIN_MS;
  private retry: Timer | null = null;
  private closed = false;

  constructor(
    private readonly transport: TcpRaftTransport,
    readonly peer: NodeId,
    private readonly address: NetAddress,
  ) {}

  /** Connected and handshaken: a frame sent now leaves at once. */
  get isReady(): boolean {
    return this.ready && !this.closed;
  }

  send(frame: Uint8Array): void {
    if (this.closed) return;
    this.queue.push(frame);
    if (this.queue.length > MAX_QUEUED_FRAMES) this.queue.shift();
    if (this.ready) this.scheduleFlush();
    else this.dial();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (!this.ready || !this.connection || this.queue.length === 0) return;
    const frames = this.queue;
    this.queue = [];
    this.connection.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
  }

  private dial(): void {
    if (this.connecting || this.connection || this.closed || this.retry) return;
    this.connecting = true;
    const { tls } = this.transport;
    const expected = nodeUri(this.peer);
    const secure = {
      own: tls.own,
      caPem: tls.caPem,
      accept: (peer: PeerIdentity | null): string | null =>
        peer?.trusted && peer.uris.includes(expected) ? null : `the listener is not ${expected} of this cluster`,
    };
    this.transport.world.net.connect(this.address, { timeoutMs: 2_000, secure }).then(
      (connection) => {
        this.connecting = false;
        if (this.closed) return connection.destroy();
        this.connection = connection;
        this.attach(connection);
      },
      (error: unknown) => {
        this.connecting = false;
        const code = (error as { code?: unknown }).code;
        if (code === 'ETLS') this.transport.log('peer_auth_failed', { peer: this.peer, reason: error instanceof Error ? error.message.slice(0, 200) : 'TLS' });
        this.scheduleRedial();
      },
    );
  }

  private scheduleRedial(): void {
    if (this.closed || this.retry) return;
    this.retry = this.transport.world.clock.setTimer(this.backoffMs, () => {
      this.retry = null;
      if (this.queue.length > 0) this.dial();
    });
    this.backoffMs = Math.min(BACKOFF_MAX_MS, this.backoffMs * 2);
  }

  /** The listener is who we meant (checked in the handshake): frames flow at once; it never writes to us. */
  private attach(connection: Connection): void {
    connection.attach({
      data: () => {},
      close: () => {
        this.connection = null;
        this.ready = false;
        if (this.queue.length > 0) this.scheduleRedial();
      },
      drain: () => this.scheduleFlush(),
    });
    this.ready = true;
    this.backoffMs = BACKOFF_MIN_MS;
    this.scheduleFlush();
  }

  close(): void {
    this.closed = true;
    this.retry?.cancel();
    this.connection?.destroy();
  }
}

export class TcpRaftTransport implements RaftTransport, PushRelay, HeartbeatRelay {
  private handler: (message: Message) => void = () => {};
  private relayHandler: (push: RelayedPush) => void = () => {};
  private heartbeatsHandler: (from: NodeId, batch: HeardBatch) => void = () => {};
  private chunkHandler: (from: NodeId, chunk: SnapshotChunk) => void = () => {};
  private ackHandler: (from: NodeId, ack: SnapshotAck) => void = () => {};
  private readonly links = new Map<NodeId, PeerLink>();
  private listener: Listener | null = null;
  private readonly inbound = new Set<Connection>();
  private pinger: Timer | null = null;
  /** What the clock pings have measured of the other nodes' wall clocks. */
  readonly clockWatch: ClockWatch;

  constructor(
    readonly world: World,
    readonly self: NodeId,
    peers: ReadonlyMap<NodeId, NetAddress>,
    readonly tls: ClusterTls,
    readonly log: TransportLog = () => {},
  ) {
    for (const [id, address] of peers) if (id !== self) this.links.set(id, new PeerLink(this, id, address));
    this.clockWatch = new ClockWatch(world.clock, this.links.size + 1);
  }

  /** Measures every peer's wall clock now and every CLOCK_PING_EVERY_MS. */
  private pingClocks(): void {
    const frame = encodeFrame({ type: 'clockPing', sentMonotonicMs: this.world.clock.monotonicMs() } satisfies Frame);
    for (const link of this.links.values()) link.send(frame);
    this.pinger = this.world.clock.setTimer(CLOCK_PING_EVERY_MS, () => this.pingClocks());
  }

  async listen(address: NetAddress): Promise<NetAddress> {
    const peerUris = new Map([...this.links.keys()].map((id) => [nodeUri(id), id]));
    this.listener = await this.world.net.listen(address, (connection) => this.accept(connection), {
      secure: {
        own: this.tls.own,
        caPem: this.tls.caPem,
        requestPeerCertificate: true,
        accept: (peer) => (peer?.trusted && peer.uris.some((uri) => peerUris.has(uri)) ? null : 'not a certificate of another node of this cluster'),
      },
      refused: (remote, reason) => this.log('peer_auth_failed', { remote: formatNetAddress(remote), reason: reason.slice(0, 200) }),
    });
    this.pingClocks();
    return this.listener.address;
  }

  send(message: Message): void {
    this.links.get(message.to)?.send(encodeFrame({ type: 'raft', message } satisfies Frame));
  }

  onMessage(handler: (message: Message) => void): void {
    this.handler = handler;
  }

  /** A one-off push request, to every other node (best effort, like Raft messages). */
  relay(push: RelayedPush): void {
    const frame = encodeFrame({ type: 'relay', push } satisfies Frame);
    for (const link of this.links.values()) link.send(frame);
  }

  onRelay(handler: (push: RelayedPush) => void): void {
    this.relayHandler = handler;
  }

  reaches(to: NodeId): boolean {
    return this.links.get(to)?.isReady === true;
  }

  /** The sessions this node heard from, to the leader: sent now or dropped (a batch queued while the link is down would reach the leader late and pass old signs of life for new). */
  sendHeartbeats(to: NodeId, batch: HeardBatch): void {
    const link = this.links.get(to);
    if (link?.isReady === true) link.send(encodeFrame({ type: 'heartbeats', batch } satisfies Frame));
  }

  onHeartbeats(handler: (from: NodeId, batch: HeardBatch) => void): void {
    this.heartbeatsHandler = handler;
  }

  sendSnapshotChunk(to: NodeId, chunk: SnapshotChunk): void {
    this.links.get(to)?.send(encodeFrame({ type: 'snapshotChunk', chunk } satisfies Frame, PEER_MAX_FRAME_BYTES));
  }

  sendSnapshotAck(to: NodeId, ack: SnapshotAck): void {
    this.links.get(to)?.send(encodeFrame({ type: 'snapshotAck', ack } satisfies Frame));
  }

  onSnapshotChunk(handler: (from: NodeId, chunk: SnapshotChunk) => void): void {
    this.chunkHandler = handler;
  }

  onSnapshotAck(handler: (from: NodeId, ack: SnapshotAck) => void): void {
    this.ackHandler = handler;
  }

  close(): void {
    this.pinger?.cancel();
    for (const link of this.links.values()) link.close();
    for (const connection of this.inbound) connection.destroy();
    void this.listener?.close();
  }

  /** A peer dialled us; its certificate (checked in the handshake) says which. */
  private accept(connection: Connection): void {
    const peer = connection.peer?.uris.map((uri) => [...this.links.keys()].find((id) => nodeUri(id) === uri)).find((id) => id !== undefined);
    if (peer === undefined || this.inbound.size >= MAX_INBOUND_CONNECTIONS) {
      this.log('peer_auth_failed', { remote: formatNetAddress(connection.remote), reason: peer === undefined ? 'no node certificate' : 'too many connections' });
      return connection.destroy();
    }
    this.inbound.add(connection);
    const decoder = new FrameDecoder(PEER_MAX_FRAME_BYTES);
    const refuse = (event: string, reason: string): void => {
      this.log(event, { remote: formatNetAddress(connection.remote), peer, reason });
      connection.destroy();
    };
    connection.attach({
      data: (bytes) => {
        const messages = decoder.tryPush(bytes);
        if (messages instanceof FrameError) return refuse('peer_frame_refused', messages.message);
        for (const raw of messages) {
          const m = raw as Frame;
          if (m.type === 'relay') {
            if (!isRelayedPush(m.push)) return refuse('peer_message_refused', 'malformed push relay');
            this.relayHandler(m.push);
          } else if (m.type === 'heartbeats') {
            // A bad batch (an older or newer build's, perhaps larger) costs its heartbeats, not
            // the link that carries Raft too.
            if (isHeardBatch(m.batch)) this.heartbeatsHandler(peer, m.batch);
            else this.log('peer_message_ignored', { remote: formatNetAddress(connection.remote), peer, reason: 'malformed heartbeat batch' });
          } else if (m.type === 'clockPing') {
            if (!Number.isFinite(m.sentMonotonicMs)) return refuse('peer_message_refused', 'malformed clock ping');
            this.links.get(peer)?.send(encodeFrame({ type: 'clockPong', sentMonotonicMs: m.sentMonotonicMs, wallMs: this.world.clock.nowMs() } satisfies Frame));
          } else if (m.type === 'clockPong') {
            if (!Number.isFinite(m.sentMonotonicMs) || !Number.isFinite(m.wallMs)) return refuse('peer_message_refused', 'malformed clock pong');
            this.clockWatch.sample(peer, m.sentMonotonicMs, m.wallMs);
          } else if (m.type === 'snapshotChunk') {
            if (!isSnapshotChunk(m.chunk)) return refuse('peer_message_refused', 'malformed snapshot chunk');
            this.chunkHandler(peer, m.chunk);
          } else if (m.type === 'snapshotAck') {
            if (!isSnapshotAck(m.ack)) return refuse('peer_message_refused', 'malformed snapshot acknowledgement');
            this.ackHandler(peer, m.ack);
          } else if (m.type === 'raft') {
            if (!isMessageFrom(m.message, peer, this.self)) return refuse('peer_message_refused', 'malformed or misaddressed Raft message');
            try {
              this.handler(m.message);
            } catch (error) {
              return refuse('peer_message_refused', error instanceof Error ? error.message.slice(0, 200) : 'message could not be handled');
            }
          } else {
            const type: unknown = (m as { type?: unknown }).type;
            return refuse('peer_message_refused', `unexpected ${typeof type === 'string' ? type.slice(0, 20) : typeof type}`);
          }
        }
      },
      close: () => this.inbound.delete(connection),
    });
  }
}

const MESSAGE_TYPES = new Set([
  'PreVote',
  'PreVoteResponse',
  'Vote',
  'VoteResponse',
  'Append',
  'AppendResponse',
  'Heartbeat',
  'HeartbeatResponse',
  'TimeoutNow',
  'ReadIndex',
  'ReadIndexResponse',
]);

function isRelayedPush(value: unknown): value is RelayedPush {
  if (typeof value !== 'object' || value === null) return false;
  const { sessionId, request } = value as { sessionId?: unknown; request?: unknown };
  if (typeof sessionId !== 'string' || sessionId.length > 64 || typeof request !== 'object' || request === null) return false;
  const r = request as Record<string, unknown>;
  return r.type === 'dialBack' && [r.group, r.fileId, r.address, r.user, r.key].every((field) => typeof field === 'string' && field.length <= 256);
}


function isHeardBatch(value: unknown): value is HeardBatch {
  if (typeof value !== 'object' || value === null) return false;
  const { sessions, moved } = value as { sessions?: unknown; moved?: unknown };
  if (!Array.isArray(sessions) || !Array.isArray(moved) || sessions.length > HEARD_BATCH_MAX_SESSIONS || moved.length > sessions.length) return false;
  if (!sessions.every((id) => typeof id === 'string' && id.length <= 64)) return false;
  return moved.every((m: unknown) => {
    if (typeof m !== 'object' || m === null) return false;
    const { sessionId, host, port } = m as Record<string, unknown>;
    return typeof sessionId === 'string' && sessionId.length <= 64 && typeof host === 'string' && host.length <= 64 && Number.isInteger(port) && (port as number) >= 1 && (port as number) <= 65_535;
  });
}

function isSnapshotChunk(value: unknown): value is SnapshotChunk {
  if (typeof value !== 'object' || value === null) return false;
  const { transferId, term, seq, records, done } = value as Record<string, unknown>;
  const { ordinal } = value as Record<string, unknown>;
  return typeof transferId === 'string' && transferId.length <= 64 && Number.isSafeInteger(term) && Number.isSafeInteger(ordinal) && Number.isSafeInteger(seq) && (seq as number) >= 0 && records instanceof Uint8Array && typeof done === 'boolean';
}

function isSnapshotAck(value: unknown): value is SnapshotAck {
  if (typeof value !== 'object' || value === null) return false;
  const { transferId, seq, ok } = value as Record<string, unknown>;
  return typeof transferId === 'string' && transferId.length <= 64 && Number.isSafeInteger(seq) && typeof ok === 'boolean';
}

function isMessageFrom(value: unknown, from: NodeId, to: NodeId): value is Message {
  if (typeof value !== 'object' || value === null) return false;
  const m = value as Record<string, unknown>;
  return m.from === from && m.to === to && typeof m.type === 'string' && MESSAGE_TYPES.has(m.type) && Number.isSafeInteger(m.term);
}
