// A store of format 1 (spec/fixtures/store-format1: piece lists inside snapshots, written by the
// build before issue 20) still reads: it verifies as it is, opens, is upgraded to format 3 (state
// records, every piece list copied out to disk: the one its snapshot held and the one shared
// after it), verifies again, and decides a new report from a list it now reads from disk.

import { describe, expect, it } from 'vitest';
import type { Event } from '../../src/log/domain/events.js';
import { RULES_VERSION } from '../../src/log/domain/rules.js';
import { readEntries, readMeta } from '../../src/log/store/read.js';
import { TrackerStore } from '../../src/log/store/tracker-store.js';
import { verifyStore } from '../../src/log/store/verify.js';
import { fromBase64, toHex } from '../../src/torrent/bytes.js';
import type { KvStore } from '../../src/world/world.js';
import { fixtureStoreCopies } from '../helpers/fixture-stores.js';
import { tokenHashOf } from '../helpers/domain-fixtures.js';

const copy = fixtureStoreCopies(new URL('../fixtures/store-format1/tracker/', import.meta.url));

/** The piece lists the archive's FileShared events carry, by file id. */
async function listsInArchive(kv: KvStore): Promise<Map<string, { name: string; pieces: string }>> {
  const lists = new Map<string, { name: string; pieces: string }>();
  for await (const batch of readEntries(kv)) {
    for (const line of batch) {
      for (const event of line.entry.events as Event[]) if (event.type === 'FileShared') lists.set(event.fileId, { name: event.name, pieces: event.pieces });
    }
  }
  return lists;
}

describe('a format-1 store (piece lists in its snapshots)', () => {
  it('verifies, opens as format 3 with its records and lists on disk, verifies again and decides a report from them', async () => {
    const kv = await copy('a');
    try {
      const meta = await readMeta(kv);
      expect(meta).toMatchObject({ v: 1, appliedIndex: 15 });
      expect(await verifyStore(kv)).toEqual({ ok: true, entries: 15, chainHead: meta!.chainHead });
      const archived = await listsInArchive(kv);
      expect([...archived.values()].map((f) => f.name)).toEqual(['early.bin', 'late.bin']);

      const store = await TrackerStore.open(kv);
      expect(await readMeta(kv)).toMatchObject({ v: 3, appliedIndex: 15, chainHead: meta!.chainHead });
      // Its snapshot is gone: the state is in records now.
      const keys: string[] = [];
      for await (const chunk of kv.iterate({})) for (const [key] of chunk) keys.push(key);
      expect(keys.filter((key) => key.startsWith('snap:'))).toEqual([]);
      expect(keys.filter((key) => key.startsWith('st:f:'))).toHaveLength(2);
      for (const [fileId, { pieces }] of archived) expect(await store.pieceList(fileId)).toBe(pieces);
      const files = [...store.state.groups.get('films')!.files.values()];
      expect(files.map((f) => f.name)).toEqual(['early.bin', 'late.bin']);
      for (const file of files) expect(Object.keys(file)).not.toContain('pieces');
      // The refresh credentials keep the indices of the logins that issued them (4, 5, 6), which
      // the snapshot did not hold: the upgrade replays the archive.
      expect([...store.state.refreshes.values()].map((r) => [r.user, r.issuedIndex])).toEqual([
        ['alice', 4],
        ['bob', 5],
        ['carol', 6],
      ]);
      expect(await verifyStore(kv)).toEqual({ ok: true, entries: 15, chainHead: meta!.chainHead });

      // alice reports bob for piece 2 of early.bin: the evidence is checked against the list on disk.
      const [earlyId, early] = [...archived].find(([, f]) => f.name === 'early.bin')!;
      const expectedSha1 = toHex(fromBase64(early.pieces)!.subarray(40, 60));
      const auth = { sessionId: 'session-alice', tokenHash: tokenHashOf('token-alice') };
      const report = (pieceIndex: number, sha1: string) => ({ type: 'ReportHolder', auth, group: 'films', fileId: earlyId, holder: 'bob', pieceIndex, expectedSha1: sha1, receivedSha1: 'cd'.repeat(20) });
      const [good, bad] = await store.apply(
        [
          { index: 16, term: 2, timeMs: 1_700_000_100_000, clientId: 'test', requestId: 1, rulesVersion: RULES_VERSION, command: report(2, expectedSha1) },
          { index: 17, term: 2, timeMs: 1_700_000_101_000, clientId: 'test', requestId: 2, rulesVersion: RULES_VERSION, command: report(3, expectedSha1) },
        ],
        { sync: true },
      );
      // Two of a group of three (carol before, alice now) delist bob.
      expect(good!.entry.events.map((e) => e.type)).toEqual(['HolderReported', 'HolderDelisted']);
      expect(bad!.reply?.error?.code).toBe('BAD_EVIDENCE');

      const reopened = await TrackerStore.open(kv);
      expect(reopened.appliedIndex).toBe(17);
      expect(await reopened.pieceList(earlyId)).toBe(early.pieces);
      expect((await verifyStore(kv)).ok).toBe(true);
    } finally {
      await kv.close();
    }
  });
});
