// A store streamed to another node (snapshot-stream.ts, generations.ts): the receiver ends with
// the sender's state at the index its stream began, though the sender applied more meanwhile;
// its own store stays current until the last record is durable; a crash halfway leaves its old
// store whole and the half-arrived one is dropped at the next open; a stream that is not a
// store is refused without touching anything.

import { describe, expect, it } from 'vitest';
import { encodeState } from '../../src/log/domain/snapshot.js';
import { canonicalJson } from '../../src/torrent/canonical.js';
import { currentGeneration, listGenerations } from '../../src/log/store/generations.js';
import { SnapshotBlobError } from '../../src/log/store/snapshot-blob.js';
import { StoreIntake } from '../../src/log/store/snapshot-stream.js';
import { TrackerStore, type TermEntry } from '../../src/log/store/tracker-store.js';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import type { KvEntry, KvStore } from '../../src/world/world.js';
import { makeWorkload } from '../helpers/workload.js';

const encoder = new TextEncoder();

async function storeWith(kv: KvStore, entries: readonly TermEntry[]): Promise<TrackerStore> {
  const store = await TrackerStore.open(kv, { snapshotEveryEntries: 25 });
  for (let at = 0; at < entries.length; at += 7) await store.apply(entries.slice(at, at + 7), { sync: false });
  return store;
}

async function allKeys(kv: KvStore): Promise<string[]> {
  const keys: string[] = [];
  for await (const chunk of kv.iterate({})) for (const [key] of chunk) keys.push(key);
  return keys;
}

function setup(seed: number) {
  const host = new SimWorld({ seed }).forHost('node1');
  return { open: (path: string) => host.kv.open(path, { createIfMissing: true }), entries: makeWorkload(seed, 300).entries };
}

describe('a store streamed to a follower', () => {
  it('arrives as the sender stood when the stream began, while the sender applies on, and replaces the receiver\'s own store', async () => {
    const { open, entries } = setup(7);
    const leader = await storeWith(await open('/leader'), entries.slice(0, 200));
    const receiverKv = await open('/follower');
    const behind = await storeWith(receiverKv, entries.slice(0, 40)); // its own, older store (generation 0)
    expect(behind.appliedIndex).toBe(40);
    const stateAt200 = canonicalJson(encodeState(leader.state));

    const stream = leader.exportRecords(4096);
    const first = await stream.next(); // the iterator, and its snapshot, open here
    await leader.apply(entries.slice(200), { sync: false }); // the leader goes on
    expect(leader.appliedIndex).toBe(300);
    const intake = await StoreIntake.begin(receiverKv);
    let chunks = 0;
    for (let chunk = first; !chunk.done; chunk = await stream.next()) {
      await intake.write(chunk.value);
      chunks++;
      expect(await currentGeneration(receiverKv)).toBe(0); // its own store stays current until commit
    }
    expect(chunks).toBeGreaterThan(3); // chunked, not one blob
    expect(await intake.finish()).toEqual({ index: 200, term: entries[199]!.term });
    const { dropped } = await intake.commit();
    await dropped;
    expect(await currentGeneration(receiverKv)).toBe(1);

    const installed = await TrackerStore.open(receiverKv, { snapshotEveryEntries: 25 });
    expect(installed.appliedIndex).toBe(200);
    expect(canonicalJson(encodeState(installed.state))).toBe(stateAt200);
    expect(installed.chainHead).not.toBe(behind.chainHead);
    // It applies on from there like the leader did, to the same state.
    await installed.apply(entries.slice(200), { sync: false });
    expect(installed.chainHead).toBe(leader.chainHead);
    expect(canonicalJson(encodeState(installed.state))).toBe(canonicalJson(encodeState(leader.state)));
    // Nothing of the old store is left: only the root key and generation 1.
    expect((await allKeys(receiverKv)).filter((key) => key !== 'generation' && !key.startsWith('g1/'))).toEqual([]);
  });

  it('a crash halfway leaves the old store current, and the next open drops what arrived', async () => {
    const { open, entries } = setup(8);
    const leader = await storeWith(await open('/leader'), entries.slice(0, 150));
    let receiverKv = await open('/follower');
    const behind = await storeWith(receiverKv, entries.slice(0, 30));
    const behindState = canonicalJson(encodeState(behind.state));
    const intake = await StoreIntake.begin(receiverKv);
    let written = 0;
    for await (const chunk of leader.exportRecords(2048)) {
      await intake.write(chunk);
      if (++written === 3) break; // the leader is gone, or this node dies: never finished
    }
    expect(await listGenerations(receiverKv)).toEqual([1]);
    await receiverKv.close();
    receiverKv = await open('/follower');
    const reopened = await TrackerStore.open(receiverKv, { snapshotEveryEntries: 25, dropLeftovers: true });
    expect(reopened.appliedIndex).toBe(30);
    expect(canonicalJson(encodeState(reopened.state))).toBe(behindState);
    await reopened.leftoversDropped;
    expect(await listGenerations(receiverKv)).toEqual([]);
    // The next intake takes a number never used, and installs as usual.
    const next = await StoreIntake.begin(receiverKv);
    expect(next.generation).toBe(1);
  });

  it('refuses a stream that is not a store, and the current store stays as it was', async () => {
    const { open, entries } = setup(9);
    const receiverKv = await open('/follower');
    const own = await storeWith(receiverKv, entries.slice(0, 20));
    const state = canonicalJson(encodeState(own.state));
    const notMeta: KvEntry = ['st:u:alice', encoder.encode('{}')];
    await expect((await StoreIntake.begin(receiverKv)).write([notMeta])).rejects.toThrow(SnapshotBlobError);
    const leader = await storeWith(await open('/leader'), entries.slice(0, 50));
    const stream = leader.exportRecords(1 << 20);
    const [meta] = (await stream.next()).value as KvEntry[];
    const intake = await StoreIntake.begin(receiverKv);
    await expect(intake.write([meta!, ['raft:hard', encoder.encode('{}')]])).rejects.toThrow(/unexpected key raft:hard/);
    await expect(intake.write([['meta', meta![1]]])).rejects.toThrow(/unexpected key meta/); // a second meta record
    await expect((await StoreIntake.begin(receiverKv)).finish()).rejects.toThrow(/empty store stream/);
    expect(await currentGeneration(receiverKv)).toBe(0);
    const reopened = await TrackerStore.open(receiverKv, { snapshotEveryEntries: 25 });
    expect(canonicalJson(encodeState(reopened.state))).toBe(state);
  });
});
