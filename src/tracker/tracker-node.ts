// Why this file exists: one tracker node — the Raft core glued to its durable log, the tracker
// store and a transport, driven by the World's clock. It runs the Ready loop (persist, then send,
// then apply, then advance), answers client writes once their entry applies (or says who leads),
// serves linearizable reads through ReadIndex, and compacts the Raft log below the store's
// synced snapshots.

import type { CachedReply, TrackerState } from '../log/domain/state.js';
import { TrackerStore, type TermEntry, type TrackerStoreOptions } from '../log/store/tracker-store.js';
import type { KvStore, Timer, World } from '../world/world.js';
import { Raft, type RaftConfig } from '../raft/raft.js';
import type { RaftLog } from '../raft/raft-log.js';
import { RaftStorage } from './raft-storage.js';
import type { RaftTransport } from './transport.js';
import { mayPrecedePersistence, type Entry, type NodeId, type ReadState, type Ready, type SnapshotMeta } from '../raft/types.js';
import type { Command } from '../log/domain/commands.js';
import { FIRST_RULES_VERSION, RULES_VERSION } from '../log/domain/rules.js';
import type { EntryOutcome } from '../log/domain/entry.js';
import type { ClockSkewView } from './clock-watch.js';
import { SnapshotReceiver, SnapshotSender } from './snapshot-transfer.js';
import type { StoreIntake } from '../log/store/snapshot-stream.js';

export interface TrackerNodeConfig {
  id: NodeId;
  voters: readonly NodeId[];
  world: World;
  transport: RaftTransport;
  raftKv: KvStore;
  storeKv: KvStore;
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  /** Compact the Raft log (and refresh the snapshot followers get) after this many applied entries. */
  compactEveryEntries?: number;
  /**
   * Compact also once the applied entries the Raft log holds in memory pass this many bytes
   * (entrySizeBytes; default DEFAULT_COMPACT_EVERY_BYTES): entries differ a hundredfold in size.
   */
  compactEveryBytes?: number;
  /**
   * The store's own snapshot cadence, a net behind compaction; by default twice the compaction
   * interval, so that each compaction's snapshot (maybeCompact) is the one taken, and timed.
   */
  storeSnapshotEveryEntries?: number;
  /**
   * How many files the groups read from the store may hold in memory together before the least
   * recently used groups' go back to disk (TrackerStore maxFilesInMemory); default
   * DEFAULT_MAX_FILES_IN_MEMORY.
   */
  maxFilesInMemory?: number;
  /** A snapshot transfer's chunk of records (snapshot-transfer.ts); default SNAPSHOT_CHUNK_BYTES. */
  snapshotChunkBytes?: number;
  /** Test-only (snapshot-test-switch.ts): receiving a snapshot, stop after writing this many chunks. */
  stallSnapshotAfterChunks?: number;
  unsafe?: RaftConfig['unsafe'];
  /** The node cannot go on (a failed disk write, a corrupt store): stop it and say why. Default: throw. */
  onFatal?: (error: Error) => void;
  /** Raft's in-flight window per follower, in messages. */
  maxInflightMessages?: number;
  /** How far this node's wall clock is from its peers' (clock-watch.ts); without it, the clock is trusted. */
  clockSkew?: () => ClockSkewView;
  /** Hears how long opening the stores, checkpoints and snapshot transfers take (`node_opened`, `store_snapshot`, `snapshot_sent`, ...); without it, nothing is said. */
  log?: (event: string, fields: Record<string, unknown>) => void;
}

/**
 * Store snapshot and Raft compaction interval. Each costs an encode of the whole projection and
 * a repack of the archive since the last one: at 10,000 it cost a third of the throughput at 64
 * clients (bench/RESULTS.md); restart replays at most this many entries.
 */
export const DEFAULT_COMPACT_EVERY_ENTRIES = 50_000;

/**
 * The Raft log's applied entries held in memory, at most (bytes), before a compaction drops
 * them. A ShareFile entry carries its piece list (about 6 KB for 134 pieces), so 50,000 of them
 * were about 300 MB of strings on each node; a checkpoint is one synced write, so compacting
 * more often costs little. A compaction keeps the newer half (compactionPoint): a follower that
 * falls further behind than that gets a snapshot.
 */
export const DEFAULT_COMPACT_EVERY_BYTES = 64 * 1024 * 1024;

