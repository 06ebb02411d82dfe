// Why this file exists: what a tracker node does for users beyond passing commands to Raft
// (DESIGN.md §4, §7). It derives password hashes (the password never enters the log), checks a
// login against linearizable state before proposing OpenSession, turns a session's token into
// the SHA-256 the log keeps, answers a user's queries, signs access tickets after a
// linearizable membership check (on any node: followers read through their leader's read
// index), and — on the leader — expires sessions whose heartbeats stop.

import { createHash, timingSafeEqual, type KeyObject } from 'node:crypto';
import { withAuth, type Command, type PasswordRecord, type SessionCommand } from '../log/domain/commands.js';
import { authenticate, fileDetail, type FileDetail, type FileDetailWithoutPieces, listFiles, listGroups, listMembers, listRequests, mayAccessFile, timelineRange } from '../log/domain/queries.js';
import { isDomainError } from '../log/domain/errors.js';
import { DEFAULT_TIMELINE_LIMITS, type TimelineLimits } from '../log/store/group-timeline.js';
import { filesLoaded, isDelisted, type TrackerState } from '../log/domain/state.js';
import { signTicket, TICKET_VERSION } from '../torrent/ticket.js';
import type { NetAddress, Timer, World } from '../world/world.js';
import type { GroupTimelinePage, SessionCredential, SessionQuery } from './client-protocol.js';
import type { ReadOutcome, SubmitOutcome, TrackerNode } from './tracker-node.js';
import { canDial, DEFAULT_REACHABILITY_TIMEOUT_MS } from './reachability.js';
import { formatNetAddress } from '../world/net-address.js';
import type { PushHub } from './push-hub.js';
import { LoginGuard } from './login-guard.js';
import { KdfBusyError } from '../world/kdf.js';
import { CLOCK_SKEW_LIMIT_MS } from './clock-watch.js';

/** What a read answers when the files it needs are still on disk (SessionService.readWithFiles). */
const FILES_ON_DISK: unique symbol = Symbol('files on disk');

/** A session a follower heard from at another address than its recorded one (the leader dials it there). */
export interface HeardMove {
  sessionId: string;
  host: string;
  port: number;
}

/** The sessions a follower heard heartbeats from since its last batch, for the leader's expiry clock. */
export interface HeardBatch {
  sessions: string[];
  moved: HeardMove[];
}

/** How heartbeats answered by followers reach the leader (the node-to-node links). */
export interface HeartbeatRelay {
  /** Whether a batch sent to `to` now would leave at once (its link is up): else a follower answers no heartbeat. */
  reaches(to: string): boolean;
  /** Best effort: dropped when the link is down, never queued (it would stamp old signs of life as new). */
  sendHeartbeats(to: string, batch: HeardBatch): void;
  onHeartbeats(handler: (from: string, batch: HeardBatch) => void): void;
}

/** A follower sends the leader the sessions it heard from once per this (issue 20: one message a second, not one per heartbeat), or per a tenth of the session TTL if that is shorter. */
export const RELAY_HEARTBEATS_EVERY_MS = 1_000;

/** Sessions in one relayed batch at most (about 1.3 MB of ids, well under a frame's 8 MiB); more go in several. */
export const HEARD_BATCH_MAX_SESSIONS = 20_000;

/** `retryAfterMs`: on a refusal for back-off, how long until an attempt may be made. */
export type ServiceOutcome = { ok: true; result: unknown } | { ok: false; code: string; message: string; retryAfterMs?: number };

export interface SessionServiceOptions {
  /** A session with no heartbeat for this long is expired by the leader. */
  sessionTtlMs?: number;
  ticketLifetimeMs?: number;
  /** How long a login's dial to the peer may take before the peer counts as unreachable. */
  reachabilityTimeoutMs?: number;
  /** How much one `groupTimeline` reply holds and reads (default: DEFAULT_TIMELINE_LIMITS). */
  timelineLimits?: TimelineLimits;
}

/**
 * How old the state a ticket is granted from may be (TrackerNode.readRecent). A ticket granted
 * from a state known current `stalenessMs` ago gets the notBefore a linearizable read at that
 * moment would have given it (ticketNotBefore of that moment): at most the time of the last
 * entry that state holds, or the clocks' margin before that moment, so before any removal the
 * state missed, and holders told of the removal refuse it (peer-host.ts), exactly as they refuse
 * a ticket a linearizable check granted a moment before the removal committed. What the bound
 * buys is that a node cut off from the others stops granting: within 5 s, a leader's failover
 * (1-2 s of election timeout, then the vote) goes by without a ticket refused.
 */
