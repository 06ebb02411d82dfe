// Why this file exists: one download, wired together (DESIGN.md §5 "download"). It opens the
// piece store (piece list checked against the info-hash; a resumed download re-hashes only
// unjournaled pieces), dials every holder through the peer's host with retries and backoff,
// fetches over every link of its file — the ones it dialed and the ones that dialed us with a
// valid ticket — with one fetch-connection actor per link and the scheduler actor, and is the
// data plane: a piece block goes from the socket straight into the store once the picker says
// it was wanted. It ends complete (the file renamed into place) or failed with a code and a
// reason, never half-done at the destination; either way the links go on carrying what we
// serve. Counters: bytes from each peer, pieces re-checked, strikes, bans.

import { createActor, type Actor } from 'xstate';
import type { FileMeta } from '../torrent/file-meta.js';
import type { CertifiedKey, KvStore, NetAddress, Timer, World } from '../world/world.js';
import { xstateClock } from '../world/xstate-clock.js';
import { fetchConnectionMachine, type FetchConnectionIo } from '../actors/fetch-connection.js';
import { schedulerMachine, type SchedulerContext, type SchedulerEvent, type SchedulerTimings } from '../actors/scheduler.js';
import { DEFAULT_CONNECTION_TIMINGS, type ConnectionTimings } from '../actors/wire-events.js';
import { Bitfield } from '../torrent/bitfield.js';
import type { KeyObject } from 'node:crypto';
import { PeerHost, type Fetcher } from './peer-host.js';
import type { PeerLink } from './peer-link.js';
import type { PeerWire } from './peer-wire.js';
import { PiecePicker, PieceState, type BlockRef } from '../actors/piece-picker.js';
import { PieceStore, PieceStoreError } from './piece-store.js';
import type { RateLimiter } from './rate-limiter.js';
import { RequestPacer } from './request-pacer.js';
import { formatNetAddress } from '../world/net-address.js';

/** Above this many bytes of pieces in memory (the disk is behind), no new pieces are begun. */
export const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

export interface DownloadTimings {
  connection: ConnectionTimings;
  scheduler: Partial<SchedulerTimings>;
  connectTimeoutMs: number;
  /** Backoff before the n-th retry of a holder: min(retryBaseMs * 2^(n-1), retryMaxMs). */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Consecutive failed attempts after which a holder is given up. */
  maxAttempts: number;
  /** How long some missing piece may be held by no reachable holder before the download fails. */
  unavailableTimeoutMs: number;
  /** How long the download may go without accepting a single block before it fails (STALLED). */
  stallTimeoutMs: number;
  /** With only holders that cannot be dialed: how long to wait for one of them to link to us. */
  unreachableTimeoutMs: number;
  /** How often the .part is looked for at its path: its directory (or itself) removed fails the download DESTINATION_GONE. */
  destinationCheckMs: number;
}

export const DEFAULT_DOWNLOAD_TIMINGS: Readonly<DownloadTimings> = {
  connection: DEFAULT_CONNECTION_TIMINGS,
  scheduler: {},
  connectTimeoutMs: 10_000,
  retryBaseMs: 1_000,
  retryMaxMs: 30_000,
  maxAttempts: 5,
  unavailableTimeoutMs: 60_000,
  stallTimeoutMs: 300_000,
  unreachableTimeoutMs: 8_000,
  destinationCheckMs: 2_000,
};

