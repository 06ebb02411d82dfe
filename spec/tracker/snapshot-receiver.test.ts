// The follower's side of a streamed snapshot (snapshot-transfer.ts), chunk by chunk: a newer
// transfer that begins before the older one has written anything gets a generation of its own
// (the older one's drop must not touch it); a late first chunk of the older transfer is refused;
// repeated and out-of-order chunks are answered with the last one written; the finished store is
// the sender's; a transfer whose sender goes quiet is abandoned and its copy dropped.

import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/torrent/canonical.js';
import { encodeState } from '../../src/log/domain/snapshot.js';
import { listGenerations } from '../../src/log/store/generations.js';
import { encodeBlob } from '../../src/log/store/snapshot-blob.js';
import type { StoreIntake, StreamedStoreMeta } from '../../src/log/store/snapshot-stream.js';
import { TrackerStore } from '../../src/log/store/tracker-store.js';
import { SnapshotReceiver, type SnapshotAck, type SnapshotChunk } from '../../src/tracker/snapshot-transfer.js';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import type { KvEntry } from '../../src/world/world.js';
import { makeWorkload } from '../helpers/workload.js';

async function setup() {
  const sim = new SimWorld({ seed: 5 });
  const world = sim.forHost('follower');
  const entries = makeWorkload(5, 120).entries;
  const leader = await TrackerStore.open(await world.kv.open('/leader', { createIfMissing: true }));
  await leader.apply(entries, { sync: false });
  const chunks: KvEntry[][] = [];
  for await (const chunk of leader.exportRecords(512)) chunks.push(chunk);
  const storeKv = await world.kv.open('/follower', { createIfMissing: true });
  const acks: SnapshotAck[] = [];
  const staged: { meta: StreamedStoreMeta; intake: StoreIntake }[] = [];
  const logs: string[] = [];
  const receiver = new SnapshotReceiver({
    world,
    wire: { sendSnapshotChunk: () => {}, sendSnapshotAck: (_to, ack) => acks.push(ack) },
    storeKv,
    term: () => 1,
    staged: (_from, _term, meta, intake) => {
      staged.push({ meta, intake });
      return true;
    },
    log: (event) => logs.push(event),
  });
  const chunk = (transferId: string, ordinal: number, seq: number): SnapshotChunk => ({ transferId, term: 1, ordinal, seq, records: encodeBlob(chunks[seq]!), done: seq === chunks.length - 1 });
  /** Lets the receiver's writes (real promises on the simulated LevelDB) run to their end. */
  const settle = async () => {
    for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
  };
  return { sim, leader, chunks, storeKv, acks, staged, logs, receiver, chunk, settle };
}

describe('the snapshot receiver', () => {
  it('gives a newer transfer its own generation, refuses the older one\'s late start, and installs the sender\'s store', async () => {
    const t = await setup();
    expect(t.chunks.length).toBeGreaterThan(5);
    t.receiver.onChunk('n1', t.chunk('1.1.a', 1, 0));
    t.receiver.onChunk('n1', t.chunk('1.2.b', 2, 0)); // before the first has written a byte
    t.receiver.onChunk('n1', t.chunk('1.1.a', 1, 0)); // the older one's first chunk, late
    await t.settle();
    expect(t.acks.filter((a) => a.transferId === '1.1.a').map((a) => a.ok)).toEqual([false]);
    for (let seq = 1; seq < t.chunks.length; seq++) {
      t.receiver.onChunk('n1', t.chunk('1.2.b', 2, seq));
      if (seq === 2) t.receiver.onChunk('n1', t.chunk('1.2.b', 2, 1)); // repeated
      if (seq === 3) t.receiver.onChunk('n1', t.chunk('1.2.b', 2, 5)); // ahead of its turn
      await t.settle();
    }
    const answers = t.acks.filter((a) => a.transferId === '1.2.b');
    expect(answers.every((a) => a.ok)).toBe(true);
    expect(answers.map((a) => a.seq)).toEqual([...Array(t.chunks.length).keys()].flatMap((seq) => (seq === 2 || seq === 3 ? [seq, seq - 1] : [seq])).sort((a, b) => a - b));
    expect(t.staged).toHaveLength(1);
    const { meta, intake } = t.staged[0]!;
    expect(meta.index).toBe(t.leader.appliedIndex);
    expect(intake.generation).toBe(2); // the first transfer's was 1
    const { dropped } = await intake.commit();
    await dropped;
    await t.settle();
    expect(await listGenerations(t.storeKv)).toEqual([2]); // the abandoned first one is gone
    const installed = await TrackerStore.open(t.storeKv);
    expect(canonicalJson(encodeState(installed.state))).toBe(canonicalJson(encodeState(t.leader.state)));
  });

  it('abandons a transfer whose sender went quiet, and drops what arrived', async () => {
    const t = await setup();
    for (let seq = 0; seq < 3; seq++) t.receiver.onChunk('n1', t.chunk('1.1.a', 1, seq));
    await t.settle();
    expect(await listGenerations(t.storeKv)).toEqual([1]);
    await t.sim.runFor(121_000);
    await t.settle();
    expect(t.logs).toContain('snapshot_receive_abandoned');
    expect(await listGenerations(t.storeKv)).toEqual([]);
    // A later chunk of it is refused: the sender must start over.
    t.receiver.onChunk('n1', t.chunk('1.1.a', 1, 4));
    expect(t.acks.at(-1)).toEqual({ transferId: '1.1.a', seq: 4, ok: false });
  });
});
