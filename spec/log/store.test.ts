// The tracker store: replay of the stored entries == the state apply built; snapshot + tail ==
// full replay; a simulated crash between any two writes never leaves events without their
// applied index or the reverse, and never loses a synced batch.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/torrent/canonical.js';
import { encodeState } from '../../src/log/domain/snapshot.js';
import { initialState } from '../../src/log/domain/state.js';
import { applyEntry } from '../../src/log/domain/entry.js';
import { MemoryPieceLists } from '../../src/log/domain/piece-lists.js';
import { auditStore } from '../../src/log/store/audit.js';
import { readMeta } from '../../src/log/store/read.js';
import { verifyStore } from '../../src/log/store/verify.js';
import { TrackerStore, type TermEntry } from '../../src/log/store/tracker-store.js';
import { RULES_VERSION } from '../../src/log/domain/rules.js';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import type { KvStore } from '../../src/world/world.js';
import { makeWorkload } from '../helpers/workload.js';

const stateText = (state: Parameters<typeof encodeState>[0]): string => canonicalJson(encodeState(state));

/** Splits entries into consecutive batches of the given sizes (cycled). */
function batches(entries: readonly TermEntry[], sizes: readonly number[]): TermEntry[][] {
  const out: TermEntry[][] = [];
  for (let at = 0, i = 0; at < entries.length; i++) {
    const size = Math.max(1, sizes[i % sizes.length] ?? 1);
    out.push(entries.slice(at, at + size));
    at += size;
  }
  return out;
}

async function openKv(world: SimWorld, host = 'node1'): Promise<KvStore> {
  return world.forHost(host).kv.open('/data/tracker', { createIfMissing: true });
}

async function fullReplay(kv: KvStore): Promise<string> {
  const { state } = await auditStore(kv, {}, () => {});
  return stateText(state);
}

describe('the tracker store', () => {
  it('replays its entries to the state apply built, with and without snapshots', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1_000_000 }), fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 8 }), fc.integer({ min: 3, max: 200 }), async (seed, sizes, every) => {
        const workload = makeWorkload(seed, 400);
        const world = new SimWorld({ seed });
        const kv = await openKv(world);
        const store = await TrackerStore.open(kv, { snapshotEveryEntries: every });
        for (const batch of batches(workload.entries, sizes)) await store.apply(batch, { sync: false });
        const expected = stateText(workload.reference);
        expect(workload.reference.groups.size + workload.reference.sessions.size).toBeGreaterThan(0);
        expect(stateText(store.state)).toBe(expected);
        // Full replay from genesis (the audit's path) equals apply.
        expect(await fullReplay(kv)).toBe(expected);
        // Snapshot + tail (a restart) equals full replay.
        const reopened = await TrackerStore.open(kv, { snapshotEveryEntries: every });
        expect(stateText(reopened.state)).toBe(expected);
        expect(reopened.chainHead).toBe(store.chainHead);
        // Repacking kept every line: the chain still verifies end to end.
        expect(await verifyStore(kv)).toMatchObject({ ok: true, entries: workload.entries.length, chainHead: store.chainHead });
        await kv.close();
      }),
      { numRuns: 25 },
    );
  });

  it('keeps no password or session token in any stored byte', async () => {
    const workload = makeWorkload(7, 300);
    const world = new SimWorld({ seed: 7 });
    const kv = await openKv(world);
    const store = await TrackerStore.open(kv, { snapshotEveryEntries: 50 });
    await store.apply(workload.entries, { sync: true });
    // A user registered the way a node does it: scrypt of the password with a salt from the rng.
    const host = world.forHost('node1');
    const password = `correct horse ${host.rng.id(12)}`;
    const salt = host.rng.bytes(16);
    const hash = await host.kdf.derive(password, salt, host.kdf.params);
    const { costN, blockSizeR, parallelP } = host.kdf.params;
    const record = { algorithm: 'scrypt' as const, costN, blockSizeR, parallelP, salt: Buffer.from(salt).toString('hex'), hash: Buffer.from(hash).toString('hex') };
    const index = store.appliedIndex + 1;
    await store.apply([{ index, term: 9, timeMs: 0, clientId: 'c', requestId: 1, rulesVersion: RULES_VERSION, command: { type: 'CreateUser', user: 'zoe', password: record } }], { sync: true });
    expect(store.state.users.get('zoe')?.password.hash).toBe(record.hash);
    await store.snapshot();
    workload.tokens.push(password);
    let bytes = '';
    for await (const chunk of kv.iterate({})) for (const [key, value] of chunk) bytes += key + Buffer.from(value).toString('latin1');
    expect(workload.tokens.length).toBeGreaterThan(10);
    for (const token of workload.tokens) expect(bytes.includes(token)).toBe(false);
    expect(bytes).toContain('st:u:zoe'); // the state records were written and searched too
  });

  it('survives a crash between any two writes: a suffix of unsynced batches is lost whole, never a synced one', async () => {
    const coverage = { crashes: 0, lostEntries: 0, keptUnsynced: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.array(fc.tuple(fc.integer({ min: 1, max: 12 }), fc.boolean()), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 5, max: 60 }),
        async (seed, plan, every) => {
          const workload = makeWorkload(seed, plan.reduce((sum, [size]) => sum + size, 0));
          const world = new SimWorld({ seed });
          let kv = await openKv(world);
          let store = await TrackerStore.open(kv, { snapshotEveryEntries: every });
          let at = 0;
          let syncedIndex = 0;
          const crashAfter = seed % plan.length;
          for (let i = 0; i < plan.length; i++) {
            const [size, sync] = plan[i]!;
            const batch = workload.entries.slice(at, at + size);
            at += size;
            await store.apply(batch, { sync });
            if (sync) syncedIndex = store.appliedIndex;
            if (i === crashAfter) break;
          }
          const appliedBeforeCrash = store.appliedIndex;
          world.crashHost('node1');
          coverage.crashes++;
          kv = await openKv(world);
          store = await TrackerStore.open(kv, { snapshotEveryEntries: every }); // throws if events and index disagree
          const meta = await readMeta(kv);
          expect(meta?.appliedIndex ?? 0).toBe(store.appliedIndex);
          expect(store.appliedIndex).toBeGreaterThanOrEqual(syncedIndex);
          coverage.lostEntries += appliedBeforeCrash - store.appliedIndex;
          if (store.appliedIndex > syncedIndex) coverage.keptUnsynced++;
          // The surviving state is exactly the reference state after that many entries.
          const reference = initialState();
          const pieces = new MemoryPieceLists();
          for (const entry of workload.entries.slice(0, store.appliedIndex)) pieces.record(applyEntry(reference, entry, pieces).entry.events);
          expect(stateText(store.state)).toBe(stateText(reference));
          expect((await verifyStore(kv)).ok).toBe(true);
          // And it carries on: the lost entries apply again (as Raft would re-apply them).
          await store.apply(workload.entries.slice(store.appliedIndex, at), { sync: true });
          expect(store.appliedIndex).toBe(at);
          await kv.close();
        },
      ),
      { numRuns: 60 },
    );
    // The runs did exercise both outcomes of a crash.
    expect(coverage.lostEntries).toBeGreaterThan(0);
    expect(coverage.keptUnsynced).toBeGreaterThan(0);
  });

  it('refuses to apply out of order', async () => {
    const world = new SimWorld({ seed: 1 });
    const store = await TrackerStore.open(await openKv(world));
    const { entries } = makeWorkload(1, 3);
    await expect(store.apply([entries[1]!], { sync: false })).rejects.toThrow(/entry 2 applied after 0/);
    expect(store.appliedIndex).toBe(0);
  });
});