export const TICKET_MAX_STALENESS_MS = 5_000;

/** A read that may come from a recent state: which answers are taken from it, and how old it may be. */
interface RecentRead<T> {
  usable: (value: T) => boolean;
  maxStalenessMs: number;
}

/** How far a ticket's notBefore lies before its signing (see ticket()). */
const TICKET_BACKDATE_MS = 10_000;

/**
 * A ticket's notBefore: backdated so that a removal applied after the membership read has an
 * entry time after it, and holders told of the removal (a kick refuses tickets from before it)
 * refuse the ticket too. A removal's time is the leader's clock, but never before the log's last
 * time; any node signs, with its own clock, up to twice CLOCK_SKEW_LIMIT_MS off the leader's
 * (each within it of the cluster's median). So: 10 s back, and no later than the log's last time
 * this read saw unless that lies further back than the clocks can differ. Never more than a
 * quarter of the lifetime back, so renewing at half of `expires - notBefore` comes before expiry.
 */
export function ticketNotBefore(nowMs: number, logTimeMs: number, lifetimeMs: number): number {
  const mostBackMs = Math.floor(lifetimeMs / 4);
  const backMs = Math.min(TICKET_BACKDATE_MS, mostBackMs);
  const clocksApartMs = Math.min(backMs + 2 * CLOCK_SKEW_LIMIT_MS, mostBackMs);
  return Math.min(nowMs - backMs, Math.max(logTimeMs, nowMs - clocksApartMs));
}

const notLeader: ServiceOutcome = { ok: false, code: 'NOT_LEADER', message: 'this node does not lead; retry at the leader' };

export function tokenHashOf(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function fromSubmit(outcome: SubmitOutcome, result: (index: number) => unknown = (index) => ({ index })): ServiceOutcome {
  if (outcome.kind === 'not-leader') return notLeader;
  if (outcome.kind === 'lost') return { ok: false, code: 'RETRY', message: 'leadership changed before the write applied; retry' };
  const error = outcome.reply.error;
  return error ? { ok: false, code: error.code, message: error.message } : { ok: true, result: result(outcome.index) };
}

/** What a node too busy checking passwords answers (KdfBusyError): the client waits and tries again. */
const kdfBusy: ServiceOutcome = { ok: false, code: 'RETRY', message: 'this tracker node is busy checking passwords; try again shortly' };

/** The derived key, or null if the KDF refused to run it (it waited too long for a thread). */
async function derivedOrBusy(derivation: Promise<Uint8Array>): Promise<Uint8Array | null> {
  try {
    return await derivation;
  } catch (error) {
    if (error instanceof KdfBusyError) return null;
    throw error;
  }
}

/** What a login reads of an account: its password record, and the entry that set it (OpenSession names it). */
interface AccountCheck {
  password: PasswordRecord;
  credentialsIndex: number;
}

/** The salt and hash an unknown user's login derives against (and never matches). */
const NO_ACCOUNT = { salt: '00'.repeat(16), hash: '00'.repeat(32) };

/** Whether two reads of an account would derive the same way and compare against the same hash. */
function samePassword(a: AccountCheck | null, b: AccountCheck | null): boolean {
  if (a === null || b === null) return a === b;
  const [p, q] = [a.password, b.password];
  return p.salt === q.salt && p.hash === q.hash && p.costN === q.costN && p.blockSizeR === q.blockSizeR && p.parallelP === q.parallelP;
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** A promise that never rejects (one started early may be given up without an unhandled rejection). */
function settled<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value): Settled<T> => ({ ok: true, value }),
    (error: unknown): Settled<T> => ({ ok: false, error }),
  );
}

