// A synchronous test network for the Raft core (after etcd-io/raft's raft_test.go `network`):
// every node's Ready is persisted to memory, its messages queued, its committed entries
// recorded, then messages are delivered in order until nothing moves. Filters drop messages.
// A leader's snapshot transfer (done by the caller, outside the core) is one InstallSnapshot
// message of its applied index, reported sent, or failed when a filter drops it.

import { Raft, type RaftConfig } from '../../src/raft/raft.js';
import type { Entry, HardState, Message, NodeId, ReadState, SnapshotMeta } from '../../src/raft/types.js';

export interface MemoryStorage {
  hardState: HardState;
  snapshot: SnapshotMeta | null;
  entries: Entry[];
  /** Everything applied, in order (snapshot installs appear as {index, term, data: 'SNAPSHOT'}). */
  applied: Entry[];
  readStates: ReadState[];
}

export type Filter = (message: Message) => boolean;

export class RaftNetwork {
  readonly nodes = new Map<NodeId, Raft>();
  readonly storage = new Map<NodeId, MemoryStorage>();
  /** Messages dropped by filters, for assertions. */
  readonly dropped: Message[] = [];
  readonly delivered: Message[] = [];
  private filters: Filter[] = [];
  private queue: Message[] = [];

  constructor(
    readonly ids: NodeId[],
    readonly options: Partial<RaftConfig> = {},
  ) {
    for (const id of ids) {
      this.storage.set(id, { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [], applied: [], readStates: [] });
      this.nodes.set(id, this.makeNode(id));
    }
  }

  config(id: NodeId): RaftConfig {
    return { id, voters: this.ids, electionTicks: 10, heartbeatTicks: 1, random: () => 0, ...this.options };
  }

  private makeNode(id: NodeId): Raft {
    const s = this.storage.get(id)!;
    return new Raft(this.config(id), { hardState: s.hardState, snapshot: s.snapshot, entries: s.entries.slice(), applied: s.applied[s.applied.length - 1]?.index ?? 0 });
  }

  node(id: NodeId): Raft {
    return this.nodes.get(id)!;
  }

  /** Replaces a node's durable state before it starts (for log scenarios), then restarts it. */
  load(id: NodeId, state: { term: number; vote?: NodeId | null; entries: Entry[]; commit?: number }): void {
    const s = this.storage.get(id)!;
    s.hardState = { term: state.term, vote: state.vote ?? null, commit: state.commit ?? 0 };
    s.entries = state.entries.slice();
    s.applied = [];
    this.nodes.set(id, this.makeNode(id));
  }

  /** Crash and restart from what was persisted. */
  restart(id: NodeId): void {
    this.nodes.set(id, this.makeNode(id));
  }

  filter(filter: Filter): void {
    this.filters.push(filter);
  }

  isolate(id: NodeId): void {
    this.filters.push((m) => m.from === id || m.to === id);
  }

  cut(a: NodeId, b: NodeId): void {
    this.filters.push((m) => (m.from === a && m.to === b) || (m.from === b && m.to === a));
  }

  heal(): void {
    this.filters = [];
  }

  /** Persists every Ready, queues messages, records applied entries. */
  private collect(): boolean {
    let moved = false;
    for (const [id, node] of this.nodes) {
      while (node.hasReady()) {
        moved = true;
        const rd = node.ready();
        const s = this.storage.get(id)!;
        if (rd.hardState) s.hardState = { ...rd.hardState };
        if (rd.snapshot) {
          s.snapshot = rd.snapshot;
          s.entries = s.entries.filter((e) => e.index > rd.snapshot!.index);
          s.applied.push({ index: rd.snapshot.index, term: rd.snapshot.term, data: 'SNAPSHOT' });
        }
        const first = rd.entries[0];
        if (first) s.entries = [...s.entries.filter((e) => e.index < first.index), ...rd.entries];
        this.queue.push(...rd.messages);
        s.applied.push(...rd.committedEntries);
        s.readStates.push(...rd.readStates);
        node.advance(rd);
        for (const to of rd.snapshotsToSend) this.transferSnapshot(node, to);
      }
    }
    return moved;
  }

  /** The caller's side of a snapshot: the leader's state at its applied index, whole, or lost. */
  private transferSnapshot(leader: Raft, to: NodeId): void {
    const { applied, term } = leader.status();
    const meta = { index: applied, term: leader.log.term(applied)! };
    const message: Message = { type: 'InstallSnapshot', from: leader.id, to, term, meta };
    if (this.filters.some((f) => f(message))) {
      this.dropped.push(message);
      leader.reportSnapshot(to, { sent: false });
      return;
    }
    this.delivered.push(message);
    this.nodes.get(to)?.step(message);
    leader.reportSnapshot(to, { sent: true, meta });
  }

  /** Delivers until quiet. Returns the number of messages delivered. */
  stabilize(maxRounds = 10_000): number {
    let count = 0;
    for (let round = 0; round < maxRounds; round++) {
      this.collect();
      if (this.queue.length === 0) return count;
      const batch = this.queue;
      this.queue = [];
      for (const m of batch) {
        if (this.filters.some((f) => f(m))) {
          this.dropped.push(m);
          continue;
        }
        this.delivered.push(m);
        this.nodes.get(m.to)?.step(structuredClone(m));
        count++;
      }
    }
    throw new Error('network did not stabilize');
  }

  /** Pending messages without delivering them (collects Ready first). */
  drain(): Message[] {
    this.collect();
    const out = this.queue;
    this.queue = [];
    return out;
  }

  tick(id: NodeId, times = 1): void {
    for (let i = 0; i < times; i++) this.node(id).tick();
  }

  /** Every node ticks once, then the network settles; repeated. */
  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const node of this.nodes.values()) node.tick();
      this.stabilize();
    }
  }

  /** Lets `id`'s election timeout expire and the election play out. */
  campaign(id: NodeId): void {
    this.tick(id, this.node(id).status().role === 'leader' ? 0 : this.config(id).electionTicks);
    this.stabilize();
  }

  propose(id: NodeId, data: string): ReturnType<Raft['propose']> {
    const result = this.node(id).propose(data);
    this.stabilize();
    return result;
  }

  leaders(): NodeId[] {
    return [...this.nodes].filter(([, n]) => n.status().role === 'leader').map(([id]) => id);
  }

  appliedData(id: NodeId): (string | null)[] {
    return this.storage.get(id)!.applied.map((e) => e.data);
  }
}

export function entries(...terms: number[]): Entry[] {
  return terms.map((term, i) => ({ index: i + 1, term, data: `e${i + 1}@${term}` }));
}