/**
 * Files a node keeps in memory by default (about 330 bytes of heap each, so some 32 MiB): the
 * groups of a million files most recently used, the rest read back from LevelDB when needed.
 * At 250,000 a node of a million files peaked at 1.05 GB RSS (bench/scale): the heap V8 keeps is
 * a multiple of what is live, and a compacting collection briefly holds twice that.
 */
export const DEFAULT_MAX_FILES_IN_MEMORY = 100_000;

/**
 * Where a compaction cuts the Raft log: behind the newest applied entries, up to half of each
 * bound (entries, bytes). A follower that fell that little behind (an election, a pause, a slow
 * disk) catches up from the log, as etcd keeps SnapshotCatchUpEntries: the alternative, a
 * snapshot of the whole store, is gigabytes at a million files. The store is checkpointed at
 * `applied` all the same, so a restart reads no more than before; the log then holds between
 * half and all of each bound.
 */
export function compactionPoint(log: Pick<RaftLog, 'bytesThrough' | 'snapshotMeta'>, applied: number, everyEntries: number, everyBytes: number): number {
  const first = log.snapshotMeta().index;
  const appliedBytes = log.bytesThrough(applied);
  // The smallest index whose newer entries (index+1..applied) fit in half the byte bound.
  let low = first;
  let high = applied;
  while (low < high) {
    const mid = Math.floor((low + high) / 2);
    if (appliedBytes - log.bytesThrough(mid) <= everyBytes / 2) high = mid;
    else low = mid + 1;
  }
  return Math.max(low, applied - Math.floor(everyEntries / 2), first);
}

/**
 * The store snapshots itself inside an apply that crosses its interval. At the compaction
 * interval it did so just before maybeCompact, whose snapshot then found nothing to do, or (on a
 * leader, with entries applied in between) encoded the whole projection a second time.
 */
function storeSnapshotEvery(config: TrackerNodeConfig): number {
  return config.storeSnapshotEveryEntries ?? 2 * (config.compactEveryEntries ?? DEFAULT_COMPACT_EVERY_ENTRIES);
}

/** How a node opens its tracker store: groups' files read on demand, a bounded number kept. */
function storeOptions(config: TrackerNodeConfig): TrackerStoreOptions {
  return { snapshotEveryEntries: storeSnapshotEvery(config), filesOnDemand: true, maxFilesInMemory: config.maxFilesInMemory ?? DEFAULT_MAX_FILES_IN_MEMORY };
}

/**
 * How far past its bounds the Raft log may grow while a snapshot is streamed to a follower, so
 * that the follower can go on from the log once it is installed. A store of 10 GB takes minutes
 * to stream; at a million files' 4 MB/s of ShareFile entries, eight times 64 MiB is two minutes.
 */
const TRANSFER_HOLD_FACTOR = 8;

/** A Raft log sync this long or longer is logged (`slow_persist`); `clique tracker` times out elections after 1-2 s (20-40 ticks of 50 ms). */
const SLOW_PERSIST_MS = 100;

/** A duration for the log, to a tenth of a millisecond. */
const tenthsOfMs = (ms: number): number => Math.round(ms * 10) / 10;

export type SubmitOutcome =
  | { kind: 'applied'; index: number; reply: CachedReply }
  | { kind: 'not-leader'; leader: NodeId | null }
  /** The entry was overwritten by another leader's: it did not apply; retry. */
  | { kind: 'lost' };

/** A follower this many entries or more behind its commit index in applying answers no read and no heartbeat (it may not have seen an expiry). */
export const FOLLOWER_MAX_APPLY_LAG_ENTRIES = 500;

/**
 * A read's answer. `stalenessMs` (readRecent only): how long before the answer the state it came
 * from was known current; absent, it was current when the read arrived (linearizable).
 */
export type ReadOutcome<T> = { kind: 'ok'; index: number; value: T; stalenessMs?: number } | { kind: 'not-leader'; leader: NodeId | null };

/** What a client write carries in its log entry: the command, the node's time and the rules it is proposed under. */
interface Proposal {
  /** Null for the tracker's own commands (session expiry). */
  c: string | null;
  r: number | null;
  /** The proposing node's wall time; absent when its clock is skewed (the entry then takes the previous entry's time). */
  t?: number;
  cmd: unknown;
  /** The rules version (rules.ts); absent in entries written before versions were recorded. */
  v?: number;
}

