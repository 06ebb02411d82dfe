// Any single changed byte in a stored entry makes verification name that entry — in
// one-entry segments as written by apply, and in the large segments a snapshot repacks.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SEGMENT_PREFIX } from '../../src/log/store/layout.js';
import { compareStores, verifyStore } from '../../src/log/store/verify.js';
import { TrackerStore } from '../../src/log/store/tracker-store.js';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import type { KvStore } from '../../src/world/world.js';
import { makeWorkload } from '../helpers/workload.js';
import { RULES_VERSION } from '../../src/log/domain/rules.js';

interface Segment {
  key: string;
  value: Uint8Array;
  firstIndex: number;
}

async function buildStore(seed: number, entries: number, batchSize: number, snapshotEvery: number, host = 'n1'): Promise<{ kv: KvStore; segments: Segment[] }> {
  const world = new SimWorld({ seed });
  const kv = await world.forHost(host).kv.open('/data', { createIfMissing: true });
  const store = await TrackerStore.open(kv, { snapshotEveryEntries: snapshotEvery });
  const workload = makeWorkload(seed, entries);
  for (let at = 0; at < workload.entries.length; at += batchSize) await store.apply(workload.entries.slice(at, at + batchSize), { sync: false });
  const segments: Segment[] = [];
  let next = 1;
  for await (const chunk of kv.iterate({ gte: SEGMENT_PREFIX, lt: SEGMENT_PREFIX + '~' })) {
    for (const [key, value] of chunk) {
      segments.push({ key, value: Uint8Array.from(value), firstIndex: next });
      next += Buffer.from(value).toString('utf8').split('\n').length;
    }
  }
  return { kv, segments };
}

/** The entry a byte belongs to: its line; a separating newline belongs to the line before it. */
function entryOfByte(segment: Segment, offset: number): number {
  let line = 0;
  for (let i = 0; i < offset; i++) if (segment.value[i] === 0x0a) line++;
  return segment.firstIndex + line;
}

async function flipAndVerify(kv: KvStore, segment: Segment, offset: number, xor: number): Promise<number | null> {
  const changed = Uint8Array.from(segment.value);
  changed[offset] = changed[offset]! ^ xor;
  await kv.batch([{ type: 'put', key: segment.key, value: changed }], { sync: true });
  const result = await verifyStore(kv);
  await kv.batch([{ type: 'put', key: segment.key, value: segment.value }], { sync: true });
  return result.ok ? null : result.index;
}

describe('audit --verify', () => {
  it('passes on an intact store', async () => {
    const { kv } = await buildStore(5, 120, 3, 1000);
    expect(await verifyStore(kv)).toMatchObject({ ok: true, entries: 120 });
  });

  it('names the entry of every changed byte of a few entries (exhaustive sweep)', async () => {
    const { kv, segments } = await buildStore(11, 40, 1, 1000);
    for (const segment of [segments[0]!, segments[17]!, segments[39]!]) {
      for (let offset = 0; offset < segment.value.length; offset++) {
        expect(await flipAndVerify(kv, segment, offset, 0x01), `byte ${offset} of ${segment.key}`).toBe(entryOfByte(segment, offset));
      }
    }
  });

  it('names the entry of any changed byte in packed segments', async () => {
    const { kv, segments } = await buildStore(23, 300, 7, 100);
    expect(segments.some((s) => Buffer.from(s.value).toString().split('\n').length > 50)).toBe(true); // repacked
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), async (which, at, xor) => {
        const segment = segments[which % segments.length]!;
        const offset = at % segment.value.length;
        expect(await flipAndVerify(kv, segment, offset, xor)).toBe(entryOfByte(segment, offset));
      }),
      // The example turns a byte of entry 58 into a newline (0x22 ^ 40): once blamed on entry 1.
      { numRuns: 300, examples: [[0, 1425000669, 40]] },
    );
  });

  it('names the first entry of a segment stored under the wrong key', async () => {
    const { kv, segments } = await buildStore(13, 30, 3, 1000);
    const moved = segments[1]!; // entries 4–6, under seg:…06
    expect(moved.key).toBe(`${SEGMENT_PREFIX}${'6'.padStart(16, '0')}`);
    await kv.batch(
      [
        { type: 'del', key: moved.key },
        { type: 'put', key: `${SEGMENT_PREFIX}${'7'.padStart(16, '0')}`, value: moved.value },
      ],
      { sync: true },
    );
    expect(await verifyStore(kv)).toEqual({ ok: false, index: 4, reason: 'segment key does not match its last entry', entries: 30 });
  });

  it('--against names the first divergence between two stores', async () => {
    const a = await buildStore(31, 60, 4, 1000, 'a');
    const b = await buildStore(31, 60, 5, 1000, 'b');
    expect(await compareStores(a.kv, b.kv)).toEqual({ diverged: false, compared: 60 });
    const other = await buildStore(32, 60, 4, 1000, 'c'); // another history from its first entry
    expect(await compareStores(a.kv, other.kv)).toMatchObject({ diverged: true, index: 1 });
    // Rewrite one entry of b (a different, self-consistent history from entry 30 on).
    const segment = b.segments.find((s) => s.firstIndex <= 30 && 30 < s.firstIndex + Buffer.from(s.value).toString().split('\n').length)!;
    const lines = Buffer.from(segment.value).toString().split('\n');
    const line = lines[30 - segment.firstIndex]!;
    lines[30 - segment.firstIndex] = line.replace(/^([0-9a-f]{64} \[1,30,\d+,)(\d)/, (_m, head: string, digit: string) => head + String((Number(digit) + 1) % 10));
    expect(lines[30 - segment.firstIndex]).not.toBe(line);
    await b.kv.batch([{ type: 'put', key: segment.key, value: Buffer.from(lines.join('\n')) }], { sync: true });
    expect(await compareStores(a.kv, b.kv)).toEqual({ diverged: true, index: 30, compared: 29 });
  });
});

