// Why this file exists: a whole tracker cluster inside one process on the simulated World — N
// tracker nodes (Raft core + LevelDB log + tracker store) and clients — driven through a fault
// schedule step by step. After every step Raft's safety properties are checked; at the end all
// faults heal, a write must commit within a bound, and the clients' history must be linearizable.

import { WorldError } from '../../world/world.js';
import { createHash } from 'node:crypto';
import { groupMembership } from '../../log/domain/queries.js';
import type { TrackerState } from '../../log/domain/state.js';
import type { RaftConfig } from '../../raft/raft.js';
import { TrackerNode } from '../../tracker/tracker-node.js';
import type { Message } from '../../raft/types.js';
import type { SnapshotAck, SnapshotChunk } from '../../tracker/snapshot-transfer.js';
import { checkOperations, type CheckResult, type Operation } from '../linearizability.js';
import { SimWorld } from '../../world/sim/sim-world.js';
import type { KvStore } from '../../world/world.js';
import { SimClient } from './client.js';
import { describeGroup, groupModel, type GroupInput, type GroupOutput } from './group-model.js';
import { SafetyChecker } from './invariants.js';
import type { ClientRequestOp, ClientResponseOutcome, Packet } from './protocol.js';
import { LEADER, type OpSpec, type Schedule, type Step } from './schedule.js';

export interface SimOptions {
  seed: number | string;
  /** Virtual time each step runs for after its action. */
  stepMs?: number;
  tickMs?: number;
  electionTicks?: number;
  compactEveryEntries?: number;
  unsafe?: RaftConfig['unsafe'];
  trace?: (line: string) => void;
  /** Synced disk writes take this long (SimWorldOptions.diskSyncMs); default instant. */
  diskSyncMs?: { minMs: number; maxMs: number };
}

export interface Coverage {
  elections: number;
  leaderChanges: number;
  partitions: number;
  crashes: number;
  restarts: number;
  snapshotInstalls: number;
  packetsDropped: number;
  packetsDuplicated: number;
  operations: number;
  unknownOutcomes: number;
}

export interface SimResult {
  violations: string[];
  linearizability: CheckResult;
  history: Operation<GroupInput, GroupOutput>[];
  coverage: Coverage;
  /** Virtual ms from the first fault-free write after healing to its commit; null if it never did. */
  recoveryMs: number | null;
  trace: string;
}

interface Host {
  name: string;
  node: TrackerNode | null;
  kvs: KvStore[];
  crashed: boolean;
}

const GROUPS = ['g0', 'g1', 'g2'];
const PERFECT = { dropProbability: 0, duplicateProbability: 0, reorderProbability: 0, latencyMs: 1, jitterMs: 0 };

export class SimCluster {
  readonly sim: SimWorld;
  readonly checker = new SafetyChecker();
  private readonly hosts: Host[] = [];
  private readonly clients: SimClient[] = [];
  private readonly users: { user: string; sessionId: string; tokenHash: string }[] = [];
  private readonly history: Operation<GroupInput, GroupOutput>[] = [];
  private readonly stepMs: number;
  private readonly coverage: Coverage = {
    elections: 0,
    leaderChanges: 0,
    partitions: 0,
    crashes: 0,
    restarts: 0,
    snapshotInstalls: 0,
    packetsDropped: 0,
    packetsDuplicated: 0,
    operations: 0,
    unknownOutcomes: 0,
  };
  private lastLeader: string | null = null;

  constructor(
    private readonly schedule: Schedule,
    private readonly options: SimOptions,
  ) {
    this.sim = new SimWorld({
      seed: options.seed,
      defaultLink: PERFECT,
      ...(options.trace ? { traceSink: options.trace } : {}),
      ...(options.diskSyncMs ? { diskSyncMs: options.diskSyncMs } : {}),
    });
    this.stepMs = options.stepMs ?? 20;
    for (let i = 0; i < schedule.nodes; i++) this.hosts.push({ name: `n${i + 1}`, node: null, kvs: [], crashed: false });
  }

  private nodeNames(): string[] {
    return this.hosts.map((h) => h.name);
  }

