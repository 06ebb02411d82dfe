// Why this file exists: Raft messages between tracker processes over framed TCP. Each node dials
// every peer (one outgoing connection each, redialled with backoff) and accepts their dials.
// Before any Raft message counts, both ends prove they hold the cluster secret: the dialer sends
// a nonce, the listener answers with a nonce of its own and an HMAC over both nonces and both
// node ids, the dialer answers with its own HMAC over the same. Frames queued in one turn of
// the event loop go out in one write; a full queue drops the oldest (Raft recovers from lost
// messages). The same links carry the push channel's one-off requests between nodes (relay).


import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Connection, Listener, NetAddress, Timer, World } from '../world/world.js';
import { DEFAULT_MAX_FRAME_BYTES, encodeFrame, FrameDecoder, FrameError } from './frame-codec.js';
import type { RaftTransport } from './transport.js';
import type { Message, NodeId } from '../raft/types.js';
import { formatNetAddress } from '../world/net-address.js';
import type { PushRelay, RelayedPush } from './push-hub.js';

export const MAX_QUEUED_FRAMES = 4096;
const HANDSHAKE_FRAME_BYTES = 64 * 1024;
const EMPTY = new Uint8Array(0);
const MAX_INBOUND_CONNECTIONS = 256;
const HANDSHAKE_TIMEOUT_MS = 5_000;
const BACKOFF_MIN_MS = 50;
const BACKOFF_MAX_MS = 1_000;

type Handshake =
  | { type: 'hello'; from: NodeId; nonce: string }
  | { type: 'challenge'; nonce: string; mac: string }
  | { type: 'auth'; mac: string }
  | { type: 'raft'; message: Message }
  | { type: 'relay'; push: RelayedPush };

export interface TransportLog {
  (event: string, fields: Record<string, unknown>): void;
}

function mac(secret: Uint8Array, ...parts: string[]): string {
  const h = createHmac('sha256', secret);
  for (const part of parts) h.update(part).update('\u0000');
  return h.digest('base64');
}

