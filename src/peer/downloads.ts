// Why this file exists: a peer's downloads as a BitTorrent client keeps them (DESIGN.md §1, §5).
// Each has one id from start to finish and a record in the home, so a restarted shell lists and
// resumes them as they were. A download whose holders are away is waiting, not failed: it goes on
// by itself when the tracker's push channel says a holder came back (with a slow back-off as a
// safety net), and fails only for reasons waiting cannot fix. Pause, resume and cancel act on
// the id. Each attempt is one `Download` (the data plane); this file decides what comes after it.

import type { SessionCommand } from '../log/domain/commands.js';
import type { Event } from '../log/domain/events.js';
import type { FileDetail } from '../log/domain/queries.js';
import type { SessionCredential } from '../tracker/client-protocol.js';
import type { FileMeta } from '../torrent/file-meta.js';
import { pieceCount } from '../torrent/infohash.js';
import { parseNetAddress } from '../world/net-address.js';
import type { KvStore, Timer, World } from '../world/world.js';
import { restingPieceMap, type Download, type DownloadCounters, type DownloadFailureCode, type DownloadOutcome } from './download.js';
import { startAttempt, type Attempt, type AttemptHolder, type StopReason } from './download-attempt.js';
import { DownloadRecords, type DownloadRecord } from './download-records.js';
import type { PeerHost } from './peer-host.js';
import type { RateLimiter } from './rate-limiter.js';
import { PieceStore, PieceStoreError } from './piece-store.js';

export type DownloadState = 'running' | 'waiting' | 'paused' | 'complete' | 'failed';

/** Why a download waits. Each goes away by itself: a holder comes back, the tracker answers, a login. */
export type WaitingCode = 'WAITING_FOR_HOLDERS' | 'NO_REACHABLE_SOURCES' | 'TRACKER_UNAVAILABLE' | 'LOGGED_OUT';

export interface DownloadView {
  id: number;
  group: string;
  name: string;
  fileId: string;
  destination: string;
  /** Where the bytes are until the download completes. */
  partPath: string | null;
  state: DownloadState;
  sizeBytes: number;
  verifiedBytes: number;
  bytesPerSecond: number;
  peers: number;
  /** Bytes received from each peer over all attempts, across restarts. */
  bytesFromPeer: Record<string, number>;
  /** The same by user, where the tracker named the peer (else by its address). */
  bytesFromUser: Record<string, number>;
  waiting?: { code: WaitingCode; message: string; holders: string[] };
  failure?: { code: string; message: string };
  /** The counters of the latest attempt (null before one began in this process). */
  counters: DownloadCounters | null;
}

/** What the downloads need of the peer: its session and home, the tracker, the serving host. Tracker calls throw PeerErrors. */
export interface DownloadsIo {
  world: World;
  host: PeerHost;
  peerId: Uint8Array;
  /** The peer's download limit, shared by all its downloads (it may be unlimited, and changed at runtime). */
  downloadLimiter: RateLimiter;
  home(): KvStore;
  session(): SessionCredential & { user: string } | null;
  /** Whether the tracker could dial us (holders behind routers are then asked to dial back). */
  reachable(): boolean;
  fileDetail(session: SessionCredential, group: string, name: string): Promise<FileDetail>;
  ticket(session: SessionCredential, group: string, fileId: string): Promise<{ ticket: string; expires: number }>;
  command(session: SessionCredential, command: SessionCommand): Promise<unknown>;
  dialBack(session: SessionCredential, group: string, fileId: string): Promise<{ asked: string[] }>;
  /** A completed download is shared from where it landed, and offered again at the next login. */
  remember(user: string, shared: { group: string; path: string; meta: FileMeta }): Promise<void>;
  /** This process is brief (a one-shot's foreground download): a completed file is remembered for the next shell, not announced. */
  brief(): boolean;
  /** The stable code of a tracker call's failure (PeerError codes; others INTERNAL). */
  codeOf(error: unknown): string;
  log?: (line: string) => void;
  trace?: (line: string) => void;
}