export class TrackerNode {
  private timer: Timer | null = null;
  private pumping = false;
  private pumpAgain = false;
  private stopped = false;
  private readonly pendingWrites = new Map<number, { term: number; resolve: (outcome: SubmitOutcome) => void }>();
  /**
   * Reads that arrived while a ReadIndex was in flight: they share the next one (etcd's
   * linearizable read loop), so a thousand tickets a second cost a heartbeat round each, not a
   * thousand. Each is called with the index it may read at, or null if leadership was not
   * confirmed in time.
   */
  private nextReads: ((index: number | null) => void)[] = [];
  /** The ReadIndex in flight (at most one): its context and term, and how it ends (the index confirmed, or null: given up). */
  private readInFlight: { context: string; term: number; settle: (index: number | null) => void } | null = null;
  /**
   * The last ReadIndex confirmed: the state at `index` holds everything committed before
   * `askedAtMs` (monotonic), when it was asked. readRecent answers from it while it is young.
   */
  private confirmed: { index: number; askedAtMs: number } | null = null;
  private readonly waitingForApply: { index: number; run: () => void }[] = [];
  private readsIssued = 0;
  /** Drawn at start (World rng): read contexts of this process differ from an earlier one's. */
  private readonly readsNonce: string;
  private readonly storeTasks: (() => Promise<void>)[] = [];
  /**
   * Committed entries are applied beside the next Ready's persistence, one batch after another
   * (asynchronous apply, as etcd does; the thesis §10.2.1): the store is written while the log
   * syncs. Whatever reads or snapshots the store waits for this first.
   */
  private applying: Promise<void> = Promise.resolve();
  /** An apply that failed: the Ready loop stops the node with it. */
  private applyFailure: Error | null = null;
  private readonly appliedListeners: Array<(entries: readonly EntryOutcome[]) => void> = [];
  private readonly sender: SnapshotSender;
  private readonly receiver: SnapshotReceiver;
  /** Stores received whole from a leader, which the core said it will install (by "index/term"). */
  private readonly stagedStores = new Map<string, { meta: SnapshotMeta; intake: StoreIntake }>();
  /** The index of the last snapshot this node began to install. */
  private installedIndex = 0;

  private constructor(
    private readonly config: TrackerNodeConfig,
    readonly raft: Raft,
    private readonly storage: RaftStorage,
    private trackerStore: TrackerStore,
  ) {
    const log = (event: string, fields: Record<string, unknown>): void => config.log?.(event, fields);
    this.readsNonce = config.world.rng.id(8);
    this.sender = new SnapshotSender(
      {
        world: config.world,
        wire: config.transport,
        store: () => this.trackerStore,
        leadsIn: (term) => !this.stopped && this.raft.role === 'leader' && this.raft.term === term,
        term: () => this.raft.term,
        report: (to, outcome) => {
          if (this.stopped) return;
          this.raft.reportSnapshot(to, outcome);
          this.pump();
        },
        log,
      },
      2 * config.electionTicks * config.tickMs,
      config.snapshotChunkBytes,
    );
    this.receiver = new SnapshotReceiver({
      world: config.world,
      wire: config.transport,
      storeKv: config.storeKv,
      term: () => this.raft.term,
      staged: (from, term, meta, intake) => this.stepStagedSnapshot(from, term, meta, intake),
      log,
      ...(config.stallSnapshotAfterChunks === undefined ? {} : { stallAfterChunks: config.stallSnapshotAfterChunks }),
    });
  }

