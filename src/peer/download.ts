// Why this file exists: one download, wired together (DESIGN.md §5 "download"). It opens the
// piece store (piece list checked against the info-hash; a resumed download re-hashes only
// unjournaled pieces), dials every holder with retries and backoff, runs one fetch-connection
// actor per holder and the scheduler actor, and is the data plane: a piece block goes from the
// socket straight into the store once the picker says it was wanted. It ends complete (the
// file renamed into place) or failed with a code and a reason, never half-done at the
// destination. Counters: bytes from each holder, pieces re-checked, strikes, bans.

import { createActor, type Actor } from 'xstate';
import { fromHex, toHex } from '../torrent/bytes.js';
import type { FileMeta } from '../torrent/file-meta.js';
import type { KvStore, NetAddress, Timer, World } from '../world/world.js';
import { xstateClock } from '../world/xstate-clock.js';
import { fetchConnectionMachine, type FetchConnectionIo } from '../actors/fetch-connection.js';
import { schedulerMachine, type SchedulerContext, type SchedulerEvent, type SchedulerTimings } from '../actors/scheduler.js';
import { DEFAULT_CONNECTION_TIMINGS, toActorEvent, type ConnectionTimings } from '../actors/wire-events.js';
import { Bitfield } from '../torrent/bitfield.js';
import { CLIENT_VERSION } from '../torrent/wire-codec.js';
import { PeerWire } from './peer-wire.js';
import { PiecePicker, type BlockRef } from '../actors/piece-picker.js';
import { PieceStore, PieceStoreError } from './piece-store.js';
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
  holders: readonly NetAddress[];
  timings?: Partial<DownloadTimings>;
  log?: (line: string) => void;
  /** Hears the wire's conversation, a line per message that shapes it (golden traces). */
  trace?: (line: string) => void;
}

export type DownloadFailureCode = 'NO_SOURCES' | 'PIECES_UNAVAILABLE' | 'STALLED' | 'STOPPED' | 'DISK_ERROR';

export type DownloadOutcome = { state: 'complete' } | { state: 'failed'; code: DownloadFailureCode; message: string };

type HolderState = 'idle' | 'connecting' | 'connected' | 'given-up' | 'banned';

interface Holder {
  readonly key: string;
  readonly address: NetAddress;
  state: HolderState;
  attempts: number;
  lastReason: string | null;
  wire: PeerWire | null;
  actor: Actor<typeof fetchConnectionMachine> | null;
  retry: Timer | null;
  /** Blocks accepted from it on the current connection (a connection that delivered resets the attempts). */
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

/** A reason that may hold a peer's text, made safe for one terminal line: no control characters, at most 200 characters. */
function printable(text: string): string {
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  return clean.length > 200 ? `${clean.slice(0, 199)}…` : clean;
}

export class Download {
  readonly fileId: string;
  readonly done: Promise<DownloadOutcome>;
  private outcome: DownloadOutcome | null = null;
  private settle!: (outcome: DownloadOutcome) => void;
  private readonly holders = new Map<string, Holder>();
  private readonly scheduler: Actor<typeof schedulerMachine>;
  private readonly timings: DownloadTimings;
  private readonly infoHash: Uint8Array;
  private unavailableSinceMs: number | null = null;
  private watchdog: Timer | null = null;
  private wastedBytes = 0;
  private connectAttempts = 0;
  private readonly startedAtMs: number;
  private lastProgressAtMs: number;