/** A refusal of a download command: a stable code and one line (the peer turns it into a PeerError). */
export class DownloadsError extends Error {
  override name = 'DownloadsError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** An attempt failing with these waits for holders instead; the others end the download. */
const WAITABLE: ReadonlySet<DownloadFailureCode> = new Set(['NO_SOURCES', 'NO_REACHABLE_SOURCES', 'PIECES_UNAVAILABLE', 'STALLED']);
/** A waiting download looks again after this long, doubling up to WAIT_RETRY_MAX_MS (the push channel usually says sooner). */
const WAIT_RETRY_FIRST_MS = 5_000;
const WAIT_RETRY_MAX_MS = 60_000;
interface Entry {
  record: DownloadRecord;
  attempt: Attempt | null;
  /** An attempt is being set up (tracker questions, the store opening). */
  starting: boolean;
  /** Cancelled: gone from the list; an attempt starting meanwhile ends at once. */
  removed: boolean;
  /** Of a session that ended (logout) or a list read again (login): it starts nothing more. */
  retired: boolean;
  /**
   * Why the download cannot go on, since when, and how many bytes it had then. It stays through
   * the attempts made meanwhile, until one brings a verified byte more (so a script's wait
   * timeout counts the whole spell, not the time since the last try).
   */
  waiting: { code: WaitingCode; message: string; reason: string | null; holders: string[]; sinceMs: number; verifiedBytes: number } | null;
  retry: Timer | null;
  retryDelayMs: number;
  counters: DownloadCounters | null;
  /** Keys of holders an attempt banned (pieces that failed their SHA1), with the reason: no later attempt asks them. */
  bannedKeys: Map<string, string>;
  /** Who each holder address the tracker gave belongs to. */
  peerUsers: Map<string, string>;
  /** Bans of earlier attempts, as the counters show them. */
  pastBans: Record<string, string>;
  /** A completed attempt whose store still serves the file (closed when the session ends). */
  serving: Download | null;
  verifiedBytes: number;
  /**
   * The piece map while no attempt runs (see Download.pieceMap): the last attempt's as it ended,
   * or, before any in this process, the journal's pieces read once when the list was loaded.
   */
  pieces: string;
  /** (time, verified bytes) a few seconds back, for the rate. */
  samples: Array<[number, number]>;
}

export class Downloads {
  /** Access tickets renewed while downloads ran (a counter for the simulation's coverage). */
  ticketRenewals = 0;
  private entries: Entry[] = [];
  private records: DownloadRecords | null = null;
  private readonly listeners = new Set<() => void>();
  private commandChain: Promise<void> = Promise.resolve();
  /** Finished stores of cancelled (forgotten) complete downloads, still serving until the session ends. */
  private lingering: Download[] = [];

  constructor(private readonly io: DownloadsIo) {}

  private get world(): World {
    return this.io.world;
  }

  // ---- the list, across restarts ----

  /** The user's downloads from the home, listed but not resumed (a one-shot's brief session). */
  async open(user: string): Promise<void> {
    await this.restore(user, { resume: false });
  }

  /** After a login: the user's downloads from the home; active ones resume, the others are listed as they were. */
  async restore(user: string, options: { resume: boolean } = { resume: true }): Promise<{ resumed: string[]; paused: string[] }> {
    for (const old of this.entries) old.retired = true;
    this.records = new DownloadRecords(this.io.home(), user);
    const records = await this.records.load();
    this.entries = records.map((record) => ({ record, attempt: null, starting: false, removed: false, retired: false, waiting: null, retry: null, retryDelayMs: WAIT_RETRY_FIRST_MS, counters: null, bannedKeys: new Map(), peerUsers: new Map(), pastBans: {}, serving: null, verifiedBytes: 0, pieces: '', samples: [] }));
    for (const entry of this.entries) {
      const { meta } = entry.record;
      const count = pieceCount(meta.sizeBytes, meta.pieceLengthBytes);
      if (entry.record.state === 'complete') {
        entry.verifiedBytes = meta.sizeBytes;
        entry.pieces = restingPieceMap(count, () => true);
      } else {
        const journaled = await PieceStore.journaled({ meta, destinationPath: entry.record.destination, journal: this.io.home() });
        entry.verifiedBytes = journaled.verifiedBytes;
        entry.pieces = restingPieceMap(count, (i) => journaled.pieces.has(i));
      }
    }
    const active = this.entries.filter((e) => e.record.state === 'active');
    if (options.resume) for (const entry of active) void this.run(entry);
    else for (const entry of active) entry.waiting = { code: 'LOGGED_OUT', message: 'goes on when a shell of this home runs', reason: null, holders: [], sinceMs: this.world.clock.monotonicMs(), verifiedBytes: entry.verifiedBytes };
    const label = (e: Entry): string => `${e.record.id} ${e.record.meta.name}`;
    return { resumed: active.map(label), paused: this.entries.filter((e) => e.record.state === 'paused').map(label) };
  }