export interface DownloadOptions {
  meta: FileMeta;
  destinationPath: string;
  /** The peer's home LevelDB (journal of verified pieces). */
  journal: KvStore;
  /** Our 20-byte BitTorrent peer id; the ticket is bound to it. */
  peerId: Uint8Array;
  /** The current access ticket (renewed by the caller while the download runs). */
  ticket: () => string;
  holders: readonly HolderAddress[];
  /**
   * When the tracker says no holder can be dialed (all behind routers): their users, and whether
   * we can be dialed (then they were asked to dial us). With no link by `unreachableTimeoutMs`,
   * the download fails NO_REACHABLE_SOURCES, naming them.
   */
  unreachable?: { users: readonly string[]; weCanBeDialed: boolean };
  /**
   * A peer was banned for pieces that failed their SHA1: the holders (as the tracker gave them)
   * it turned out to be, and the evidence of the failed piece that banned it.
   */
  onBan?: (ban: HolderBan) => void;
  /** A link we fetched over went (not for a duplicate): a holder that dialed us may have to be asked again. */
  onLinkLost?: () => void;
  /**
   * The peer's host: links to other peers go through it, so we fetch over the links of peers
   * that dial us too, and serve over the links we dial. Without one the download has a host of
   * its own that only dials and serves nothing, with this key.
   */
  host: PeerHost | { own: CertifiedKey };
  /** The peer's download limit, shared by all its downloads: our requests are paced by it. None: unlimited. */
  downloadLimiter?: RateLimiter;
  timings?: Partial<DownloadTimings>;
  /** How its log lines begin (the shell's id for it); by default `download <info-hash prefix>`. */
  label?: () => string;
  log?: (line: string) => void;
  /** Hears the wire's conversation, a line per message that shapes it (golden traces). */
  trace?: (line: string) => void;
}

/** Where a holder is, and the key it must show (null: any, for tools given bare addresses). */
export interface HolderAddress {
  address: NetAddress;
  keyFingerprint: string | null;
}

/** A ban with its evidence: the holders it covers, a piece index and the piece's expected and received SHA1 (hex). */
export interface HolderBan {
  holders: HolderAddress[];
  reason: string;
  pieceIndex: number;
  expectedSha1: string;
  receivedSha1: string;
}

/**
 * `DESTINATION_EXISTS`: a file appeared at the destination while the download ran; it was left, and the bytes stay in the .part.
 * `DESTINATION_GONE`: the .part vanished from its path while the download ran (its directory or itself was removed).
 */
export type DownloadFailureCode = 'NO_SOURCES' | 'NO_REACHABLE_SOURCES' | 'PIECES_UNAVAILABLE' | 'STALLED' | 'STOPPED' | 'DISK_ERROR' | 'DESTINATION_EXISTS' | 'DESTINATION_GONE';

export type DownloadOutcome = { state: 'complete' } | { state: 'failed'; code: DownloadFailureCode; message: string };

type HolderState = 'idle' | 'connecting' | 'connected' | 'given-up' | 'banned';

/** An address the tracker gave us, dialed with retries. */
interface Holder {
  readonly key: string;
  readonly address: NetAddress;
  readonly keyFingerprint: string | null;
  state: HolderState;
  attempts: number;
  lastReason: string | null;
  /** The peer it turned out to be (its handshake's peer id), once linked. */
  peerId: string | null;
  retry: Timer | null;
}

/** Our fetching from one peer, over its link. */
interface FetchPeer {
  /** The scheduler's name for it: its address as we see it and the port it listens on. */
  readonly key: string;
  readonly link: PeerLink;
  readonly actor: Actor<typeof fetchConnectionMachine>;
  /** Blocks accepted from it on this link (a link that delivered resets its holder's attempts). */
  delivered: boolean;
  /** Accepted since the last BLOCKS event: sent once per read from the socket. */
  batch: { bytes: number; completedPieces: number[]; cancels: Array<{ peer: string; block: BlockRef }> };
}

export interface DownloadCounters {
  bytesFromPeer: Record<string, number>;
  piecesRechecked: number;
  piecesVerified: number;
  piecesFailed: number;
  strikes: Record<string, number>;
  bans: Record<string, string>;
  snubs: number;
  endgameRequests: number;
  wastedBytes: number;
  connectAttempts: number;
}

/** Piece maps are ASCII (PieceState's codes): their bytes read as text as they are. */
const PIECE_MAP_TEXT = new TextDecoder('latin1');

/**
 * The piece map of a download not running (see `Download.pieceMap`): `v` for each verified
 * piece, `-` for the others (nothing is in flight). `into` is reused when the caller has one.
 */
export function restingPieceMap(pieceCount: number, verified: (pieceIndex: number) => boolean, into: Uint8Array = new Uint8Array(pieceCount)): string {
  for (let i = 0; i < pieceCount; i++) into[i] = verified(i) ? PieceState.verified : PieceState.missing;
  return PIECE_MAP_TEXT.decode(into.subarray(0, pieceCount));
}

