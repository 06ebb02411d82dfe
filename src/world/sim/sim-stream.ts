// One end of a simulated TCP-like connection. Writes become numbered segments on the packet
// layer; the receiving end delivers them exactly once and in order (duplicates discarded, early
// segments held until the gap fills). A lost segment resets both ends, as TCP does when
// retransmission gives up: a stream with a hole is useless.

import type { Scheduler } from './event-queue.js';
import type { PacketLayer } from './sim-packets.js';
import type { Connection, ConnectionHandlers, NetAddress, NetError, PeerIdentity } from '../world.js';

export interface StreamOptions {
  /** Largest payload of one packet; bigger writes are split. */
  segmentSizeBytes: number;
  /** write() returns false while more bytes than this are in flight. */
  highWaterBytes: number;
  /** Default for connect() without timeoutMs. */
  connectTimeoutMs: number;
}

export const DEFAULT_STREAM_OPTIONS: Readonly<StreamOptions> = {
  segmentSizeBytes: 16 * 1024,
  highWaterBytes: 64 * 1024,
  connectTimeoutMs: 10_000,
};

export interface StreamCounters {
  connectionsOpened: number;
  connectionsRefused: number;
  connectTimeouts: number;
  /** Connections reset by a lost segment, a destroy() or a crash (counted once per connection). */
  resets: number;
  segmentsSent: number;
  duplicateSegmentsDiscarded: number;
  outOfOrderSegmentsHeld: number;
  bytesDelivered: number;
}

export interface StreamEnv {
  readonly scheduler: Scheduler;
  readonly packets: PacketLayer;
  readonly options: StreamOptions;
  readonly counters: StreamCounters;
}

type Segment = { kind: 'data'; seq: number; bytes: Uint8Array } | { kind: 'fin'; seq: number };
type InboxItem = { kind: 'data'; bytes: Uint8Array } | { kind: 'close'; error: NetError | null };

function reset(message: string): NetError {
  return { code: 'ECONNRESET', message };
}

export class SimConnection implements Connection {
  private peerEnd: SimConnection | undefined;
  private handlers: ConnectionHandlers | undefined;
  private attached = false;
  private readonly inbox: InboxItem[] = [];
  private open = true;
  private silenced = false;
  private closeEmitted = false;
  private finSent = false;
  private nextSendSeq = 0;
  private nextRecvSeq = 0;
  private readonly heldSegments = new Map<number, Segment>();
  private inFlightBytes = 0;
  private drainWanted = false;
  /** On a secure connection, the other end's certificate as judged (set by the network at the handshake). */
  peer: PeerIdentity | null = null;
  /**
   * Called once, when the first bytes arrive before anyone attached (a secure listener reads the
   * first byte to tell TLS from plaintext; a client that closes without a byte is never seen).
   */
  onFirstBytes: (() => void) | null = null;

  constructor(
    readonly local: NetAddress,
    readonly remote: NetAddress,
    private readonly env: StreamEnv,
    private readonly onClosed: (connection: SimConnection) => void,
  ) {}

  /** Joins two fresh ends into one connection. */
  static pair(a: SimConnection, b: SimConnection): void {
    if (a.peerEnd !== undefined || b.peerEnd !== undefined) throw new Error('connection ends are already paired');
    a.peerEnd = b;
    b.peerEnd = a;
  }

  get isOpen(): boolean {
    return this.open;
  }

  attach(handlers: ConnectionHandlers): void {
    if (this.handlers !== undefined) throw new Error('attach() called twice on one connection');
    this.handlers = handlers;
    this.env.scheduler.after(0, () => {
      while (this.inbox.length > 0) {
        const item = this.inbox.shift();
        if (item !== undefined) this.dispatch(item);
      }
      this.attached = true;
    });
  }

  writeAll(chunks: readonly Uint8Array[]): boolean {
    let belowHighWater = true;
    for (const chunk of chunks) belowHighWater = this.write(chunk);
    return belowHighWater;
  }

  write(bytes: Uint8Array): boolean {
    if (!this.open || this.finSent) return false;
    const { segmentSizeBytes, highWaterBytes } = this.env.options;
    for (let offset = 0; offset < bytes.length; offset += segmentSizeBytes) {
      const chunk = new Uint8Array(bytes.subarray(offset, Math.min(offset + segmentSizeBytes, bytes.length))); // a copy
      this.inFlightBytes += chunk.length;
      this.send({ kind: 'data', seq: this.nextSendSeq++, bytes: chunk });
    }
    const belowHighWater = this.inFlightBytes < highWaterBytes;
    if (!belowHighWater) this.drainWanted = true;
    return belowHighWater;
  }

  end(): void {
    if (!this.open || this.finSent) return;
    this.finSent = true;
    this.send({ kind: 'fin', seq: this.nextSendSeq++ });
  }