export class SessionService {
  /** Monotonic ms of each session's last sign of life (durations never read the wall clock). */
  private readonly lastSeenMs = new Map<string, number>();
  private leaderTerm: number | null = null;
  private readonly expiring = new Set<string>();
  /** Sessions whose new address is being dialed. */
  private readonly moving = new Set<string>();
  private timer: Timer | null = null;
  private relayTimer: Timer | null = null;
  /** On a follower: sessions heard from since the last batch went to the leader, with a new address if they moved. */
  private heard = new Map<string, NetAddress | null>();
  private relay: HeartbeatRelay | null = null;
  /** Heartbeats this node answered, and sessions followers relayed to it as leader (for `status`). */
  readonly heartbeatCounts = { answered: 0, relayedIn: 0 };
  private readonly ttlMs: number;
  private readonly ticketMs: number;
  private readonly reachabilityTimeoutMs: number;
  private readonly timelineLimits: TimelineLimits;
  /** Where one-off requests for sessions go (the push channel); set by the process. */
  hub: PushHub | null = null;
  /** Hears each session this node expires as leader (`session_expired`); set by the process. */
  log: ((event: string, fields: Record<string, unknown>) => void) | null = null;
  /** Back-off for password guessing; only a leader checks passwords, so only its counters count. */
  readonly loginGuard: LoginGuard;

  constructor(
    private readonly world: World,
    private readonly node: TrackerNode,
    private readonly signingKey: KeyObject,
    options: SessionServiceOptions = {},
  ) {
    this.ttlMs = options.sessionTtlMs ?? 30_000;
    this.ticketMs = options.ticketLifetimeMs ?? 5 * 60_000;
    this.reachabilityTimeoutMs = options.reachabilityTimeoutMs ?? DEFAULT_REACHABILITY_TIMEOUT_MS;
    this.timelineLimits = options.timelineLimits ?? DEFAULT_TIMELINE_LIMITS;
    this.loginGuard = new LoginGuard(() => this.world.clock.monotonicMs());
  }

  start(): void {
    // A session opened is alive from the moment this node, leading, applies its opening, whoever
    // answered the login: the node that did may have been deposed (or slow to apply) meanwhile.
    this.node.onApplied((entries) => {
      if (this.node.raft.status().role !== 'leader') return;
      const nowMs = this.world.clock.monotonicMs();
      for (const entry of entries) for (const event of entry.events) if (event.type === 'SessionOpened') this.lastSeenMs.set(event.sessionId, nowMs);
    });
    const tick = (): void => {
      this.expireSilentSessions();
      this.timer = this.world.clock.setTimer(Math.max(100, this.ttlMs / 10), tick);
    };
    tick();
    const relayEveryMs = Math.min(RELAY_HEARTBEATS_EVERY_MS, Math.max(100, this.ttlMs / 10));
    const relayTick = (): void => {
      try {
        this.relayHeard();
      } catch (error) {
        this.log?.('relay_failed', { reason: error instanceof Error ? error.message.slice(0, 200) : String(error) });
      } finally {
        this.relayTimer = this.world.clock.setTimer(relayEveryMs, relayTick);
      }
    };
    this.relayTimer = this.world.clock.setTimer(relayEveryMs, relayTick);
  }

  stop(): void {
    this.timer?.cancel();
    this.relayTimer?.cancel();
  }

  /** Where this node, following, sends the sessions it heard from; and hears the followers' batches when it leads. */
  useRelay(relay: HeartbeatRelay): void {
    this.relay = relay;
    relay.onHeartbeats((from, batch) => this.heardElsewhere(from, batch));
  }

  async createUser(clientId: string, requestId: number, user: string, password: string): Promise<ServiceOutcome> {
    const params = this.world.kdf.params;
    const salt = this.world.rng.bytes(16);
    const hash = await derivedOrBusy(this.world.kdf.derive(password, salt, params));
    if (hash === null) return kdfBusy;
    const record: PasswordRecord = {
      algorithm: 'scrypt',
      costN: params.costN,
      blockSizeR: params.blockSizeR,
      parallelP: params.parallelP,
      salt: Buffer.from(salt).toString('hex'),
      hash: Buffer.from(hash).toString('hex'),
    };
    return fromSubmit(await this.node.submit(clientId, requestId, { type: 'CreateUser', user, password: record }));
  }

