// Piece lists kept out of memory (issue 20): a store that keeps them on disk only decides every
// entry and answers every file query exactly as an in-memory model that holds every list does,
// with snapshots, restarts and a catch-up by exported snapshot (a follower's) in between. A
// restart opens the store as a node does, with every group's files left on disk until an entry
// or a query needs them (filesOnDemand), and a bound on the files it keeps sends the least
// recently used groups' back to disk (maxFilesInMemory): queries then ask only some groups, so later entries
// apply to groups whose files are still on disk, and at the end the whole state is the model's. Reports
// with real and wrong evidence are mixed into the workload, so decide reads lists from disk. Both
// keep a file's empty collections as the shared empty maps, however they got there.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/torrent/canonical.js';
import { applyEntry, type AppliedEntry } from '../../src/log/domain/entry.js';
import { MemoryPieceLists } from '../../src/log/domain/piece-lists.js';
import { fileDetail } from '../../src/log/domain/queries.js';
import { groupsTouched } from '../../src/log/domain/groups-touched.js';
import { encodeState } from '../../src/log/domain/snapshot.js';
import { filesLoaded, initialState, NO_DELISTINGS, NO_HOLDERS, NO_REPORTS, type TrackerState } from '../../src/log/domain/state.js';
import { TrackerStore } from '../../src/log/store/tracker-store.js';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import { FILES, GROUPS, makeWorkload, USERS, withReports } from '../helpers/workload.js';

/** Every file query a member could ask in `groups`, and each list by id, as text to compare. */
async function answers(state: TrackerState, pieceList: (fileId: string) => Promise<string | undefined> | string | undefined, groups: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const group of groups) {
    for (const viewer of USERS) for (const file of FILES) out.push(canonicalJson(fileDetail(state, viewer, group, { fileId: file.fileId })));
  }
  for (const file of FILES) out.push(`${file.fileId} ${(await pieceList(file.fileId)) ?? 'none'}`);
  return out;
}

/** Files whose empty collections are maps of their own, not the shared empties (state.ts): memory a million files cannot spare. */
function ownEmptyMaps(state: TrackerState): string[] {
  const out: string[] = [];
  for (const group of state.groups.values()) {
    if (!filesLoaded(group)) continue; // still on disk: checked once read
    for (const file of group.files.values()) {
      if ((file.holders.size === 0) !== (file.holders === NO_HOLDERS)) out.push(`${file.name} holders`);
      if ((file.reports.size === 0) !== (file.reports === NO_REPORTS)) out.push(`${file.name} reports`);
      if ((file.delisted.size === 0) !== (file.delisted === NO_DELISTINGS)) out.push(`${file.name} delisted`);
    }
  }
  return out;
}