  private async startNode(host: Host): Promise<void> {
    const world = this.sim.forHost(host.name);
    const raftKv = await world.kv.open('/data/raft', { createIfMissing: true });
    const storeKv = await world.kv.open('/data/tracker', { createIfMissing: true });
    host.kvs = [raftKv, storeKv];
    let onRaft: (message: Message) => void = () => {};
    let onChunk: (from: string, chunk: SnapshotChunk) => void = () => {};
    let onAck: (from: string, ack: SnapshotAck) => void = () => {};
    this.sim.net.onPacket(host.name, (from, payload) => {
      const packet = payload as Packet;
      if (packet.kind === 'raft') onRaft(packet.message);
      else if (packet.kind === 'snapshotChunk') onChunk(from, packet.chunk);
      else if (packet.kind === 'snapshotAck') onAck(from, packet.ack);
      else if (packet.kind === 'request') void this.serve(host, from, packet);
    });
    const sendPacket = (to: string, packet: Packet): void => this.sim.net.sendPacket(host.name, to, structuredClone(packet));
    host.node = await TrackerNode.start({
      id: host.name,
      voters: this.nodeNames(),
      world,
      transport: {
        send: (message) => sendPacket(message.to, { kind: 'raft', message }),
        onMessage: (handler) => {
          onRaft = handler;
        },
        sendSnapshotChunk: (to, chunk) => sendPacket(to, { kind: 'snapshotChunk', chunk }),
        sendSnapshotAck: (to, ack) => sendPacket(to, { kind: 'snapshotAck', ack }),
        onSnapshotChunk: (handler) => {
          onChunk = handler;
        },
        onSnapshotAck: (handler) => {
          onAck = handler;
        },
        close: () => {
          onRaft = () => {};
          onChunk = () => {};
          onAck = () => {};
        },
      },
      raftKv,
      storeKv,
      tickMs: this.options.tickMs ?? 10,
      electionTicks: this.options.electionTicks ?? 10,
      heartbeatTicks: 1,
      compactEveryEntries: this.options.compactEveryEntries ?? 64,
      storeSnapshotEveryEntries: 50,
      snapshotChunkBytes: 4096,
      maxInflightMessages: 8, // small, so a full in-flight window and its recovery happen often
      ...(this.options.unsafe ? { unsafe: this.options.unsafe } : {}),
      onFatal: (error) => {
        // A write still under way when its host crashed fails with the host: the process is gone.
        if (error instanceof WorldError && error.code === 'CRASHED') return this.trace(`${host.name}: a write died with its host`);
        this.checker.violations.push(`fatal on ${host.name}: ${error.message}`);
        this.trace(`FATAL ${host.name}: ${error.stack ?? error.message}`);
      },
    });
    host.crashed = false;
  }

  /** A node answers a client: writes once applied (or a leader hint), reads through ReadIndex. */
  private async serve(host: Host, client: string, request: Extract<Packet, { kind: 'request' }>): Promise<void> {
    const node = host.node;
    if (!node) return;
    let outcome: ClientResponseOutcome;
    if (request.op.type === 'write') {
      const result = await node.submit(request.clientId, request.requestId, request.op.command);
      outcome =
        result.kind === 'applied'
          ? { type: 'applied', index: result.reply.index, code: result.reply.error?.code ?? 'OK' }
          : result.kind === 'not-leader'
            ? { type: 'not-leader', leader: result.leader }
            : { type: 'lost' };
    } else {
      const group = request.op.group;
      const result = await node.read((state) => viewOf(state, group));
      outcome = result.kind === 'ok' ? { type: 'read', value: result.value } : { type: 'not-leader', leader: result.leader };
    }
    if (host.node !== node || host.crashed) return; // the process died meanwhile
    this.sim.net.sendPacket(host.name, client, { kind: 'response', attempt: request.attempt, outcome } satisfies Packet);
  }

  private crash(host: Host): void {
    if (host.crashed) return;
    host.node?.stop();
    host.node = null;
    host.crashed = true;
    this.sim.crashHost(host.name);
    this.coverage.crashes++;
  }