  /**
   * At logout: every attempt stops, and active downloads show as waiting for the next login (the
   * records stay: the next login goes on with them). Finished stores stop serving.
   */
  async suspend(): Promise<void> {
    for (const entry of this.entries) {
      entry.retired = true;
      entry.retry?.cancel();
      await this.stopAttempt(entry, 'suspend');
      // Unshared before it closes, so no peer reads a closed file in between.
      if (entry.serving !== null && this.io.host.sourceOf(entry.record.meta.fileId) === entry.serving.store) this.io.host.unshare(entry.record.meta.fileId);
      await entry.serving?.close().catch(() => undefined);
      entry.serving = null;
      if (entry.record.state === 'active') entry.waiting = { code: 'LOGGED_OUT', message: 'logged out: goes on at the next login', reason: null, holders: [], sinceMs: this.world.clock.monotonicMs(), verifiedBytes: entry.verifiedBytes };
    }
    for (const download of this.lingering.splice(0)) {
      if (this.io.host.sourceOf(download.fileId) === download.store) this.io.host.unshare(download.fileId);
      await download.close().catch(() => undefined);
    }
    this.notify();
  }

  /** At the end: as at logout, and the list is forgotten. */
  async close(): Promise<void> {
    await this.suspend();
    this.entries = [];
    this.records = null;
  }

  // ---- commands ----

  /** Starts a download; refusals (a bad destination, one running already, a file there) are errors and record nothing. */
  add(group: string, name: string, destination: (fileName: string) => Promise<string>): Promise<DownloadView> {
    return this.exclusive(async () => {
      const session = this.requireSession();
      const records = this.requireRecords();
      const detail = await this.io.fileDetail(session, group, name);
      const meta: FileMeta = { fileId: detail.fileId, name: detail.name, sizeBytes: detail.sizeBytes, pieceLengthBytes: detail.pieceLengthBytes, pieces: detail.pieces };
      const path = await destination(detail.name);
      const busy = this.busyWith(path, meta.fileId, group);
      if (busy) throw new DownloadsError('ALREADY_DOWNLOADING', `${meta.name} is download ${busy.record.id} (${busy.record.destination}, ${this.stateOf(busy)}); see show_downloads`);
      const record: DownloadRecord = { id: 0, group, meta, destination: path, state: 'active' };
      const entry: Entry = { record, attempt: null, starting: true, removed: false, retired: false, waiting: null, retry: null, retryDelayMs: WAIT_RETRY_FIRST_MS, counters: null, bannedKeys: new Map(), peerUsers: new Map(), pastBans: {}, serving: null, verifiedBytes: 0, pieces: restingPieceMap(pieceCount(meta.sizeBytes, meta.pieceLengthBytes), () => false), samples: [] };
      // The first attempt runs before anything is recorded: what it refuses leaves no trace.
      const started = await this.begin(entry, session, detail);
      if (started instanceof PieceStoreError) throw new DownloadsError(started.code, started.message);
      record.id = await records.nextId();
      await records.save(record);
      this.entries.push(entry);
      this.watch(entry, started);
      // With nobody to fetch from, the attempt ends at once: the answer says the download waits.
      if (this.usable(entry, detail).length === 0) await started.ended;
      return this.view(entry);
    });
  }

  pause(id: number): Promise<DownloadView> {
    return this.exclusive(async () => {
      const entry = this.find(id);
      if (entry.record.state !== 'active') throw new DownloadsError('NOT_ACTIVE', `download ${id} is ${this.stateOf(entry)}; only a running or waiting download pauses`);
      entry.retry?.cancel();
      entry.waiting = null;
      await this.setRecord(entry, { state: 'paused' });
      await this.stopAttempt(entry, 'pause');
      this.notify();
      return this.view(entry);
    });
  }

  /** Goes on with a paused or failed download (from the pieces it has). */
  resume(id: number): Promise<DownloadView> {
    return this.exclusive(async () => {
      const entry = this.find(id);
      if (entry.record.state === 'active' || entry.record.state === 'complete') throw new DownloadsError('NOT_PAUSED', `download ${id} is ${this.stateOf(entry)}; only a paused or failed download resumes`);
      this.requireSession();
      const busy = this.busyWith(entry.record.destination, entry.record.meta.fileId, entry.record.group, entry);
      if (busy) throw new DownloadsError('ALREADY_DOWNLOADING', `download ${busy.record.id} fetches ${busy.record.meta.name} to ${busy.record.destination} now; cancel or pause it first`);
      await this.setRecord(entry, { state: 'active' });
      entry.retryDelayMs = WAIT_RETRY_FIRST_MS;
      entry.waiting = null;
      void this.run(entry);
      return this.view(entry);
    });
  }