/** A reason that may hold a peer's text, made safe for one terminal line: no control characters, at most 200 characters. */
function printable(text: string): string {
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  return clean.length > 200 ? `${clean.slice(0, 199)}…` : clean;
}

export class Download implements Fetcher {
  readonly fileId: string;
  readonly done: Promise<DownloadOutcome>;
  private outcome: DownloadOutcome | null = null;
  private settle!: (outcome: DownloadOutcome) => void;
  private readonly holders = new Map<string, Holder>();
  /** Our fetching, by peer key. */
  private readonly peers = new Map<string, FetchPeer>();
  /** Peers banned for this download, by peer id: no link of theirs is fetched over again. */
  private readonly bannedPeerIds = new Set<string>();
  private readonly scheduler: Actor<typeof schedulerMachine>;
  private readonly timings: DownloadTimings;
  private unavailableSinceMs: number | null = null;
  private watchdog: Timer | null = null;
  private destinationCheck: Timer | null = null;
  /** Our requests, paced by the download limit. */
  private readonly pacer: RequestPacer;
  private wastedBytes = 0;
  private connectAttempts = 0;
  private readonly startedAtMs: number;
  private lastProgressAtMs: number;
  /** The bytes of pieceMap(), one a piece, reused by every call. */
  private pieceMapBytes: Uint8Array | null = null;

  private constructor(
    private readonly world: World,
    private readonly options: DownloadOptions,
    readonly store: PieceStore,
    private readonly picker: PiecePicker,
    private readonly host: PeerHost,
    /** A host made for this download alone (closed with it). */
    private readonly ownsHost: boolean,
  ) {
    this.fileId = options.meta.fileId;
    this.timings = { ...DEFAULT_DOWNLOAD_TIMINGS, ...options.timings };
    this.startedAtMs = this.lastProgressAtMs = world.clock.monotonicMs();
    this.done = new Promise((resolve) => (this.settle = resolve));
    this.pacer = new RequestPacer(world.clock, options.downloadLimiter, (peer, blocks) => this.wireOf(peer)?.sendRequests(blocks));
    this.scheduler = createActor(schedulerMachine, {
      clock: xstateClock(world.clock),
      input: {
        picker,
        timings: this.timings.scheduler,
        io: {
          monotonicMs: () => world.clock.monotonicMs(),
          // Over the cap, wait for the disk; but if nothing is requested and nothing is being
          // written, the memory is held by pieces that cannot progress: begin others anyway.
          mayStartPieces: (nothingRequested) => store.bufferedBytes() < MAX_BUFFERED_BYTES || (nothingRequested() && !store.writesPending()),
          request: (peer, blocks) => this.pacer.request(peer, blocks),
          requestsSentAtMs: (peer) => this.pacer.sentAtMs(peer),
          // A request still held by the pacer never went out: dropping it is the cancel.
          cancel: (peer, block) => void (this.pacer.cancel(peer, block) || this.wireOf(peer)?.send({ type: 'cancel', index: block.pieceIndex, begin: block.beginBytes, length: block.lengthBytes })),
          setInterested: (peer, interested) => this.wireOf(peer)?.send({ type: interested ? 'interested' : 'not-interested' }),
          verify: (pieceIndex) => this.verify(pieceIndex),
          discard: (pieceIndex) => store.discardPiece(pieceIndex),
          ban: (peer, reason) => this.ban(peer, reason),
          completed: () => void this.complete(),
        },
      },
    });
  }

