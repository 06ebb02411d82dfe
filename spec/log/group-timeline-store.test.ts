// The archive reader behind the `groupTimeline` query (src/log/store/group-timeline.ts): bounded
// pages that, put end to end, are the group's whole history, with no log entry split between
// two pages, whose fold (groupAsOf) is the tracker's own projection of the group at every index.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyEntry } from '../../src/log/domain/entry.js';
import { MemoryPieceLists } from '../../src/log/domain/piece-lists.js';
import { initialState, type TrackerState } from '../../src/log/domain/state.js';
import { groupAsOf, timelineEventsOf, type GroupAsOf, type TimelineEntry } from '../../src/log/domain/timeline.js';
import { readGroupTimeline, type TimelineLimits } from '../../src/log/store/group-timeline.js';
import { readLines } from '../../src/log/store/read.js';
import { TrackerStore } from '../../src/log/store/tracker-store.js';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import { makeWorkload } from '../helpers/workload.js';

/** The group as the tracker's projection holds it, in groupAsOf's terms. */
function projected(state: TrackerState, group: string): Omit<GroupAsOf, 'index'> {
  const record = state.groups.get(group);
  if (!record) return { exists: false, owner: null, members: [], pending: [], files: [] };
  const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  return {
    exists: true,
    owner: record.owner,
    members: [...record.members.keys()].sort(byName),
    pending: [...record.requests.keys()],
    files: [...record.files.values()].map((f) => ({ fileId: f.fileId, name: f.name, sizeBytes: f.sizeBytes, sharers: [...f.sharers].sort(byName) })).sort((a, b) => byName(a.name, b.name)),
  };
}

async function pagedTimeline(store: TrackerStore, group: string, toIndex: number, limits: TimelineLimits): Promise<{ entries: TimelineEntry[]; pages: TimelineEntry[][] }> {
  const pages: TimelineEntry[][] = [];
  let after = 0;
  for (;;) {
    const page = await store.groupTimeline(group, after + 1, toIndex, limits);
    pages.push(page.entries);
    if (page.nextAfterIndex === null) return { entries: pages.flat(), pages };
    expect(page.nextAfterIndex).toBeGreaterThan(after);
    after = page.nextAfterIndex;
  }
}

describe('the archive reader of groupTimeline', () => {
  it('pages through a group’s whole history in bounded replies; the fold of it is the projection at every index', async () => {
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 3, max: 100 }), async (seed, maxEntries, maxScannedEntries, every) => {
        const workload = makeWorkload(seed, 1_000);
        const world = new SimWorld({ seed });
        const kv = await world.forHost('node1').kv.open('/data/tracker', { createIfMissing: true });
        const store = await TrackerStore.open(kv, { snapshotEveryEntries: every });
        for (let at = 0; at < workload.entries.length; at += 17) await store.apply(workload.entries.slice(at, at + 17), { sync: false });
        // The reference: each entry's events for each group, and the projection after each entry.
        const reference = initialState();
        const pieces = new MemoryPieceLists();
        const expected = new Map<string, TimelineEntry[]>();
        const states: Array<Map<string, Omit<GroupAsOf, 'index'>>> = [];
        for (const entry of workload.entries) {
          const { entry: applied } = applyEntry(reference, entry, pieces);
          pieces.record(applied.events);
          for (const group of ['g1', 'g2', 'g3']) {
            for (const event of timelineEventsOf(applied.events, group)) expected.set(group, [...(expected.get(group) ?? []), { index: applied.index, timeMs: applied.timeMs, event }]);
          }
          states.push(new Map(['g1', 'g2', 'g3'].map((g) => [g, projected(reference, g)])));
        }
        const last = store.appliedIndex;
        for (const group of ['g1', 'g2', 'g3']) {
          const { entries, pages } = await pagedTimeline(store, group, last, { maxEntries, maxScannedEntries });
          expect(entries).toEqual(expected.get(group) ?? []);
          for (const entry of entries) seen.add(entry.event.type);
          // A page holds at most maxEntries unless its one log entry has more events; no entry is split.
          for (const page of pages) if (new Set(page.map((e) => e.index)).size > 1) expect(page.length).toBeLessThanOrEqual(maxEntries);
          const indices = pages.map((page) => new Set(page.map((e) => e.index)));
          for (let i = 1; i < indices.length; i++) for (const index of indices[i]!) for (let j = 0; j < i; j++) expect(indices[j]!.has(index)).toBe(false);
          for (let index = 1; index <= last; index += 7) {
            const { index: _, ...folded } = groupAsOf(entries, index);
            expect(folded).toEqual(states[index - 1]!.get(group));
          }
        }
        await kv.close();
      }),
      { numRuns: 12 },
    );
    // The workloads did make every kind of event but removals (they remove nobody).
    expect([...seen].sort()).toEqual(['FileShared', 'FileUnshared', 'GroupCreated', 'GroupDeleted', 'JoinAccepted', 'JoinRejected', 'JoinRequested', 'MemberLeft', 'OwnershipTransferred', 'SharerAdded', 'SharerRemoved']);
  });

  it('reads only the range asked, and stops at its end', async () => {
    const workload = makeWorkload(1, 1_000);
    const world = new SimWorld({ seed: 1 });
    const kv = await world.forHost('node1').kv.open('/data/tracker', { createIfMissing: true });
    const store = await TrackerStore.open(kv, { snapshotEveryEntries: 50 });
    await store.apply(workload.entries, { sync: false });
    const whole = await readGroupTimeline(readLines(kv, 1), 'g1', 1, 1_000);
    expect(whole.nextAfterIndex).toBeNull();
    expect(whole.entries.length).toBeGreaterThan(10);
    const middle = await store.groupTimeline('g1', 300, 700);
    expect(middle.entries.length).toBeGreaterThan(0);
    expect(middle).toEqual({ entries: whole.entries.filter((e) => e.index >= 300 && e.index <= 700), nextAfterIndex: null });
    expect(await store.groupTimeline('g1', 701, 700)).toEqual({ entries: [], nextAfterIndex: null });
    // Past the archive's end: what there is, and nothing to page on to.
    expect(await store.groupTimeline('g1', 800, 10_000)).toEqual({ entries: whole.entries.filter((e) => e.index >= 800), nextAfterIndex: null });
    // A bound on the lines read ends a reply where the reading stopped, found or not.
    expect(await store.groupTimeline('g1', 300, 700, { maxEntries: 2_000, maxScannedEntries: 10 })).toEqual({ entries: whole.entries.filter((e) => e.index >= 300 && e.index <= 309), nextAfterIndex: 309 });
    await kv.close();
  });
});