  destroy(): void {
    if (!this.open) return;
    this.env.counters.resets++;
    this.close(null, { deferred: true });
    this.notifyPeerOfReset('peer destroyed the connection');
  }

  /** Ends this side with `error` (no-op when already closed). */
  fail(error: NetError): void {
    if (!this.open) return;
    this.close(error, { deferred: false });
  }

  /** The host died: close without telling its (dead) handlers, and reset the peer after the link latency. */
  crash(): void {
    if (!this.open) return;
    this.silence();
    this.env.counters.resets++;
    this.notifyPeerOfReset('peer host crashed');
  }

  /** Closes this end without calling any handler (the owning process is gone or never saw it). */
  silence(): void {
    this.silenced = true;
    this.inbox.length = 0;
    if (this.open) this.close(null, { deferred: false });
  }

  private send(segment: Segment): void {
    const peer = this.otherEnd();
    this.env.counters.segmentsSent++;
    this.env.packets.transmit(
      this.local.host,
      this.remote.host,
      () => peer.receive(segment),
      // Defer: a loss decided at send time must not call handlers from inside write().
      () => this.env.scheduler.after(0, () => this.resetBoth('segment lost')),
    );
  }

  private resetBoth(message: string): void {
    const peer = this.otherEnd();
    if (this.open || peer.open) this.env.counters.resets++;
    this.fail(reset(message));
    peer.fail(reset(message));
  }

  private notifyPeerOfReset(message: string): void {
    const peer = this.otherEnd();
    // The reset itself is not subject to faults or partitions: it only tells the peer what happened.
    const latencyMs = this.env.packets.faultsOf(this.local.host, this.remote.host).latencyMs;
    this.env.scheduler.after(latencyMs, () => peer.fail(reset(message)));
  }

  private receive(segment: Segment): void {
    if (!this.open) return;
    if (segment.seq < this.nextRecvSeq || this.heldSegments.has(segment.seq)) {
      this.env.counters.duplicateSegmentsDiscarded++;
      return;
    }
    this.otherEnd().credit(segment);
    if (segment.seq > this.nextRecvSeq) {
      this.env.counters.outOfOrderSegmentsHeld++;
      this.heldSegments.set(segment.seq, segment);
      return;
    }
    let next: Segment | undefined = segment;
    while (next !== undefined && this.open) {
      this.heldSegments.delete(next.seq);
      this.nextRecvSeq++;
      this.consume(next);
      next = this.heldSegments.get(this.nextRecvSeq);
    }
  }

  private consume(segment: Segment): void {
    if (segment.kind === 'data') {
      this.env.counters.bytesDelivered += segment.bytes.length;
      this.emit({ kind: 'data', bytes: segment.bytes });
      return;
    }
    // The peer ended: finish our side too (our FIN trails whatever we still had in flight).
    if (!this.finSent) {
      this.finSent = true;
      this.send({ kind: 'fin', seq: this.nextSendSeq++ });
    }
    this.close(null, { deferred: false });
  }

  /** The peer received one of our segments for the first time: it no longer counts as in flight. */
  private credit(segment: Segment): void {
    if (segment.kind !== 'data') return;
    this.inFlightBytes -= segment.bytes.length;
    if (this.inFlightBytes < 0) throw new Error('in-flight byte count went negative');
    if (!this.drainWanted || this.inFlightBytes >= this.env.options.highWaterBytes || !this.open) return;
    this.drainWanted = false;
    this.env.scheduler.after(0, () => {
      if (this.open && !this.silenced) this.handlers?.drain?.();
    });
  }

  private close(error: NetError | null, options: { deferred: boolean }): void {
    if (!this.open) throw new Error('connection closed twice');
    this.open = false;
    this.heldSegments.clear();
    this.onClosed(this);
    if (options.deferred) this.env.scheduler.after(0, () => this.emit({ kind: 'close', error }));
    else this.emit({ kind: 'close', error });
  }

  private emit(item: InboxItem): void {
    if (this.silenced || this.closeEmitted) return;
    if (item.kind === 'close') this.closeEmitted = true;
    if (this.attached) return this.dispatch(item);
    this.inbox.push(item);
    if (this.onFirstBytes !== null && this.handlers === undefined && item.kind === 'data') {
      const first = this.onFirstBytes;
      this.onFirstBytes = null;
      first();
    }
  }

  private dispatch(item: InboxItem): void {
    const handlers = this.handlers;
    if (handlers === undefined) throw new Error('dispatch before attach');
    if (this.silenced) return;
    if (item.kind === 'data') handlers.data(item.bytes);
    else handlers.close(item.error);
  }

  private otherEnd(): SimConnection {
    if (this.peerEnd === undefined) throw new Error('connection end used before pairing');
    return this.peerEnd;
  }
}