  /** Opens the store and starts fetching; a bad piece list, a bad name or an existing destination is an error. */
  static async start(world: World, options: DownloadOptions): Promise<Download | PieceStoreError> {
    const store = await PieceStore.open(world, { meta: options.meta, destinationPath: options.destinationPath, journal: options.journal });
    if (store instanceof PieceStoreError) return store;
    if (store.resumed) await store.recheckUnrecorded();
    const picker = new PiecePicker({
      sizeBytes: options.meta.sizeBytes,
      pieceLengthBytes: options.meta.pieceLengthBytes,
      have: (i) => store.has(i),
      rng: world.rng,
    });
    const given = options.host instanceof PeerHost ? options.host : null;
    const host =
      given ??
      (await PeerHost.start(world, {
        listen: null,
        peerId: options.peerId,
        own: (options.host as { own: CertifiedKey }).own,
        clusterPublicKey: null as KeyObject | null,
        ...(options.trace ? { trace: options.trace } : {}),
        ...(options.timings?.connection ? { timings: options.timings.connection } : {}),
      }));
    const download = new Download(world, options, store, picker, host, given === null);
    store.onWritten(() => download.toScheduler({ type: 'CAPACITY' }));
    download.begin();
    return download;
  }

  get pieceCount(): number {
    return this.picker.pieceCount;
  }

  ticket(): string {
    return this.options.ticket();
  }

  /**
   * Our ticket was renewed: it goes, in an extension handshake, down every open link we fetch
   * over and showed the old one on, so the serving side (which checks expiry at every request)
   * keeps serving a download that outlives its first ticket. Returns how many links heard it.
   */
  ticketRenewed(): number {
    const ticket = this.options.ticket();
    let sent = 0;
    for (const peer of this.peers.values()) {
      if (!peer.link.ticketSent || peer.link.closed) continue;
      peer.link.wire.sendExtendedHandshake({ m: {}, ticket });
      sent++;
    }
    return sent;
  }

  expectsDialFrom(host: string, keyFingerprint: string | null): boolean {
    return [...this.holders.values()].some((holder) => holder.address.host === host && (holder.keyFingerprint === null || holder.keyFingerprint === keyFingerprint));
  }

  get state(): 'running' | DownloadOutcome['state'] {
    return this.outcome?.state ?? 'running';
  }

  counters(): DownloadCounters {
    const context: SchedulerContext = this.scheduler.getSnapshot().context;
    return {
      bytesFromPeer: Object.fromEntries(context.bytesFromPeer),
      piecesRechecked: this.store.piecesRechecked,
      piecesVerified: context.counters.piecesVerified,
      piecesFailed: context.counters.piecesFailed,
      strikes: Object.fromEntries(context.strikes),
      bans: Object.fromEntries(context.banned),
      snubs: context.counters.snubs,
      endgameRequests: this.picker.endgameRequests,
      wastedBytes: this.wastedBytes,
      connectAttempts: this.connectAttempts,
    };
  }

  /**
   * One character a piece: `v` verified, `f` in flight (blocks requested or received, or the
   * piece waiting for its SHA1 verdict), `-` missing. While the download runs this is the
   * picker's view; once it ended, the store's verified pieces alone (what was in flight went
   * with it). O(pieces); the only allocation is the string.
   */
  pieceMap(): string {
    const bytes = (this.pieceMapBytes ??= new Uint8Array(this.picker.pieceCount));
    if (this.outcome !== null) return restingPieceMap(bytes.length, (i) => this.store.has(i), bytes);
    return PIECE_MAP_TEXT.decode(this.picker.pieceStates(bytes));
  }

  /** Peers we fetch from over a link now. */
  linkedPeers(): number {
    return this.peers.size;
  }

  elapsedMs(): number {
    return this.world.clock.monotonicMs() - this.startedAtMs;
  }

  /** More holders learned while running (e.g. from the tracker). */
  addHolders(holders: readonly HolderAddress[]): void {
    for (const { address, keyFingerprint } of holders) {
      const key = formatNetAddress(address);
      if (this.holders.has(key) || this.outcome) continue;
      const holder: Holder = { key, address, keyFingerprint, state: 'idle', attempts: 0, lastReason: null, peerId: null, retry: null };
      this.holders.set(key, holder);
      this.dial(holder);
    }
  }

  /** Stops the download, keeping the partial file and journal for a later resume. */
  async stop(): Promise<void> {
    await this.end({ state: 'failed', code: 'STOPPED', message: 'the download was stopped' });
  }

