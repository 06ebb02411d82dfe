// Why this file exists: a peer's connections to other peers (DESIGN.md §5). It listens, dials
// for its downloads, and turns each connection into a link once both handshakes are through:
// one link per peer and file (when both dial at once, the connection dialed by the lower peer
// id survives), each carrying both directions. It serves the files it shares over any link —
// nothing of a file before the other side's ticket is verified, then a serve-connection actor
// per link, one upload choker for all of them, and an upload queue per link that reads
// verified blocks and writes them with the socket's backpressure — and hands links to the
// download of their file, which fetches over them too. Complete files and partial downloads
// are served alike; a piece becomes servable the moment the store has verified and synced it.
// A complete file that no longer matches what was shared (edited or truncated on disk) is
// served to nobody from then on, each of its downloaders told FILE_CHANGED.
//
// Every connection is TLS 1.3, each side showing its own key's self-signed certificate, and the
// keys are pinned to what the tracker said: a downloader accepts a holder only with the key its
// session logged in with (holder list, or the dial-back request's), a holder serves a downloader
// only with the key its ticket names. Whoever dialed, the checks are the same.

import type { KeyObject } from 'node:crypto';
import { createActor, type Actor } from 'xstate';
import { fromHex, toHex } from '../torrent/bytes.js';
import type { FileMeta } from '../torrent/file-meta.js';
import { verifyTicket } from '../torrent/ticket.js';
import { CLIENT_VERSION, decodeExtendedHandshake, WireError, type ExtendedHandshake } from '../torrent/wire-codec.js';
import type { CertifiedKey, Listener, NetAddress, PeerIdentity, SecureOptions, World } from '../world/world.js';
import { xstateClock } from '../world/xstate-clock.js';
import { serveConnectionMachine, type ServeConnectionEvent, type ServeConnectionIo } from '../actors/serve-connection.js';
import { uploadChokerMachine } from '../actors/upload-choker.js';
import { DEFAULT_CONNECTION_TIMINGS, type ConnectionTimings, type WireActorEvent } from '../actors/wire-events.js';
import { PeerLink } from './peer-link.js';
import { PeerWire } from './peer-wire.js';
import { RateLimiter } from './rate-limiter.js';
import type { PieceSource } from './piece-source.js';
import type { CompleteFileError } from './file-changed.js';
import { UploadQueue } from './upload-queue.js';
import { formatNetAddress } from '../world/net-address.js';

export interface Share {
  meta: FileMeta;
  group: string;
  source: PieceSource;
}

/** What a download offers the host: its ticket, and a hand for the links of its file. */
export interface Fetcher {
  readonly fileId: string;
  readonly pieceCount: number;
  /** Our current access ticket for the file. */
  ticket(): string;
  /** A link of the file that the download may fetch over (one that dialed us has shown a valid ticket). */
  linkReady(link: PeerLink): void;
  /** Whether a peer at this host with this key may dial us without a ticket: a holder the tracker asked to dial us. */
  expectsDialFrom(host: string, keyFingerprint: string | null): boolean;
}

export interface PeerHostOptions {
  /** Where to accept connections; null for a host that only dials (it serves over the links it dialed). */
  listen: NetAddress | null;
  peerId: Uint8Array;
  /** Our TLS key and (self-signed) certificate; its key's fingerprint is what tickets name. */
  own: CertifiedKey;
  /** The tracker cluster's ticket-signing public key; null for a host that serves nothing. */
  clusterPublicKey: KeyObject | null;
  /** The port others dial us at, when it is not the one we listen on (a forwarded port). */
  announcePort?: number;
  timings?: Partial<ConnectionTimings>;
  connectTimeoutMs?: number;
  uploadSlots?: number;
  /** Upload limit over all connections, bytes per second. */
  maxUploadBytesPerSecond?: number;
  log?: (line: string) => void;
  /** Hears the wire's conversation, a line per message that shapes it (golden traces). */
  trace?: (line: string) => void;
  /**
   * A shared file no longer matches what was shared (edited or truncated on disk): we have
   * stopped serving it, each downloader told FILE_CHANGED; its owner closes the source and tells
   * the tracker. Without it, the host logs the change.
   */
  onShareChanged?: (share: Share, error: CompleteFileError) => void;
  /** Test hook: a lying peer changes the blocks it sends; null drops the block (a stalled peer). */
  tamperForTests?: (pieceIndex: number, beginBytes: number, block: Uint8Array) => Uint8Array | null;
}