  /**
   * Password checked by this node against ReadIndex state, in constant time; then OpenSession.
   * The leader starts the derivation (and the dial) on the account as it has applied it, while
   * the ReadIndex round confirms that state: a login costs the round and scrypt side by side,
   * not one after the other. Should the confirmed account differ (its password changed or it was
   * just made), the derivation is done again on the confirmed one.
   */
  async login(clientId: string, requestId: number, user: string, password: string, observed: NetAddress, session: SessionCredential, refresh?: string, keyFingerprint?: string): Promise<ServiceOutcome> {
    const verdict = this.loginGuard.check(user, observed.host);
    if (!verdict.allowed) {
      const seconds = Math.ceil(verdict.retryAfterMs / 1000);
      return { ok: false, code: 'LOGIN_BACKOFF', message: `${verdict.reason}: retry in ${seconds} s`, retryAfterMs: verdict.retryAfterMs };
    }
    // Only a leader checks passwords (so only its counters count a failure); a follower spends
    // no derivation on a login it would refuse after the read.
    if (this.node.raft.status().role !== 'leader') return notLeader;
    const lookup = (state: TrackerState): AccountCheck | null => {
      const record = state.users.get(user);
      return record ? { password: record.password, credentialsIndex: record.credentialsIndex } : null;
    };
    const early = lookup(this.node.store.state);
    const earlyDerived = settled(this.derivePassword(password, early));
    // Dialed for every login the guard lets through, an account or not (dialing only for an
    // account would tell a listening stranger which user ids exist): the peer's own address.
    const dialed = canDial(this.world, observed, this.reachabilityTimeoutMs);
    const read = await this.node.read(lookup);
    if (read.kind !== 'ok') return notLeader;
    const record = read.value;
    let derived: Uint8Array | null;
    if (samePassword(early, record)) {
      const derivation = await earlyDerived;
      if (!derivation.ok) throw derivation.error;
      derived = derivation.value;
    } else {
      derived = await this.derivePassword(password, record);
    }
    if (derived === null) return kdfBusy;
    const expected = Buffer.from(record?.password.hash ?? NO_ACCOUNT.hash, 'hex');
    if (!record || derived.length !== expected.length || !timingSafeEqual(derived, expected)) {
      this.loginGuard.failed(user, observed.host);
      return { ok: false, code: 'BAD_CREDENTIALS', message: 'wrong user id or password' };
    }
    this.loginGuard.succeeded(user, observed.host);
    const reachable = await dialed;
    const command: Command = {
      type: 'OpenSession',
      user,
      sessionId: session.sessionId,
      tokenHash: tokenHashOf(session.token),
      observed,
      reachable,
      credentialsIndex: record.credentialsIndex,
      ...(refresh === undefined ? {} : { refreshHash: tokenHashOf(refresh) }),
      ...(keyFingerprint === undefined ? {} : { keyFingerprint }),
    };
    const answer = (index: number) => ({ index, sessionId: session.sessionId, user, address: formatNetAddress(observed), reachable });
    const outcome = fromSubmit(await this.node.submit(clientId, requestId, command), answer);
    if (outcome.ok) this.lastSeenMs.set(session.sessionId, this.world.clock.monotonicMs());
    return outcome;
  }

  /** The key `password` derives under `account`'s parameters, or under the shipped ones and a zero salt for no account (an unknown user costs the same); null if the KDF is too busy. */
  private derivePassword(password: string, account: AccountCheck | null): Promise<Uint8Array | null> {
    const { costN, blockSizeR, parallelP } = this.world.kdf.params;
    const stored = account?.password ?? { costN, blockSizeR, parallelP, ...NO_ACCOUNT };
    const keyLengthBytes = Buffer.from(stored.hash, 'hex').length;
    return derivedOrBusy(this.world.kdf.derive(password, Buffer.from(stored.salt, 'hex'), { algorithm: 'scrypt', costN: stored.costN, blockSizeR: stored.blockSizeR, parallelP: stored.parallelP, keyLengthBytes }));
  }

  /** A new session from a refresh credential: only hashes reach the log; the domain checks and uses it up. */
  async renew(clientId: string, requestId: number, user: string, refresh: string, newRefresh: string, observed: NetAddress, session: SessionCredential, keyFingerprint?: string): Promise<ServiceOutcome> {
    // Renewed from wherever the peer is now: its address, and so whether it can be dialed, is tested again.
    const reachable = await canDial(this.world, observed, this.reachabilityTimeoutMs);
    const command: Command = {
      type: 'RenewSession',
      user,
      refreshHash: tokenHashOf(refresh),
      sessionId: session.sessionId,
      tokenHash: tokenHashOf(session.token),
      observed,
      reachable,
      newRefreshHash: tokenHashOf(newRefresh),
      ...(keyFingerprint === undefined ? {} : { keyFingerprint }),
    };
    const answer = (index: number) => ({ index, sessionId: session.sessionId, user, address: formatNetAddress(observed), reachable });
    const outcome = fromSubmit(await this.node.submit(clientId, requestId, command), answer);
    if (outcome.ok) this.lastSeenMs.set(session.sessionId, this.world.clock.monotonicMs());
    return outcome;
  }

