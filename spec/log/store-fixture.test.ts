// A tracker store written by an earlier build (spec/fixtures/store-v1, the format replay reads
// today: segments of `<hash> <replay JSON>\t<command JSON>` lines) reads under this one, now that
// segments are read as bytes: it verifies to the chain head its meta names, compares equal to a
// copy of itself, opens, and audits entry by entry to what reading its lines as text gives.

import { describe, expect, it } from 'vitest';
import { replayEntry } from '../../src/log/domain/entry.js';
import { initialState } from '../../src/log/domain/state.js';
import { auditStore, type AuditRecord } from '../../src/log/store/audit.js';
import { readEntries, readMeta } from '../../src/log/store/read.js';
import { parseLine, type ParsedLine } from '../../src/log/store/stored-line.js';
import { TrackerStore } from '../../src/log/store/tracker-store.js';
import { compareStores, verifyStore } from '../../src/log/store/verify.js';
import type { KvStore } from '../../src/world/world.js';
import { fixtureStoreCopies } from '../helpers/fixture-stores.js';

const copy = fixtureStoreCopies(new URL('../fixtures/store-v1/n1/tracker/', import.meta.url));

/** The archive's lines as they were read before: every segment decoded whole and split. */
async function linesAsText(kv: KvStore): Promise<string[]> {
  const decoder = new TextDecoder('utf-8', { fatal: false });
  const lines: string[] = [];
  for await (const chunk of kv.iterate({ gte: 'seg:', lt: 'seg:~' })) for (const [, value] of chunk) lines.push(...decoder.decode(value).split('\n'));
  return lines;
}

describe('a store written by an earlier build', () => {
  it('verifies, compares, opens and replays as its lines read as text say', async () => {
    const kv = await copy('a');
    const other = await copy('b');
    try {
      const meta = await readMeta(kv);
      expect(meta).toMatchObject({ v: 1, appliedIndex: 14 });
      expect(await verifyStore(kv)).toEqual({ ok: true, entries: 14, chainHead: meta!.chainHead });
      expect(await compareStores(kv, other)).toEqual({ diverged: false, compared: 14 });

      const text = await linesAsText(kv);
      expect(text).toHaveLength(14);
      const read: ParsedLine[] = [];
      for await (const batch of readEntries(kv)) read.push(...batch);
      expect(read.map((line) => [JSON.stringify(line.entry), line.hash, line.body, line.commandJson()])).toEqual(
        text.map((line, i) => {
          const old = parseLine(line, i + 1);
          return [JSON.stringify(old.entry), line.slice(0, 64), line.slice(65), old.commandJson()];
        }),
      );

      const records: AuditRecord[] = [];
      const audit = await auditStore(kv, {}, (record) => records.push(record));
      expect(records.map((r) => r.index)).toEqual([...Array(14).keys()].map((i) => i + 1));
      expect(records.filter((r) => r.outcome === 'applied').length).toBeGreaterThan(10);
      const state = initialState();
      for (const [i, line] of text.entries()) replayEntry(state, parseLine(line, i + 1).entry);
      expect(audit.state).toEqual(state);
    } finally {
      await kv.close();
      await other.close();
    }
    const reopened = await copy('c');
    try {
      const store = await TrackerStore.open(reopened);
      expect(store.appliedIndex).toBe(14);
    } finally {
      await reopened.close();
    }
  });
});