export interface PeerHostCounters {
  bytesUploaded: number;
  connectionsAccepted: number;
  /** Links closed because another link to the same peer and file survived. */
  duplicateLinks: number;
  /** Refusals by code (TICKET_EXPIRED, UNKNOWN_FILE, KICKED, …). */
  refusals: Record<string, number>;
  /** Connections we were serving that a kick ended (the user left the file's group, or was removed). */
  kickedConnections: number;
}

export type ConnectOutcome = { ok: true; link: PeerLink } | { ok: false; reason: string };

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

interface Served {
  readonly link: PeerLink;
  actor: Actor<typeof serveConnectionMachine> | null;
  queue: UploadQueue | null;
  unsubscribe: () => void;
  /** The group of the file served, and the user its valid ticket names (null until one is shown). */
  readonly group: string;
  user: string | null;
}

/** A refused or closed connection's actor has stopped; late events have nowhere to go. */
function sendIfRunning(served: Served, event: ServeConnectionEvent): void {
  if (served.actor?.getSnapshot().status === 'active') served.actor.send(event);
}

export class PeerHost {
  readonly counters: PeerHostCounters = { bytesUploaded: 0, connectionsAccepted: 0, duplicateLinks: 0, refusals: {}, kickedConnections: 0 };
  /** `group\nuser` → the tracker's time of the leave or removal: tickets issued until then are refused. */
  private readonly kicked = new Map<string, number>();
  private readonly shares = new Map<string, Share>();
  /** Per shared file whose source can change: the unsubscribe from its changes. */
  private readonly watches = new Map<string, () => void>();
  private readonly fetchers = new Map<string, Fetcher>();
  /** Open links by `fileId/remote peer id`. */
  private readonly links = new Map<string, PeerLink>();
  private readonly served = new Map<string, Served>();
  /** Connections whose handshakes are not through yet (closed by a timer, or at shutdown). */
  private readonly arriving = new Set<PeerWire>();
  private readonly choker: Actor<typeof uploadChokerMachine>;
  private readonly timings: ConnectionTimings;
  /** The upload limit over all connections (unlimited unless set). */
  private readonly limiter: RateLimiter;
  private readonly peerIdHex: string;
  private listener: Listener | null = null;
  private nextLinkId = 1;
  /** The listener's TLS options; `own` is read at each handshake, so a new key (another user's home) applies to the next connection. */
  private readonly tls: SecureOptions;

  private constructor(
    private readonly world: World,
    private readonly options: PeerHostOptions,
  ) {
    this.peerIdHex = toHex(options.peerId);
    this.tls = {
      own: options.own,
      requestPeerCertificate: true,
      accept: (peer) => (peer === null ? 'PEER_KEY_MISSING: no certificate' : null),
    };
    this.timings = { ...DEFAULT_CONNECTION_TIMINGS, ...options.timings };
    this.limiter = new RateLimiter(world.clock, options.maxUploadBytesPerSecond ?? null);
    this.choker = createActor(uploadChokerMachine, {
      clock: xstateClock(world.clock),
      input: {
        slots: options.uploadSlots ?? 4,
        io: {
          setChoked: (key, choked) => {
            const served = this.served.get(key);
            if (served) sendIfRunning(served, { type: choked ? 'CHOKE_PEER' : 'UNCHOKE_PEER' });
          },
          uploadedBytes: (key) => this.served.get(key)?.link.wire.bytesSent ?? 0,
          randomInt: (bound) => world.rng.int(bound),
        },
      },
    }).start();
  }

  static async start(world: World, options: PeerHostOptions): Promise<PeerHost> {
    const host = new PeerHost(world, options);
    if (options.listen !== null) {
      try {
        await host.listen(options.listen);
      } catch (error) {
        host.choker.stop(); // its timers would keep the process alive
        throw error;
      }
    }
    return host;
  }