  /** Stops the download and forgets it: its `.part` and journal go (a complete file stays where it is). */
  cancel(id: number): Promise<{ id: number; name: string; removed: string | null }> {
    return this.exclusive(async () => {
      const entry = this.find(id);
      entry.removed = true;
      entry.retry?.cancel();
      // An attempt being set up finishes setting up first (then stops at once), so the store is closed before its files go.
      while (entry.starting) await this.changed(null);
      await this.stopAttempt(entry, 'cancel');
      const { record } = entry;
      // A complete file stays shared: its store serves on until the session ends.
      if (entry.serving !== null) this.lingering.push(entry.serving);
      let removed: string | null = null;
      if (record.state !== 'complete') {
        await PieceStore.discard(this.world, { meta: record.meta, destinationPath: record.destination, journal: this.io.home() });
        removed = `${record.destination}.part`;
      }
      await this.requireRecords().remove(record.id);
      this.entries = this.entries.filter((e) => e !== entry);
      this.notify();
      return { id: record.id, name: record.meta.name, removed };
    });
  }

  list(): DownloadView[] {
    return this.entries.map((entry) => this.view(entry));
  }

  /**
   * The download's piece map, one character a piece: `v` verified, `f` in flight, `-` missing
   * (see Download.pieceMap). A running attempt's is read from its picker; otherwise the one kept
   * on the entry (the last attempt's, or the journal's as loaded): no disk read, O(pieces).
   * A complete download's is all `v`. The file's piece count is always known (the record holds
   * its metadata), so the map is never empty but for an empty file.
   */
  pieceMap(id: number): string {
    const entry = this.find(id);
    return entry.attempt !== null ? entry.attempt.download.pieceMap() : entry.pieces;
  }

  /**
   * Waits until the latest download of each file has ended (complete, failed or paused), or
   * has been waiting for holders `timeoutMs` (null: for ever). Returns the failed and the waiting.
   */
  async wait(timeoutMs: number | null): Promise<{ failed: DownloadView[]; waiting: DownloadView[] }> {
    const startMs = this.world.clock.monotonicMs();
    for (;;) {
      const nowMs = this.world.clock.monotonicMs();
      // A download of a logged-out session cannot go on now: it is not waited for.
      const pending = this.latest().filter((e) => e.record.state === 'active' && e.waiting?.code !== 'LOGGED_OUT');
      for (const entry of pending) this.noteProgress(entry);
      const untilMs = pending.map((e) => (e.waiting === null || timeoutMs === null ? Infinity : Math.max(e.waiting.sinceMs, startMs) + timeoutMs));
      if (pending.length === 0 || untilMs.every((at) => at <= nowMs)) break;
      // The next deadline still ahead (those passed are settled: their downloads are reported).
      const nextMs = Math.min(...untilMs.filter((at) => at > nowMs));
      await this.changed(Number.isFinite(nextMs) ? nextMs - nowMs : null);
    }
    const latest = this.latest();
    const stuck = latest.filter((e) => e.record.state === 'active' && e.waiting !== null && e.waiting.code !== 'LOGGED_OUT');
    // A download trying a listed holder again still waits: it is reported with why it waits.
    const waiting = stuck.map((e) => ({ ...this.view(e), waiting: { code: e.waiting!.code, message: e.waiting!.message, holders: e.waiting!.holders } }));
    return { failed: latest.map((e) => this.view(e)).filter((d) => d.state === 'failed'), waiting };
  }

  // ---- news from the tracker ----

  /** Events from the push channel: holders coming or going for our files, files unshared, groups left. */
  onEvents(events: readonly Event[], self: string): void {
    for (const event of events) {
      if (event.type !== 'HolderAdded' && event.type !== 'HolderRemoved' && event.type !== 'FileUnshared' && event.type !== 'MemberLeft' && event.type !== 'MemberRemoved') continue;
      if ((event.type === 'HolderAdded' || event.type === 'HolderRemoved') && event.user === self) continue;
      if ((event.type === 'MemberLeft' || event.type === 'MemberRemoved') && event.user !== self) continue;
      for (const entry of this.entries) {
        if (entry.record.state !== 'active' || entry.record.group !== event.group) continue;
        if ('fileId' in event && event.fileId !== entry.record.meta.fileId) continue;
        void this.reconsider(entry, event.type === 'HolderAdded');
      }
    }
  }

