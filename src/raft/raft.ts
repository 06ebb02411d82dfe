// Why this file exists: the consensus core, a pure state machine after etcd-io/raft. Ticks and
// messages go in (tick, step, propose, readIndex, transferLeadership); a Ready comes out with
// what to persist, then send, then apply. No clock, no socket, no disk: the caller does IO, and a
// seeded random function picks election timeouts, so a simulation replays exactly.
//
// Ongaro's thesis sections: election §3.4 with pre-vote §9.6 and check-quorum §6.2, replication
// and log matching §3.5, safety §3.6 (only current-term entries are committed by counting),
// snapshots §5, ReadIndex §6.4, leadership transfer §3.10.

import { entrySizeBytes, RaftLog } from './raft-log.js';
import { Progress } from './progress.js';
import { ReadIndexQueue, type PendingRead } from './read-index.js';
import { mayPrecedePersistence, type Entry, type HardState, type Message, type MessageOf, type NodeId, type ReadState, type Ready, type Role, type SnapshotMeta, type SoftState } from './types.js';

export interface RaftConfig {
  id: NodeId;
  /** Every voter, this node included. Fixed membership. */
  voters: readonly NodeId[];
  /** A follower campaigns after a random timeout in [electionTicks, 2 * electionTicks). */
  electionTicks: number;
  heartbeatTicks: number;
  /** Uniform in [0, 1): the caller's seeded rng, so timeouts replay. */
  random: () => number;
  maxInflightMessages?: number;
  maxInflightBytes?: number;
  maxMessageBytes?: number;
  /** Committed entries handed out per Ready, at most (bytes). */
  maxApplyBytes?: number;
  /** Test-only faults that break safety on purpose, so the simulation can show it catches them. */
  unsafe?: { commitOlderTerms?: boolean; readWithoutQuorum?: boolean };
}

export interface RestoredState {
  hardState: HardState;
  /** What the log was compacted behind (the application's state covers it). */
  snapshot: SnapshotMeta | null;
  entries: Entry[];
  /** The application's applied index (it may be ahead of the snapshot). */
  applied: number;
}

export type ProposeResult = { ok: true; index: number; term: number } | { ok: false; reason: 'not-leader' | 'transferring'; leader: NodeId | null };

