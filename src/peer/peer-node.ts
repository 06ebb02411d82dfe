// Why this file exists: the peer as one object the shell drives (DESIGN.md §1, §5): a tracker
// client and its session (login, heartbeats, logout), the serving host, the files this user
// shares (remembered in the home so sharing resumes at the next login) and the downloads.
// Every method either returns a result or throws a PeerError with a stable code; a refused
// command changes nothing.

import type { KeyObject } from 'node:crypto';
import { createActor, waitFor, type Actor } from 'xstate';
import { sessionMachine, type Credential } from '../actors/session.js';
export type { Credential } from '../actors/session.js';
import { xstateClock } from '../world/xstate-clock.js';
import { fromUtf8, utf8 } from '../torrent/bytes.js';
import type { FileMeta } from '../torrent/file-meta.js';
import type { SessionCommand } from '../log/domain/commands.js';
import type { NodeStatus, QueryResult, SessionQuery } from '../tracker/client-protocol.js';
import { TrackerClient, TrackerError, TrackerUnavailableError, type SessionOpening } from '../tracker/tracker-client.js';
import { isWorldError, type KvStore, type NetAddress, type World } from '../world/world.js';
import { CompleteFile } from './complete-file.js';
import { Downloads, DownloadsError, type DownloadView } from './downloads.js';
import { CompleteFileError } from './file-changed.js';
import { hashFile } from './file-meta.js';
import { PeerHost, type PeerHostOptions } from './peer-host.js';
import { RateLimiter, type RateDirection } from './rate-limiter.js';
import type { PieceSource } from './piece-source.js';
import { parseNetAddress } from '../world/net-address.js';
import { isNetFailure } from '../world/net-error.js';
import { TrackerSubscription } from '../tracker/subscription.js';
import { heartbeatVia, ticketVia } from '../tracker/stream-or-client.js';
import { type TrackerTrust } from '../tracker/tracker-trust.js';
import { loadOrCreatePeerKey, newPeerKey, PeerKeyError, savePeerKey } from './peer-key.js';
import { wholeGroupTimeline } from './group-timeline.js';
import type { GroupTimeline } from './web/web-api.js';
import { loadNewsSeen, newsSeenOp, newsStartAfter, PeerNews, type NewsItem, type NewsLine } from './news.js';

/** A refusal the user can act on: a stable upper-snake code and one line. */
export class PeerError extends Error {
  override name = 'PeerError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface PeerNodeOptions {
  trackerNodes: string[];
  /** How the trackers' certificates are checked (the cluster's CA). */
  trackerTrust: TrackerTrust;
  clusterPublicKey: KeyObject;
  /** Where to serve; by default every interface (IPv6 and IPv4) on DEFAULT_PEER_PORT, or a free port if that is taken. */
  listen?: NetAddress;
  /**
   * The port other peers dial, when it is not the one we listen on (a port forwarded to us).
   * The host is never ours to say: the tracker records the source address it sees.
   */
  announcePort?: number;
  /**
   * The peer's home: its LevelDB (journal of pieces, shared files). A fixed directory, or
   * `{ perUser: root }` for one home per user under root, opened at login.
   */
  home: string | { perUser: string };
  /** Heartbeat interval (default DEFAULT_HEARTBEAT_MS); also how long requests wait for a push stream that broke, until a heartbeat's answer tells the session's TTL. */
  heartbeatMs?: number;
  /** Hears a session renewed from its refresh credential (a one-shot saves it again). */
  sessionRenewed?: (credential: Credential) => void;
  /** Hears each home the peer opens (at start for a fixed home, at login for one per user). */
  homeOpened?: (path: string) => void;
  /** Upload limit over all connections, bytes per second. */
  maxUploadBytesPerSecond?: number;
  /** Download limit over all downloads, bytes per second. */
  maxDownloadBytesPerSecond?: number;
  log?: (line: string) => void;
  /** Hears every connection's conversation (handshakes, bitfields, chokes) and piece verdicts. */
  wireTrace?: (line: string) => void;
  /** Test hook (a lying peer): changes the blocks this peer serves. */
  tamperForTests?: PeerHostOptions['tamperForTests'];
}

interface SharedFile {
  group: string;
  path: string;
  meta: FileMeta;
}

export type { DownloadView } from './downloads.js';
export type { NewsItem, NewsLine } from './news.js';

const SHARE_PREFIX = 'share:';
/** A peer's heartbeat interval unless told otherwise (a session lives 30 s by default: six beats). */
const DEFAULT_HEARTBEAT_MS = 5_000;

/** How long a login waits for the news since the user was last here before it answers without the rest. */
const NEWS_CATCH_UP_WAIT_MS = 3_000;

/** What a login tells besides: join requests waiting in the groups the user owns, and the news since the last login. */
export interface LoginNews {
  requests: { group: string; user: string }[];
  news: NewsLine[];
}
/** The open session's credential, so a restarted shell can close a session its crash left open. */
const SESSION_KEY = 'session';