  /** Starts accepting connections (once). */
  async listen(address: NetAddress): Promise<void> {
    if (this.listener) throw new Error('the peer host listens already');
    this.listener = await this.world.net.listen(
      address,
      (connection) => {
        this.counters.connectionsAccepted++;
        this.handshake(new PeerWire(this.world, connection, { maxPieces: 1 << 17, ...this.traceOption() }), null);
      },
      {
        secure: this.tls,
        plaintext: (connection) => {
          // An old peer's `\x13BitTorrent protocol`, or anything else in clear: nothing to say to it.
          this.log(`refused ${formatNetAddress(connection.remote)} TLS_REQUIRED: a plaintext connection (a peer without TLS)`);
          this.refused('TLS_REQUIRED');
          connection.destroy();
        },
        refused: (remote, reason) => {
          const code = /^[A-Z_]+(?=:)/.exec(reason)?.[0] ?? 'TLS_FAILED';
          this.log(`refused ${formatNetAddress(remote)} ${code}: ${reason.replace(/^[A-Z_]+: /, '').slice(0, 160)}`);
          this.refused(code);
        },
      },
    );
  }

  /** Our key from now on (the home of the user logged in); links already up keep theirs. */
  setOwn(own: CertifiedKey): void {
    this.tls.own = own;
  }

  /** Our key and certificate, as shown on every connection. */
  get own(): CertifiedKey {
    return this.tls.own!;
  }

  /** SHA-256 (hex) of our key: what the tracker records at login and tickets name. */
  get keyFingerprint(): string {
    return this.tls.own!.identity.keyFingerprint;
  }

  /** TLS options to dial a peer that must show `expectedKey` (null: any key, for tools given bare addresses). */
  private dialing(expectedKey: string | null): SecureOptions {
    return {
      own: this.tls.own,
      accept: (peer: PeerIdentity | null) =>
        expectedKey === null || peer?.keyFingerprint === expectedKey ? null : `PEER_KEY_MISMATCH: the peer showed key ${peer?.keyFingerprint.slice(0, 16) ?? 'none'}…, the tracker said ${expectedKey.slice(0, 16)}…`,
    };
  }

  get address(): NetAddress {
    if (!this.listener) throw new Error('the peer host is not listening');
    return this.listener.address;
  }

  get listening(): boolean {
    return this.listener !== null;
  }

  /** The upload limit over all connections from now on, bytes per second (null: unlimited); blocks waiting for it go at the new rate. */
  setUploadRate(bytesPerSecond: number | null): void {
    this.limiter.setRate(bytesPerSecond);
  }

  /** The upload limit, bytes per second, or null when unlimited. */
  get uploadRate(): number | null {
    return this.limiter.bytesPerSecond;
  }

  share(share: Share): void {
    const { fileId } = share.meta;
    this.watches.get(fileId)?.();
    this.watches.delete(fileId);
    this.shares.set(fileId, share);
    const unwatch = share.source.onChanged?.((error) => this.shareChanged(share, error));
    if (unwatch) this.watches.set(fileId, unwatch);
  }

  /**
   * Stops serving a file: our serving ends on its links (links we also fetch over stay); with a
   * refusal, each of them is told why first. Returns what was served, for its owner to close (a
   * CompleteFile) or keep (a download's store).
   */
  unshare(fileId: string, refusal?: { code: string; message: string }): PieceSource | undefined {
    const share = this.shares.get(fileId);
    this.shares.delete(fileId);
    this.watches.get(fileId)?.();
    this.watches.delete(fileId);
    for (const served of [...this.served.values()]) {
      if (served.link.fileId !== fileId) continue;
      this.forget(served);
      served.actor?.stop();
      if (refusal) this.refuse(served.link, refusal.code, refusal.message);
      else served.link.endServe('UNSHARED');
    }
    return share?.source;
  }

  /** A file we serve no longer matches what was shared: nobody is served it any more, and each downloader hears why. */
  private shareChanged(share: Share, error: CompleteFileError): void {
    if (this.shares.get(share.meta.fileId) !== share) return;
    this.unshare(share.meta.fileId, { code: error.code, message: error.message });
    if (this.options.onShareChanged) this.options.onShareChanged(share, error);
    else this.log(`${error.code}: ${error.message}; stopped serving ${share.meta.name} in ${share.group}`);
  }

