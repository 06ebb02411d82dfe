// Why this file exists: the serving half of a peer (DESIGN.md §5 "upload"). It listens for
// downloaders, reads each one's handshake to find which shared file it wants, runs a
// serve-connection actor per downloader (ticket first, nothing of the file before), one upload
// choker for all of them, and an upload queue per connection that reads verified blocks and
// writes them with the socket's backpressure. Complete files and partial downloads are served
// alike; a piece becomes servable the moment the store has verified and synced it.

import type { KeyObject } from 'node:crypto';
import { createActor, type Actor } from 'xstate';
import { fromHex, toHex } from '../torrent/bytes.js';
import type { FileMeta } from '../torrent/file-meta.js';
import { verifyTicket } from '../torrent/ticket.js';
import { CLIENT_VERSION } from '../torrent/wire-codec.js';
import type { Listener, NetAddress, World } from '../world/world.js';
import { xstateClock } from '../world/xstate-clock.js';
import { serveConnectionMachine, type ServeConnectionEvent, type ServeConnectionIo } from '../actors/serve-connection.js';
import { uploadChokerMachine } from '../actors/upload-choker.js';
import { DEFAULT_CONNECTION_TIMINGS, toActorEvent, type ConnectionTimings } from '../actors/wire-events.js';
import { PeerWire } from './peer-wire.js';
import { RateLimiter } from './rate-limiter.js';
import type { PieceSource } from './piece-source.js';
import { UploadQueue } from './upload-queue.js';

export interface Share {
  meta: FileMeta;
  group: string;
  source: PieceSource;
}

export interface PeerHostOptions {
  listen: NetAddress;
  peerId: Uint8Array;
  /** The tracker cluster's ticket-signing public key. */
  clusterPublicKey: KeyObject;
  timings?: Partial<ConnectionTimings>;
  uploadSlots?: number;
  /** Upload limit over all connections, bytes per second. */
  maxUploadBytesPerSecond?: number;
  log?: (line: string) => void;
  /** Hears the wire's conversation, a line per message that shapes it (golden traces). */
  trace?: (line: string) => void;
  /** Test hook: a lying peer changes the blocks it sends; null drops the block (a stalled peer). */
  tamperForTests?: (pieceIndex: number, beginBytes: number, block: Uint8Array) => Uint8Array | null;
}

export interface PeerHostCounters {
  bytesUploaded: number;
  connectionsAccepted: number;
  /** Refusals by code (TICKET_EXPIRED, UNKNOWN_FILE, …). */
  refusals: Record<string, number>;
}

/** A refused or closed connection's actor has stopped; late wire events have nowhere to go. */
function sendIfRunning(served: Served, event: ServeConnectionEvent): void {
  if (served.actor?.getSnapshot().status === 'active') served.actor.send(event);
}

/** How long a refused downloader has to read the refusal before its connection is cut. */
const REFUSAL_GRACE_MS = 5_000;

interface Served {
  readonly key: string;
  readonly wire: PeerWire;
  actor: Actor<typeof serveConnectionMachine> | null;
  queue: UploadQueue | null;
  unsubscribe: () => void;
}

export class PeerHost {
  readonly counters: PeerHostCounters = { bytesUploaded: 0, connectionsAccepted: 0, refusals: {} };
  private readonly shares = new Map<string, Share>();
  private readonly served = new Map<string, Served>();
  private readonly choker: Actor<typeof uploadChokerMachine>;
  private readonly timings: ConnectionTimings;
  private readonly limiter: RateLimiter | undefined;
  private listener: Listener | null = null;
  private nextConnectionId = 1;

  private constructor(
    private readonly world: World,
    private readonly options: PeerHostOptions,
  ) {
    this.timings = { ...DEFAULT_CONNECTION_TIMINGS, ...options.timings };
    this.limiter = options.maxUploadBytesPerSecond === undefined ? undefined : new RateLimiter(world.clock, options.maxUploadBytesPerSecond);
    this.choker = createActor(uploadChokerMachine, {
      clock: xstateClock(world.clock),
      input: {
        slots: options.uploadSlots ?? 4,
        io: {
          setChoked: (key, choked) => {
            const served = this.served.get(key);
            if (served) sendIfRunning(served, { type: choked ? 'CHOKE_PEER' : 'UNCHOKE_PEER' });
          },
          uploadedBytes: (key) => this.served.get(key)?.wire.bytesSent ?? 0,
          randomInt: (bound) => world.rng.int(bound),
        },
      },
    }).start();
  }

  static async start(world: World, options: PeerHostOptions): Promise<PeerHost> {
    const host = new PeerHost(world, options);
    try {
      host.listener = await world.net.listen(options.listen, (connection) => host.accept(new PeerWire(world, connection, { maxPieces: 1 << 17, ...(options.trace ? { trace: options.trace } : {}) })));
    } catch (error) {
      host.choker.stop(); // its timers would keep the process alive
      throw error;
    }
    return host;
  }

  get address(): NetAddress {
    if (!this.listener) throw new Error('the peer host is not listening');
    return this.listener.address;
  }

  share(share: Share): void {
    this.shares.set(share.meta.fileId, share);
  }

  /**
   * Stops serving a file: its connections are closed. Returns what was served, for its owner
   * to close (a CompleteFile) or keep (a download's store).
   */
  unshare(fileId: string): PieceSource | undefined {
    const share = this.shares.get(fileId);
    this.shares.delete(fileId);
    for (const served of this.served.values()) if (served.key.startsWith(`${fileId}/`)) served.wire.close('UNSHARED');
    return share?.source;
  }