  private begin(): void {
    this.scheduler.start();
    if (this.picker.complete) {
      // Everything was on disk already (a resume after the last piece).
      return;
    }
    this.host.attach(this);
    this.addHolders(this.options.holders);
    if (this.holders.size === 0) void this.end({ state: 'failed', code: 'NO_SOURCES', message: 'no holder to fetch from' });
    this.armWatchdog();
    this.armDestinationCheck();
    const unreachable = this.options.unreachable;
    if (unreachable) this.world.clock.setTimer(this.timings.unreachableTimeoutMs, () => this.noneLinked(unreachable));
  }

  private log(line: string): void {
    this.options.log?.(`${this.options.label?.() ?? `download ${this.fileId.slice(0, 8)}`}: ${line}`);
  }

  // ---- holders and links ----

  private dial(holder: Holder): void {
    if (this.outcome || holder.state === 'banned' || holder.state === 'given-up') return;
    holder.state = 'connecting';
    holder.retry = null;
    this.connectAttempts++;
    this.host.connect(this.fileId, holder.address, holder.keyFingerprint, (outcome) => {
      if (!outcome.ok) {
        if (holder.state === 'connecting') this.holderLost(holder, outcome.reason);
        return;
      }
      // Also when another link covered the holder meanwhile: this one may be the survivor.
      if (holder.state === 'banned' || holder.state === 'given-up') return;
      holder.peerId = outcome.link.remotePeerId;
      holder.state = 'connected';
      this.linkReady(outcome.link);
    }, this.timings.connectTimeoutMs);
  }

  /** A link of our file (one we dialed, or one whose peer showed a valid ticket): we fetch over it. */
  linkReady(link: PeerLink): void {
    if (this.outcome || link.fetch !== null || link.closed || this.bannedPeerIds.has(link.remotePeerId)) return;
    const key = link.peerKey;
    const current = this.peers.get(key);
    if (current) {
      // Fetching from that peer over another link already: keep it, unless the host let it go for this one.
      if (this.host.linkFor(this.fileId, current.link.remotePeerId) === current.link) return;
      this.retire(current);
    }
    const actor = createActor(fetchConnectionMachine, { clock: xstateClock(this.world.clock), input: { timings: this.timings.connection, io: this.fetchIo(key, link) } });
    const peer: FetchPeer = { key, link, actor, delivered: false, batch: { bytes: 0, completedPieces: [], cancels: [] } };
    this.peers.set(key, peer);
    // A holder the link is (by its peer id, or by where it listens) needs no dial of its own.
    for (const holder of this.holders.values()) {
      if ((holder.peerId === link.remotePeerId || holder.key === key) && (holder.state === 'idle' || holder.state === 'connecting')) {
        holder.retry?.cancel();
        holder.peerId = link.remotePeerId;
        holder.state = 'connected';
      }
    }
    link.fetch = {
      message: (event) => {
        if (actor.getSnapshot().status === 'active') actor.send(event);
      },
      block: (pieceIndex, beginBytes, block) => this.onBlock(peer, pieceIndex, beginBytes, block),
      readEnd: () => this.flushBlocks(peer),
      closed: (reason) => {
        if (actor.getSnapshot().status === 'active') actor.send({ type: 'CLOSED', reason });
      },
    };
    actor.start();
    if (!link.ticketSent) {
      link.ticketSent = true;
      link.wire.sendExtendedHandshake({ m: {}, ticket: this.options.ticket() });
    }
  }