  /** A command as a session: the auth the log keeps is the token's hash, never the token. */
  async command(clientId: string, requestId: number, session: SessionCredential, command: SessionCommand): Promise<ServiceOutcome> {
    const auth = { sessionId: session.sessionId, tokenHash: tokenHashOf(session.token) };
    const outcome = fromSubmit(await this.node.submit(clientId, requestId, withAuth(command, auth)));
    // Only a command the session's token was good for counts as a sign of life.
    if (outcome.ok || (outcome.code !== 'NOT_LOGGED_IN' && outcome.code !== 'NOT_LEADER' && outcome.code !== 'RETRY')) {
      this.lastSeenMs.set(session.sessionId, this.world.clock.monotonicMs());
    }
    return outcome;
  }

  /**
   * A linearizable read that may use `group`'s files: it runs once they are in memory. A node
   * reads a group's files from disk when first needed (TrackerStore.ensureGroups), and only for
   * a logged-in member (the one viewer a query shows files to), as the read itself finds: a
   * stranger makes no node read every group's files. Any node reads (a follower asks its
   * leader for the read index): tickets asked on push streams are answered where the stream is.
   */
  private async readWithFiles<T>(auth: { sessionId: string; tokenHash: string }, group: string, query: (state: TrackerState) => T, recent: RecentRead<T> | null = null): Promise<ReadOutcome<T>> {
    // Held from here to the answer: once read from disk, the files wait for the read (a group
    // sent back to disk in between would send it round again), and a read counts as a use.
    const release = this.node.store.hold([group]);
    try {
      for (;;) {
        const withFiles = (state: TrackerState): T | typeof FILES_ON_DISK => {
          const record = state.groups.get(group);
          if (record !== undefined && !filesLoaded(record)) {
            const user = authenticate(state, auth);
            if (typeof user === 'string' && record.members.has(user)) return FILES_ON_DISK;
          }
          return query(state);
        };
        const read =
          recent === null
            ? await this.node.read(withFiles)
            : await this.node.readRecent(withFiles, (value) => value === FILES_ON_DISK || recent.usable(value), recent.maxStalenessMs);
        if (read.kind !== 'ok') return read;
        if (read.value !== FILES_ON_DISK) return { ...read, value: read.value };
        await this.node.store.ensureGroups([group]);
      }
    } finally {
      release();
    }
  }

  async query(session: SessionCredential, query: SessionQuery): Promise<ServiceOutcome> {
    const auth = { sessionId: session.sessionId, tokenHash: tokenHashOf(session.token) };
    if (query.name === 'groupTimeline') return this.groupTimeline(auth, query);
    const run = (state: TrackerState): ServiceOutcome => answer(state, auth, query);
    const read = query.name === 'listFiles' || query.name === 'file' ? await this.readWithFiles(auth, query.group, run) : await this.node.read(run);
    if (read.kind !== 'ok') return notLeader;
    return query.name === 'file' ? this.withPieceList(read.value) : read.value;
  }

  /** A file's detail gets its piece list from the store, where it is kept (piece-lists.ts). */
  private async withPieceList(outcome: ServiceOutcome): Promise<ServiceOutcome> {
    if (!outcome.ok) return outcome;
    const detail = outcome.result as FileDetailWithoutPieces;
    const pieces = await this.node.store.pieceList(detail.fileId);
    if (pieces === undefined) throw new Error(`the store has no piece list for ${detail.fileId}, a file its projection lists`);
    const full: FileDetail = { ...detail, pieces };
    return { ok: true, result: full };
  }