export class PeerNode {
  readonly peerId: Uint8Array;
  /** Access tickets renewed while downloads ran (a counter for the simulation's coverage). */
  get ticketRenewals(): number {
    return this.downloads.ticketRenewals;
  }
  private readonly sessionActor: Actor<typeof sessionMachine>;
  private readonly downloads: Downloads;
  private readonly downloadLimiter: RateLimiter;
  /** Who logged in last in this process (news is theirs alone). */
  private lastUser: string | null = null;
  /** The session is a one-shot's, adopted: closing this peer leaves it open. */
  private adopted = false;
  /** What the tracker said of the open session: where it sees us, and whether it could dial us. */
  private opening: SessionOpening | null = null;
  private subscription: TrackerSubscription | null = null;
  /** What the push channel brought, and how it reads. */
  private readonly newsState: PeerNews;

  private constructor(
    private readonly world: World,
    private readonly options: PeerNodeOptions,
    private readonly tracker: TrackerClient,
    private readonly host: PeerHost,
    peerId: Uint8Array,
  ) {
    this.peerId = peerId;
    this.downloadLimiter = new RateLimiter(world.clock, options.maxDownloadBytesPerSecond ?? null);
    this.newsState = new PeerNews(world.clock, (fileId) => this.downloads.list().find((d) => d.fileId === fileId)?.name ?? null);
    this.downloads = new Downloads({
      world,
      host,
      peerId,
      downloadLimiter: this.downloadLimiter,
      home: () => this.home,
      session: () => (this.sessionActor.getSnapshot().matches('active') ? this.session : null),
      reachable: () => this.opening?.reachable === true,
      fileDetail: (session, group, file) => this.call(() => tracker.query(session, { name: 'file', group, file })),
      // On the push stream's connection when it is open, as heartbeats: no connection opened for it.
      ticket: (session, group, fileId) => this.call(() => ticketVia(this.subscription, tracker, session, group, fileId)),
      command: (session, command) => this.call(() => tracker.command(session, command)),
      dialBack: (session, group, fileId) => this.call(() => tracker.dialBack(session, group, fileId)),
      remember: (user, shared) => this.remember(user, shared),
      brief: () => this.adopted,
      codeOf: (error) => (error instanceof PeerError ? error.code : 'INTERNAL'),
      ...(options.log ? { log: options.log } : {}),
      ...(options.wireTrace ? { trace: options.wireTrace } : {}),
    });
    this.sessionActor = createActor(sessionMachine, {
      clock: xstateClock(world.clock),
      input: {
        heartbeatMs: options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
        io: {
          login: (user, password) => this.openSession(user, password),
          // On the push stream's connection when it is open, so the peer holds one connection to the tracker.
          heartbeat: (session) => heartbeatVia(this.subscription, this.tracker, session, this.announcedPort),
          renew: (session) => this.renewSession(session),
          logout: (session) => this.tracker.command(session, { type: 'CloseSession' }).then(() => undefined),
          opened: async (session) => {
            // An adopted session (a one-shot's) renewed: it offers nothing, this process is brief.
            if (this.adopted) return [];
            this.subscribe(session, await this.prepareNews(session));
            return this.offerSharedFiles(session);
          },
          ended: (reason) => {
            this.options.log?.(`session ended (${reason}): no longer serving`);
            void this.rememberNewsSeen();
            this.subscription?.close();
            this.subscription = null;
            this.opening = null;
            for (const source of this.host.unshareAll()) void release(source);
            void this.downloads.suspend();
            void this.homeStore?.kv.batch([{ type: 'del', key: SESSION_KEY }], { sync: true }).catch(() => undefined);
          },
          codeOf: (error) => (error instanceof TrackerError ? error.code : error instanceof TrackerUnavailableError ? 'TRACKER_UNAVAILABLE' : 'INTERNAL'),
        },
      },
    }).start();
  }

  private get session(): Credential | null {
    return this.sessionActor.getSnapshot().context.session;
  }

  /** The open home (a login opens it). */
  private homeStore: { path: string; kv: KvStore } | null = null;

  private get home(): KvStore {
    if (!this.homeStore) throw new PeerError('NOT_LOGGED_IN', 'log in first');
    return this.homeStore.kv;
  }

  /** Opens the home for `user` (refused with HOME_IN_USE when another shell holds it). */
  private async openHome(user: string): Promise<void> {
    const home = this.options.home;
    const path = typeof home === 'string' ? home : `${home.perUser}/${user}`;
    if (this.homeStore?.path === path) return;
    await this.world.fs.mkdir(path, { recursive: true });
    let kv: KvStore;
    try {
      kv = await this.world.kv.open(`${path}/db`, { createIfMissing: true });
      // The home's key is ours from now on: the tracker records it at login, tickets name it.
      this.host.setOwn(await loadOrCreatePeerKey(this.world, path).catch(async (error: unknown) => {
        await kv.close();
        throw error instanceof PeerKeyError ? new PeerError(error.code, error.message) : error;
      }));
    } catch (error) {
      if (isWorldError(error, 'LOCKED')) throw new PeerError('HOME_IN_USE', `${path} is in use by another shell`);
      throw error;
    }
    await this.homeStore?.kv.close();
    this.homeStore = { path, kv };
    this.options.homeOpened?.(path);
  }

