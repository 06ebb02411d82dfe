// Why this file exists: three TrackerNodes on one SimWorld, their messages delivered a
// millisecond later unless a node is cut off, and writes through whichever leads: the harness of
// the node-level tests (compaction by bytes, shared reads) that need no client protocol.

import { TrackerNode, type TrackerNodeConfig } from '../../src/tracker/tracker-node.js';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import type { Message } from '../../src/raft/types.js';
import type { Command } from '../../src/log/domain/commands.js';
import type { SnapshotAck, SnapshotChunk } from '../../src/tracker/snapshot-transfer.js';

const IDS = ['n1', 'n2', 'n3'];

interface Handlers {
  raft?: (from: string, message: Message) => void;
  chunk?: (from: string, chunk: SnapshotChunk) => void;
  ack?: (from: string, ack: SnapshotAck) => void;
}
export const password = { algorithm: 'scrypt', costN: 16, blockSizeR: 8, parallelP: 1, salt: '11'.repeat(16), hash: '22'.repeat(32) } as const;
/** A CreateUser entry is about 300 bytes of proposal. */
export const createUser = (i: number): Command => ({ type: 'CreateUser', user: `user-${i}`, password });

export async function startNodes(options: Partial<Pick<TrackerNodeConfig, 'compactEveryBytes' | 'compactEveryEntries'>>) {
  const sim = new SimWorld({ seed: 3 });
  const handlers = new Map<string, Handlers>();
  const cut = new Set<string>();
  const logs: string[] = [];
  const nodes = new Map<string, TrackerNode>();
  /** Delivers a copy to `to`'s handler a millisecond later, unless either end is cut off. */
  const deliver = <T>(from: string, to: string, value: T, pick: (h: Handlers) => ((from: string, value: T) => void) | undefined): void => {
    if (cut.has(from) || cut.has(to)) return;
    const copy = structuredClone(value);
    sim.after(1, () => {
      const handler = handlers.get(to);
      if (!cut.has(to) && handler) pick(handler)?.(from, copy);
    });
  };
  for (const id of IDS) {
    const world = sim.forHost(id);
    const own: Handlers = {};
    handlers.set(id, own);
    const node = await TrackerNode.start({
      id,
      voters: IDS,
      world,
      transport: {
        send: (message) => deliver(id, message.to, message, (h) => h.raft),
        sendSnapshotChunk: (to, chunk) => deliver(id, to, chunk, (h) => h.chunk),
        sendSnapshotAck: (to, ack) => deliver(id, to, ack, (h) => h.ack),
        onMessage: (handler) => (own.raft = (_from, message: Message) => handler(message)),
        onSnapshotChunk: (handler) => (own.chunk = handler),
        onSnapshotAck: (handler) => (own.ack = handler),
        close: () => handlers.delete(id),
      },
      raftKv: await world.kv.open('/data/raft', { createIfMissing: true }),
      storeKv: await world.kv.open('/data/tracker', { createIfMissing: true }),
      tickMs: 10,
      electionTicks: 10,
      heartbeatTicks: 1,
      snapshotChunkBytes: 4096,
      ...options,
      log: (event, fields) => logs.push(`${id} ${event} ${JSON.stringify(fields)}`),
    });
    nodes.set(id, node);
  }
  const leader = (): TrackerNode | undefined => [...nodes.values()].find((n) => n.raft.status().role === 'leader' && !cut.has(n.raft.id));
  return { sim, nodes, cut, logs, leader };
}

export type SimNodes = Awaited<ReturnType<typeof startNodes>>;

/** Writes `count` CreateUser entries through the leader, one after another. */
export async function write(c: SimNodes, from: number, count: number): Promise<void> {
  for (let i = from; i < from + count; i++) {
    let done = false;
    for (;;) {
      await c.sim.runUntil(() => c.leader() !== undefined, 10_000);
      const outcome = c.leader()!.submit('client', i, createUser(i));
      outcome.then(() => (done = true), () => (done = true));
      await c.sim.runUntil(() => done, 10_000);
      if ((await outcome).kind === 'applied') break;
      done = false;
    }
  }
}