describe('audit --verify and state records', () => {
  it('names a state record that is not what the archive replays to, one missing, and one the state lacks', async () => {
    const { kv } = await buildStore(41, 200, 5, 60);
    expect(await verifyStore(kv)).toMatchObject({ ok: true, entries: 200 });
    const records: (readonly [string, Uint8Array])[] = [];
    for await (const chunk of kv.iterate({ gte: 'st:', lt: 'st:~' })) records.push(...chunk);
    const [key, value] = records.find(([k]) => k.startsWith('st:u:'))!;
    const user = JSON.parse(Buffer.from(value).toString()) as { credentialsIndex: number };
    const forged = Buffer.from(Buffer.from(value).toString().replace(`"credentialsIndex":${user.credentialsIndex}`, `"credentialsIndex":${user.credentialsIndex + 1}`));
    await kv.batch([{ type: 'put', key, value: forged }], { sync: true });
    const shown = JSON.stringify(key.slice(3));
    expect(await verifyStore(kv)).toMatchObject({ ok: false, index: 200, reason: `the state record ${shown} differs from the replayed archive` });
    await kv.batch([{ type: 'del', key }], { sync: true });
    expect(await verifyStore(kv)).toMatchObject({ ok: false, index: 200, reason: `the state record ${shown} is missing` });
    await kv.batch([{ type: 'put', key, value }, { type: 'put', key: 'st:u:mallory', value: Buffer.from('{}') }], { sync: true });
    expect(await verifyStore(kv)).toMatchObject({ ok: false, index: 200, reason: 'the state record "u:mallory" is not in the state the archive replays to' });
    await kv.batch([{ type: 'del', key: 'st:u:mallory' }], { sync: true });
    expect(await verifyStore(kv)).toMatchObject({ ok: true, entries: 200 });
  });

  it('names a piece list on disk that does not hash to its file id, or is missing; decide refuses to use such a list', async () => {
    const { kv } = await buildStore(43, 200, 5, 60);
    expect(await verifyStore(kv)).toMatchObject({ ok: true, entries: 200 });
    const store = await TrackerStore.open(kv);
    const [group, file] = [...store.state.groups.values()].flatMap((g) => [...g.files.values()].map((f) => [g.group, f] as const))[0]!;
    const key = `pieces:${file.fileId}`;
    const list = (await kv.get(key))!;
    const flipped = Uint8Array.from(list);
    flipped[0]! ^= 1;
    await kv.batch([{ type: 'put', key, value: flipped }], { sync: true });
    expect(await verifyStore(kv)).toMatchObject({ ok: false, index: 200, reason: `the piece list of ${file.name} in ${group} does not hash to its file id` });
    // A report against this file would be decided from the flipped list: the store stops instead.
    const auth = { sessionId: 'nobody-yet', tokenHash: '00'.repeat(32) };
    const report = { type: 'ReportHolder', auth, group, fileId: file.fileId, holder: 'alice', pieceIndex: 0, expectedSha1: '11'.repeat(20), receivedSha1: '22'.repeat(20) };
    await expect(store.apply([{ index: 201, term: 9, timeMs: 0, clientId: 'c', requestId: 1, rulesVersion: RULES_VERSION, command: report }], { sync: true })).rejects.toThrow(/not the file's/);
    await kv.batch([{ type: 'del', key }], { sync: true });
    expect(await verifyStore(kv)).toMatchObject({ ok: false, index: 200, reason: `the piece list of ${file.name} in ${group} is missing` });
  });
});