describe('piece lists kept on disk', () => {
  it('decide and answer as when every list is in memory, through snapshots, restarts and snapshot catch-ups', async () => {
    const seen = { reported: 0, badEvidence: 0, reopened: 0, imported: 0, detailsWithHolders: 0, appliedToFilesOnDisk: 0, evicted: 0 };
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 3, max: 60 }), fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 200, maxLength: 200 }), fc.integer({ min: 0, max: 7 }), async (seed, every, steps, bound) => {
        const entries = withReports(makeWorkload(seed, 400).entries, seed);
        const reference = initialState();
        const lists = new MemoryPieceLists();
        const expected: AppliedEntry[] = entries.map((entry) => {
          const { entry: applied } = applyEntry(reference, entry, lists);
          lists.record(applied.events);
          return applied;
        });
        // A second reference, replayed to each batch's end, for the queries in between.
        const model = initialState();
        const modelLists = new MemoryPieceLists();
        const world = new SimWorld({ seed });
        const host = world.forHost('node1');
        let path = '/data/tracker';
        let kv = await host.kv.open(path, { createIfMissing: true });
        let store = await TrackerStore.open(kv, { snapshotEveryEntries: every });
        let at = 0;
        let prefetching = Promise.resolve();
        for (const step of steps) {
          if (at >= entries.length) break;
          const batch = entries.slice(at, at + 1 + step * 2);
          // Entries that touch a group whose files are still on disk (the store reads them first).
          const onDisk = (group: string): boolean => store.state.groups.has(group) && !filesLoaded(store.state.groups.get(group)!);
          if (batch.some((entry) => groupsTouched(store.state, entry.command).some(onDisk))) seen.appliedToFilesOnDisk++;
          // The entries about to commit read their groups ahead, as a node's log hands them on (a hint apply does not rely on).
          if (step % 3 === 0) prefetching = store.prefetch(entries.slice(at, at + 1 + step * 3));
          // Unsynced batches may be lost by a restart (Raft would apply them again): the one before a restart is synced.
          const applied = await store.apply(batch, { sync: step % 2 === 0 || step === 7 });
          for (const [i, result] of applied.entries()) {
            expect(canonicalJson(result.entry)).toBe(canonicalJson(expected[at + i]!));
            const events = result.entry.events;
            if (events.some((e) => e.type === 'HolderReported')) seen.reported++;
            if (events.some((e) => e.type === 'CommandRejected' && e.code === 'BAD_EVIDENCE')) seen.badEvidence++;
            modelLists.record(applyEntry(model, batch[i]!, modelLists).entry.events);
          }
          at += batch.length;
          if (step === 7) {
            // A restart: the projection from snapshot + tail, the lists from disk.
            await kv.close();
            kv = await host.kv.open(path, { createIfMissing: false });
            seen.evicted += store.groupsEvicted;
            store = await TrackerStore.open(kv, { snapshotEveryEntries: every, filesOnDemand: true, maxFilesInMemory: bound });
            seen.reopened++;
          } else if (step === 8) {
            // A follower catching up by the leader's exported snapshot, into an empty store.
            const blob = await store.exportSnapshot();
            path = `/data/follower-${at}`;
            const fresh = await host.kv.open(path, { createIfMissing: true });
            seen.evicted += store.groupsEvicted;
            store = await TrackerStore.importSnapshot(fresh, blob, { snapshotEveryEntries: every, filesOnDemand: true, maxFilesInMemory: bound });
            await kv.close();
            kv = fresh;
            seen.imported++;
          }
          expect(store.appliedIndex).toBe(at);
          await prefetching; // a read-ahead still going would send groups back to disk under the checks below
          // Some groups' queries (as a node's service asks, after reading their files if need be).
          const asked = GROUPS.filter((_, i) => (step + i) % 3 === 0);
          await store.ensureGroups(asked);
          const got = await answers(store.state, (fileId) => store.pieceList(fileId), asked);
          const want = await answers(model, (fileId) => modelLists.get(fileId), asked);
          expect(got).toEqual(want);
          for (const state of [store.state, model]) expect(ownEmptyMaps(state)).toEqual([]);
          seen.detailsWithHolders += want.filter((text) => text.includes('"holders":[{')).length;
        }
        seen.evicted += store.groupsEvicted;
        await store.ensureAllGroups();
        expect(canonicalJson(encodeState(store.state))).toBe(canonicalJson(encodeState(model)));
        expect(ownEmptyMaps(store.state)).toEqual([]);
        await kv.close();
      }),
      { numRuns: 25 },
    );
    // The runs did what they are for: reports decided both ways, restarts and catch-ups between.
    expect(seen.reported).toBeGreaterThan(0);
    expect(seen.badEvidence).toBeGreaterThan(0);
    expect(seen.reopened).toBeGreaterThan(0);
    expect(seen.imported).toBeGreaterThan(0);
    expect(seen.detailsWithHolders).toBeGreaterThan(0);
    expect(seen.appliedToFilesOnDisk).toBeGreaterThan(0);
    expect(seen.evicted).toBeGreaterThan(0);
  }, 120_000);
});