  /**
   * A page of a group's timeline: membership checked by ReadIndex as the session's user, then
   * the archive read from the group's creation (or after `afterIndex`) up to the index that
   * check saw, a bounded page at a time (group-timeline.ts).
   */
  private async groupTimeline(auth: { sessionId: string; tokenHash: string }, query: Extract<SessionQuery, { name: 'groupTimeline' }>): Promise<ServiceOutcome> {
    const read = await this.node.read((state) => {
      const user = authenticate(state, auth);
      return typeof user === 'string' ? timelineRange(state, user, query.group) : user;
    });
    if (read.kind !== 'ok') return notLeader;
    if (isDomainError(read.value)) return { ok: false, code: read.value.code, message: read.value.message };
    const { fromIndex, toIndex } = read.value;
    try {
      const page = await this.node.store.groupTimeline(query.group, Math.max(fromIndex, (query.afterIndex ?? 0) + 1), toIndex, this.timelineLimits);
      const result: GroupTimelinePage = { group: query.group, ...page };
      return { ok: true, result };
    } catch (error) {
      return { ok: false, code: 'RETRY', message: `the archive could not be read: ${error instanceof Error ? error.message : String(error)}` };
    }
  }

  /**
   * A ticket for one file, to a member, bound to the key its session logged in with: nobody
   * gets a ticket for another peer's key. A grant is read from this node's state if a ReadIndex
   * confirmed it within TICKET_MAX_STALENESS_MS; a refusal is always checked linearizably.
   */
  async ticket(session: SessionCredential, group: string, fileId: string): Promise<ServiceOutcome> {
    if (!/^[0-9a-f]{40}$/.test(fileId)) return { ok: false, code: 'BAD_COMMAND', message: 'file id is 20 bytes of hex' };
    const auth = { sessionId: session.sessionId, tokenHash: tokenHashOf(session.token) };
    const read = await this.readWithFiles(
      auth,
      group,
      (state) => {
        const user = authenticate(state, auth);
        if (typeof user !== 'string') return { user: null, allowed: false, key: null, logTimeMs: state.lastTimeMs };
        return { user, allowed: mayAccessFile(state, user, group, fileId), key: state.sessions.get(auth.sessionId)!.keyFingerprint, logTimeMs: state.lastTimeMs };
      },
      { usable: (value) => value.allowed && value.key !== null, maxStalenessMs: TICKET_MAX_STALENESS_MS },
    );
    if (read.kind !== 'ok') return notLeader;
    if (read.value.user === null) return { ok: false, code: 'NOT_LOGGED_IN', message: 'not logged in (no such session)' };
    if (!read.value.allowed) return { ok: false, code: 'NOT_A_MEMBER', message: `${read.value.user} may not fetch that file in ${group.slice(0, 64)}` };
    const key = read.value.key;
    if (key === null) return { ok: false, code: 'NO_PEER_KEY', message: 'this session logged in without a peer key; log in again with this build' };
    // A ticket's validity is wall-clock time that another peer checks against its own: a node
    // whose clock is off its peers' signs none, and the client asks another node.
    const clock = this.node.clockSkew();
    if (clock.skewed) return { ok: false, code: 'CLOCK_SKEWED', message: `this node's clock is ${clock.skewMs ?? '?'} ms off its peers'; ask another node` };
    const nowMs = this.world.clock.nowMs();
    const notBefore = ticketNotBefore(nowMs - (read.stalenessMs ?? 0), read.value.logTimeMs, this.ticketMs);
    const claims = { v: TICKET_VERSION, user: read.value.user, key, group, fileId, notBefore, expires: nowMs + this.ticketMs };
    return { ok: true, result: { ticket: signTicket(claims, this.signingKey), expires: claims.expires } };
  }

  /**
   * Connection reversal (DESIGN.md §5): the requester wants a file whose holders cannot be
   * dialed; if the requester can be, those holders are asked, over their push channels, to
   * dial it. Answered with the users asked.
   */
  async dialBack(session: SessionCredential, group: string, fileId: string): Promise<ServiceOutcome> {
    if (this.node.raft.status().role !== 'leader') return notLeader;
    const auth = { sessionId: session.sessionId, tokenHash: tokenHashOf(session.token) };
    const read = await this.readWithFiles(auth, group, (state) => {
      const user = authenticate(state, auth);
      if (typeof user !== 'string') return { refusal: { code: user.code, message: user.message } };
      if (!mayAccessFile(state, user, group, fileId)) return { refusal: { code: 'NOT_A_MEMBER', message: `${user} may not fetch that file in ${group.slice(0, 64)}` } };
      const own = state.sessions.get(auth.sessionId)!;
      const file = state.groups.get(group)!.files.get(fileId)!;
      // Holders the tracker delisted for the file are not asked, as they are not listed.
      const targets = [...file.holders].flatMap(([sessionId, holder]) => {
        const held = state.sessions.get(sessionId);
        return held && sessionId !== auth.sessionId && !held.reachable && !isDelisted(file, holder.user, state.lastTimeMs) ? [{ sessionId, user: holder.user }] : [];
      });
      return { refusal: undefined, user, address: own.address, reachable: own.reachable, key: own.keyFingerprint, targets };
    });
    if (read.kind !== 'ok') return notLeader;
    const value = read.value;
    if (value.refusal !== undefined) return { ok: false, code: value.refusal.code, message: value.refusal.message };
    if (!value.reachable) return { ok: false, code: 'UNREACHABLE', message: `${value.user} cannot be dialed at ${value.address} either, so no holder can dial it` };
    if (value.key === null) return { ok: false, code: 'NO_PEER_KEY', message: 'this session logged in without a peer key; log in again with this build' };
    for (const target of value.targets) this.hub?.request(target.sessionId, { type: 'dialBack', group, fileId, address: value.address, user: value.user, key: value.key });
    return { ok: true, result: { asked: value.targets.map((t) => t.user) } };
  }