  private async restart(host: Host): Promise<void> {
    if (!host.crashed) return;
    await this.startNode(host);
    this.coverage.restarts++;
  }

  /** Users and sessions every client acts as; not part of the checked history. */
  private async setUp(): Promise<void> {
    for (const host of this.hosts) await this.startNode(host);
    for (let i = 0; i < this.schedule.clients; i++) {
      // Impatient and patient clients: short attempt timeouts switch nodes sooner.
      const attemptTimeoutMs = 60 + 80 * i;
      this.clients.push(new SimClient(this.sim, `c${i}`, `client-${i}`, this.nodeNames(), { attemptTimeoutMs, giveUpAfterMs: 3000 }));
    }
    for (let i = 0; i < this.schedule.clients; i++) {
      const client = this.clients[i]!;
      const user = `u${i}`;
      const world = this.sim.forHost(client.host);
      const token = world.rng.id(32);
      const sessionId = `session-${world.rng.id(12)}`;
      const tokenHash = createHash('sha256').update(token).digest('hex');
      const salt = '00'.repeat(16);
      const created = await this.untilDone(client.run({ type: 'write', command: { type: 'CreateUser', user, password: { algorithm: 'scrypt', costN: 16, blockSizeR: 1, parallelP: 1, salt, hash: 'ab'.repeat(32) } } }));
      if (created?.type !== 'applied') throw new Error(`setup: creating ${user} did not apply`);
      const opened = await this.untilDone(
        client.run({ type: 'write', command: { type: 'OpenSession', user, sessionId, tokenHash, observed: { host: `10.0.0.${i + 1}`, port: 6881 }, reachable: true, credentialsIndex: created.index } }),
      );
      if (opened?.type !== 'applied' || opened.code !== 'OK') throw new Error(`setup: opening ${user}'s session failed (${JSON.stringify(opened)})`);
      this.users.push({ user, sessionId, tokenHash });
    }
  }

  /** Runs the simulation until `promise` settles. */
  private async untilDone<T>(promise: Promise<T>, maxMs = 60_000): Promise<T> {
    let done = false;
    let value: T | undefined;
    void promise.then((v) => {
      done = true;
      value = v;
    });
    const settled = await this.sim.runUntil(() => done, maxMs);
    if (!settled) throw new Error('simulation: an operation did not settle in time');
    return value as T;
  }

  /**
   * The group as the most advanced live node sees it. Only used to choose inputs that matter
   * (an accept by the owner, of a pending user); outputs are judged by the checker alone.
   */
  private peekGroup(group: string): { owner: string; pending: string[] } | null {
    let best: TrackerNode | null = null;
    for (const node of this.liveNodes().values()) if (!best || node.store.appliedIndex > best.store.appliedIndex) best = node;
    const detail = best ? groupMembership(best.store.state, group) : null;
    return detail ? { owner: detail.owner, pending: detail.requests.map((r) => r.user) } : null;
  }