  private fetchIo(peer: string, link: PeerLink): FetchConnectionIo {
    const { wire } = link;
    return {
      monotonicMs: () => this.world.clock.monotonicMs(),
      lastReceivedAtMs: () => wire.lastReceivedAtMs,
      lastSentAtMs: () => wire.lastSentAtMs,
      sendKeepAlive: () => wire.send({ type: 'keep-alive' }),
      bitfieldError: (bytes) => {
        const bitfield = Bitfield.fromBytes(this.picker.pieceCount, bytes);
        return typeof bitfield === 'string' ? bitfield : null;
      },
      joined: (bytes) => this.toScheduler({ type: 'PEER_JOINED', peer, bitfield: Bitfield.fromBytes(this.picker.pieceCount, bytes) as Bitfield }),
      have: (pieceIndex) => this.toScheduler({ type: 'PEER_HAVE', peer, pieceIndex }),
      choked: () => {
        this.pacer.dropPeer(peer); // the scheduler takes its requests back
        this.toScheduler({ type: 'PEER_CHOKED', peer });
      },
      unchoked: () => this.toScheduler({ type: 'PEER_UNCHOKED', peer }),
      close: (reason, fatal) => {
        const fetched = this.peers.get(peer);
        if (fetched?.link !== link) return;
        this.peers.delete(peer);
        this.pacer.dropPeer(peer);
        const why = reason ?? 'CLOSED: the peer closed the link';
        if (fatal) link.close(why);
        else link.endFetch(why);
        this.toScheduler({ type: 'PEER_GONE', peer });
        // The peer is still linked, by the link that survived this one: fetch over that.
        const survivor = why === 'DUPLICATE' ? this.host.linkFor(this.fileId, link.remotePeerId) : null;
        if (survivor) return this.linkReady(survivor);
        if (!this.outcome) this.options.onLinkLost?.();
        for (const holder of this.holders.values()) {
          if (holder.peerId === link.remotePeerId && holder.state === 'connected') this.holderLost(holder, why, fetched.delivered);
        }
        this.checkSources();
      },
    };
  }

  /** Stops fetching over a link the host closed for a duplicate, before its close arrives: its successor takes over at once. */
  private retire(peer: FetchPeer): void {
    this.peers.delete(peer.key);
    this.pacer.dropPeer(peer.key);
    peer.link.fetch = null;
    peer.actor.stop();
    this.toScheduler({ type: 'PEER_GONE', peer: peer.key });
  }

  /** A holder's link went (or never came): dial again after a backoff, or give it up. */
  private holderLost(holder: Holder, rawReason: string, delivered = false): void {
    if (holder.state !== 'connected' && holder.state !== 'connecting') return;
    const reason = printable(rawReason);
    holder.lastReason = reason;
    if (this.outcome) {
      holder.state = 'idle';
      return;
    }
    if (holder.peerId !== null && this.bannedPeerIds.has(holder.peerId)) {
      holder.state = 'banned';
    } else if (/^REFUSED (FILE_CHANGED|NOT_SHARED)$/.test(reason)) {
      // It no longer offers the file (it changed on its disk, or it stopped sharing): redialing would not help.
      holder.state = 'given-up';
      this.log(`gave up ${holder.key}: ${reason}`);
    } else if (reason === 'DUPLICATE') {
      // Another link to the same peer survived: it carries this holder; look again soon.
      holder.state = 'idle';
      holder.retry = this.world.clock.setTimer(this.timings.retryBaseMs, () => this.dial(holder));
    } else {
      holder.attempts = delivered ? 1 : holder.attempts + 1;
      if (holder.attempts >= this.timings.maxAttempts) {
        holder.state = 'given-up';
        this.log(`gave up ${holder.key} after ${holder.attempts} attempts: ${reason}`);
      } else {
        holder.state = 'idle';
        const delayMs = Math.min(this.timings.retryBaseMs * 2 ** (holder.attempts - 1), this.timings.retryMaxMs);
        holder.retry = this.world.clock.setTimer(delayMs, () => this.dial(holder));
      }
    }
    this.checkSources();
  }

  /** Events for the scheduler; after it ended (complete or failed) they have nowhere to go. */
  toScheduler(event: SchedulerEvent): void {
    if (this.scheduler.getSnapshot().status === 'active') this.scheduler.send(event);
  }

  private wireOf(peer: string): PeerWire | null {
    return this.peers.get(peer)?.link.wire ?? null;
  }