export class RaftError extends Error {
  override name = 'RaftError';
}

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId | null = null;
  role: Role = 'follower';
  leader: NodeId | null = null;
  readonly log: RaftLog;

  private readonly config: Required<Omit<RaftConfig, 'unsafe'>> & { unsafe: NonNullable<RaftConfig['unsafe']> };
  private readonly peers: NodeId[];
  private progress = new Map<NodeId, Progress>();
  private votes = new Map<NodeId, boolean>();
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTicks = 0;
  private leadTransferee: NodeId | null = null;
  private readonly reads: ReadIndexQueue;
  /** ReadIndex requests that wait for this leader's first commit in its term. */
  private deferredReads: { context: string; from: NodeId }[] = [];

  private messages: Message[] = [];
  private readStates: ReadState[] = [];
  private snapshotToInstall: SnapshotMeta | null = null;
  private snapshotsToSend: NodeId[] = [];
  private persistedHardState: HardState;
  private readyOut = false;
  /** Last index handed out for applying (applied once the caller advances). */
  private applying: number;

  constructor(config: RaftConfig, restored?: RestoredState) {
    if (!config.voters.includes(config.id)) throw new RaftError(`${config.id} is not among the voters`);
    if (config.heartbeatTicks < 1 || config.electionTicks <= config.heartbeatTicks) throw new RaftError('need electionTicks > heartbeatTicks >= 1');
    this.id = config.id;
    this.config = {
      maxInflightMessages: 256,
      maxInflightBytes: 8 * 1024 * 1024,
      maxMessageBytes: 1024 * 1024,
      maxApplyBytes: 8 * 1024 * 1024,
      ...config,
      unsafe: config.unsafe ?? {},
    };
    this.peers = config.voters.filter((voter) => voter !== config.id);
    this.reads = new ReadIndexQueue(config.id, Math.floor(config.voters.length / 2) + 1);
    const hard = restored?.hardState ?? { term: 0, vote: null, commit: 0 };
    const meta = restored?.snapshot ?? { index: 0, term: 0 };
    this.log = new RaftLog(meta, restored?.entries ?? [], hard.commit, restored?.applied ?? meta.index);
    this.term = hard.term;
    this.vote = hard.vote;
    this.persistedHardState = { ...hard };
    this.applying = this.log.applied;
    this.becomeFollower(this.term, null);
  }

  // ---- the API ---------------------------------------------------------------------------------

  tick(): void {
    this.electionElapsed++;
    if (this.role === 'leader') {
      this.heartbeatElapsed++;
      if (this.electionElapsed >= this.config.electionTicks) {
        this.electionElapsed = 0;
        this.leadTransferee = null; // a transfer that did not finish in an election timeout is abandoned
        if (!this.checkQuorumActive()) {
          this.becomeFollower(this.term, null); // §6.2: a leader that cannot reach a quorum steps down
          return;
        }
      }
      if (this.heartbeatElapsed >= this.config.heartbeatTicks) {
        this.heartbeatElapsed = 0;
        // The newest waiting read rides along: if its first confirmation was lost, this one counts.
        this.broadcastHeartbeat(this.reads.newestContext());
      }
    } else if (this.electionElapsed >= this.randomizedElectionTicks) {
      this.electionElapsed = 0;
      this.preCampaign();
    }
  }

  propose(data: string): ProposeResult {
    if (this.role !== 'leader') return { ok: false, reason: 'not-leader', leader: this.leader };
    if (this.leadTransferee !== null) return { ok: false, reason: 'transferring', leader: this.leader };
    const entry: Entry = { index: this.log.lastIndex() + 1, term: this.term, data };
    this.log.append([entry]);
    this.broadcastAppend();
    return { ok: true, index: entry.index, term: entry.term };
  }

  /** Asks for a linearizable read index; it comes back as a ReadState with this context, or never (retry). */
  readIndex(context: string): void {
    if (this.role === 'leader') this.leaderReadIndex(context, this.id);
    else if (this.leader !== null) this.send({ type: 'ReadIndex', to: this.leader, context });
  }

  transferLeadership(to: NodeId): void {
    if (this.role !== 'leader' || to === this.id || !this.progress.has(to)) return;
    if (this.leadTransferee === to) return;
    this.leadTransferee = to;
    this.electionElapsed = 0;
    const pr = this.progress.get(to)!;
    if (pr.match === this.log.lastIndex()) this.send({ type: 'TimeoutNow', to });
    else this.sendAppend(to);
  }

  step(m: Message): void {
    if (m.to !== this.id) return;
    if (m.term > this.term) {
      if ((m.type === 'PreVote' || m.type === 'Vote') && this.inLease() && !(m.type === 'Vote' && m.transfer)) {
        return; // §4.2.3 / check-quorum: a node that hears from a live leader ignores disruptive candidates
      }
      if (m.type === 'PreVote' || (m.type === 'PreVoteResponse' && m.granted)) {
        // Pre-votes are about a future term: nobody moves to it until a real election.
      } else {
        const fromLeader = m.type === 'Append' || m.type === 'Heartbeat' || m.type === 'InstallSnapshot';
        this.becomeFollower(m.term, fromLeader ? m.from : null);
      }
    } else if (m.term < this.term) {
      if (m.type === 'Append' || m.type === 'Heartbeat') {
        // A stale leader: our term in the answer makes it step down (it may be isolated, §9.6).
        this.send({ type: 'AppendResponse', to: m.from, success: false, index: m.type === 'Append' ? m.prevIndex : 0, hint: this.log.lastIndex() });
      } else if (m.type === 'PreVote') {
        this.send({ type: 'PreVoteResponse', to: m.from, granted: false });
      }
      return;
    }

    switch (m.type) {
      case 'PreVote':
      case 'Vote':
        return this.handleVoteRequest(m);
      case 'PreVoteResponse':
      case 'VoteResponse':
        return this.handleVoteResponse(m);
      default:
        break;
    }
    if (this.role === 'leader') this.stepLeader(m);
    else this.stepFollowerOrCandidate(m);
  }

  /**
   * The caller holds a durable snapshot of its state at `meta.index` (at most the applied index):
   * entries up to it go. A follower that needs them gets a snapshot instead (snapshotsToSend).
   */
  compact(meta: SnapshotMeta): void {
    if (meta.index < this.log.snapshotMeta().index) return;
    if (this.log.term(meta.index) !== meta.term) throw new RaftError(`snapshot ${meta.index} has the wrong term`);
    this.log.compact(meta.index);
  }

  /**
   * How the caller's snapshot transfer to `to` went (etcd-io/raft's ReportSnapshot). Sent: the
   * follower's answer to it moves the leader on. Failed: probe again after a heartbeat's answer,
   * which asks for another snapshot if the log still lacks what the follower needs.
   */
  reportSnapshot(to: NodeId, outcome: { sent: true; meta: SnapshotMeta } | { sent: false }): void {
    const pr = this.progress.get(to);
    if (this.role !== 'leader' || !pr || pr.state !== 'snapshot') return;
    if (outcome.sent) pr.pendingSnapshot = Math.max(pr.pendingSnapshot, outcome.meta.index);
    else pr.pendingSnapshot = 0;
    pr.becomeProbe();
    pr.probeSent = true; // wait for the follower's answer (or a heartbeat's) before the next append
  }

  /** The snapshot the core waits for the caller to install, if any (a stepped InstallSnapshot may be refused). */
  snapshotPending(): SnapshotMeta | null {
    return this.snapshotToInstall;
  }

  hasReady(): boolean {
    if (this.readyOut) return false;
    return (
      this.messages.length > 0 ||
      this.readStates.length > 0 ||
      this.snapshotToInstall !== null ||
      this.log.unstableEntries().length > 0 ||
      this.log.committed > this.applying ||
      this.snapshotsToSend.length > 0 ||
      this.hardStateChanged()
    );
  }

  ready(): Ready {
    if (this.readyOut) throw new RaftError('ready() called again before advance()');
    this.readyOut = true;
    const hardState = this.hardStateChanged() ? this.hardState() : null;
    const committedEntries = this.snapshotToInstall ? [] : this.log.nextCommitted(this.applying, this.config.maxApplyBytes);
    const last = committedEntries[committedEntries.length - 1];
    if (last) this.applying = last.index;
    const rd: Ready = {
      softState: this.softState(),
      hardState,
      snapshot: this.snapshotToInstall,
      entries: this.log.unstableEntries(),
      messages: this.messages,
      committedEntries,
      readStates: this.readStates,
      snapshotsToSend: this.snapshotsToSend,
    };
    this.snapshotsToSend = [];
    this.messages = [];
    this.readStates = [];
    return rd;
  }

  /**
   * Between Readies, or while one is out (its write to disk under way), the messages that need
   * nothing from a write, taken out of the next Ready to leave now: a leader's appends and heartbeats
   * (§10.2.1), and, in a term and vote already on disk, heartbeat answers and ReadIndex
   * traffic; with the reads released meanwhile. On a disk whose sync sometimes takes 100-200 ms
   * (issue 20's online bench), a linearizable read waited for one sync on the leader and one on
   * a follower before its heartbeat round even began.
   */
  takeEarly(): { messages: Message[]; readStates: ReadState[] } {
    if (this.messages.length === 0 && this.readStates.length === 0) return { messages: [], readStates: [] };
    const onDisk = this.persistedHardState.term === this.term && this.persistedHardState.vote === this.vote;
    const early: Message[] = [];
    const later: Message[] = [];
    for (const message of this.messages) (mayPrecedePersistence(message) || (onDisk && answersNoWrite(message)) ? early : later).push(message);
    this.messages = later;
    const readStates = this.readStates;
    this.readStates = [];
    return { messages: early, readStates };
  }

  /** The caller persisted, sent and applied everything in `rd`. */
  advance(rd: Ready): void {
    if (!this.readyOut) throw new RaftError('advance() without ready()');
    this.readyOut = false;
    if (rd.hardState) this.persistedHardState = { ...rd.hardState };
    // A newer snapshot may have arrived while this one was being installed: keep it for the next Ready.
    if (rd.snapshot && this.snapshotToInstall === rd.snapshot) this.snapshotToInstall = null;
    const last = rd.entries[rd.entries.length - 1];
    if (last) {
      this.log.stableTo(last.index, last.term);
      if (this.role === 'leader' && this.progress.get(this.id)!.maybeUpdate(this.log.stableIndex) && this.maybeCommit()) this.broadcastAppend();
    }
    const applied = rd.committedEntries[rd.committedEntries.length - 1];
    if (applied) this.log.appliedTo(applied.index);
    if (rd.snapshot) this.log.appliedTo(rd.snapshot.index);
    this.applying = this.log.applied;
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  softState(): SoftState {
    return { role: this.role, leader: this.leader };
  }

  status(): { id: NodeId; role: Role; term: number; leader: NodeId | null; commit: number; applied: number; lastIndex: number; snapshotIndex: number } {
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      leader: this.leader,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      snapshotIndex: this.log.snapshotMeta().index,
    };
  }

  /** The leader's progress for a peer, for tests and status. */
  progressOf(peer: NodeId): Readonly<Progress> | undefined {
    return this.progress.get(peer);
  }

  // ---- roles -----------------------------------------------------------------------------------

  private resetTerm(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = null;
    }
    this.leader = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTicks = this.config.electionTicks + Math.floor(this.config.random() * this.config.electionTicks);
    this.votes.clear();
    this.leadTransferee = null;
    this.reads.clear();
    this.deferredReads = [];
  }

  private becomeFollower(term: number, leader: NodeId | null): void {
    this.resetTerm(term);
    this.role = 'follower';
    this.leader = leader;
  }

  private becomePreCandidate(): void {
    // No term change and no vote: a pre-election disturbs nobody (§9.6).
    this.randomizedElectionTicks = this.config.electionTicks + Math.floor(this.config.random() * this.config.electionTicks);
    this.votes.clear();
    this.leader = null;
    this.role = 'pre-candidate';
  }

  private becomeCandidate(): void {
    this.resetTerm(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    this.resetTerm(this.term);
    this.role = 'leader';
    this.leader = this.id;
    this.vote = this.id;
    this.progress = new Map();
    for (const voter of this.config.voters) {
      const pr = new Progress(this.log.lastIndex() + 1, this.config.maxInflightMessages, this.config.maxInflightBytes);
      pr.recentActive = true;
      this.progress.set(voter, pr);
    }
    this.progress.get(this.id)!.match = this.log.stableIndex;
    // A no-op of our term: committing it commits everything before it (§5.4.2) and unlocks reads.
    this.log.append([{ index: this.log.lastIndex() + 1, term: this.term, data: null }]);
    this.broadcastAppend();
  }

  private quorum(): number {
    return Math.floor(this.config.voters.length / 2) + 1;
  }

  private preCampaign(): void {
    this.becomePreCandidate();
    this.requestVotes('PreVote', this.term + 1, false);
  }

  private campaign(transfer: boolean): void {
    this.becomeCandidate();
    this.requestVotes('Vote', this.term, transfer);
  }

  private requestVotes(type: 'PreVote' | 'Vote', term: number, transfer: boolean): void {
    this.votes.set(this.id, true);
    if (this.tallyVotes() === 'won') return this.afterVoteWon();
    for (const peer of this.peers) {
      const base = { to: peer, term, lastIndex: this.log.lastIndex(), lastTerm: this.log.lastTerm() };
      if (type === 'PreVote') this.send({ type, ...base });
      else this.send({ type, ...base, transfer });
    }
  }

  private tallyVotes(): 'won' | 'lost' | 'pending' {
    let granted = 0;
    let rejected = 0;
    for (const vote of this.votes.values()) vote ? granted++ : rejected++;
    if (granted >= this.quorum()) return 'won';
    if (rejected >= this.quorum()) return 'lost';
    return 'pending';
  }

  private afterVoteWon(): void {
    if (this.role === 'pre-candidate') this.campaign(false);
    else this.becomeLeader();
  }

  private handleVoteRequest(m: MessageOf<'PreVote'> | MessageOf<'Vote'>): void {
    const isPreVote = m.type === 'PreVote';
    const canVote = this.vote === m.from || (this.vote === null && this.leader === null) || (isPreVote && m.term > this.term);
    const granted = canVote && this.log.isUpToDate(m.lastIndex, m.lastTerm);
    if (granted && !isPreVote) {
      this.electionElapsed = 0;
      this.vote = m.from;
    }
    // A granted pre-vote answers in the candidate's future term so it counts the answer.
    const responseTerm = isPreVote && granted ? m.term : this.term;
    this.messages.push({ type: isPreVote ? 'PreVoteResponse' : 'VoteResponse', from: this.id, to: m.from, term: responseTerm, granted });
  }

  private handleVoteResponse(m: MessageOf<'PreVoteResponse'> | MessageOf<'VoteResponse'>): void {
    const wanted = this.role === 'pre-candidate' ? 'PreVoteResponse' : this.role === 'candidate' ? 'VoteResponse' : null;
    if (m.type !== wanted) return;
    this.votes.set(m.from, m.granted);
    const tally = this.tallyVotes();
    if (tally === 'won') this.afterVoteWon();
    else if (tally === 'lost') this.becomeFollower(this.term, null);
  }

  // ---- the leader ------------------------------------------------------------------------------

  private stepLeader(m: Message): void {
    const pr = this.progress.get(m.from);
    switch (m.type) {
      case 'AppendResponse': {
        if (!pr) return;
        pr.recentActive = true;
        if (!m.success) {
          if (pr.maybeDecreaseTo(m.index, m.hint)) {
            if (pr.state === 'replicate') pr.becomeProbe();
            this.sendAppend(m.from);
          }
          return;
        }
        const wasPaused = pr.isPaused();
        if (!pr.maybeUpdate(m.index)) return;
        if (pr.state === 'probe') pr.becomeReplicate();
        else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) pr.becomeProbe();
        else if (pr.state === 'replicate') pr.inflights.freeTo(m.index);
        if (this.maybeCommit()) this.broadcastAppend();
        else if (wasPaused || pr.next <= this.log.lastIndex()) this.sendAppendsWhileOpen(m.from);
        if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.send({ type: 'TimeoutNow', to: m.from });
        return;
      }
      case 'HeartbeatResponse': {
        if (!pr) return;
        pr.recentActive = true;
        pr.probeSent = false;
        // Acks lost with their appends would keep a full window full for good (etcd's FreeFirstOne).
        if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
        if (pr.match < this.log.lastIndex()) this.sendAppendsWhileOpen(m.from);
        if (m.context !== null) this.ackRead(m.context, m.from);
        return;
      }
      case 'ReadIndex':
        return this.leaderReadIndex(m.context, m.from);
      default:
        return; // Append/Heartbeat/InstallSnapshot of our own term cannot come from another leader (§5.2)
    }
  }

  /** §3.6: commit the largest index a quorum holds, if it is of this term (the Figure 8 rule). */
  private maybeCommit(): boolean {
    const matches = [...this.progress.values()].map((pr) => pr.match).sort((a, b) => b - a);
    const candidate = matches[this.quorum() - 1]!;
    if (candidate <= this.log.committed) return false;
    if (this.log.term(candidate) !== this.term && !this.config.unsafe.commitOlderTerms) return false;
    this.log.commitTo(candidate);
    this.releaseDeferredReads();
    return true;
  }

  private checkQuorumActive(): boolean {
    let active = 1;
    for (const [peer, pr] of this.progress) {
      if (peer === this.id) continue;
      if (pr.recentActive) active++;
      pr.recentActive = false;
    }
    return active >= this.quorum();
  }

  /** Knows a live leader (is one, or heard from one within the minimum election timeout). */
  private inLease(): boolean {
    return this.leader !== null && this.electionElapsed < this.config.electionTicks;
  }

  private broadcastAppend(): void {
    for (const peer of this.peers) this.sendAppendsWhileOpen(peer);
  }

  /** Pipelining: in replicate state keep sending until the in-flight window is full or nothing is left. */
  private sendAppendsWhileOpen(to: NodeId): void {
    const pr = this.progress.get(to)!;
    let sent = this.sendAppend(to);
    while (sent && pr.state === 'replicate' && pr.next <= this.log.lastIndex()) sent = this.sendAppend(to);
  }

  /** One append (or a snapshot chunk) to a follower; false when paused or nothing to send. */
  private sendAppend(to: NodeId): boolean {
    const pr = this.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined || pr.next < this.log.firstIndex()) {
      return this.startSnapshot(to, pr);
    }
    const entries = pr.next <= this.log.lastIndex() ? this.log.slice(pr.next, this.log.lastIndex() + 1, this.config.maxMessageBytes) : [];
    let bytes = 0;
    for (const entry of entries) bytes += entrySizeBytes(entry);
    this.send({ type: 'Append', to, prevIndex, prevTerm, entries, commit: this.log.committed });
    pr.sentEntries(prevIndex + entries.length, bytes);
    return entries.length > 0;
  }

  private broadcastHeartbeat(context: string | null): void {
    for (const peer of this.peers) {
      const pr = this.progress.get(peer)!;
      // Never tell a follower to commit past what it is known to hold.
      this.send({ type: 'Heartbeat', to: peer, commit: Math.min(pr.match, this.log.committed), context });
    }
  }

  /** The follower needs entries the log no longer holds: the caller sends it a snapshot. */
  private startSnapshot(to: NodeId, pr: Progress): boolean {
    pr.becomeSnapshot(this.log.snapshotMeta().index);
    if (!this.snapshotsToSend.includes(to)) this.snapshotsToSend.push(to);
    return false;
  }

  // ---- ReadIndex -------------------------------------------------------------------------------

  private leaderReadIndex(context: string, from: NodeId): void {
    if (this.log.term(this.log.committed) !== this.term) {
      this.deferredReads.push({ context, from }); // §6.4 step 1: wait for our no-op to commit
      return;
    }
    if (this.quorum() === 1 || this.config.unsafe.readWithoutQuorum) {
      return this.releaseRead({ context, index: this.log.committed, from, acks: new Set([this.id]) });
    }
    this.reads.add(context, this.log.committed, from);
    this.broadcastHeartbeat(context); // §6.4 step 2: confirm we are still the leader
  }

  private releaseDeferredReads(): void {
    if (this.deferredReads.length === 0 || this.log.term(this.log.committed) !== this.term) return;
    const deferred = this.deferredReads;
    this.deferredReads = [];
    for (const { context, from } of deferred) this.leaderReadIndex(context, from);
  }

  private ackRead(context: string, from: NodeId): void {
    for (const released of this.reads.ack(context, from)) this.releaseRead(released);
  }

  private releaseRead(read: PendingRead): void {
    if (read.from === this.id) this.readStates.push({ context: read.context, index: read.index });
    else this.send({ type: 'ReadIndexResponse', to: read.from, context: read.context, index: read.index, ok: true });
  }

  // ---- followers and candidates ----------------------------------------------------------------

  private stepFollowerOrCandidate(m: Message): void {
    if ((m.type === 'Append' || m.type === 'Heartbeat' || m.type === 'InstallSnapshot') && this.role !== 'follower') {
      this.becomeFollower(this.term, m.from); // §5.2: a candidate that hears from the term's leader steps back
    }
    switch (m.type) {
      case 'Append':
        this.electionElapsed = 0;
        this.leader = m.from;
        return this.handleAppend(m);
      case 'Heartbeat':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
        this.send({ type: 'HeartbeatResponse', to: m.from, context: m.context });
        return;
      case 'InstallSnapshot':
        this.electionElapsed = 0;
        this.leader = m.from;
        return this.handleSnapshot(m);
      case 'TimeoutNow':
        if (this.role === 'follower') this.campaign(true); // §3.10: start an election now, no pre-vote
        return;
      case 'ReadIndex':
        if (this.leader !== null) this.send({ type: 'ReadIndex', to: this.leader, context: m.context });
        return;
      case 'ReadIndexResponse':
        if (m.ok) this.readStates.push({ context: m.context, index: m.index });
        return;
      default:
        return;
    }
  }

  private handleAppend(m: MessageOf<'Append'>): void {
    if (m.prevIndex < this.log.committed) {
      this.send({ type: 'AppendResponse', to: m.from, success: true, index: this.log.committed, hint: 0 });
      return;
    }
    const lastNew = this.log.maybeAppend(m.prevIndex, m.prevTerm, m.commit, m.entries);
    if (lastNew !== null) {
      this.send({ type: 'AppendResponse', to: m.from, success: true, index: lastNew, hint: 0 });
    } else {
      const hint = this.log.findConflictByTerm(m.prevIndex, m.prevTerm);
      this.send({ type: 'AppendResponse', to: m.from, success: false, index: m.prevIndex, hint });
    }
  }

  /** §5 / Figure 13, the whole snapshot at once: answered after it is installed and persisted. */
  private handleSnapshot(m: MessageOf<'InstallSnapshot'>): void {
    const answer = (index: number): void => this.send({ type: 'AppendResponse', to: m.from, success: true, index, hint: 0 });
    if (m.meta.index <= this.log.committed) return answer(this.log.committed); // we hold all of it already
    if (this.log.matchTerm(m.meta.index, m.meta.term)) {
      // The snapshot describes a prefix of our log: keep the entries after it, just commit (§5).
      // Only that prefix is known to match the leader's: what follows may be another term's.
      this.log.commitTo(m.meta.index);
      return answer(m.meta.index);
    }
    this.log.restore(m.meta);
    this.snapshotToInstall = m.meta;
    this.applying = m.meta.index;
    answer(m.meta.index);
  }

  // ---- output ----------------------------------------------------------------------------------

  private send(message: DistributiveOmit<Message, 'from' | 'term'> & { term?: number }): void {
    this.messages.push({ ...message, from: this.id, term: message.term ?? this.term } as Message);
  }

  private hardStateChanged(): boolean {
    const h = this.persistedHardState;
    return h.term !== this.term || h.vote !== this.vote || h.commit !== this.log.committed;
  }
}

/** Messages that promise nothing about the log on disk: only the term and vote they carry. */
function answersNoWrite(message: Message): boolean {
  return message.type === 'HeartbeatResponse' || message.type === 'ReadIndex' || message.type === 'ReadIndexResponse';
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