  /**
   * Something changed for a download: a waiting one looks again at once; a running one hears of
   * new holders, or, with none left anywhere and no peer linked, stops to wait.
   */
  private async reconsider(entry: Entry, holderCame: boolean): Promise<void> {
    if (entry.starting) return;
    if (entry.attempt === null) {
      if (entry.waiting !== null) {
        entry.retry?.cancel();
        if (holderCame) entry.retryDelayMs = WAIT_RETRY_FIRST_MS;
        void this.run(entry);
      }
      return;
    }
    const session = this.io.session();
    if (session === null) return;
    const attempt = entry.attempt;
    let detail: FileDetail;
    try {
      detail = await this.io.fileDetail(session, entry.record.group, entry.record.meta.name);
    } catch (error) {
      const code = this.io.codeOf(error);
      if (code !== 'TRACKER_UNAVAILABLE' && code !== 'NOT_LOGGED_IN' && code !== 'SESSION_EXPIRED' && entry.attempt === attempt) await this.stopAttempt(entry, 'wait').then(() => this.fail(entry, this.unfixable(entry, code, error)));
      return;
    }
    if (entry.attempt !== attempt) return;
    if (detail.fileId !== entry.record.meta.fileId) return void (await this.stopAttempt(entry, 'wait').then(() => this.fail(entry, this.replaced(entry))));
    const holders = this.usable(entry, detail);
    for (const holder of detail.holders) entry.peerUsers.set(holder.address, holder.user);
    if (holders.length > 0) return attempt.download.addHolders(holders.map((h) => ({ address: parseNetAddress(h.address), keyFingerprint: h.keyFingerprint })));
    if (attempt.download.linkedPeers() > 0) return;
    await this.stopAttempt(entry, 'wait');
    // Unless the attempt ended by itself meanwhile (then its own reason stands), say why the holders it had could not serve.
    const outcome = await attempt.download.done;
    if (outcome.state === 'failed' && outcome.code === 'STOPPED') {
      const why = attempt.download.describeHolders();
      this.setWaiting(entry, 'WAITING_FOR_HOLDERS', { holders: waitingFor(detail, session.user, attempt.holders), reason: why });
    }
  }

  // ---- attempts ----

  /** One attempt: ask the tracker for the file and its holders, then fetch; or wait, or fail. */
  private async run(entry: Entry): Promise<void> {
    if (entry.starting || entry.attempt !== null || entry.record.state !== 'active' || entry.removed || entry.retired) return;
    entry.retry?.cancel();
    entry.retry = null;
    const session = this.io.session();
    if (session === null) return;
    entry.starting = true;
    this.notify();
    let next: Attempt | { wait: string[] } | { fail: { code: string; message: string } } | { trackerError: unknown };
    try {
      next = await this.prepare(entry, session);
    } finally {
      entry.starting = false;
      this.notify();
    }
    if (entry.retired || entry.removed) {
      // Logged out, or cancelled, while it set up: an attempt that began ends at once.
      if (!('trackerError' in next) && !('fail' in next) && !('wait' in next)) {
        this.watch(entry, next);
        await this.stopAttempt(entry, 'suspend');
      }
      return;
    }
    if ('trackerError' in next) return this.trackerFailed(entry, next.trackerError);
    if ('fail' in next) return this.fail(entry, next.fail);
    if ('wait' in next) return this.setWaiting(entry, 'WAITING_FOR_HOLDERS', { holders: next.wait });
    this.watch(entry, next);
    if (entry.record.state !== 'active' || entry.removed || this.io.session() === null) {
      // Paused, cancelled or logged out while it started: it ends at once.
      await this.stopAttempt(entry, entry.record.state === 'active' && !entry.removed ? 'suspend' : 'pause');
    }
  }

  /** The tracker's view of the file, then an attempt at it, or why there is none. */
  private async prepare(entry: Entry, session: SessionCredential & { user: string }): Promise<Attempt | { wait: string[] } | { fail: { code: string; message: string } } | { trackerError: unknown }> {
    try {
      const detail = await this.io.fileDetail(session, entry.record.group, entry.record.meta.name);
      if (detail.fileId !== entry.record.meta.fileId) return { fail: this.replaced(entry) };
      // Nobody to fetch from yet: wait on, without opening the store.
      if (this.usable(entry, detail).length === 0) return { wait: waitingFor(detail, session.user, entry.waiting?.holders ?? []) };
      const started = await this.begin(entry, session, detail);
      return started instanceof PieceStoreError ? { fail: { code: started.code, message: started.message } } : started;
    } catch (error) {
      return { trackerError: error };
    }
  }

  /** Opens the store and starts fetching from the holders the tracker gave (none: the attempt waits). */
  private begin(entry: Entry, session: SessionCredential & { user: string }, detail: FileDetail): Promise<Attempt | PieceStoreError> {
    const { group, meta, destination } = entry.record;
    for (const holder of detail.holders) entry.peerUsers.set(holder.address, holder.user);
    return startAttempt(this.io, session, {
      group,
      meta,
      destination,
      detail,
      holders: this.usable(entry, detail),
      label: () => `download ${entry.record.id || 'new'} (${meta.name})`,
      banned: (keyFingerprint, reason) => entry.bannedKeys.set(keyFingerprint, reason),
      isCurrent: (attempt) => entry.attempt === attempt || entry.starting,
      renewed: () => this.ticketRenewals++,
    });
  }