describe('a command canonical JSON cannot encode', () => {
  it('is recorded as refused, and the store carries on', async () => {
    const world = new SimWorld({ seed: 3 });
    const kv = await openKv(world);
    const store = await TrackerStore.open(kv);
    const poison = [{ type: 'CreateGroup', n: 1.5 }, { type: 'CreateUser', user: 'x', big: 2 ** 60 }, { type: 'x', nested: { a: [NaN] } }];
    const entries: TermEntry[] = poison.map((command, i) => ({ index: i + 1, term: 1, timeMs: 0, clientId: 'c', requestId: i + 1, rulesVersion: RULES_VERSION, command }));
    entries.push({ index: 4, term: 1, timeMs: 0, clientId: 'c', requestId: 1.5, rulesVersion: RULES_VERSION, command: { type: 'CreateGroup' } }); // malformed request id
    const applied = await store.apply(entries, { sync: true });
    for (const a of applied) expect(a.entry.events.map((e) => e.type)).toEqual(['CommandRejected']);
    expect(applied[0]!.entry.command).toMatchObject({ type: '?', unencodable: '{"type":"CreateGroup","n":1.5}' });
    expect(applied[3]!.entry.clientId).toBeNull();
    const more = makeWorkload(5, 20).entries.map((e) => ({ ...e, index: e.index + 4 }));
    await store.apply(more, { sync: true });
    expect((await verifyStore(kv)).ok).toBe(true);
    expect(stateText((await TrackerStore.open(kv)).state)).toBe(stateText(store.state));
  });
});

describe('a store of a format this build does not know', () => {
  it('is refused with STORE_VERSION, and left as it is', async () => {
    const world = new SimWorld({ seed: 4 });
    const kv = await openKv(world);
    const store = await TrackerStore.open(kv);
    await store.apply([{ index: 1, term: 1, timeMs: 0, clientId: null, requestId: null, rulesVersion: RULES_VERSION, command: null }], { sync: true });
    const meta = JSON.parse(Buffer.from((await kv.get('meta'))!).toString()) as { v: number };
    const future = Buffer.from(JSON.stringify({ ...meta, v: meta.v + 1 }));
    await kv.batch([{ type: 'put', key: 'meta', value: future }], { sync: true });
    await expect(TrackerStore.open(kv)).rejects.toMatchObject({ code: 'STORE_VERSION' });
    expect(Buffer.from((await kv.get('meta'))!).equals(future)).toBe(true);
  });
});