  static async start(config: TrackerNodeConfig): Promise<TrackerNode> {
    const openingMs = config.world.clock.monotonicMs();
    const since = (): number => tenthsOfMs(config.world.clock.monotonicMs() - openingMs);
    // The two stores are read at once (each waits on its disk reads as much as it parses), and
    // the groups' files when first needed: a restart does not wait for a million of them.
    const [{ storage, state, raftMs }, { store, storeMs }] = await Promise.all([
      RaftStorage.open(config.raftKv).then((opened) => ({ ...opened, raftMs: since() })),
      TrackerStore.open(config.storeKv, { ...storeOptions(config), dropLeftovers: true }).then((opened) => ({ store: opened, storeMs: since() })),
    ]);
    config.log?.('node_opened', {
      raftMs,
      raftEntries: state.entries.length,
      storeMs,
      applied: store.appliedIndex,
      groupsWithFilesOnDisk: store.groupsWithFilesOnDisk,
      leftoverGenerations: store.leftoverGenerations,
    });
    const raftConfig: RaftConfig = {
      id: config.id,
      voters: config.voters,
      electionTicks: config.electionTicks,
      heartbeatTicks: config.heartbeatTicks,
      random: () => config.world.rng.float(),
      ...(config.maxInflightMessages === undefined ? {} : { maxInflightMessages: config.maxInflightMessages }),
      ...(config.unsafe === undefined ? {} : { unsafe: config.unsafe }),
    };
    // A snapshot from the leader goes into the store before Raft's log records it; a crash in
    // between leaves the store ahead of the Raft log, which then restarts from the store's point.
    if (store.appliedIndex < state.snapshot.index) {
      throw new Error(`${config.id}: the tracker store (applied ${store.appliedIndex}) is behind the Raft snapshot (${state.snapshot.index}): data was lost`);
    }
    // Does the Raft log hold the entry the store applied last? If not (a snapshot was imported
    // and the process died before Raft recorded it), the log after it is not this history's
    // (§5: a snapshot with news the log lacks replaces the whole log).
    const termInLog =
      store.appliedIndex === state.snapshot.index ? state.snapshot.term : state.entries[store.appliedIndex - state.snapshot.index - 1]?.term;
    const storeAhead = store.appliedIndex > 0 && termInLog !== store.appliedTerm;
    const restored = storeAhead
      ? {
          hardState: { ...state.hardState, commit: store.appliedIndex },
          snapshot: { index: store.appliedIndex, term: store.appliedTerm },
          entries: [],
          applied: store.appliedIndex,
        }
      : {
          // What the store applied was committed, whatever the hard state last said.
          hardState: { ...state.hardState, commit: Math.max(state.hardState.commit, store.appliedIndex) },
          snapshot: state.snapshot.index > 0 ? state.snapshot : null,
          entries: state.entries,
          applied: store.appliedIndex,
        };
    if (storeAhead) await storage.resetTo(restored.snapshot!, restored.hardState);
    const raft = new Raft(raftConfig, restored);
    const node = new TrackerNode(config, raft, storage, store);
    config.transport.onMessage((message) => {
      if (node.stopped) return;
      node.raft.step(message);
      node.pump();
    });
    config.transport.onSnapshotChunk((from, chunk) => {
      if (!node.stopped) node.receiver.onChunk(from, chunk);
    });
    config.transport.onSnapshotAck((from, ack) => node.sender.onAck(from, ack));
    node.scheduleTick();
    return node;
  }

  /** Hears every batch of entries this node applies, in order (a snapshot install jumps over some). */
  onApplied(listener: (entries: readonly EntryOutcome[]) => void): void {
    this.appliedListeners.push(listener);
  }

  get store(): TrackerStore {
    return this.trackerStore;
  }

  status(): ReturnType<Raft['status']> & { storeApplied: number; chainHead: string; clockSkewMs: number | null; clockSkewed: boolean } {
    const clock = this.clockSkew();
    return { ...this.raft.status(), storeApplied: this.trackerStore.appliedIndex, chainHead: this.trackerStore.chainHead, clockSkewMs: clock.skewMs, clockSkewed: clock.skewed };
  }

  /** How far this node's wall clock is from the cluster's (unmeasured: trusted). */
  clockSkew(): ClockSkewView {
    return this.config.clockSkew?.() ?? { skewMs: null, skewed: false, peersMeasured: 0 };
  }

  /**
   * Proposes a client's command; resolves once its entry applies (with the domain's reply), or
   * at once with a hint. The entry carries this node's wall time unless its clock is skewed:
   * then none, and the entry takes the previous entry's time (decide: max(previous, proposed)),
   * so one node's wrong clock never moves the log's time (the guard hands leadership away).
   */
  submit(clientId: string | null, requestId: number | null, command: Command): Promise<SubmitOutcome> {
    const time = this.clockSkew().skewed ? {} : { t: this.config.world.clock.nowMs() };
    const proposal: Proposal = { c: clientId, r: requestId, ...time, cmd: command, v: RULES_VERSION };
    const result = this.raft.propose(JSON.stringify(proposal));
    if (!result.ok) return Promise.resolve({ kind: 'not-leader', leader: result.leader });
    // A write still waiting at this index was cut from the log (this node led before, lost its
    // tail and leads again): it never applies.
    this.pendingWrites.get(result.index)?.resolve({ kind: 'lost' });
    const promise = new Promise<SubmitOutcome>((resolve) => this.pendingWrites.set(result.index, { term: result.term, resolve }));
    this.pump();
    return promise;
  }