  /** No home open (before a login that makes one). */
  private async closeHome(): Promise<void> {
    await this.homeStore?.kv.close();
    this.homeStore = null;
  }

  static async start(world: World, options: PeerNodeOptions): Promise<PeerNode> {
    const peerId = world.rng.bytes(20);
    let node: PeerNode | null = null;
    const host = await startHost(world, options, {
      peerId,
      // Until a login opens a home (and its key), a key of the moment.
      own: await newPeerKey(world),
      ...(options.announcePort === undefined ? {} : { announcePort: options.announcePort }),
      clusterPublicKey: options.clusterPublicKey,
      ...(options.maxUploadBytesPerSecond === undefined ? {} : { maxUploadBytesPerSecond: options.maxUploadBytesPerSecond }),
      ...(options.log ? { log: options.log } : {}),
      ...(options.wireTrace ? { trace: options.wireTrace } : {}),
      ...(options.tamperForTests ? { tamperForTests: options.tamperForTests } : {}),
      onShareChanged: (share, error) => node?.fileChanged(share.group, share.meta.fileId, error, share.source),
    });
    const tracker = new TrackerClient(world, { nodes: options.trackerNodes, trust: options.trackerTrust, clientId: 'peer' });
    node = new PeerNode(world, options, tracker, host, peerId);
    // A fixed home is taken at start, so a second shell on it is refused at once.
    if (typeof options.home === 'string') {
      try {
        await node.openHome('');
      } catch (error) {
        await host.close();
        tracker.close();
        throw error;
      }
    }
    return node;
  }

  get address(): NetAddress {
    return this.host.address;
  }

  /** The port the tracker pairs with the source address it sees. */
  private get announcedPort(): number {
    return this.options.announcePort ?? this.host.address.port;
  }

  get user(): string | null {
    return this.session?.user ?? null;
  }

  // ---- tracker calls, with their errors as PeerErrors ----