  /** Stops serving every file of a group (our user left it or was removed): what was served, for its owner to close or keep. */
  unshareGroup(group: string): PieceSource[] {
    return [...this.shares.values()].filter((share) => share.group === group).flatMap((share) => this.unshare(share.meta.fileId) ?? []);
  }

  /** Stops serving everything (logout). */
  unshareAll(): PieceSource[] {
    return [...this.shares.keys()].flatMap((fileId) => this.unshare(fileId) ?? []);
  }

  /**
   * `user` left `group` or was removed from it at `removedAtMs` (the tracker's time of that
   * entry): every connection we serve that user a file of the group ends now, with the refusal
   * KICKED, and tickets issued until then are refused from now on (a ticket issued after it —
   * the user was let in again — is honoured). Returns how many connections it ended.
   */
  kick(group: string, user: string, removedAtMs: number): number {
    const key = `${group}\n${user}`;
    this.kicked.set(key, Math.max(this.kicked.get(key) ?? -Infinity, removedAtMs));
    let ended = 0;
    for (const served of [...this.served.values()]) {
      if (served.group !== group || served.user !== user || served.actor?.getSnapshot().status !== 'active') continue;
      ended++;
      sendIfRunning(served, { type: 'REVOKE', code: 'KICKED', message: `${user} is no longer a member of ${group}` });
    }
    this.counters.kickedConnections += ended;
    this.log(`kick: ${user} left or was removed from ${group}: ended ${ended} connection(s) serving them`);
    return ended;
  }

  sourceOf(fileId: string): PieceSource | undefined {
    return this.shares.get(fileId)?.source;
  }

  isSharing(fileId: string): boolean {
    return this.shares.has(fileId);
  }

  /** The open link to a peer (by its hex peer id) for a file, if there is one. */
  linkFor(fileId: string, peerId: string): PeerLink | null {
    const link = this.links.get(`${fileId}/${peerId}`);
    return link && !link.closed ? link : null;
  }

  /** Open links (after both handshakes): one per peer and file. */
  linkCount(): number {
    return this.links.size;
  }

  /** A download of `fetcher.fileId` fetches over the links of its file, from now on. */
  attach(fetcher: Fetcher): void {
    this.fetchers.set(fetcher.fileId, fetcher);
  }

  detach(fileId: string, fetcher: Fetcher): void {
    if (this.fetchers.get(fileId) === fetcher) this.fetchers.delete(fileId);
  }

  /**
   * Dials a holder of an attached download's file. `done` hears, once, the link to that peer
   * when the handshakes are through — this connection's, or the one that already links us (one
   * link per peer and file) — or why there is none. It is called in the same turn as the link
   * comes up, so the download is on it before any message after the handshakes is read.
   */
  connect(fileId: string, address: NetAddress, expectedKey: string | null, done: (outcome: ConnectOutcome) => void, timeoutMs?: number): void {
    const fetcher = this.fetchers.get(fileId);
    if (!fetcher) return done({ ok: false, reason: 'STOPPED: no download of that file' });
    this.dial(fileId, address, expectedKey, fetcher.pieceCount, () => this.fetchers.get(fileId) === fetcher, done, timeoutMs);
  }

  /**
   * Connection reversal: the tracker asked us to dial a downloader that cannot dial us (we are
   * behind a router); we serve it the file over that link once it shows its ticket.
   */
  dialToServe(fileId: string, address: NetAddress, expectedKey: string, done: (outcome: ConnectOutcome) => void = () => {}): void {
    const share = this.shares.get(fileId);
    if (!share) return done({ ok: false, reason: 'UNSHARED: we do not share that file' });
    this.log(`dialing ${formatNetAddress(address)} back for ${fileId.slice(0, 8)}, as the tracker asked`);
    this.dial(fileId, address, expectedKey, share.source.pieceCount, () => this.shares.has(fileId), done);
  }