  private ban(peer: string, reason: string): void {
    const fetched = this.peers.get(peer);
    this.log(`${peer} ${reason}`);
    if (!fetched) return;
    this.bannedPeerIds.add(fetched.link.remotePeerId);
    const banned: HolderAddress[] = [];
    for (const holder of this.holders.values()) {
      if (holder.peerId === fetched.link.remotePeerId) {
        holder.retry?.cancel();
        holder.state = 'banned';
        holder.lastReason = reason;
        banned.push({ address: holder.address, keyFingerprint: holder.keyFingerprint });
      }
    }
    // The scheduler bans while it hears of a failed piece: the store's last failure is that piece.
    const evidence = this.store.lastCorrupt;
    if (evidence !== null) this.options.onBan?.({ holders: banned, reason, ...evidence });
    fetched.link.close(reason);
    this.checkSources();
  }

  // ---- data plane ----

  private onBlock(peer: FetchPeer, pieceIndex: number, beginBytes: number, block: Uint8Array): void {
    const verdict = this.picker.onBlock(peer.key, pieceIndex, beginBytes, block.length);
    if (!verdict.accepted) {
      this.wastedBytes += block.length;
      return;
    }
    this.store.writeBlock(pieceIndex, beginBytes, block);
    peer.delivered = true;
    peer.batch.bytes += block.length;
    if (verdict.pieceComplete) peer.batch.completedPieces.push(pieceIndex);
    if (verdict.cancels.length > 0) peer.batch.cancels.push(...verdict.cancels);
  }

  private flushBlocks(peer: FetchPeer): void {
    const { batch } = peer;
    if (batch.bytes === 0) return;
    this.lastProgressAtMs = this.world.clock.monotonicMs();
    peer.batch = { bytes: 0, completedPieces: [], cancels: [] };
    this.toScheduler({ type: 'BLOCKS', peer: peer.key, ...batch });
  }

  private verify(pieceIndex: number): void {
    this.store.verifyPiece(pieceIndex).then(
      (result) => {
        if (this.outcome) return;
        this.options.trace?.(`piece ${pieceIndex} ${result === 'verified' ? 'verified' : 'failed its SHA1'}`);
        this.toScheduler({ type: result === 'verified' ? 'PIECE_VERIFIED' : 'PIECE_FAILED', pieceIndex });
      },
      (error: unknown) => void this.end({ state: 'failed', code: 'DISK_ERROR', message: error instanceof Error ? error.message : String(error) }),
    );
  }

  // ---- ending ----

  /** Fails the download when no holder is left, or when a missing piece stays unavailable too long. */
  private checkSources(): void {
    if (this.outcome) return;
    const live = [...this.holders.values()].filter((h) => h.state !== 'given-up' && h.state !== 'banned');
    if (live.length === 0 && this.peers.size === 0) {
      void this.end({ state: 'failed', code: 'NO_SOURCES', message: `no holder left to fetch from (${this.describeHolders()})` });
      return;
    }
    const nowMonotonicMs = this.world.clock.monotonicMs();
    if (nowMonotonicMs - this.lastProgressAtMs >= this.timings.stallTimeoutMs) {
      void this.end({ state: 'failed', code: 'STALLED', message: `no block arrived for ${this.timings.stallTimeoutMs} ms (${this.describeHolders()})` });
      return;
    }
    const fetching = (h: Holder): boolean => [...this.peers.values()].some((p) => p.link.remotePeerId === h.peerId && p.actor.getSnapshot().value === 'active');
    const settled = live.every((h) => h.state === 'connected' && fetching(h));
    const unavailable = settled ? this.picker.unavailablePieces().length : 0;
    if (unavailable === 0) {
      this.unavailableSinceMs = null;
      return;
    }
    this.unavailableSinceMs ??= nowMonotonicMs;
    if (nowMonotonicMs - this.unavailableSinceMs >= this.timings.unavailableTimeoutMs) {
      void this.end({ state: 'failed', code: 'PIECES_UNAVAILABLE', message: `${unavailable} pieces are held by no reachable holder` });
    }
  }

  /** Each holder's state, for a failure message: "h:p: choked; h2:p2: gave up: CONNECT_FAILED: …". */
  describeHolders(): string {
    const pipelines = this.scheduler.getSnapshot().context.pipelines;
    return [...this.holders.values()]
      .map((h) => {
        if (h.state === 'connected') {
          const peer = [...this.peers.values()].find((p) => p.link.remotePeerId === h.peerId);
          const pipeline = peer === undefined ? undefined : pipelines.get(peer.key);
          return `${h.key}: ${pipeline === undefined ? 'connecting' : pipeline.unchoked ? 'unchoked' : 'choked'}`;
        }
        return `${h.key}: ${h.state === 'given-up' ? 'gave up' : h.state}${h.lastReason === null ? '' : `: ${h.lastReason}`}`;
      })
      .join('; ');
  }