  /** Stops serving everything (logout): every downloader's connection is closed. */
  unshareAll(): PieceSource[] {
    return [...this.shares.keys()].flatMap((fileId) => this.unshare(fileId) ?? []);
  }

  sourceOf(fileId: string): PieceSource | undefined {
    return this.shares.get(fileId)?.source;
  }

  isSharing(fileId: string): boolean {
    return this.shares.has(fileId);
  }

  async close(): Promise<void> {
    await this.listener?.close();
    this.listener = null;
    for (const served of [...this.served.values()]) served.wire.close('SHUTDOWN');
    for (const wire of [...this.arriving]) wire.close('SHUTDOWN');
    this.choker.stop();
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  private refused(code: string): void {
    this.counters.refusals[code] = (this.counters.refusals[code] ?? 0) + 1;
  }

  /** The first event must be a handshake for a file we share; then the serve actor takes over. */
  /** Connections whose handshake has not arrived yet (closed by a timer, or at shutdown). */
  private readonly arriving = new Set<PeerWire>();

  private accept(wire: PeerWire): void {
    this.counters.connectionsAccepted++;
    let served: Served | null = null;
    this.arriving.add(wire);
    const deadline = this.world.clock.setTimer(this.timings.handshakeTimeoutMs, () => {
      if (served === null) wire.close('HANDSHAKE_TIMEOUT');
    });
    wire.attach({
      message: (event) => {
        if (served) {
          sendIfRunning(served, toActorEvent(event));
          return;
        }
        deadline.cancel();
        this.arriving.delete(wire);
        if (event.type !== 'handshake') return wire.close('PROTOCOL: no handshake');
        const share = this.shares.get(toHex(event.infoHash));
        if (!share) {
          this.log(`refused ${wire.remoteKey} UNKNOWN_FILE: ${toHex(event.infoHash)}`);
          this.refused('UNKNOWN_FILE');
          return wire.close('UNKNOWN_FILE');
        }
        served = this.admitHandshake(wire, share, event.peerId);
      },
      block: () => wire.close('PROTOCOL: a downloader sent a piece'),
      closed: (reason) => {
        deadline.cancel();
        this.arriving.delete(wire);
        if (served) sendIfRunning(served, { type: 'CLOSED', reason });
      },
      drain: () => served?.queue?.drained(),
    });
  }

  private admitHandshake(wire: PeerWire, share: Share, peerId: Uint8Array): Served {
    const key = `${share.meta.fileId}/${this.nextConnectionId++}/${wire.remoteKey}`;
    const served: Served = { key, wire, actor: null, queue: null, unsubscribe: () => {} };
    this.served.set(key, served);
    wire.sendHandshake({ infoHash: fromHex(share.meta.fileId, 20)!, peerId: this.options.peerId, extensions: true });
    served.queue = new UploadQueue(share.source, wire, (bytes) => (this.counters.bytesUploaded += bytes), this.options.tamperForTests, this.limiter);
    const io: ServeConnectionIo = {
      nowMs: () => this.world.clock.nowMs(),
      lastReceivedAtMs: () => wire.lastReceivedAtMs,
      lastSentAtMs: () => wire.lastSentAtMs,
      sendKeepAlive: () => wire.send({ type: 'keep-alive' }),
      checkTicket: (ticket) =>
        ticket === undefined
          ? { ok: false, code: 'TICKET_MISSING', message: 'no ticket in the extension handshake' }
          : verifyTicket(ticket, this.options.clusterPublicKey, { nowMs: this.world.clock.nowMs(), fileId: share.meta.fileId, peerId: toHex(peerId), group: share.group }),
      admit: () => {
        wire.sendExtendedHandshake({ m: {}, v: CLIENT_VERSION });
        wire.send({ type: 'bitfield', bitfield: share.source.bitfield() });
        served.unsubscribe = share.source.onVerified((pieceIndex) => sendIfRunning(served, { type: 'PIECE_AVAILABLE', pieceIndex }));
      },
      refuse: (code, message) => {
        this.log(`refused ${wire.remoteKey} ${code}: ${message}`);
        this.refused(code);
        wire.sendExtendedHandshake({ m: {}, refused: code });
        wire.end(`REFUSED ${code}`);
        // A downloader that never closes its side is cut off after a grace period.
        this.world.clock.setTimer(REFUSAL_GRACE_MS, () => wire.close(`REFUSED ${code}`));
      },
      interested: (isInterested) => this.choker.send({ type: isInterested ? 'INTERESTED' : 'NOT_INTERESTED', peerKey: key }),
      sendChoke: () => wire.send({ type: 'choke' }),
      sendUnchoke: () => wire.send({ type: 'unchoke' }),
      sendHave: (pieceIndex) => wire.send({ type: 'have', index: pieceIndex }),
      queueRequest: (pieceIndex, beginBytes, lengthBytes) => served.queue?.push(pieceIndex, beginBytes, lengthBytes),
      cancelRequest: (pieceIndex, beginBytes, lengthBytes) => served.queue?.cancel(pieceIndex, beginBytes, lengthBytes),
      dropRequests: () => served.queue?.clear(),
      close: (reason) => {
        wire.close(reason ?? 'closed');
        this.forget(served);
      },
    };
    served.actor = createActor(serveConnectionMachine, { clock: xstateClock(this.world.clock), input: { io, timings: this.timings } });
    served.actor.subscribe({ complete: () => this.forget(served) });
    served.actor.start();
    return served;
  }

  private forget(served: Served): void {
    if (!this.served.delete(served.key)) return;
    served.unsubscribe();
    served.queue?.clear();
    this.choker.send({ type: 'GONE', peerKey: served.key });
  }
}