  /**
   * A linearizable read (§6.4): the query runs on the state once it has applied the read index.
   * A follower asks its leader for the index (etcd's follower reads), so reads spread over the
   * nodes: a peer asks for tickets on its push stream, at whichever node that is on. A node
   * that knows no leader answers not-leader at once.
   */
  read<T>(query: (state: TrackerState) => T): Promise<ReadOutcome<T>> {
    if (!this.mayRead()) return Promise.resolve({ kind: 'not-leader', leader: this.raft.status().leader });
    const promise = new Promise<ReadOutcome<T>>((resolve, reject) => {
      this.nextReads.push((index) => {
        if (index === null) return resolve({ kind: 'not-leader', leader: this.raft.status().leader });
        try {
          resolve({ kind: 'ok', index, value: query(this.trackerStore.state) });
        } catch (error) {
          reject(error); // this read's own failure: the others of its batch are answered
        }
      });
    });
    this.issueReads();
    return promise;
  }

  /**
   * A read that may be up to `maxStalenessMs` old (etcd's serializable read, bounded): if a
   * ReadIndex asked at most that long ago has been confirmed and applied, the query runs on this
   * node's state at once, with no round to the leader; otherwise it is a linearizable read. Only
   * an answer `usable` accepts is taken from the recent state; any other (a refusal that a write
   * newer than the state may have changed: the session just logged in, the user just accepted)
   * is asked again linearizably, so a client still reads its own writes. Past half its age, a
   * confirmation is renewed in the background while reads keep coming, so a node under steady
   * reads answers them all locally, and goes on through a leader's failover for that long; a node
   * cut off from its leader stops once its confirmation is too old.
   */
  readRecent<T>(query: (state: TrackerState) => T, usable: (value: T) => boolean, maxStalenessMs: number): Promise<ReadOutcome<T>> {
    const confirmed = this.confirmed;
    const ageMs = confirmed === null ? Infinity : this.config.world.clock.monotonicMs() - confirmed.askedAtMs;
    // Whatever this node's role now (a follower whose leader just died is soon a candidate), the
    // state it applied was current when that ReadIndex was asked.
    if (confirmed === null || this.stopped || ageMs > maxStalenessMs || this.trackerStore.appliedIndex < confirmed.index) return this.read(query);
    if (ageMs > maxStalenessMs / 2 && this.readInFlight === null) void this.read(() => null);
    const value = query(this.trackerStore.state);
    if (!usable(value)) return this.read(query);
    // Whole milliseconds, rounded up (an older state, a safer notBefore): a ticket's times are integers.
    return Promise.resolve({ kind: 'ok', index: this.trackerStore.appliedIndex, value, stalenessMs: Math.ceil(ageMs) });
  }

  /**
   * One ReadIndex for every read waiting, unless one is in flight (its confirmation issues the
   * next). Each read arrived before its ReadIndex was asked for, so the index it gets is at least
   * the commit index when it arrived: reads stay linearizable.
   */
  private issueReads(): void {
    // One asked in an earlier term is gone from the core (a new term clears its reads): its
    // batch is answered not-leader now rather than when it would give up.
    if (this.readInFlight !== null && this.readInFlight.term !== this.raft.status().term) this.readInFlight.settle(null);
    if (this.readInFlight !== null || this.nextReads.length === 0) return;
    const batch = this.nextReads;
    this.nextReads = [];
    if (this.stopped || !this.mayRead()) {
      for (const answer of batch) answer(null);
      return;
    }
    // Unique across this node's lives: an answer meant for an earlier process (queued on a link
    // while it was down) never releases a read of this one.
    const context = `${this.config.id}/${this.readsNonce}/${++this.readsIssued}`;
    // A leader that cannot confirm its leadership never releases the read, and a follower's
    // question or its answer may be lost on the way: give up after two election timeouts and
    // let the clients ask again (perhaps elsewhere).
    const settle = (index: number | null): void => {
      giveUp.cancel();
      if (this.readInFlight?.context !== context) return;
      this.readInFlight = null;
      if (index === null) for (const answer of batch) answer(null);
      else {
        this.whenApplied(index, () => {
          // Taken once applied: until then the last confirmation, applied already, still serves
          // readRecent (a newer one not yet applied would send every ticket to the leader).
          if (this.confirmed === null || askedAtMs > this.confirmed.askedAtMs) this.confirmed = { index, askedAtMs };
          batch.forEach((answer) => answer(index));
        });
      }
      this.issueReads();
    };
    const giveUp = this.config.world.clock.setTimer(2 * this.config.electionTicks * this.config.tickMs, () => settle(null));
    const askedAtMs = this.config.world.clock.monotonicMs();
    this.readInFlight = { context, term: this.raft.status().term, settle };
    this.raft.readIndex(context);
    this.pump();
  }

