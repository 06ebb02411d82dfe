// Checkpoints (TrackerStore.snapshot): one synced write, and the archive since the previous one
// repacked behind it. A restart starts from the last checkpoint the meta record names, not from
// the applied index: what was applied after it is still repacked at the next checkpoint.

import { describe, expect, it } from 'vitest';
import { readMeta } from '../../src/log/store/read.js';
import { TrackerStore } from '../../src/log/store/tracker-store.js';
import { verifyStore } from '../../src/log/store/verify.js';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import type { KvStore } from '../../src/world/world.js';
import { makeWorkload } from '../helpers/workload.js';

async function segmentCount(kv: KvStore): Promise<number> {
  let count = 0;
  for await (const chunk of kv.iterate({ gte: 'seg:', lt: 'seg:~' })) count += chunk.length;
  return count;
}

describe('checkpoints', () => {
  it('repack the archive since the last one, also when the store was reopened in between', async () => {
    const entries = makeWorkload(5, 80).entries;
    const host = new SimWorld({ seed: 5 }).forHost('node1');
    let kv = await host.kv.open('/data/tracker', { createIfMissing: true });
    let store = await TrackerStore.open(kv, { snapshotEveryEntries: 1_000_000 });
    for (const entry of entries.slice(0, 50)) await store.apply([entry], { sync: false });
    expect(await segmentCount(kv)).toBe(50);
    await store.snapshot();
    await store.quiesce();
    expect(await segmentCount(kv)).toBe(1);
    expect(await readMeta(kv)).toMatchObject({ appliedIndex: 50, checkpointIndex: 50 });

    for (const entry of entries.slice(50)) await store.apply([entry], { sync: true });
    expect(await readMeta(kv)).toMatchObject({ appliedIndex: 80, checkpointIndex: 50 });
    await kv.close();
    kv = await host.kv.open('/data/tracker', { createIfMissing: false });
    store = await TrackerStore.open(kv, { snapshotEveryEntries: 1_000_000 });
    expect(await segmentCount(kv)).toBe(31);
    await store.snapshot();
    await store.quiesce();
    expect(await segmentCount(kv)).toBe(2);
    expect(await readMeta(kv)).toMatchObject({ appliedIndex: 80, checkpointIndex: 80 });
    expect(await verifyStore(kv)).toMatchObject({ ok: true, entries: 80 });
    await kv.close();
  });
});