  /** The attempt is the download's now; its end decides what comes next. */
  private watch(entry: Entry, attempt: Attempt): void {
    entry.attempt = attempt;
    entry.starting = false;
    attempt.ended = attempt.download.done.then((outcome) => this.attemptEnded(entry, attempt, outcome));
    this.notify();
  }

  private async attemptEnded(entry: Entry, attempt: Attempt, outcome: DownloadOutcome): Promise<void> {
    attempt.renew?.cancel();
    // Asked to stop for waiting, it had ended by itself already: its own end decides.
    if (attempt.stopFor === 'wait' && !(outcome.state === 'failed' && outcome.code === 'STOPPED')) attempt.stopFor = null;
    entry.counters = attempt.download.counters();
    entry.pastBans = { ...entry.pastBans, ...entry.counters.bans };
    entry.record = { ...entry.record, bytesFromPeer: sumBytes(entry.record.bytesFromPeer ?? {}, entry.counters.bytesFromPeer) };
    if (entry.record.id > 0 && !entry.removed) await this.records?.save(entry.record).catch(() => undefined);
    entry.verifiedBytes = outcome.state === 'complete' ? entry.record.meta.sizeBytes : attempt.download.store.verifiedBytes();
    // What it verified stays on the list's map; what was in flight went with it.
    entry.pieces = outcome.state === 'complete' ? restingPieceMap(attempt.download.pieceCount, () => true) : attempt.download.pieceMap();
    const { group, meta } = entry.record;
    const session = this.io.session();
    if (outcome.state === 'failed' && attempt.holdsPartial) {
      // Its store is closed: stop offering it here and at the tracker. A complete holding we
      // served before this attempt is never touched.
      if (this.io.host.sourceOf(meta.fileId) === attempt.download.store) this.io.host.unshare(meta.fileId);
      if (session) await this.io.command(session, { type: 'DropHolding', group, fileId: meta.fileId }).catch(() => undefined);
    }
    // A finished store goes on serving the file (links hold it) until the session ends.
    if (outcome.state === 'complete') entry.serving = attempt.download;
    else await attempt.download.close().catch(() => undefined);
    if (entry.attempt === attempt) entry.attempt = null;
    if (outcome.state === 'complete') {
      await this.setRecord(entry, { state: 'complete' });
      if (session) {
        // A holder and sharer of the file like its first owner; offered again at the next login.
        try {
          // A brief process would be listed as a holder after it is gone: the next shell offers the file.
          if (this.io.brief()) await this.io.command(session, { type: 'DropHolding', group, fileId: meta.fileId }).catch(() => undefined);
          else await this.io.command(session, { type: 'ShareFile', group, file: meta });
          await this.io.remember(session.user, { group, path: entry.record.destination, meta });
        } catch (error) {
          this.io.log?.(`could not announce ${meta.name}: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
    } else if ((attempt.stopFor === null || attempt.stopFor === 'wait') && WAITABLE.has(outcome.code)) {
      const code: WaitingCode = outcome.code === 'NO_REACHABLE_SOURCES' ? 'NO_REACHABLE_SOURCES' : 'WAITING_FOR_HOLDERS';
      const holders = attempt.holders.filter((user) => user !== session?.user);
      // Why the holders it asked could not serve (none asked: nothing to add).
      this.setWaiting(entry, code, { holders, ...(attempt.asked === 0 ? {} : { reason: outcome.message }) });
    } else if (attempt.stopFor === null) {
      await this.fail(entry, { code: outcome.code, message: outcome.message });
    }
    // Never active with nothing going on (a resume that came while a pause was stopping this attempt).
    if (entry.record.state === 'active' && entry.attempt === null && entry.waiting === null && !entry.starting && !entry.retired && !entry.removed && this.io.session() !== null) void this.run(entry);
    this.notify();
  }

  /** Ends the running attempt, if any, for `reason`; resolves once its end is handled. */
  private async stopAttempt(entry: Entry, reason: StopReason): Promise<void> {
    const attempt = entry.attempt;
    if (attempt === null) return;
    attempt.stopFor = reason;
    await attempt.download.stop();
    await attempt.ended;
  }

  private trackerFailed(entry: Entry, error: unknown): Promise<void> {
    const code = this.io.codeOf(error);
    // The session lapsed (a sleep longer than its life, a logout meanwhile): the next session goes on.
    if (code === 'NOT_LOGGED_IN' || code === 'SESSION_EXPIRED') {
      this.setWaiting(entry, 'TRACKER_UNAVAILABLE', { holders: entry.waiting?.holders ?? [], reason: 'the session lapsed; it goes on with the next one' });
      return Promise.resolve();
    }
    if (code === 'TRACKER_UNAVAILABLE') {
      this.setWaiting(entry, 'TRACKER_UNAVAILABLE', { holders: entry.waiting?.holders ?? [], reason: `the tracker does not answer (${error instanceof Error ? error.message : String(error)})` });
      return Promise.resolve();
    }
    return this.fail(entry, this.unfixable(entry, code, error));
  }

  /** A refusal waiting cannot fix: the file unshared everywhere, the group left. */
  private unfixable(entry: Entry, code: string, error: unknown): { code: string; message: string } {
    if (code === 'NO_SUCH_FILE') return { code: 'FILE_UNSHARED', message: `${entry.record.meta.name} is no longer shared in ${entry.record.group}` };
    return { code, message: error instanceof Error ? error.message : String(error) };
  }

  private replaced(entry: Entry): { code: string; message: string } {
    return { code: 'FILE_UNSHARED', message: `${entry.record.meta.name} in ${entry.record.group} is now another file (the one downloaded was unshared)` };
  }

  private async fail(entry: Entry, failure: { code: string; message: string }): Promise<void> {
    if (entry.removed || entry.retired) return;
    entry.waiting = null;
    entry.retry?.cancel();
    if (entry.record.state === 'active') await this.setRecord(entry, { state: 'failed', failure });
    this.io.log?.(`download ${entry.record.id} (${entry.record.meta.name}) failed ${failure.code}: ${failure.message}`);
    this.notify();
  }

  /**
   * The download waits, for `holders`, because of `reason`. Without a reason of its own (a retry
   * that found nobody), the reason of the spell so far stays: it says why the holders it had went.
   */
  private setWaiting(entry: Entry, code: WaitingCode, what: { holders: string[]; reason?: string }): void {
    if (entry.record.state !== 'active' || entry.removed || entry.retired) return;
    this.noteProgress(entry);
    const sinceMs = entry.waiting?.sinceMs ?? this.world.clock.monotonicMs();
    const verifiedBytes = entry.waiting?.verifiedBytes ?? entry.verifiedBytes;
    const reason = what.reason ?? (entry.waiting?.code === code ? entry.waiting.reason : null);
    const message = code === 'WAITING_FOR_HOLDERS' ? `waiting for holders: ${what.holders.join(', ') || 'nobody shares it now'}${reason === null ? '' : ` (${reason})`}` : (reason ?? code);
    const said = entry.waiting?.message;
    entry.waiting = { code, message, reason, holders: what.holders, sinceMs, verifiedBytes };
    entry.retry?.cancel();
    entry.retry = this.world.clock.setTimer(entry.retryDelayMs, () => void this.run(entry));
    entry.retryDelayMs = Math.min(entry.retryDelayMs * 2, WAIT_RETRY_MAX_MS);
    if (message !== said) this.io.log?.(`download ${entry.record.id} (${entry.record.meta.name}) ${message}`);
    this.notify();
  }

  // ---- views ----

  private view(entry: Entry): DownloadView {
    const { record } = entry;
    this.noteProgress(entry);
    const nowMs = this.world.clock.monotonicMs();
    const attempt = entry.attempt;
    const verifiedBytes = attempt ? attempt.download.store.verifiedBytes() : entry.verifiedBytes;
    entry.samples.push([nowMs, verifiedBytes]);
    while (entry.samples.length > 2 && nowMs - entry.samples[0]![0] > 5_000) entry.samples.shift();
    const [t0, b0] = entry.samples[0]!;
    const latest = attempt ? attempt.download.counters() : entry.counters;
    const counters = latest === null ? null : { ...latest, bans: { ...entry.pastBans, ...latest.bans } };
    const state = this.stateOf(entry);
    const bytesFromPeer = sumBytes(record.bytesFromPeer ?? {}, attempt ? (latest?.bytesFromPeer ?? {}) : {});
    return {
      id: record.id,
      group: record.group,
      name: record.meta.name,
      fileId: record.meta.fileId,
      destination: record.destination,
      partPath: state === 'complete' ? null : `${record.destination}.part`,
      state,
      sizeBytes: record.meta.sizeBytes,
      verifiedBytes,
      bytesPerSecond: state === 'running' && nowMs > t0 ? Math.max(0, Math.round(((verifiedBytes - b0) * 1000) / (nowMs - t0))) : 0,
      peers: attempt ? attempt.download.linkedPeers() : 0,
      bytesFromPeer,
      bytesFromUser: byUser(bytesFromPeer, entry.peerUsers),
      ...(state === 'waiting' && entry.waiting ? { waiting: { code: entry.waiting.code, message: entry.waiting.message, holders: entry.waiting.holders } } : {}),
      ...(record.state === 'failed' && record.failure ? { failure: record.failure } : {}),
      counters,
    };
  }

  /** A verified byte more than when the waiting began: the download is no longer waiting. */
  private noteProgress(entry: Entry): void {
    if (entry.waiting === null || entry.waiting.code === 'LOGGED_OUT') return;
    const verifiedBytes = entry.attempt ? entry.attempt.download.store.verifiedBytes() : entry.verifiedBytes;
    if (verifiedBytes > entry.waiting.verifiedBytes) entry.waiting = null;
  }

  private stateOf(entry: Entry): DownloadState {
    if (entry.record.state !== 'active') return entry.record.state;
    return entry.waiting !== null && entry.attempt === null && !entry.starting ? 'waiting' : 'running';
  }

  /** The latest download of each file in each group: an older attempt at a file no longer counts. */
  private latest(): Entry[] {
    const byFile = new Map<string, Entry>();
    for (const entry of this.entries) {
      const key = `${entry.record.group}\n${entry.record.meta.fileId}`;
      const seen = byFile.get(key);
      if (!seen || seen.record.id < entry.record.id) byFile.set(key, entry);
    }
    return [...byFile.values()];
  }

  // ---- plumbing ----

  /** Another download that owns this destination (running, waiting or paused: its .part), or fetches this file in this group now. */
  private busyWith(destination: string, fileId: string, group: string, except?: Entry): Entry | undefined {
    return this.entries.find(
      (e) => e !== except && ((e.record.destination === destination && (e.record.state === 'active' || e.record.state === 'paused')) || (e.record.state === 'active' && e.record.meta.fileId === fileId && e.record.group === group)),
    );
  }

  /** The holders worth asking: pinned to a key, and not banned by an earlier attempt. */
  private usable(entry: Entry, detail: FileDetail): AttemptHolder[] {
    return pinnedHolders(detail).filter((h) => !entry.bannedKeys.has(h.keyFingerprint));
  }

  private find(id: number): Entry {
    const entry = this.entries.find((e) => e.record.id === id);
    if (!entry) throw new DownloadsError('NO_SUCH_DOWNLOAD', `no download ${id}; see show_downloads`);
    return entry;
  }

  private requireSession(): SessionCredential & { user: string } {
    const session = this.io.session();
    if (session === null) throw new DownloadsError('NOT_LOGGED_IN', 'log in first');
    return session;
  }

  private requireRecords(): DownloadRecords {
    if (this.records === null) throw new DownloadsError('NOT_LOGGED_IN', 'log in first');
    return this.records;
  }

  private async setRecord(entry: Entry, change: Pick<DownloadRecord, 'state'> & { failure?: DownloadRecord['failure'] }): Promise<void> {
    if (entry.removed) return;
    const { failure: _dropped, ...rest } = entry.record;
    entry.record = { ...rest, ...change };
    if (entry.record.id > 0) await this.records?.save(entry.record);
  }

  /** Commands that change the list run one at a time (the shell's and the control socket's alike). */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.commandChain.then(work, work);
    this.commandChain = run.then(() => undefined, () => undefined);
    return run;
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Resolves at the next change of any download, or after `timeoutMs`. */
  private changed(timeoutMs: number | null): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.listeners.delete(done);
        timer?.cancel();
        resolve();
      };
      const timer = timeoutMs === null ? null : this.world.clock.setTimer(Math.max(0, timeoutMs), done);
      this.listeners.add(done);
    });
  }
}

function byUser(bytesFromPeer: Readonly<Record<string, number>>, users: ReadonlyMap<string, string>): Record<string, number> {
  // No prototype: `__proto__` is a valid user id.
  const sum: Record<string, number> = Object.create(null) as Record<string, number>;
  for (const [peer, bytes] of Object.entries(bytesFromPeer)) {
    const who = users.get(peer) ?? peer;
    sum[who] = (sum[who] ?? 0) + bytes;
  }
  return sum;
}

function sumBytes(a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>): Record<string, number> {
  const sum: Record<string, number> = { ...a };
  for (const [peer, bytes] of Object.entries(b)) sum[peer] = (sum[peer] ?? 0) + bytes;
  return sum;
}

/** Holders the tracker gave with the key their session logged in with (one without cannot be pinned, so it is not asked). */
function pinnedHolders(detail: FileDetail): AttemptHolder[] {
  return detail.holders.filter((h): h is AttemptHolder => h.keyFingerprint !== null);
}

/** Who a download waits for: the file's sharers and the holders it last knew, not us. */
function waitingFor(detail: FileDetail, self: string, knew: readonly string[]): string[] {
  return [...new Set([...knew, ...detail.sharers])].filter((user) => user !== self);
}