  private dial(fileId: string, address: NetAddress, expectedKey: string | null, pieceCount: number, stillWanted: () => boolean, done: (outcome: ConnectOutcome) => void, timeoutMs?: number): void {
    const secure = this.dialing(expectedKey);
    this.world.net.connect(address, { timeoutMs: timeoutMs ?? this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, reuseReadBuffer: true, secure }).then(
      (connection) => {
        if (!stillWanted()) {
          connection.destroy();
          return done({ ok: false, reason: 'STOPPED: no longer wanted' });
        }
        const wire = new PeerWire(this.world, connection, { maxPieces: pieceCount, reusedReadBuffer: true, ...this.traceOption() });
        this.handshake(wire, { fileId, resolve: done });
      },
      (error: unknown) => {
        const message = error instanceof Error ? error.message : String(error);
        const mismatch = /PEER_KEY_MISMATCH: .*/.exec(message)?.[0];
        if (mismatch === undefined) return done({ ok: false, reason: `CONNECT_FAILED: ${message}` });
        this.log(`refused ${formatNetAddress(address)} ${mismatch}`);
        this.refused('PEER_KEY_MISMATCH');
        done({ ok: false, reason: mismatch });
      },
    );
  }

  async close(): Promise<void> {
    await this.listener?.close();
    this.listener = null;
    for (const link of [...this.links.values()]) link.close('SHUTDOWN');
    for (const wire of [...this.arriving]) wire.close('SHUTDOWN');
    this.choker.stop();
  }