  private constructor(
    private readonly world: World,
    private readonly options: DownloadOptions,
    readonly store: PieceStore,
    private readonly picker: PiecePicker,
  ) {
    this.fileId = options.meta.fileId;
    this.infoHash = fromHex(options.meta.fileId, 20)!;
    this.timings = { ...DEFAULT_DOWNLOAD_TIMINGS, ...options.timings };
    this.startedAtMs = this.lastProgressAtMs = world.clock.nowMs();
    this.done = new Promise((resolve) => (this.settle = resolve));
    this.scheduler = createActor(schedulerMachine, {
      clock: xstateClock(world.clock),
      input: {
        picker,
        timings: this.timings.scheduler,
        io: {
          nowMs: () => world.clock.nowMs(),
          // Over the cap, wait for the disk; but if nothing is requested and nothing is being
          // written, the memory is held by pieces that cannot progress: begin others anyway.
          mayStartPieces: (nothingRequested) => store.bufferedBytes() < MAX_BUFFERED_BYTES || (nothingRequested() && !store.writesPending()),
          request: (peer, blocks) => this.sendRequests(peer, blocks),
          cancel: (peer, block) => this.wireOf(peer)?.send({ type: 'cancel', index: block.pieceIndex, begin: block.beginBytes, length: block.lengthBytes }),
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
    const download = new Download(world, options, store, picker);
    store.onWritten(() => download.toScheduler({ type: 'CAPACITY' }));
    download.begin();
    return download;
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

  elapsedMs(): number {
    return this.world.clock.nowMs() - this.startedAtMs;
  }

  /** More holders learned while running (e.g. from the tracker). */
  addHolders(addresses: readonly NetAddress[]): void {
    for (const address of addresses) {
      const key = formatNetAddress(address);
      if (this.holders.has(key) || this.outcome) continue;
      const holder: Holder = {
        key,
        address,
        state: 'idle',
        attempts: 0,
        lastReason: null,
        wire: null,
        actor: null,
        retry: null,
        delivered: false,
        batch: { bytes: 0, completedPieces: [], cancels: [] },
      };
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
    this.addHolders(this.options.holders);
    if (this.holders.size === 0) void this.end({ state: 'failed', code: 'NO_SOURCES', message: 'no holder to fetch from' });
    this.armWatchdog();
  }


  private log(line: string): void {
    this.options.log?.(`download ${this.fileId.slice(0, 8)}: ${line}`);
  }

  // ---- holders ----

  private dial(holder: Holder): void {
    if (this.outcome || holder.state === 'banned' || holder.state === 'given-up') return;
    holder.state = 'connecting';
    holder.retry = null;
    this.connectAttempts++;
    this.world.net.connect(holder.address, { timeoutMs: this.timings.connectTimeoutMs, reuseReadBuffer: true }).then(
      (connection) => {
        if (this.outcome || holder.state !== 'connecting') {
          connection.destroy();
          return;
        }
        const wire = new PeerWire(this.world, connection, { maxPieces: this.picker.pieceCount, reusedReadBuffer: true, ...(this.options.trace ? { trace: this.options.trace } : {}) });
        holder.wire = wire;
        holder.state = 'connected';
        holder.delivered = false;
        const actor = createActor(fetchConnectionMachine, {
          clock: xstateClock(this.world.clock),
          input: { timings: this.timings.connection, io: this.fetchIo(holder, wire) },
        });
        holder.actor = actor;
        actor.start();
        wire.attach({
          message: (event) => {
            if (actor.getSnapshot().status === 'active') actor.send(toActorEvent(event));
          },
          block: (pieceIndex, beginBytes, block) => this.onBlock(holder, pieceIndex, beginBytes, block),
          readEnd: () => this.flushBlocks(holder),
          closed: (reason) => {
            if (actor.getSnapshot().status === 'active') actor.send({ type: 'CLOSED', reason });
          },
        });
        wire.sendHandshake({ infoHash: this.infoHash, peerId: this.options.peerId, extensions: true });
        wire.sendExtendedHandshake({ m: {}, ticket: this.options.ticket(), v: CLIENT_VERSION });
      },
      (error: unknown) => this.linkEnded(holder, `CONNECT_FAILED: ${error instanceof Error ? error.message : String(error)}`),
    );
  }

  private fetchIo(holder: Holder, wire: PeerWire): FetchConnectionIo {
    const peer = holder.key;
    return {
      nowMs: () => this.world.clock.nowMs(),
      lastReceivedAtMs: () => wire.lastReceivedAtMs,
      lastSentAtMs: () => wire.lastSentAtMs,
      sendKeepAlive: () => wire.send({ type: 'keep-alive' }),
      checkHandshake: (infoHash, peerId) => {
        if (toHex(infoHash) !== this.fileId) return 'PROTOCOL: handshake for another file';
        if (toHex(peerId) === toHex(this.options.peerId)) return 'SELF: connected to ourselves';
        return null;
      },
      bitfieldError: (bytes) => {
        const bitfield = Bitfield.fromBytes(this.picker.pieceCount, bytes);
        return typeof bitfield === 'string' ? bitfield : null;
      },
      joined: (bytes) => this.toScheduler({ type: 'PEER_JOINED', peer, bitfield: Bitfield.fromBytes(this.picker.pieceCount, bytes) as Bitfield }),
      have: (pieceIndex) => this.toScheduler({ type: 'PEER_HAVE', peer, pieceIndex }),
      choked: () => this.toScheduler({ type: 'PEER_CHOKED', peer }),
      unchoked: () => this.toScheduler({ type: 'PEER_UNCHOKED', peer }),
      close: (reason) => {
        wire.close(reason ?? 'closed');
        this.linkEnded(holder, reason ?? 'CLOSED: the holder closed the connection');
      },
    };
  }

  private linkEnded(holder: Holder, rawReason: string): void {
    if (holder.state !== 'connected' && holder.state !== 'connecting') return;
    const reason = printable(rawReason);
    const wasConnected = holder.wire !== null;
    holder.wire = null;
    holder.actor = null;
    holder.lastReason = reason;
    if (wasConnected) this.toScheduler({ type: 'PEER_GONE', peer: holder.key });
    if (this.outcome) return;
    if (this.scheduler.getSnapshot().context.banned.has(holder.key)) {
      holder.state = 'banned';
    } else {
      holder.attempts = holder.delivered ? 1 : holder.attempts + 1;
      holder.delivered = false;
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
    return this.holders.get(peer)?.wire ?? null;
  }

  private ban(peer: string, reason: string): void {
    const holder = this.holders.get(peer);
    this.log(`${peer} ${reason}`);
    if (!holder) return;
    holder.wire?.close(reason);
    holder.state = 'banned';
    holder.lastReason = reason;
    this.checkSources();
  }

  // ---- data plane ----

  private sendRequests(peer: string, blocks: readonly BlockRef[]): void {
    this.wireOf(peer)?.sendRequests(blocks);
  }

  private onBlock(holder: Holder, pieceIndex: number, beginBytes: number, block: Uint8Array): void {
    const verdict = this.picker.onBlock(holder.key, pieceIndex, beginBytes, block.length);
    if (!verdict.accepted) {
      this.wastedBytes += block.length;
      return;
    }
    this.store.writeBlock(pieceIndex, beginBytes, block);
    holder.delivered = true;
    holder.batch.bytes += block.length;
    if (verdict.pieceComplete) holder.batch.completedPieces.push(pieceIndex);
    if (verdict.cancels.length > 0) holder.batch.cancels.push(...verdict.cancels);
  }

  private flushBlocks(holder: Holder): void {
    const { batch } = holder;
    if (batch.bytes === 0) return;
    this.lastProgressAtMs = this.world.clock.nowMs();
    holder.batch = { bytes: 0, completedPieces: [], cancels: [] };
    this.toScheduler({ type: 'BLOCKS', peer: holder.key, ...batch });
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
    if (live.length === 0) {
      void this.end({ state: 'failed', code: 'NO_SOURCES', message: `no holder left to fetch from (${this.describeHolders()})` });
      return;
    }
    const nowMs = this.world.clock.nowMs();
    if (nowMs - this.lastProgressAtMs >= this.timings.stallTimeoutMs) {
      void this.end({ state: 'failed', code: 'STALLED', message: `no block arrived for ${this.timings.stallTimeoutMs} ms (${this.describeHolders()})` });
      return;
    }
    const settled = live.every((h) => h.state === 'connected' && h.actor?.getSnapshot().value === 'active');
    const unavailable = settled ? this.picker.unavailablePieces().length : 0;
    if (unavailable === 0) {
      this.unavailableSinceMs = null;
      return;
    }
    this.unavailableSinceMs ??= nowMs;
    if (nowMs - this.unavailableSinceMs >= this.timings.unavailableTimeoutMs) {
      void this.end({ state: 'failed', code: 'PIECES_UNAVAILABLE', message: `${unavailable} pieces are held by no reachable holder` });
    }
  }

  /** Each holder's state, for a failure message: "h:p: choked; h2:p2: gave up: CONNECT_FAILED: …". */
  private describeHolders(): string {
    const pipelines = this.scheduler.getSnapshot().context.pipelines;
    return [...this.holders.values()]
      .map((h) => {
        if (h.state === 'connected') {
          const pipeline = pipelines.get(h.key);
          return `${h.key}: ${pipeline === undefined ? 'connecting' : pipeline.unchoked ? 'unchoked' : 'choked'}`;
        }
        return `${h.key}: ${h.state === 'given-up' ? 'gave up' : h.state}${h.lastReason === null ? '' : `: ${h.lastReason}`}`;
      })
      .join('; ');
  }

  private armWatchdog(): void {
    this.watchdog = this.world.clock.setTimer(Math.min(5_000, this.timings.unavailableTimeoutMs / 4), () => {
      this.checkSources();
      if (!this.outcome) this.armWatchdog();
    });
  }

  private async complete(): Promise<void> {
    if (this.outcome) return;
    this.outcome = { state: 'complete' };
    this.closeLinks('COMPLETE');
    try {
      const finished = await this.store.finish();
      if (finished !== 'complete') this.outcome = { state: 'failed', code: 'DISK_ERROR', message: finished.message };
    } catch (error) {
      // The rename or the last sync failed (EACCES, ENOSPC, EIO): the partial file stays a .part.
      this.outcome = { state: 'failed', code: 'DISK_ERROR', message: error instanceof Error ? error.message : String(error) };
    }
    this.log(this.outcome.state === 'complete' ? `complete in ${this.elapsedMs()} ms` : `failed DISK_ERROR at the end`);
    this.settle(this.outcome);
  }

  /** Ends serving from the store (after completion it serves the finished file). */
  async close(): Promise<void> {
    await this.store.close();
  }

  private async end(outcome: Extract<DownloadOutcome, { state: 'failed' }>): Promise<void> {
    if (this.outcome) return;
    this.outcome = outcome;
    this.log(`failed ${outcome.code}: ${outcome.message}`);
    this.toScheduler({ type: 'FAIL', reason: outcome.message });
    this.closeLinks(outcome.code);
    await this.store.close().catch(() => undefined); // the outcome stands whatever the close says
    this.settle(outcome);
  }

  private closeLinks(reason: string): void {
    this.watchdog?.cancel();
    for (const holder of this.holders.values()) {
      holder.retry?.cancel();
      holder.wire?.close(reason);
    }
  }
}