  private async call<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof TrackerError) throw new PeerError(error.code, error.message);
      if (error instanceof TrackerUnavailableError) throw new PeerError('TRACKER_UNAVAILABLE', error.message);
      throw error;
    }
  }

  /** Login, logout and adopting a session happen one at a time (a terminal, a one-shot and pages may ask at once). */
  private sessionTurn: Promise<unknown> = Promise.resolve();

  private oneAtATime<T>(work: () => Promise<T>): Promise<T> {
    const turn = this.sessionTurn.then(work, work);
    this.sessionTurn = turn.catch(() => undefined);
    return turn;
  }

  private requireSession(): Credential {
    const session = this.session;
    if (!session || !this.sessionActor.getSnapshot().matches('active')) throw new PeerError('NOT_LOGGED_IN', 'log in first');
    return session;
  }

  async createUser(user: string, password: string): Promise<{ user: string }> {
    await this.call(() => this.tracker.createUser(user, password));
    return { user };
  }

  /** The open home's directory (null before a login opens one). */
  get homePath(): string | null {
    return this.homeStore?.path ?? null;
  }

  /**
   * Runs commands in a session opened elsewhere (the one `clique login` saved for one-shot
   * commands): nothing is offered, no download resumes, and the session outlives this process.
   */
  adopt(saved: Credential): Promise<{ user: string }> {
    return this.oneAtATime(() => this.adoptNow(saved));
  }

  private async adoptNow(saved: Credential): Promise<{ user: string }> {
    if (!this.sessionActor.getSnapshot().matches('loggedOut')) throw new PeerError('ALREADY_LOGGED_IN', `logged in as ${this.user}; log out first`);
    await this.openHome(saved.user);
    this.adopted = true;
    this.sessionActor.send({ type: 'ADOPT', session: saved });
    await this.downloads.open(saved.user);
    return { user: saved.user };
  }

  /**
   * Opens a session for one-shot commands and adopts it: nothing is offered (this process is
   * brief), and the session outlives it. The caller saves the credential.
   */
  openForOneShots(user: string, password: string): Promise<Credential> {
    return this.oneAtATime(() => this.openForOneShotsNow(user, password));
  }

  private async openForOneShotsNow(user: string, password: string): Promise<Credential> {
    if (!this.sessionActor.getSnapshot().matches('loggedOut')) throw new PeerError('ALREADY_LOGGED_IN', `logged in as ${this.user}; log out first`);
    // As at a shell's login, a home is made only for a user the tracker lets in.
    const home = this.options.home;
    const fresh = typeof home !== 'string' && (await this.world.fs.stat(`${home.perUser}/${user}`)) === null;
    if (fresh) this.host.setOwn(await newPeerKey(this.world));
    else await this.openHome(user);
    const session = await this.call(() => this.tracker.login(user, password, this.announcedPort, this.host.keyFingerprint));
    if (fresh) await savePeerKey(this.world, `${(home as { perUser: string }).perUser}/${user}`, this.host.own);
    const credential = credentialOf(session);
    await this.adoptNow(credential);
    return credential;
  }

  /**
   * A saved session as it stands now: itself while the tracker still knows it, else a new one
   * from its refresh credential (the old refresh is used up: the caller saves the new one).
   */
  async revive(saved: Credential): Promise<Credential> {
    try {
      await this.tracker.heartbeat(saved, this.announcedPort);
      return saved;
    } catch (error) {
      if (!(error instanceof TrackerError && error.code === 'NOT_LOGGED_IN') || saved.refresh === undefined) {
        if (error instanceof TrackerError) throw new PeerError(error.code, error.message);
        if (error instanceof TrackerUnavailableError) throw new PeerError('TRACKER_UNAVAILABLE', error.message);
        throw error;
      }
    }
    const refresh = saved.refresh;
    return credentialOf(await this.call(() => this.tracker.renew(saved.user, refresh, this.announcedPort, this.host.keyFingerprint)));
  }

  /** The open session's credential (null when logged out). */
  credential(): Credential | null {
    return this.sessionActor.getSnapshot().matches('active') ? this.session : null;
  }

  /**
   * Logs in (the session actor then beats) and offers again every file this home shared that is
   * still on disk. Says too which join requests wait in the user's groups, and the news since
   * the user was last here (the push channel starts from there).
   */
  login(user: string, password: string): Promise<{ user: string; resumed: string[]; downloads: { resumed: string[]; paused: string[] } } & LoginNews> {
    return this.oneAtATime(() => this.loginNow(user, password));
  }

  private async loginNow(user: string, password: string): Promise<{ user: string; resumed: string[]; downloads: { resumed: string[]; paused: string[] } } & LoginNews> {
    if (!this.sessionActor.getSnapshot().matches('loggedOut')) throw new PeerError('ALREADY_LOGGED_IN', `logged in as ${this.user}; log out first`);
    // A user with no home here yet gets one only once the tracker has let them in (a failed
    // login, a typo in the name, leaves nothing behind): the login shows a key made for it.
    const home = this.options.home;
    const fresh = typeof home !== 'string' && (await this.world.fs.stat(`${home.perUser}/${user}`)) === null;
    if (fresh) {
      await this.closeHome();
      this.host.setOwn(await newPeerKey(this.world));
    } else {
      await this.openHome(user);
    }
    if (this.lastUser !== null && this.lastUser !== user) this.newsState.forgetItems();
    this.lastUser = user;
    this.newsState.gather();
    try {
      this.sessionActor.send({ type: 'LOGIN', user, password });
      const after = await waitFor(this.sessionActor, (s) => !s.matches('loggingIn'));
      if (!after.matches('active')) throw new PeerError(after.context.error?.code ?? 'INTERNAL', after.context.error?.message ?? 'login failed');
      // The downloads this home remembers: active ones go on, paused ones are listed.
      const downloads = await this.downloads.restore(user);
      const requests = await this.pendingRequests();
      if (this.opening !== null) await this.newsState.waitThrough(this.opening.index, NEWS_CATCH_UP_WAIT_MS);
      return { user, resumed: after.context.openedResult as string[], downloads, requests, news: this.newsState.takeGathered() };
    } finally {
      // What comes later is told as it comes.
      this.newsState.takeGathered();
    }
  }

  /** The join requests waiting in the groups the user owns (none said if the tracker cannot answer now). */
  private async pendingRequests(): Promise<LoginNews['requests']> {
    try {
      const owned = (await this.query({ name: 'listGroups' })).filter((g) => g.relation === 'owner').map((g) => g.group);
      const lists = await Promise.all(owned.map(async (group) => (await this.query({ name: 'listRequests', group })).map((r) => ({ group, user: r.user }))));
      return lists.flat();
    } catch (error) {
      this.options.log?.(`could not list the join requests waiting: ${error instanceof Error ? error.message : String(error)}`);
      return [];
    }
  }

  /** Closes the session (the tracker forgets what it held) and stops serving. */
  logout(): Promise<{ user: string }> {
    return this.oneAtATime(() => this.logoutNow());
  }

  private async logoutNow(): Promise<{ user: string }> {
    const session = this.requireSession();
    // Downloads stop with the sharing; they go on at the next login.
    await this.downloads.suspend();
    this.sessionActor.send({ type: 'LOGOUT' });
    const after = await waitFor(this.sessionActor, (s) => !s.matches('loggingOut'));
    if (!after.matches('loggedOut')) throw new PeerError(after.context.error?.code ?? 'INTERNAL', after.context.error?.message ?? 'logout failed');
    return { user: session.user };
  }

  /**
   * Logs in. A session this home left open (the shell was killed) is closed first, so the
   * tracker stops offering a holder that is gone; the new one is recorded in its place.
   */
  private async openSession(user: string, password: string): Promise<Credential> {
    const previous = this.homeStore === null ? undefined : await this.homeStore.kv.get(SESSION_KEY);
    if (previous !== undefined) await this.closeLeftover(JSON.parse(fromUtf8(previous)) as Credential);
    const session = await this.tracker.login(user, password, this.announcedPort, this.host.keyFingerprint);
    if (this.homeStore === null) {
      // Let in: the home is made now, keeping the key the tracker has just recorded.
      const home = this.options.home as { perUser: string };
      await savePeerKey(this.world, `${home.perUser}/${user}`, this.host.own);
      await this.openHome(user);
    }
    await this.home.batch([{ type: 'put', key: SESSION_KEY, value: utf8(JSON.stringify(session)) }], { sync: true });
    this.opening = { index: session.index, address: session.address, reachable: session.reachable };
    if (!session.reachable) this.options.log?.(`the tracker cannot dial this peer at ${session.address}: holders will be asked to dial back instead`);
    return session;
  }

  /**
   * What wording the news needs (the groups the user owns, the names of files this home
   * shares), and where the push channel starts: after the last news the user received, so what
   * happened since is told; after the login for a user this home has not seen. Never throws.
   */
  private async prepareNews(session: Credential): Promise<number> {
    const opening = this.opening;
    if (opening === null) return 0;
    try {
      const groups = await this.call(() => this.tracker.query(session, { name: 'listGroups' }));
      this.newsState.setOwned(groups.filter((g) => g.relation === 'owner').map((g) => g.group));
      for (const shared of await this.sharedFiles(session.user)) this.newsState.learnName(shared.meta.fileId, shared.meta.name);
      return newsStartAfter(this.newsState.lastSeen(session.user, await loadNewsSeen(this.home, session.user)), opening.index);
    } catch (error) {
      this.options.log?.(`news: starting after the login (${error instanceof Error ? error.message : String(error)})`);
      return opening.index;
    }
  }

  /** Remembers in the home how far the push channel brought the user (ticks included). */
  private async rememberNewsSeen(): Promise<void> {
    const user = this.session?.user;
    const through = this.subscription?.lastIndex;
    if (user === undefined || through === undefined || !this.newsState.passed(user, through)) return;
    await this.homeStore?.kv.batch([newsSeenOp(user, through)], { sync: false }).catch(() => undefined);
  }

  /**
   * The push channel of a session just opened, after `afterIndex`: news, and requests such as
   * dialBack. Entries up to the session's opening are news only: what they did to this peer's
   * state was done then, or is in the state it starts from.
   */
  private subscribe(session: Credential, afterIndex: number): void {
    this.subscription?.close();
    const opening = this.opening;
    if (opening === null) return;
    this.newsState.started(afterIndex);
    this.subscription = new TrackerSubscription(this.world, this.options.trackerNodes, this.options.trackerTrust, { sessionId: session.sessionId, token: session.token }, afterIndex, {
      events: (index, events) => {
        this.newsState.received(session.user, index, events);
        void this.homeStore?.kv.batch([newsSeenOp(session.user, index)], { sync: false }).catch(() => undefined);
        if (index <= opening.index) return;
        this.downloads.onEvents(events, session.user);
        for (const event of events) {
          // The tracker saw us elsewhere and dialed us there.
          if (event.type === 'SessionMoved' && event.sessionId === session.sessionId && this.opening) {
            this.opening = { ...this.opening, address: event.address, reachable: event.reachable };
          }
          // We left the group or were removed: we serve its files to nobody any more (the others drop us).
          if ((event.type === 'MemberLeft' || event.type === 'MemberRemoved') && event.user === session.user) this.leftGroup(event.group);
          // Members reported pieces of ours that failed their SHA1: the tracker no longer lists us for that file.
          if (event.type === 'HolderDelisted' && event.user === session.user) {
            this.options.log?.(`delisted: the tracker no longer lists this peer as a holder of ${event.fileId} in ${event.group} (reported by ${event.reporters.join(', ')}); share the file anew once it is sound`);
          }
        }
      },
      request: (request) => {
        if (request.type !== 'dialBack' || !this.host.isSharing(request.fileId)) return;
        this.host.dialToServe(request.fileId, parseNetAddress(request.address), request.key, (outcome) => {
          if (!outcome.ok) this.options.log?.(`could not dial ${request.user} back at ${request.address}: ${outcome.reason}`);
        });
      },
      // A member left or was removed: we stop serving them the group's files at once.
      kick: (group, user, atMs, index) => {
        if (index > opening.index) this.host.kick(group, user, atMs);
      },
      ended: (code, message) => this.options.log?.(`push channel over (${code}): ${message}`),
    }, { streamWaitMs: this.options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS });
  }

  private leftGroup(group: string): void {
    const sources = this.host.unshareGroup(group);
    for (const source of sources) void release(source);
    this.options.log?.(`out of ${group}: stopped serving its ${sources.length} file(s)`);
  }

  /**
   * Closes the session an earlier shell on this home left behind. If the tracker expired it
   * already, its refresh credential would stay valid: it is used up (renewed) and the renewed
   * session closed, which withdraws both.
   */
  private async closeLeftover(old: Credential): Promise<void> {
    try {
      await this.tracker.command(old, { type: 'CloseSession' });
    } catch (error) {
      if (!(error instanceof TrackerError) || error.code !== 'NOT_LOGGED_IN' || old.refresh === undefined) return;
      const renewed = await this.tracker.renew(old.user, old.refresh, this.announcedPort, this.host.keyFingerprint).catch(() => null);
      if (renewed) await this.tracker.command(renewed, { type: 'CloseSession' }).catch(() => undefined);
    }
    this.options.log?.(`closed the session left by an earlier shell of ${old.user}`);
  }

  /** The tracker expired our session (we were cut off): a new one from the refresh credential. */
  private async renewSession(old: Credential): Promise<Credential> {
    if (old.refresh === undefined) throw new PeerError('NOT_LOGGED_IN', 'the session expired and has no refresh credential');
    const session = await this.tracker.renew(old.user, old.refresh, this.announcedPort, this.host.keyFingerprint);
    // An adopted session is the one-shots' (saved elsewhere, told below), not a crash's leftover.
    if (!this.adopted) await this.home.batch([{ type: 'put', key: SESSION_KEY, value: utf8(JSON.stringify(session)) }], { sync: true });
    this.options.sessionRenewed?.(credentialOf(session));
    this.opening = { index: session.index, address: session.address, reachable: session.reachable };
    // Tickets are bound to our peer id, not to the session: the ones we hold stay good.
    this.options.log?.(`session renewed for ${session.user} after it expired`);
    return session;
  }

  /** Shares again, with the tracker and the serving host, what this home shared before. */
  private async offerSharedFiles(session: Credential): Promise<string[]> {
    const resumed: string[] = [];
    for (const shared of await this.sharedFiles(session.user)) {
      // After a renewal the host still serves it: only the tracker needs telling.
      const serving = this.host.isSharing(shared.meta.fileId);
      const source = serving ? null : await CompleteFile.open(this.world, shared.path, shared.meta, { checkSample: true });
      if (source instanceof CompleteFileError) {
        // Moved: offered again once it is back. Changed: not until it is shared anew.
        if (source.code === 'FILE_NOT_FOUND') this.options.log?.(`not offering ${shared.meta.name} in ${shared.group}: ${source.message}`);
        else this.fileChanged(shared.group, shared.meta.fileId, source, undefined, session);
        continue;
      }
      try {
        await this.call(() => this.tracker.command(session, { type: 'ShareFile', group: shared.group, file: shared.meta }));
        if (source) this.host.share({ meta: shared.meta, group: shared.group, source });
        resumed.push(`${shared.group}/${shared.meta.name}`);
      } catch (error) {
        this.options.log?.(`not sharing ${shared.meta.name} again: ${error instanceof Error ? error.message : String(error)}`);
        await source?.close();
      }
    }
    return resumed;
  }

  /**
   * A shared file no longer matches what was shared: it is not offered (the host has stopped
   * serving it, if `served` is its source, and the tracker stops listing us), the home forgets
   * it, and one line says how to share it again.
   */
  private fileChanged(group: string, fileId: string, error: CompleteFileError, served?: PieceSource, opening?: Credential): void {
    // At login the session is not the actor's yet: the one being opened is given.
    const session = opening ?? this.session;
    const word = (text: string): string => (/[\s"]|^$/.test(text) ? `"${text}"` : text);
    const what = error.code === 'FILE_CHANGED' ? `no longer matches what was shared in ${group} (${error.reason})` : error.reason;
    this.options.log?.(`${error.code}: ${error.path} ${what}; ${served ? 'stopped offering it' : 'not offering it'}; share it again with: upload_file ${word(error.path)} ${word(group)}`);
    if (served !== undefined) {
      void release(served);
      if (session) this.call(() => this.tracker.command(session, { type: 'DropHolding', group, fileId })).catch(() => undefined);
    }
    if (session) void this.homeStore?.kv.batch([{ type: 'del', key: shareKey(session.user, group, fileId) }], { sync: true }).catch(() => undefined);
  }

  async command(command: SessionCommand): Promise<{ index: number }> {
    const session = this.requireSession();
    return this.call(() => this.tracker.command(session, command));
  }

  async query<Q extends SessionQuery>(query: Q): Promise<QueryResult<Q>> {
    const session = this.requireSession();
    return this.call(() => this.tracker.query(session, query));
  }

  /** All of a group's timeline (a member's view), paged through (group-timeline.ts). */
  /** The group's timeline from its creation, or only the entries after `afterIndex` (what a page that has the rest asks). */
  async groupTimeline(group: string, afterIndex: number | null = null): Promise<GroupTimeline> {
    return wholeGroupTimeline(group, (after) => this.query({ name: 'groupTimeline', group, ...(after === null ? {} : { afterIndex: after }) }), afterIndex);
  }

  // ---- sharing ----

  /** Hashes the file, tells the tracker, serves it, and remembers it for the next login. */
  async uploadFile(path: string, group: string): Promise<{ group: string; name: string; fileId: string; sizeBytes: number }> {
    const session = this.requireSession();
    const name = path.split('/').pop() ?? path;
    const meta = await hashFile(this.world, path, name);
    if (meta === null) throw new PeerError('FILE_NOT_FOUND', `${path} is not a regular file`);
    const source = await CompleteFile.open(this.world, path, meta);
    if (source instanceof CompleteFileError) throw new PeerError(source.code, source.code === 'FILE_CHANGED' ? `${path} changed while it was read (${source.reason})` : source.message);
    try {
      await this.call(() => this.tracker.command(session, { type: 'ShareFile', group, file: meta, anew: true }));
    } catch (error) {
      await source.close();
      throw error;
    }
    await release(this.host.sourceOf(meta.fileId)); // shared again: the new handle replaces the old
    this.host.share({ meta, group, source });
    await this.remember(session.user, { group, path, meta });
    return { group, name, fileId: meta.fileId, sizeBytes: meta.sizeBytes };
  }

  async stopShare(group: string, name: string): Promise<{ group: string; name: string }> {
    const session = this.requireSession();
    await this.call(() => this.tracker.command(session, { type: 'StopShare', group, name }));
    for (const shared of await this.sharedFiles(session.user)) {
      if (shared.group === group && shared.meta.name === name) {
        await release(this.host.unshare(shared.meta.fileId));
        await this.home.batch([{ type: 'del', key: shareKey(session.user, group, shared.meta.fileId) }], { sync: true });
      }
    }
    return { group, name };
  }

  private async remember(user: string, shared: SharedFile): Promise<void> {
    await this.home.batch([{ type: 'put', key: shareKey(user, shared.group, shared.meta.fileId), value: utf8(JSON.stringify(shared)) }], { sync: true });
  }

  private async sharedFiles(user: string): Promise<SharedFile[]> {
    const out: SharedFile[] = [];
    const prefix = `${SHARE_PREFIX}${user}\u0000`;
    for await (const chunk of this.home.iterate({ gte: prefix, lt: `${prefix}\uffff` })) {
      for (const [, value] of chunk) out.push(JSON.parse(fromUtf8(value)) as SharedFile);
    }
    return out;
  }

  // ---- downloading ----

  /** Starts a download and answers at once; `destination` is a directory (the file keeps its name) or a file path. */
  async downloadFile(group: string, name: string, destination: string): Promise<{ download: number; group: string; name: string; destination: string; state: DownloadView['state'] }> {
    this.requireSession();
    const view = await this.onDownloads((d) => d.add(group, name, (fileName) => this.destinationPath(destination, fileName)));
    return { download: view.id, group, name: view.name, destination: view.destination, state: view.state };
  }

  pauseDownload(id: number): Promise<DownloadView> {
    return this.onDownloads((d) => d.pause(id));
  }

  resumeDownload(id: number): Promise<DownloadView> {
    return this.onDownloads((d) => d.resume(id));
  }

  cancelDownload(id: number): Promise<{ id: number; name: string; removed: string | null }> {
    return this.onDownloads((d) => d.cancel(id));
  }

  /** Changes the upload or the download limit at once, for every connection and download (null: no limit). */
  setRate(direction: RateDirection, bytesPerSecond: number | null): { direction: RateDirection; bytesPerSecond: number | null } {
    if (bytesPerSecond !== null && !(Number.isSafeInteger(bytesPerSecond) && bytesPerSecond > 0)) throw new PeerError('BAD_ARGUMENTS', `a rate is a whole number of bytes per second above 0, or unlimited`);
    if (direction === 'up') this.host.setUploadRate(bytesPerSecond);
    else this.downloadLimiter.setRate(bytesPerSecond);
    return { direction, bytesPerSecond };
  }

  /** The limits now (null: none). */
  rates(): { up: number | null; down: number | null } {
    return { up: this.host.uploadRate, down: this.downloadLimiter.bytesPerSecond };
  }

  showDownloads(): DownloadView[] {
    return this.downloads.list();
  }

  /** Download `id`'s piece map: one character a piece, `v` verified, `f` in flight, `-` missing (Downloads.pieceMap). Cheap: no disk read. */
  pieceMap(id: number): string {
    try {
      return this.downloads.pieceMap(id);
    } catch (error) {
      if (error instanceof DownloadsError) throw new PeerError(error.code, error.message);
      throw error;
    }
  }

  /**
   * Waits until the latest download of each file has ended or paused, or has waited for holders
   * `timeoutMs` (null: no limit). The failed and the still waiting.
   */
  waitDownloads(timeoutMs: number | null = null): Promise<{ failed: DownloadView[]; waiting: DownloadView[] }> {
    return this.downloads.wait(timeoutMs);
  }

  private async onDownloads<T>(work: (downloads: Downloads) => Promise<T>): Promise<T> {
    try {
      return await this.call(() => work(this.downloads));
    } catch (error) {
      if (error instanceof DownloadsError) throw new PeerError(error.code, error.message);
      throw error;
    }
  }

  private async destinationPath(destination: string, name: string): Promise<string> {
    const stat = await this.world.fs.stat(destination);
    if (stat?.isDirectory) return `${destination.replace(/\/+$/, '')}/${name}`;
    if (stat !== null) throw new PeerError('DESTINATION_EXISTS', `${destination} exists`);
    const parent = destination.includes('/') ? destination.slice(0, destination.lastIndexOf('/')) || '/' : '.';
    const parentStat = await this.world.fs.stat(parent);
    if (parentStat === null || !parentStat.isDirectory) throw new PeerError('BAD_DESTINATION', `${parent} is not a directory`);
    return destination;
  }

  /** What the push channel brought: the events about us and our groups, each with its log index. */
  news(): NewsItem[] {
    return this.newsState.list();
  }

  /** The same news in words (only what is worth telling: news-line.ts). */
  newsLines(): NewsLine[] {
    return this.newsState.lines();
  }

  /** Hears each line of news as it comes, once a login has answered (until the returned function is called). */
  onNews(listener: (line: NewsLine) => void): () => void {
    return this.newsState.onLine(listener);
  }

  /** Each tracker node's status, asked of each at once (null where a node did not answer, with why). */
  async clusterStatus(): Promise<Array<{ address: string; status: NodeStatus | null; failure: string | null }>> {
    return Promise.all(
      this.options.trackerNodes.map(async (address) => {
        const client = new TrackerClient(this.world, { nodes: [address], trust: this.options.trackerTrust, clientId: 'status' });
        const status = await client.status(address);
        return { address, status, failure: status === null ? client.lastStatusFailure : null };
      }),
    );
  }

  /** Where the tracker sees this peer, whether it could dial it there, and which node the push channel is on. */
  connectivity(): { address: string | null; reachable: boolean | null; pushChannel: string | null; keyFingerprint: string } {
    return { address: this.opening?.address ?? null, reachable: this.opening?.reachable ?? null, pushChannel: this.subscription?.node ?? null, keyFingerprint: this.host.keyFingerprint };
  }

  /** Logs out if logged in, stops serving, closes everything. */
  async close(): Promise<void> {
    await this.rememberNewsSeen();
    this.subscription?.close();
    await this.downloads.close();
    if (this.sessionActor.getSnapshot().matches('active') && !this.adopted) await this.logout().catch(() => undefined);
    this.sessionActor.stop();
    this.host.unshareAll();
    await this.host.close();
    this.tracker.close();
    await this.homeStore?.kv.close();
  }
}

/** The port a peer serves on unless told otherwise (BitTorrent's first). */
export const DEFAULT_PEER_PORT = 6881;

/**
 * Starts the serving host on the address asked for, or by default on every interface (IPv6 with
 * IPv4 beside it, or IPv4 alone where IPv6 is off) on DEFAULT_PEER_PORT, falling back to a free
 * port when another program holds that one.
 */
async function startHost(world: World, options: PeerNodeOptions, host: Omit<PeerHostOptions, 'listen'>): Promise<PeerHost> {
  if (options.listen !== undefined) return PeerHost.start(world, { ...host, listen: options.listen });
  const candidates: NetAddress[] = [
    { host: '::', port: DEFAULT_PEER_PORT },
    { host: '0.0.0.0', port: DEFAULT_PEER_PORT },
    { host: '::', port: 0 },
    { host: '0.0.0.0', port: 0 },
  ];
  let last: unknown = null;
  for (const listen of candidates) {
    try {
      return await PeerHost.start(world, { ...host, listen });
    } catch (error) {
      if (!isNetFailure(error)) throw error;
      last = error;
    }
  }
  throw last;
}

/** Closes what the peer opened to serve a shared file; a download's store belongs to its download. */
async function release(source: PieceSource | undefined): Promise<void> {
  if (source instanceof CompleteFile) await source.close();
}

/** What a peer keeps of a session the tracker opened: the credential, nothing about addresses. */
function credentialOf(session: Credential): Credential {
  return { sessionId: session.sessionId, token: session.token, user: session.user, ...(session.refresh === undefined ? {} : { refresh: session.refresh }) };
}

function shareKey(user: string, group: string, fileId: string): string {
  return `${SHARE_PREFIX}${user}\u0000${group}\u0000${fileId}`;
}
