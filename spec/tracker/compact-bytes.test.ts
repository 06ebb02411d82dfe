// The Raft log a node holds in memory is bounded by bytes as well as by entries: a node compacts
// once its applied entries pass compactEveryBytes, however few they are, and a follower cut off
// meanwhile catches up by a snapshot streamed in chunks (snapshot-transfer.ts) to the leader's state. Three TrackerNodes on
// one SimWorld, messages delivered a millisecond later unless a node is cut off.

import { describe, expect, it } from 'vitest';
import { TrackerNode } from '../../src/tracker/tracker-node.js';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import { allRecords } from '../../src/log/domain/records.js';
import type { Message } from '../../src/raft/types.js';
import type { Command } from '../../src/log/domain/commands.js';
import type { SnapshotAck, SnapshotChunk } from '../../src/tracker/snapshot-transfer.js';

const IDS = ['n1', 'n2', 'n3'];

interface Handlers {
  raft?: (from: string, message: Message) => void;
  chunk?: (from: string, chunk: SnapshotChunk) => void;
  ack?: (from: string, ack: SnapshotAck) => void;
}
const password = { algorithm: 'scrypt', costN: 16, blockSizeR: 8, parallelP: 1, salt: '11'.repeat(16), hash: '22'.repeat(32) } as const;
/** A CreateUser entry is about 300 bytes of proposal. */
const createUser = (i: number): Command => ({ type: 'CreateUser', user: `user-${i}`, password });

async function startCluster(options: { compactEveryBytes?: number; compactEveryEntries?: number }) {
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

/** Writes `count` CreateUser entries through the leader, one after another. */
async function write(c: Awaited<ReturnType<typeof startCluster>>, from: number, count: number): Promise<void> {
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

describe('compaction by bytes', () => {
  it('a node compacts once its applied entries pass compactEveryBytes, long before compactEveryEntries', async () => {
    const c = await startCluster({ compactEveryBytes: 20_000, compactEveryEntries: 1_000_000 });
    await write(c, 0, 150); // about 45,000 bytes of entries
    await c.sim.runFor(200);
    for (const node of c.nodes.values()) {
      const status = node.raft.status();
      expect(status.snapshotIndex, node.raft.id).toBeGreaterThan(0);
      // What it holds after the last compaction is under the bound (plus the entries since).
      expect(node.raft.log.heldBytes(), node.raft.id).toBeLessThan(20_000 + 1_000);
      expect(c.logs.filter((l) => l.startsWith(`${node.raft.id} store_snapshot`)).length, node.raft.id).toBeGreaterThanOrEqual(2);
    }
  });

  it('without the byte bound, the same writes compact nothing', async () => {
    const c = await startCluster({ compactEveryBytes: 10_000_000, compactEveryEntries: 1_000_000 });
    await write(c, 0, 150);
    await c.sim.runFor(200);
    for (const node of c.nodes.values()) {
      expect(node.raft.status().snapshotIndex).toBe(0);
      expect(node.raft.log.heldBytes()).toBeGreaterThan(40_000);
    }
  });

  it('a follower cut off while the log is compacted by bytes past it catches up by snapshot', async () => {
    const c = await startCluster({ compactEveryBytes: 20_000, compactEveryEntries: 1_000_000 });
    await write(c, 0, 5);
    const follower = [...c.nodes.values()].find((n) => n.raft.status().role !== 'leader')!;
    const behind = follower.store.appliedIndex;
    c.cut.add(follower.raft.id);
    await write(c, 5, 200);
    const leader = c.leader()!;
    expect(leader.raft.status().snapshotIndex).toBeGreaterThan(behind + 100); // the entries it lacks are gone from the leader's log
    c.cut.delete(follower.raft.id);
    const sent = (): number => c.logs.filter((l) => l.startsWith(`${leader.raft.id} snapshot_sent`)).length;
    await c.sim.runUntil(() => follower.store.appliedIndex === leader.store.appliedIndex && sent() > 0, 30_000);
    expect(follower.store.appliedIndex).toBe(leader.store.appliedIndex);
    expect(c.logs.filter((l) => l.startsWith(`${leader.raft.id} snapshot_sent`)).length).toBeGreaterThanOrEqual(1);
    expect(c.logs.filter((l) => l.startsWith(`${follower.raft.id} snapshot_installed`)).length).toBeGreaterThanOrEqual(1);
    expect(follower.raft.status().snapshotIndex).toBeGreaterThan(behind + 100); // it holds the snapshot, not the entries
    expect(follower.store.chainHead).toBe(leader.store.chainHead);
    expect([...allRecords(follower.store.state)]).toEqual([...allRecords(leader.store.state)]);
    // And it goes on from there: a later write applies everywhere.
    await write(c, 205, 1);
    await c.sim.runUntil(() => follower.store.appliedIndex === leader.store.appliedIndex, 10_000);
    expect(follower.store.state.users.has('user-205')).toBe(true);
  });
});