  /**
   * A session's sign of life. The leader keeps each session's last one in memory and expires
   * the silent; a heartbeat is never a Raft write. Any node answers one (issue 20: 10,000 peers
   * beating every 5 s need not all hold a connection to the leader): a follower checks the
   * session against its own applied state and tells the leader the sessions it heard from, one
   * batch a second. A follower that does not know the session (it may lag behind the login) or
   * knows no leader (it may be cut off from it) points the client at the leader instead, so
   * only the leader ever answers NOT_LOGGED_IN. A heartbeat from another address than the
   * session's (the peer moved, or listens elsewhere now) is dialed there by the leader, and the
   * session moved, reachable or not (MoveSession).
   */
  async heartbeat(session: SessionCredential, observed: NetAddress | null = null): Promise<ServiceOutcome> {
    const { role, leader } = this.node.raft.status();
    const state = this.node.store.state;
    const auth = { sessionId: session.sessionId, tokenHash: tokenHashOf(session.token) };
    const user = authenticate(state, auth);
    if (role !== 'leader') {
      // A follower vouches for a session only while its word reaches the leader at once and its
      // state is recent: else the client asks the leader itself.
      if (typeof user !== 'string' || leader === null || this.relay?.reaches(leader) !== true) return notLeader;
      if (!this.node.appliesInStep()) return notLeader;
      this.heartbeatCounts.answered++;
      const recorded = state.sessions.get(session.sessionId)!.address;
      const moved = observed !== null && formatNetAddress(observed) !== recorded ? observed : null;
      if (moved !== null || !this.heard.has(session.sessionId)) this.heard.set(session.sessionId, moved);
      return { ok: true, result: { ttlMs: this.ttlMs } };
    }
    if (typeof user !== 'string') {
      // A leader's state may not have applied everything committed yet (just elected, or
      // behind its log): a session it does not see is looked for again by ReadIndex, so its
      // NOT_LOGGED_IN is never a login that had already succeeded.
      const read = await this.node.read((current) => authenticate(current, auth));
      // Deposed meanwhile: its stamp would count for nothing; the client asks the new leader.
      if (read.kind !== 'ok' || this.node.raft.status().role !== 'leader') return notLeader;
      if (typeof read.value !== 'string') return { ok: false, code: read.value.code, message: read.value.message };
    }
    this.heartbeatCounts.answered++;
    this.seen(session.sessionId, observed);
    return { ok: true, result: { ttlMs: this.ttlMs } };
  }

  /** On the leader: a sign of life of a session it holds, perhaps from a new address. */
  private seen(sessionId: string, observed: NetAddress | null): void {
    const held = this.node.store.state.sessions.get(sessionId);
    if (held === undefined) return;
    this.lastSeenMs.set(sessionId, this.world.clock.monotonicMs());
    if (observed !== null && formatNetAddress(observed) !== held.address && !this.moving.has(sessionId)) {
      this.moving.add(sessionId);
      void canDial(this.world, observed, this.reachabilityTimeoutMs)
        .then((reachable) => this.node.submit(null, null, { type: 'MoveSession', sessionId, observed, reachable }))
        .finally(() => this.moving.delete(sessionId));
    }
  }