  private startOp(requestedClient: number, spec: OpSpec): void {
    const group = GROUPS[spec.group % GROUPS.length]!;
    let clientIndex = requestedClient;
    let targetIndex = spec.kind === 'accept' ? spec.user : 0;
    if (spec.kind === 'accept' && (requestedClient + spec.user) % 4 !== 0) {
      // Mostly the owner answers a pending request; sometimes anyone asks anything.
      const peek = this.peekGroup(group);
      const owner = peek ? this.users.findIndex((u) => u.user === peek.owner) : -1;
      if (owner >= 0) clientIndex = owner;
      const pending = peek?.pending[0];
      if (pending !== undefined) targetIndex = this.users.findIndex((u) => u.user === pending);
    }
    const client = this.clients[clientIndex % this.clients.length]!;
    if (client.busy) return;
    const user = this.users[clientIndex % this.users.length]!;
    const auth = { sessionId: user.sessionId, tokenHash: user.tokenHash };
    let input: GroupInput;
    let op: ClientRequestOp;
    switch (spec.kind) {
      case 'create':
        input = { kind: 'create', group, user: user.user };
        op = { type: 'write', command: { type: 'CreateGroup', auth, group } };
        break;
      case 'join':
        input = { kind: 'join', group, user: user.user };
        op = { type: 'write', command: { type: 'RequestJoin', auth, group } };
        break;
      case 'leave':
        input = { kind: 'leave', group, user: user.user };
        op = { type: 'write', command: { type: 'LeaveGroup', auth, group } };
        break;
      case 'accept': {
        const target = this.users[targetIndex % this.users.length]!.user;
        input = { kind: 'accept', group, user: user.user, target };
        op = { type: 'write', command: { type: 'AcceptRequest', auth, group, user: target } };
        break;
      }
      case 'read':
        input = { kind: 'read', group, user: user.user };
        op = { type: 'read', group };
        break;
    }
    client.busy = true;
    const call = this.sim.elapsedMs();
    this.coverage.operations++;
    void client.run(op).then((outcome) => {
      client.busy = false;
      const output = outcome === null ? null : outcome.type === 'applied' ? outcome.code : outcome.type === 'read' ? outcome.value : null;
      if (output === null) this.coverage.unknownOutcomes++;
      this.history.push({ clientId: client.clientId, input, call, output, return: this.sim.elapsedMs() });
      this.trace(`${client.clientId} ${groupModel.describeOperation!(input, output)} (called at ${call})`);
    });
  }

  /** The host a step names: by index, or LEADER for the current leader (the first host if none). */
  private hostAt(index: number): Host {
    if (index === LEADER) return this.hosts.find((h) => h.node?.raft.status().role === 'leader') ?? this.hosts[0]!;
    return this.hosts[index % this.hosts.length]!;
  }

  private trace(line: string): void {
    this.sim.trace('sim', line);
  }

  private async applyStep(step: Step): Promise<void> {
    if (step.t !== 'wait' && step.t !== 'op') this.trace(describeStep(step));
    switch (step.t) {
      case 'op':
        this.startOp(step.client, step.op);
        break;
      case 'wait':
        await this.sim.runFor(step.ms);
        break;
      case 'partition': {
        const side = [...new Set(step.side.map((i) => this.hostAt(i).name))];
        const rest = this.nodeNames().filter((n) => !side.includes(n));
        if (rest.length === 0) break;
        this.sim.net.partition(side, rest, { symmetric: step.symmetric });
        this.coverage.partitions++;
        break;
      }
      case 'heal':
        this.sim.net.heal();
        break;
      case 'crash':
        this.crash(this.hostAt(step.node));
        break;
      case 'restart':
        await this.restart(this.hosts[step.node % this.hosts.length]!);
        break;
      case 'link':
        this.sim.net.setDefaultLink({
          dropProbability: step.drop,
          duplicateProbability: step.duplicate,
          reorderProbability: step.reorder,
          reorderDelayMs: 30,
          latencyMs: step.latencyMs,
          jitterMs: step.jitterMs,
        });
        break;
      case 'skew':
        this.sim.setClockSkew(this.hostAt(step.node).name, step.offsetMs, step.ratePpm);
        break;
      case 'transfer': {
        const leader = this.hosts.find((h) => h.node?.raft.status().role === 'leader');
        leader?.node?.transferLeadership(this.hosts[step.to % this.hosts.length]!.name);
        break;
      }
    }
    await this.sim.runFor(this.stepMs);
    this.observe();
  }

  private liveNodes(): Map<string, TrackerNode> {
    const nodes = new Map<string, TrackerNode>();
    for (const host of this.hosts) if (host.node) nodes.set(host.name, host.node);
    return nodes;
  }

  private observe(): void {
    const nodes = this.liveNodes();
    const before = this.checker.violations.length;
    this.checker.check(nodes);
    for (const violation of this.checker.violations.slice(before)) this.trace(`VIOLATION ${violation}`);
    for (const [name, node] of nodes) {
      if (node.raft.status().role === 'leader' && this.lastLeader !== name) {
        if (this.lastLeader !== null) this.coverage.leaderChanges++;
        this.lastLeader = name;
        this.trace(`leader ${name} (term ${node.raft.status().term})`);
      }
    }
  }