  private traceOption(): { trace?: (line: string) => void } {
    return this.options.trace ? { trace: this.options.trace } : {};
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  private refused(code: string): void {
    this.counters.refusals[code] = (this.counters.refusals[code] ?? 0) + 1;
  }

  /** Our extension handshake: the port others dial us at, and our ticket when we fetch the file. */
  private extendedHandshake(ticket: string | null): ExtendedHandshake {
    const port = this.options.announcePort ?? this.listener?.address.port;
    return { m: {}, v: CLIENT_VERSION, ...(port === undefined || port === 0 ? {} : { p: port }), ...(ticket === null ? {} : { ticket }) };
  }

  /**
   * Both handshakes, then the link. The dialer sends its handshake and its extension handshake
   * (with its ticket) at once; the other side answers once it knows the file is one it shares or
   * fetches. The link exists when each side has the other's extension handshake.
   */
  private handshake(wire: PeerWire, dialed: { fileId: string; resolve: (outcome: ConnectOutcome) => void } | null): void {
    let settled = false;
    // The dialer hears one outcome, whatever happens after (a timeout, then the close).
    const dial = dialed && {
      fileId: dialed.fileId,
      resolve: (outcome: ConnectOutcome): void => {
        if (settled) return;
        settled = true;
        dialed.resolve(outcome);
      },
    };
    this.arriving.add(wire);
    let link: PeerLink | null = null;
    let fileId = dial?.fileId ?? null;
    let remotePeerId: string | null = null;
    const fail = (reason: string): void => {
      wire.close(reason);
      dial?.resolve({ ok: false, reason });
    };
    const deadline = this.world.clock.setTimer(this.timings.handshakeTimeoutMs, () => fail('HANDSHAKE_TIMEOUT'));
    wire.attach({
      message: (event) => {
        if (link) return link.message(event);
        if (remotePeerId === null) {
          if (event.type !== 'handshake') return fail('PROTOCOL: no handshake');
          const wanted = toHex(event.infoHash);
          if (dial && wanted !== dial.fileId) return fail('PROTOCOL: handshake for another file');
          if (!dial && !this.shares.has(wanted) && !this.fetchers.has(wanted)) {
            this.log(`refused ${wire.remoteKey} UNKNOWN_FILE: ${wanted}`);
            this.refused('UNKNOWN_FILE');
            return fail('UNKNOWN_FILE');
          }
          if (toHex(event.peerId) === this.peerIdHex) return fail('SELF: connected to ourselves');
          fileId = wanted;
          remotePeerId = toHex(event.peerId);
          // One that dialed us shows its ticket before we show ours.
          if (!dial) this.sendHandshakes(wire, wanted, null);
          return;
        }
        if (event.type !== 'extended' || event.extId !== 0) return fail('PROTOCOL: no extension handshake');
        let handshake: ExtendedHandshake;
        try {
          handshake = decodeExtendedHandshake(event.payload);
        } catch (error) {
          if (error instanceof WireError) return fail(`PROTOCOL: ${error.message}`);
          throw error;
        }
        deadline.cancel();
        this.arriving.delete(wire);
        link = this.linkUp(wire, fileId!, remotePeerId, dial, handshake.p ?? null);
        if (!link) return;
        if (!dial && handshake.ticket === undefined) {
          // A holder the tracker sent to us dials to serve, not to fetch: we show our ticket first.
          const fetcher = this.fetchers.get(link.fileId);
          if (fetcher?.expectsDialFrom(wire.remote.host, wire.remoteKeyFingerprint)) return fetcher.linkReady(link);
          // Anyone else who dials us wants the file: without a ticket there is nothing to do for it.
          return this.refuse(link, 'TICKET_MISSING', 'no ticket in the extension handshake');
        }
        this.extended(link, { type: 'EXTENDED', extId: 0, payload: event.payload });
      },
      block: (pieceIndex, beginBytes, block) => (link ? link.block(pieceIndex, beginBytes, block) : fail('PROTOCOL: a block before the handshakes')),
      readEnd: () => link?.readEnd(),
      closed: (reason) => {
        deadline.cancel();
        this.arriving.delete(wire);
        if (link) link.wireClosed(reason);
        else dial?.resolve({ ok: false, reason: reason ?? 'CLOSED: the peer closed before the handshakes' });
      },
      drain: () => link?.drain(),
    });
    if (dial) this.sendHandshakes(wire, dial.fileId, this.fetchers.get(dial.fileId)?.ticket() ?? null);
  }

  private sendHandshakes(wire: PeerWire, fileId: string, ticket: string | null): void {
    wire.sendHandshake({ infoHash: fromHex(fileId, 20)!, peerId: this.options.peerId, extensions: true });
    wire.sendExtendedHandshake(this.extendedHandshake(ticket));
  }

  /**
   * The handshakes are through: a link, unless one to the same peer for the same file survives
   * it. Of two, the one dialed by the lower peer id survives, so both ends keep the same one.
   */
  private linkUp(wire: PeerWire, fileId: string, remotePeerId: string, dial: { resolve: (outcome: ConnectOutcome) => void } | null, remoteListenPort: number | null): PeerLink | null {
    const link = new PeerLink(
      this.world,
      `${fileId}/${this.nextLinkId++}/${wire.remoteKey}`,
      wire,
      fileId,
      remotePeerId,
      dial !== null,
      remoteListenPort,
      (l, event) => this.extended(l, event),
      (l) => {
        if (this.links.get(`${l.fileId}/${l.remotePeerId}`) === l) this.links.delete(`${l.fileId}/${l.remotePeerId}`);
      },
    );
    link.ticketSent = dial !== null && this.fetchers.has(fileId);
    const key = `${fileId}/${remotePeerId}`;
    const existing = this.links.get(key);
    if (existing && !existing.closed) {
      const dialer = (l: PeerLink): string => (l.dialedByUs ? this.peerIdHex : l.remotePeerId);
      this.counters.duplicateLinks++;
      // The same dialer twice (a redial while the old link lingers): the newer one.
      const keepExisting = dialer(existing) !== dialer(link) && dialer(existing) < dialer(link);
      this.log(`two links to ${wire.remoteKey} for ${fileId.slice(0, 8)}: kept the one dialed by ${dialer(keepExisting ? existing : link).slice(0, 8)}`);
      if (keepExisting) {
        link.close('DUPLICATE');
        dial?.resolve({ ok: true, link: existing });
        return null;
      }
      existing.close('DUPLICATE');
    }
    this.links.set(key, link);
    dial?.resolve({ ok: true, link });
    return link;
  }

  /** An extension handshake on a link: a ticket begins our serving; a refusal or a port is noted. */
  private extended(link: PeerLink, event: Extract<WireActorEvent, { type: 'EXTENDED' }>): void {
    let handshake: ExtendedHandshake;
    try {
      handshake = decodeExtendedHandshake(event.payload);
    } catch (error) {
      if (error instanceof WireError) return link.close(`PROTOCOL: ${error.message}`);
      throw error;
    }
    if (handshake.p !== undefined) link.remoteListenPort = handshake.p;
    link.fetch?.message(event);
    if (handshake.ticket === undefined) return;
    const served = this.served.get(link.id);
    if (served) return sendIfRunning(served, event); // a renewed ticket
    const share = this.shares.get(link.fileId);
    if (!share || this.options.clusterPublicKey === null) {
      // We fetch over this link but serve nothing of the file: said at once, so they stop waiting.
      link.wire.sendExtendedHandshake({ m: {}, refused: 'NOT_SHARED' });
      return;
    }
    this.serveOn(link, share, this.options.clusterPublicKey).actor?.send(event);
  }

  private serveOn(link: PeerLink, share: Share, clusterPublicKey: KeyObject): Served {
    const { wire } = link;
    const served: Served = { link, actor: null, queue: null, unsubscribe: () => {}, group: share.group, user: null };
    this.served.set(link.id, served);
    served.queue = new UploadQueue(share.source, wire, (bytes) => (this.counters.bytesUploaded += bytes), this.options.tamperForTests, this.limiter);
    const io: ServeConnectionIo = {
      monotonicMs: () => this.world.clock.monotonicMs(),
      wallMs: () => this.world.clock.nowMs(),
      lastReceivedAtMs: () => wire.lastReceivedAtMs,
      lastSentAtMs: () => wire.lastSentAtMs,
      sendKeepAlive: () => wire.send({ type: 'keep-alive' }),
      checkTicket: (ticket) => {
        if (ticket === undefined) return { ok: false, code: 'TICKET_MISSING', message: 'no ticket in the extension handshake' };
        const check = verifyTicket(ticket, clusterPublicKey, { nowMs: this.world.clock.nowMs(), fileId: share.meta.fileId, key: wire.remoteKeyFingerprint, group: share.group });
        if (!check.ok) return check;
        const kickedAtMs = this.kicked.get(`${share.group}\n${check.claims.user}`);
        if (kickedAtMs !== undefined && check.claims.notBefore <= kickedAtMs) {
          return { ok: false, code: 'KICKED', message: `${check.claims.user} left or was removed from ${share.group} after this ticket was issued` };
        }
        served.user = check.claims.user;
        return check;
      },
      admit: () => {
        wire.send({ type: 'bitfield', bitfield: share.source.bitfield() });
        served.unsubscribe = share.source.onVerified((pieceIndex) => sendIfRunning(served, { type: 'PIECE_AVAILABLE', pieceIndex }));
        // They showed a valid ticket: a download of ours may fetch from them too.
        if (link.fetch === null) this.fetchers.get(link.fileId)?.linkReady(link);
      },
      refuse: (code, message) => {
        this.forget(served);
        this.refuse(link, code, message);
      },
      interested: (isInterested) => this.choker.send({ type: isInterested ? 'INTERESTED' : 'NOT_INTERESTED', peerKey: link.id }),
      sendChoke: () => wire.send({ type: 'choke' }),
      sendUnchoke: () => wire.send({ type: 'unchoke' }),
      sendHave: (pieceIndex) => wire.send({ type: 'have', index: pieceIndex }),
      queueRequest: (pieceIndex, beginBytes, lengthBytes) => served.queue?.push(pieceIndex, beginBytes, lengthBytes),
      cancelRequest: (pieceIndex, beginBytes, lengthBytes) => served.queue?.cancel(pieceIndex, beginBytes, lengthBytes),
      dropRequests: () => served.queue?.clear(),
      close: (reason) => {
        this.forget(served);
        if (reason !== null && !link.closed) link.close(reason);
      },
    };
    link.serve = {
      message: (event) => sendIfRunning(served, event),
      drain: () => served.queue?.drained(),
      closed: (reason) => sendIfRunning(served, { type: 'CLOSED', reason }),
    };
    served.actor = createActor(serveConnectionMachine, { clock: xstateClock(this.world.clock), input: { io, timings: this.timings } });
    served.actor.subscribe({ complete: () => this.forget(served) });
    served.actor.start();
    return served;
  }

  /** Tells the other side why we do not serve it (logged and counted); the link goes unless we fetch over it. */
  private refuse(link: PeerLink, code: string, message: string): void {
    this.log(`refused ${link.wire.remoteKey} ${code}: ${message}`);
    this.refused(code);
    link.wire.sendExtendedHandshake({ m: {}, refused: code });
    link.endServe(`REFUSED ${code}`);
  }

  private forget(served: Served): void {
    if (!this.served.delete(served.link.id)) return;
    served.unsubscribe();
    served.queue?.clear();
    this.choker.send({ type: 'GONE', peerKey: served.link.id });
  }
}
