// The simulated LevelDB: batches visible at once, a crash loses only a suffix of the unsynced
// batches (whole), never a synced one; LOCKED, NOT_FOUND, CRASHED; ordered chunked iteration.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import { isWorldError, type KvOp, type KvStore } from '../../src/world/world.js';

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);

async function readAll(store: KvStore, chunkSize = 3): Promise<Map<string, number>> {
  const state = new Map<string, number>();
  for await (const chunk of store.iterate({}, chunkSize)) {
    expect(chunk.length).toBeGreaterThan(0);
    expect(chunk.length).toBeLessThanOrEqual(chunkSize);
    for (const [key, value] of chunk) state.set(key, value[0] ?? -1);
  }
  return state;
}

function applyModel(state: Map<string, number>, ops: readonly KvOp[]): Map<string, number> {
  const next = new Map(state);
  for (const op of ops) {
    if (op.type === 'put') next.set(op.key, op.value[0] ?? -1);
    else next.delete(op.key);
  }
  return next;
}

const opArbitrary: fc.Arbitrary<KvOp> = fc.oneof(
  fc.record({ type: fc.constant('put' as const), key: fc.constantFrom('a', 'b', 'c', 'd'), value: fc.integer({ min: 0, max: 255 }).map((v) => bytes(v)) }),
  fc.record({ type: fc.constant('del' as const), key: fc.constantFrom('a', 'b', 'c', 'd') }),
);
const batchArbitrary = fc.record({ ops: fc.array(opArbitrary, { minLength: 1, maxLength: 4 }), sync: fc.boolean() });

describe('simulated kv', () => {
  it('a crash keeps a prefix of the batches that includes every synced one', async () => {
    let lostSome = 0;
    let keptSomeUnsynced = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(batchArbitrary, { maxLength: 12 }), fc.integer(), async (batches, seed) => {
        const sim = new SimWorld({ seed });
        const store = await sim.forHost('n1').kv.open('/data/db', { createIfMissing: true });
        const prefixStates = [new Map<string, number>()];
        let lastSynced = 0; // number of batches up to and including the last synced one
        for (const [i, batch] of batches.entries()) {
          await store.batch(batch.ops, { sync: batch.sync });
          const state = applyModel(prefixStates[i] ?? new Map(), batch.ops);
          prefixStates.push(state);
          if (batch.sync) lastSynced = i + 1;
          expect(await readAll(store)).toEqual(state); // visible at once, synced or not
        }
        sim.crashHost('n1');
        await expect(store.get('a')).rejects.toSatisfy((e: unknown) => isWorldError(e, 'CRASHED'));
        const reopened = await sim.forHost('n1').kv.open('/data/db', { createIfMissing: false });
        const survived = await readAll(reopened);
        const keptCounts = prefixStates.flatMap((state, count) => (count >= lastSynced && mapsEqual(state, survived) ? [count] : []));
        expect(keptCounts.length).toBeGreaterThan(0);
        if (!mapsEqual(survived, prefixStates[batches.length] ?? new Map())) lostSome++;
        if (keptCounts.some((count) => count > lastSynced)) keptSomeUnsynced++;
        // What survived a crash is durable: a second crash with no new writes loses nothing.
        sim.crashHost('n1');
        expect(await readAll(await sim.forHost('n1').kv.open('/data/db', { createIfMissing: false }))).toEqual(survived);
      }),
      { numRuns: 150 },
    );
    expect(lostSome).toBeGreaterThan(0);
    expect(keptSomeUnsynced).toBeGreaterThan(0);
  });

  it('loses nothing that a later sync batch covered', async () => {
    for (let seed = 0; seed < 20; seed++) {
      const sim = new SimWorld({ seed });
      const store = await sim.forHost('h').kv.open('db', { createIfMissing: true });
      await store.batch([{ type: 'put', key: 'x', value: bytes(1) }], { sync: false });
      await store.batch([{ type: 'put', key: 'y', value: bytes(2) }], { sync: true });
      await store.batch([{ type: 'put', key: 'x', value: bytes(3) }], { sync: false });
      sim.crashHost('h');
      const after = await sim.forHost('h').kv.open('db', { createIfMissing: false });
      expect([1, 3]).toContain((await after.get('x'))?.[0]);
      expect(await after.get('y')).toEqual(bytes(2));
    }
  });

  it('refuses a second open (LOCKED) and an unknown path without createIfMissing (NOT_FOUND)', async () => {
    const sim = new SimWorld({ seed: 1 });
    const kv = sim.forHost('h').kv;
    await expect(kv.open('/never', { createIfMissing: false })).rejects.toSatisfy((e: unknown) => isWorldError(e, 'NOT_FOUND'));
    const first = await kv.open('/db', { createIfMissing: true });
    await expect(kv.open('/db/', { createIfMissing: true })).rejects.toSatisfy((e: unknown) => isWorldError(e, 'LOCKED'));
    // Paths are per host.
    await (await sim.forHost('other').kv.open('/db', { createIfMissing: true })).close();
    await first.close();
    await expect(first.get('k')).rejects.toSatisfy((e: unknown) => isWorldError(e, 'CLOSED'));
    const second = await kv.open('/db', { createIfMissing: false });
    sim.crashHost('h');
    // The crash released the lock for the restarted process.
    await sim.forHost('h').kv.open('/db', { createIfMissing: false });
    await expect(second.batch([], { sync: true })).rejects.toSatisfy((e: unknown) => isWorldError(e, 'CRASHED'));
    await expect(kv.open('/db', { createIfMissing: true })).rejects.toSatisfy((e: unknown) => isWorldError(e, 'CRASHED'));
  });

  it('iterates ranges in UTF-8 byte order, in chunks, forward and reverse', async () => {
    const sim = new SimWorld({ seed: 1 });
    const store = await sim.forHost('h').kv.open('/db', { createIfMissing: true });
    // UTF-16 would put U+10000 before U+FFFF; UTF-8 bytes put it after.
    const keys = ['a', 'b', 'c', 'é', '\uffff', '\u{10000}'];
    await store.batch(
      keys.map((key, i) => ({ type: 'put' as const, key, value: bytes(i) })),
      { sync: true },
    );
    const collect = async (range: Parameters<KvStore['iterate']>[0], chunkSize?: number) => {
      const seen: string[] = [];
      for await (const chunk of store.iterate(range, chunkSize)) for (const [key] of chunk) seen.push(key);
      return seen;
    };
    expect(await collect({}, 2)).toEqual(keys);
    expect(await collect({ gt: 'a', lte: 'c' })).toEqual(['b', 'c']);
    expect(await collect({ gte: 'b', reverse: true, limit: 2 }, 1)).toEqual(['\u{10000}', '\uffff']);
  });

  it('copies values in and out', async () => {
    const sim = new SimWorld({ seed: 1 });
    const store = await sim.forHost('h').kv.open('/db', { createIfMissing: true });
    const value = bytes(1, 2, 3);
    await store.batch([{ type: 'put', key: 'k', value }], { sync: false });
    value[0] = 99;
    const read = await store.get('k');
    expect(read).toEqual(bytes(1, 2, 3));
    if (read !== undefined) read[1] = 99;
    expect(await store.get('k')).toEqual(bytes(1, 2, 3));
    expect(await store.get('missing')).toBeUndefined();
  });
});

function mapsEqual(x: ReadonlyMap<string, number>, y: ReadonlyMap<string, number>): boolean {
  return x.size === y.size && [...x].every(([key, value]) => y.get(key) === value);
}