  /** On a follower, once a second: the sessions heard from go to the leader in one message (kept for the next leader while none is known). */
  private relayHeard(): void {
    const { role, leader } = this.node.raft.status();
    if (role === 'leader' || this.heard.size === 0) {
      this.heard.clear();
      return;
    }
    if (leader === null || this.relay === null) return;
    let batch: HeardBatch = { sessions: [], moved: [] };
    for (const [sessionId, moved] of this.heard) {
      batch.sessions.push(sessionId);
      if (moved !== null) batch.moved.push({ sessionId, host: moved.host, port: moved.port });
      if (batch.sessions.length === HEARD_BATCH_MAX_SESSIONS) {
        this.relay.sendHeartbeats(leader, batch);
        batch = { sessions: [], moved: [] };
      }
    }
    this.heard = new Map();
    if (batch.sessions.length > 0) this.relay.sendHeartbeats(leader, batch);
  }

  /** On the leader: a follower's batch of sessions it heard from (the follower checked their tokens). */
  private heardElsewhere(_from: string, batch: HeardBatch): void {
    if (this.node.raft.status().role !== 'leader') return;
    this.heartbeatCounts.relayedIn += batch.sessions.length;
    const moved = new Map(batch.moved.map((m) => [m.sessionId, { host: m.host, port: m.port }]));
    for (const sessionId of batch.sessions) this.seen(sessionId, moved.get(sessionId) ?? null);
  }

  /** On the leader: sessions silent for the TTL are expired. A new leader gives every session a fresh TTL. */
  private expireSilentSessions(): void {
    const { role, term } = this.node.raft.status();
    const nowMonotonicMs = this.world.clock.monotonicMs();
    if (role !== 'leader' || term !== this.leaderTerm) {
      // Not leading, or leading anew (perhaps after another node led): every session starts fresh.
      this.lastSeenMs.clear();
      this.leaderTerm = role === 'leader' ? term : null;
      if (role !== 'leader') return;
    }
    for (const sessionId of this.lastSeenMs.keys()) if (!this.node.store.state.sessions.has(sessionId)) this.lastSeenMs.delete(sessionId);
    for (const sessionId of this.node.store.state.sessions.keys()) {
      const seenMs = this.lastSeenMs.get(sessionId);
      // A session this leader has not stamped yet gets a whole TTL from now: one there at its
      // election, or one an apply put in the state while it still writes to disk (its opening's
      // hooks run after the write: measured from the election instead, 9 of 10,000 logins under
      // load were expired seconds after they were answered; issue 20).
      if (seenMs === undefined) {
        this.lastSeenMs.set(sessionId, nowMonotonicMs);
        continue;
      }
      if (nowMonotonicMs - seenMs < this.ttlMs || this.expiring.has(sessionId)) continue;
      this.expiring.add(sessionId);
      this.log?.('session_expired', { user: this.node.store.state.sessions.get(sessionId)!.user, sessionId, silentMs: Math.round(nowMonotonicMs - seenMs) });
      void this.node.submit(null, null, { type: 'ExpireSession', sessionId }).then(
        (outcome) => {
          this.expiring.delete(sessionId);
          // Not applied (leadership moving, the entry lost): the stamp stays, and the next tick tries again.
          if (outcome.kind === 'applied') this.lastSeenMs.delete(sessionId);
        },
        () => this.expiring.delete(sessionId),
      );
    }
  }
}

/** The queries answered from the state alone (groupTimeline reads the archive too). */
function answer(state: TrackerState, auth: { sessionId: string; tokenHash: string }, query: Exclude<SessionQuery, { name: 'groupTimeline' }>): ServiceOutcome {
  const user = authenticate(state, auth);
  if (typeof user !== 'string') return { ok: false, code: user.code, message: user.message };
  const wrap = (value: unknown): ServiceOutcome =>
    typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'error'
      ? { ok: false, code: (value as { code: string }).code, message: (value as { message: string }).message }
      : { ok: true, result: value };
  switch (query.name) {
    case 'whoami':
      return { ok: true, result: { user, sessionId: auth.sessionId } };
    case 'listGroups':
      return { ok: true, result: listGroups(state, user) };
    case 'listRequests':
      return wrap(listRequests(state, user, query.group));
    case 'listFiles':
      return wrap(listFiles(state, user, query.group));
    case 'listMembers':
      return wrap(listMembers(state, user, query.group));
    case 'file':
      return wrap(fileDetail(state, user, query.group, { name: query.file }, auth.sessionId));
  }
}