  /** No holder could be dialed, and none has linked to us: say who, and why. */
  private noneLinked(unreachable: { users: readonly string[]; weCanBeDialed: boolean }): void {
    if (this.outcome || this.scheduler.getSnapshot().context.pipelines.size > 0) return;
    const who = unreachable.users.join(', ');
    const message = unreachable.weCanBeDialed
      ? `${who} cannot be dialed (behind a router) and did not dial us back within ${this.timings.unreachableTimeoutMs} ms`
      : `${who} cannot be dialed (behind a router), and neither can this peer`;
    void this.end({ state: 'failed', code: 'NO_REACHABLE_SOURCES', message });
  }

  private armWatchdog(): void {
    this.watchdog = this.world.clock.setTimer(Math.min(5_000, this.timings.unavailableTimeoutMs / 4), () => {
      this.checkSources();
      if (!this.outcome) this.armWatchdog();
    });
  }

  /** The .part must stay at its path: a removed directory (or .part) is noticed now, not at the final rename. One stat per check. */
  private armDestinationCheck(): void {
    this.destinationCheck = this.world.clock.setTimer(this.timings.destinationCheckMs, () => {
      const path = this.store.partPath;
      this.world.fs.stat(path).then(
        (stat) => {
          if (this.outcome) return;
          if (stat === null || stat.isDirectory) {
            void this.end({ state: 'failed', code: 'DESTINATION_GONE', message: `${printable(path)} is gone (the file or its directory was removed)` });
            return;
          }
          this.armDestinationCheck();
        },
        // Cannot tell (a transient error): look again next time; a write that fails says more.
        () => void (this.outcome || this.armDestinationCheck()),
      );
    });
  }

  private async complete(): Promise<void> {
    if (this.outcome) return;
    this.outcome = { state: 'complete' };
    this.stopFetching('COMPLETE');
    try {
      const finished = await this.store.finish();
      if (finished !== 'complete') this.outcome = { state: 'failed', code: finished.code === 'DESTINATION_EXISTS' ? 'DESTINATION_EXISTS' : 'DISK_ERROR', message: finished.message };
    } catch (error) {
      // The rename or the last sync failed (EACCES, ENOSPC, EIO): the partial file stays a .part.
      this.outcome = { state: 'failed', code: 'DISK_ERROR', message: error instanceof Error ? error.message : String(error) };
    }
    this.log(this.outcome.state === 'complete' ? `complete in ${Math.round(this.elapsedMs())} ms` : `failed ${this.outcome.code} at the end: ${this.outcome.message}`);
    this.settle(this.outcome);
  }

  /** Ends serving from the store (after completion it serves the finished file). */
  async close(): Promise<void> {
    if (this.ownsHost) await this.host.close();
    await this.store.close();
  }

  private async end(outcome: Extract<DownloadOutcome, { state: 'failed' }>): Promise<void> {
    if (this.outcome) return;
    this.outcome = outcome;
    this.log(`failed ${outcome.code}: ${outcome.message}`);
    this.toScheduler({ type: 'FAIL', reason: outcome.message });
    this.stopFetching(outcome.code);
    await this.store.close().catch(() => undefined); // the outcome stands whatever the close says
    this.settle(outcome);
  }

  /** Our fetching ends on every link; a link stays where we serve the other side. */
  private stopFetching(reason: string): void {
    this.watchdog?.cancel();
    this.destinationCheck?.cancel();
    this.pacer.close();
    this.host.detach(this.fileId, this);
    for (const holder of this.holders.values()) holder.retry?.cancel();
    for (const peer of [...this.peers.values()]) {
      if (peer.actor.getSnapshot().status === 'active') peer.actor.send({ type: 'STOP', reason });
    }
  }
}