  /**
   * A leader reads; so does a follower that knows its leader (it asks it for the read index)
   * and applies in step (else its reads would wait for it to catch up: the client is better
   * served by the leader).
   */
  private mayRead(): boolean {
    const { role, leader } = this.raft.status();
    if (role === 'leader') return true;
    return role === 'follower' && leader !== null && this.appliesInStep();
  }

  /** Whether this node applies within FOLLOWER_MAX_APPLY_LAG_ENTRIES of its commit index. */
  appliesInStep(): boolean {
    return this.raft.status().commit - this.trackerStore.appliedIndex < FOLLOWER_MAX_APPLY_LAG_ENTRIES;
  }

  transferLeadership(to: NodeId): void {
    this.raft.transferLeadership(to);
    this.pump();
  }

  /** Stops ticking and answering; the caller closes the stores. */
  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.sender.stop();
    this.config.transport.close();
  }

  private scheduleTick(): void {
    this.timer = this.config.world.clock.setTimer(this.config.tickMs, () => {
      if (this.stopped) return;
      this.raft.tick();
      this.pump();
      this.scheduleTick();
    });
  }

  /** Runs Ready cycles until the core has nothing more; one cycle at a time. */
  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      this.sendEarly();
      return;
    }
    this.pumping = true;
    this.runReadyLoop().then(
      () => {
        this.pumping = false;
      },
      (error: unknown) => {
        // State on disk and in memory may disagree now: this node must not go on.
        this.stop();
        const fatal = error instanceof Error ? error : new Error(String(error));
        if (this.config.onFatal) this.config.onFatal(fatal);
        else throw fatal;
      },
    );
  }

  private async runReadyLoop(): Promise<void> {
    do {
      this.pumpAgain = false;
      while (!this.stopped && this.raft.hasReady()) {
        this.throwIfApplyFailed();
        await this.handleReady(this.raft.ready());
      }
      const task = this.storeTasks.shift();
      if (task) {
        await this.appliedSoFar();
        await task();
        this.pumpAgain = true;
      }
      this.throwIfApplyFailed();
    } while (this.pumpAgain && !this.stopped);
  }

  private throwIfApplyFailed(): void {
    if (this.applyFailure !== null) throw this.applyFailure;
  }

  /** Hands committed entries to the apply queue; they apply after those handed before. */
  private applyInOrder(entries: readonly Entry[]): void {
    this.applying = this.applying
      .then(() => (this.stopped || this.applyFailure !== null ? undefined : this.apply(entries)))
      .catch((error: unknown) => {
        this.applyFailure ??= error instanceof Error ? error : new Error(String(error));
        this.pump(); // the loop sees it and stops the node
      });
  }

  /** Resolves once every batch handed to the apply queue so far has applied (or failed). */
  private async appliedSoFar(): Promise<void> {
    await this.applying;
    this.throwIfApplyFailed();
  }

  /** Runs `read` on the store between Ready cycles, when no apply is under way. */
  withQuietStore<T>(read: (store: TrackerStore) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.storeTasks.push(() => read(this.trackerStore).then(resolve, reject));
      this.pump();
    });
  }

  /** The role and term last logged (`role_changed`), so an operator sees elections in the log. */
  private loggedRole = '';

  private logRoleChange(): void {
    const { role, term, leader } = this.raft.status();
    const now = `${role}/${term}/${leader ?? ''}`;
    if (now === this.loggedRole) return;
    this.loggedRole = now;
    this.config.log?.('role_changed', { role, term, leader });
  }

  private async handleReady(rd: Ready): Promise<void> {
    this.logRoleChange();
    if (rd.snapshot) {
      await this.appliedSoFar();
      await this.installSnapshot(rd); // into the store first: see start()
    }
    for (const message of rd.messages) if (mayPrecedePersistence(message)) this.config.transport.send(message);
    // The groups these new entries touch are read from disk while they commit, not when they apply.
    if (rd.entries.length > 0) this.trackerStore.prefetch(rd.entries.map((entry) => this.termEntry(entry)));
    const persistStartedMs = this.config.world.clock.monotonicMs();
    await this.storage.persist(rd); // synced before any message that depends on it leaves
    const persistMs = this.config.world.clock.monotonicMs() - persistStartedMs;
    // No Ready goes out meanwhile (heartbeats do: sendEarly on each tick), but a long one is worth knowing.
    if (persistMs >= SLOW_PERSIST_MS) this.config.log?.('slow_persist', { ms: tenthsOfMs(persistMs), entries: rd.entries.length });
    if (this.stopped) return;
    for (const message of rd.messages) if (!mayPrecedePersistence(message)) this.config.transport.send(message);
    if (rd.committedEntries.length > 0) this.applyInOrder(rd.committedEntries);
    this.releaseReads(rd.readStates);
    this.raft.advance(rd);
    for (const to of rd.snapshotsToSend) this.sender.start(to);
    await this.maybeCompact();
  }

  /**
   * A leader's store arrived whole and durable (snapshot-transfer.ts): the core hears of it as an
   * InstallSnapshot from that leader. True if the core will install it (its next Ready says so);
   * false if it refuses (it holds all of it already, or the term is over), and the copy goes.
   */
  private stepStagedSnapshot(from: NodeId, term: number, meta: SnapshotMeta, intake: StoreIntake): boolean {
    const key = `${meta.index}/${meta.term}`;
    // Another copy of the same snapshot (staged already, or being installed) is not needed.
    if (this.stopped || this.stagedStores.has(key) || meta.index <= this.installedIndex) return false;
    this.raft.step({ type: 'InstallSnapshot', from, to: this.config.id, term, meta });
    const pending = this.raft.snapshotPending();
    const installing = pending !== null && pending.index === meta.index && pending.term === meta.term;
    if (installing) this.stagedStores.set(key, { meta, intake });
    this.pump();
    return installing;
  }

  /** While a Ready's write is under way: what needs nothing from it leaves now (Raft.takeEarly). */
  private sendEarly(): void {
    if (this.stopped) return;
    try {
      const { messages, readStates } = this.raft.takeEarly();
      for (const message of messages) this.config.transport.send(message);
      this.releaseReads(readStates);
    } catch (error) {
      // As if it had failed in the Ready loop: the node stops and says why (not the caller's
      // problem: a socket handler or a timer).
      this.applyFailure ??= error instanceof Error ? error : new Error(String(error));
    }
  }

  private releaseReads(readStates: readonly ReadState[]): void {
    for (const read of readStates) {
      if (this.readInFlight?.context === read.context) this.readInFlight.settle(read.index);
    }
  }

  private async installSnapshot(rd: Ready): Promise<void> {
    const snapshot = rd.snapshot!;
    const key = `${snapshot.index}/${snapshot.term}`;
    const staged = this.stagedStores.get(key);
    if (!staged) throw new Error(`the core installs snapshot ${key}, which this node never staged`);
    // Older copies the core passed over go; newer ones wait for their own Ready.
    for (const [other, { meta, intake }] of this.stagedStores) {
      if (meta.index <= snapshot.index) {
        this.stagedStores.delete(other);
        if (other !== key) void intake.abandon().catch(() => undefined);
      }
    }
    this.installedIndex = snapshot.index;
    // Opened (and so checked) before it becomes current: a copy that cannot open stops this node
    // on its old store, not on a broken new one.
    const installed = await TrackerStore.openGeneration(staged.intake.view(), storeOptions(this.config));
    if (installed.appliedIndex !== snapshot.index) throw new Error(`the staged store stands at ${installed.appliedIndex}, not at snapshot ${key}`);
    await this.trackerStore.quiesce(); // its archive repack must not write into the store that replaces it
    await staged.intake.commit();
    this.trackerStore = installed;
    for (const [index, pending] of this.pendingWrites) {
      if (index <= snapshot.index) {
        this.pendingWrites.delete(index);
        pending.resolve({ kind: 'lost' });
      }
    }
    this.config.world.trace(`installed snapshot at ${snapshot.index}`);
    this.config.log?.('snapshot_installed', { index: snapshot.index, groupsWithFilesOnDisk: this.trackerStore.groupsWithFilesOnDisk });
    this.releaseWaitingReads();
  }

  private async apply(entries: readonly Entry[]): Promise<void> {
    const toApply = entries.filter((entry) => entry.index > this.trackerStore.appliedIndex).map((entry) => this.termEntry(entry));
    const results = await this.trackerStore.apply(toApply, { sync: false });
    if (results.length > 0) for (const listener of this.appliedListeners) listener(results.map((r) => r.entry));
    for (let i = 0; i < toApply.length; i++) {
      const entry = toApply[i]!;
      const pending = this.pendingWrites.get(entry.index);
      if (!pending) continue;
      this.pendingWrites.delete(entry.index);
      const reply = results[i]!.reply;
      const answer = reply ?? { requestId: 0, index: entry.index, error: null };
      if (pending.term === entry.term) pending.resolve({ kind: 'applied', index: entry.index, reply: answer });
      else pending.resolve({ kind: 'lost' });
    }
    this.releaseWaitingReads();
  }

  /** Reads whose index the store has reached run now. */
  private releaseWaitingReads(): void {
    const applied = this.trackerStore.appliedIndex;
    for (let i = this.waitingForApply.length - 1; i >= 0; i--) {
      const waiting = this.waitingForApply[i]!;
      if (waiting.index <= applied) {
        this.waitingForApply.splice(i, 1);
        waiting.run();
      }
    }
  }

  /** Resolves true once this node's store has applied `index`, false after `timeoutMs`. */
  untilApplied(index: number, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = this.config.world.clock.setTimer(timeoutMs, () => resolve(false));
      this.whenApplied(index, () => {
        timer.cancel();
        resolve(true);
      });
    });
  }

  private whenApplied(index: number, run: () => void): void {
    if (index <= this.trackerStore.appliedIndex) run();
    else this.waitingForApply.push({ index, run });
  }

  private termEntry(entry: Entry): TermEntry {
    const base = { index: entry.index, term: entry.term, rulesVersion: RULES_VERSION };
    if (entry.data === null) return { ...base, timeMs: 0, clientId: null, requestId: null, command: null };
    try {
      const p = JSON.parse(entry.data) as Proposal;
      // A version that is not a number is not one this build knows: decide refuses it (STORE_VERSION).
      const rulesVersion = p.v === undefined ? FIRST_RULES_VERSION : typeof p.v === 'number' ? p.v : Number.NaN;
      // No time (a skewed proposer): 0, which decide turns into the previous entry's time.
      return { ...base, rulesVersion, timeMs: p.t ?? 0, clientId: p.c, requestId: p.r, command: p.cmd };
    } catch {
      return { ...base, timeMs: 0, clientId: null, requestId: null, command: entry.data.slice(0, 64) };
    }
  }

  /**
   * Every N entries, or M bytes of them: a synced store snapshot, and the Raft log compacted up
   * to the older half of what it holds (compactionPoint), never past a snapshot being sent. A
   * lagging follower gets the store itself, streamed (snapshot-transfer.ts).
   */
  private async maybeCompact(): Promise<void> {
    const every = this.config.compactEveryEntries ?? DEFAULT_COMPACT_EVERY_ENTRIES;
    const everyBytes = this.config.compactEveryBytes ?? DEFAULT_COMPACT_EVERY_BYTES;
    const appliedNow = this.trackerStore.appliedIndex;
    // Only applied entries can go: bytes not yet applied do not count, or a backlog would
    // compact at every Ready for the few entries each applies.
    const entriesHeld = appliedNow - this.raft.log.snapshotMeta().index;
    const bytesHeld = this.raft.log.bytesThrough(appliedNow);
    if (entriesHeld < every && bytesHeld < everyBytes) return;
    // A follower receiving a snapshot needs the entries after it: compaction waits for the
    // transfer, up to TRANSFER_HOLD_FACTOR times its bounds (then it will need another snapshot).
    const holding = (): boolean => entriesHeld < TRANSFER_HOLD_FACTOR * every && bytesHeld < TRANSFER_HOLD_FACTOR * everyBytes;
    if (Math.min(...this.sender.floors.values()) < appliedNow && holding()) return;
    await this.appliedSoFar(); // no apply under way while the store snapshots itself
    const applied = this.trackerStore.appliedIndex;
    if (this.raft.log.term(applied) === undefined) return;
    const startedMs = this.config.world.clock.monotonicMs();
    await this.trackerStore.snapshot();
    this.config.log?.('store_snapshot', { index: applied, ms: tenthsOfMs(this.config.world.clock.monotonicMs() - startedMs) });
    if (this.stopped) return;
    // Read again (a transfer may have begun meanwhile); past the hold bound, the floor gives way.
    const transferFloor = holding() ? Math.min(...this.sender.floors.values()) : Infinity;
    const index = Math.min(compactionPoint(this.raft.log, applied, every, everyBytes), Math.max(transferFloor, this.raft.log.snapshotMeta().index));
    const term = this.raft.log.term(index);
    if (term === undefined || index <= this.raft.log.snapshotMeta().index) return;
    this.raft.compact({ index, term });
    await this.storage.compact({ index, term });
  }
}