  /** Heals every fault, then a write must commit within `boundMs` and every node must converge. */
  private async recover(boundMs: number): Promise<number | null> {
    this.sim.net.heal();
    this.sim.net.setDefaultLink(PERFECT);
    for (const host of this.hosts) {
      this.sim.setClockSkew(host.name, 0, 0);
      if (host.crashed) await this.restart(host);
    }
    // Let outstanding client operations finish (they give up after their deadline at worst).
    await this.sim.runUntil(() => this.clients.every((c) => !c.busy), 10_000);
    const started = this.sim.elapsedMs();
    const client = this.clients[0]!;
    const user = this.users[0]!;
    let committed = false;
    void client
      .run({ type: 'write', command: { type: 'RequestJoin', auth: { sessionId: user.sessionId, tokenHash: user.tokenHash }, group: 'after-heal' } })
      .then((outcome) => {
        committed = outcome?.type === 'applied';
      });
    const inTime = await this.sim.runUntil(() => committed, boundMs);
    const recoveryMs = inTime ? this.sim.elapsedMs() - started : null;
    if (!inTime) this.checker.violations.push(`liveness: no write committed within ${boundMs} ms after healing`);
    // Every node converges on the same applied index and chain head.
    const converged = await this.sim.runUntil(() => {
      const heads = [...this.liveNodes().values()].map((n) => `${n.store.appliedIndex}/${n.store.chainHead}`);
      return heads.length === this.hosts.length && new Set(heads).size === 1;
    }, boundMs);
    if (!converged) this.checker.violations.push('convergence: nodes did not reach the same chain head after healing');
    this.observe();
    // No committed entry lost: whatever any node ever held as committed, every store applied.
    const maxCommitted = this.checker.maxCommitted();
    for (const [name, node] of this.liveNodes()) {
      if (node.store.appliedIndex < maxCommitted) this.checker.violations.push(`committed entry lost: ${name} applied ${node.store.appliedIndex} of ${maxCommitted} committed`);
    }
    return recoveryMs;
  }

  async run(): Promise<SimResult> {
    await this.setUp();
    for (const step of this.schedule.steps) await this.applyStep(step);
    const recoveryMs = await this.recover(10_000);
    for (const host of this.hosts) host.node?.stop();
    const counters = this.sim.counters();
    this.coverage.elections = this.checker.leadersSeen.size;
    this.coverage.packetsDropped = counters.packets.dropped;
    this.coverage.packetsDuplicated = counters.packets.duplicated;
    this.coverage.snapshotInstalls = this.sim.traceLines.filter((line) => line.includes('installed snapshot')).length;
    const linearizability = checkOperations(groupModel, this.history, { maxSearchSteps: 2_000_000 });
    return { violations: this.checker.violations.slice(), linearizability, history: this.history, coverage: this.coverage, recoveryMs, trace: this.sim.traceText() };
  }
}

function describeStep(step: Exclude<Step, { t: 'wait' | 'op' }>): string {
  const node = (index: number): string => (index === LEADER ? 'the leader' : `n${index + 1}`);
  switch (step.t) {
    case 'partition':
      return `partition ${step.side.map(node).join('+')} from the rest${step.symmetric ? '' : ' (one way)'}`;
    case 'heal':
      return 'heal partitions';
    case 'crash':
      return `crash ${node(step.node)}`;
    case 'restart':
      return `restart ${node(step.node)}`;
    case 'link':
      return `links: drop ${step.drop}, duplicate ${step.duplicate}, reorder ${step.reorder}, latency ${step.latencyMs}+${step.jitterMs} ms`;
    case 'skew':
      return `clock of ${node(step.node)}: ${step.offsetMs} ms off, ${step.ratePpm} ppm`;
    case 'transfer':
      return `transfer leadership to ${node(step.to)}`;
  }
}

function viewOf(state: TrackerState, group: string): string {
  const detail = groupMembership(state, group);
  if (!detail) return describeGroup(null);
  return describeGroup({ owner: detail.owner, members: detail.members.map((m) => m.user), pending: detail.requests.map((r) => r.user) });
}