function sameMac(a: unknown, b: string): boolean {
  if (typeof a !== 'string') return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
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
    this.transport.world.net.connect(this.address, { timeoutMs: 2_000 }).then(
      (connection) => {
        this.connecting = false;
        if (this.closed) return connection.destroy();
        this.connection = connection;
        this.handshake(connection);
      },
      () => {
        this.connecting = false;
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

  private handshake(connection: Connection): void {
    const { world, self, secret } = this.transport;
    const nonce = Buffer.from(world.rng.bytes(16)).toString('base64');
    const decoder = new FrameDecoder(64 * 1024);
    const timeout = world.clock.setTimer(HANDSHAKE_TIMEOUT_MS, () => connection.destroy());
    connection.attach({
      data: (bytes) => {
        const messages = decoder.tryPush(bytes);
        if (messages instanceof FrameError) {
          this.transport.log('peer_frame_refused', { peer: this.peer, reason: messages.message });
          return connection.destroy();
        }
        for (const raw of messages) {
          const m = raw as Handshake;
          if (this.ready || m.type !== 'challenge' || typeof m.nonce !== 'string' || !sameMac(m.mac, mac(secret, 'listener', nonce, m.nonce, self, this.peer))) {
            this.transport.log('peer_auth_failed', { peer: this.peer, reason: 'bad challenge from the listener' });
            return connection.destroy();
          }
          timeout.cancel();
          connection.write(encodeFrame({ type: 'auth', mac: mac(secret, 'dialer', nonce, m.nonce, self, this.peer) } satisfies Handshake));
          this.ready = true;
          this.backoffMs = BACKOFF_MIN_MS;
          this.scheduleFlush();
        }
      },
      close: () => {
        timeout.cancel();
        this.connection = null;
        this.ready = false;
        if (this.queue.length > 0) this.scheduleRedial();
      },
      drain: () => this.scheduleFlush(),
    });
    connection.write(encodeFrame({ type: 'hello', from: self, nonce } satisfies Handshake));
  }

  close(): void {
    this.closed = true;
    this.retry?.cancel();
    this.connection?.destroy();
  }
}

export class TcpRaftTransport implements RaftTransport, PushRelay {
  private handler: (message: Message) => void = () => {};
  private relayHandler: (push: RelayedPush) => void = () => {};
  private readonly links = new Map<NodeId, PeerLink>();
  private listener: Listener | null = null;
  private readonly inbound = new Set<Connection>();

  constructor(
    readonly world: World,
    readonly self: NodeId,
    peers: ReadonlyMap<NodeId, NetAddress>,
    readonly secret: Uint8Array,
    readonly log: TransportLog = () => {},
  ) {
    for (const [id, address] of peers) if (id !== self) this.links.set(id, new PeerLink(this, id, address));
  }

  async listen(address: NetAddress): Promise<NetAddress> {
    this.listener = await this.world.net.listen(address, (connection) => this.accept(connection));
    return this.listener.address;
  }

  send(message: Message): void {
    this.links.get(message.to)?.send(encodeFrame({ type: 'raft', message } satisfies Handshake));
  }

  onMessage(handler: (message: Message) => void): void {
    this.handler = handler;
  }

  /** A one-off push request, to every other node (best effort, like Raft messages). */
  relay(push: RelayedPush): void {
    const frame = encodeFrame({ type: 'relay', push } satisfies Handshake);
    for (const link of this.links.values()) link.send(frame);
  }

  onRelay(handler: (push: RelayedPush) => void): void {
    this.relayHandler = handler;
  }

  close(): void {
    for (const link of this.links.values()) link.close();
    for (const connection of this.inbound) connection.destroy();
    void this.listener?.close();
  }

  /** A peer dialled us: it must prove the secret before its messages count. */
  private accept(connection: Connection): void {
    if (this.inbound.size >= MAX_INBOUND_CONNECTIONS) {
      this.log('peer_auth_failed', { remote: formatNetAddress(connection.remote), reason: 'too many connections' });
      return connection.destroy();
    }
    this.inbound.add(connection);
    // Small frames until the peer has proven the secret; full-size Raft frames after.
    const decoder = new FrameDecoder(HANDSHAKE_FRAME_BYTES);
    const nonce = Buffer.from(this.world.rng.bytes(16)).toString('base64');
    let peer: NodeId | null = null;
    let dialerNonce = '';
    let authenticated = false;
    const refuse = (event: string, reason: string): void => {
      this.log(event, { remote: formatNetAddress(connection.remote), peer, reason });
      connection.destroy();
    };
    const timeout = this.world.clock.setTimer(HANDSHAKE_TIMEOUT_MS, () => {
      if (!authenticated) refuse('peer_auth_failed', 'no handshake in time');
    });
    connection.attach({
      data: (bytes) => {
        // Before the peer has proven the secret, one small frame at a time: the limit rises at
        // once when the auth frame checks out, even if Raft frames follow in the same bytes.
        let messages = decoder.tryPush(bytes, authenticated ? Infinity : 1);
        while (!(messages instanceof FrameError) && messages.length > 0) {
          for (const raw of messages) {
            const m = raw as Handshake;
            if (authenticated && m.type === 'relay') {
              if (!isRelayedPush(m.push)) return refuse('peer_message_refused', 'malformed push relay');
              this.relayHandler(m.push);
            } else if (authenticated && m.type === 'raft') {
              if (!isMessageFrom(m.message, peer!, this.self)) return refuse('peer_message_refused', 'malformed or misaddressed Raft message');
              try {
                this.handler(m.message);
              } catch (error) {
                return refuse('peer_message_refused', error instanceof Error ? error.message.slice(0, 200) : 'message could not be handled');
              }
            } else if (!authenticated && peer === null && m.type === 'hello' && typeof m.from === 'string' && this.links.has(m.from) && typeof m.nonce === 'string') {
              peer = m.from;
              dialerNonce = m.nonce;
              connection.write(encodeFrame({ type: 'challenge', nonce, mac: mac(this.secret, 'listener', m.nonce, nonce, m.from, this.self) } satisfies Handshake));
            } else if (!authenticated && peer !== null && m.type === 'auth' && sameMac(m.mac, mac(this.secret, 'dialer', dialerNonce, nonce, peer, this.self))) {
              authenticated = true;
              decoder.setMaxFrameBytes(DEFAULT_MAX_FRAME_BYTES);
              timeout.cancel();
            } else {
              const type: unknown = (m as { type?: unknown }).type;
              return refuse('peer_auth_failed', type === 'raft' ? 'Raft message before proving the cluster secret' : `unexpected ${typeof type === 'string' ? type.slice(0, 20) : typeof type}`);
            }
          }
          messages = decoder.tryPush(EMPTY, authenticated ? Infinity : 1);
        }
        if (messages instanceof FrameError) return refuse('peer_frame_refused', messages.message);
      },
      close: () => {
        timeout.cancel();
        this.inbound.delete(connection);
      },
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
  'InstallSnapshot',
  'InstallSnapshotResponse',
  'TimeoutNow',
  'ReadIndex',
  'ReadIndexResponse',
]);

function isRelayedPush(value: unknown): value is RelayedPush {
  if (typeof value !== 'object' || value === null) return false;
  const { sessionId, request } = value as { sessionId?: unknown; request?: unknown };
  if (typeof sessionId !== 'string' || sessionId.length > 64 || typeof request !== 'object' || request === null) return false;
  const r = request as Record<string, unknown>;
  return r.type === 'dialBack' && [r.group, r.fileId, r.address, r.user].every((field) => typeof field === 'string' && field.length <= 256);
}

function isMessageFrom(value: unknown, from: NodeId, to: NodeId): value is Message {
  if (typeof value !== 'object' || value === null) return false;
  const m = value as Record<string, unknown>;
  return m.from === from && m.to === to && typeof m.type === 'string' && MESSAGE_TYPES.has(m.type) && Number.isSafeInteger(m.term);
}
