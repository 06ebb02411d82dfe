// Why this file exists: stores of formats 1 and 2 kept the projection as whole snapshots
// (`snap:<index>`), and format 1 kept piece lists only there and in the archive. Such a store is
// upgraded to format 3 when a node opens it: its whole archive is replayed from genesis (the
// chain checked as it goes), and one batch writes every state record, every piece list the
// archive's FileShared events carry, and the meta record; the snapshots go. Replaying rather
// than loading the newest snapshot is slower but exact: snapshots lack what records keep (the
// index that issued each refresh credential), and the archive is complete.

import { fromBase64 } from '../../torrent/bytes.js';
import { replayEntry } from '../domain/entry.js';
import { pieceListsShared } from '../domain/piece-lists.js';
import { allRecords } from '../domain/records.js';
import { initialState, type TrackerState } from '../domain/state.js';
import type { KvOp, KvStore } from '../../world/world.js';
import { GENESIS_HASH, META_KEY, piecesKey, SNAPSHOT_PREFIX, stateKey, STORE_FORMAT_VERSION, type StoreMeta } from './layout.js';
import { readEntries } from './read.js';
import { StoreCorruptError } from './stored-line.js';

const encoder = new TextEncoder();

/** Opens a format-1 or format-2 store and leaves it a format-3 store; returns its state and chain head. */
export async function upgradeSnapshotStore(kv: KvStore, meta: StoreMeta): Promise<{ state: TrackerState; head: string }> {
  const state = initialState();
  const lists = new Map<string, string>();
  let head = GENESIS_HASH;
  for await (const batch of readEntries(kv, 1)) {
    for (const line of batch) {
      const { entry } = line;
      if (entry.index > meta.appliedIndex) break;
      if (line.chainHash(head) !== line.hash) throw new StoreCorruptError(entry.index, 'hash chain broken (run clique audit --verify)');
      replayEntry(state, entry);
      for (const [fileId, pieces] of pieceListsShared(entry.events)) lists.set(fileId, pieces);
      head = line.hash;
    }
  }
  if (state.appliedIndex !== meta.appliedIndex || head !== meta.chainHead) {
    throw new StoreCorruptError(state.appliedIndex, `archive ends at ${state.appliedIndex}, meta says ${meta.appliedIndex}`);
  }
  const ops: KvOp[] = [];
  for (const [fileId, pieces] of lists) {
    const bytes = fromBase64(pieces);
    if (bytes === null) throw new StoreCorruptError(meta.appliedIndex, `the piece list of ${fileId} is not base64`);
    ops.push({ type: 'put', key: piecesKey(fileId), value: bytes });
  }
  for (const [id, json] of allRecords(state)) ops.push({ type: 'put', key: stateKey(id), value: encoder.encode(json) });
  for await (const chunk of kv.iterate({ gte: SNAPSHOT_PREFIX, lt: SNAPSHOT_PREFIX + '~' })) for (const [key] of chunk) ops.push({ type: 'del', key });
  const upgraded: StoreMeta = { ...meta, v: STORE_FORMAT_VERSION, lastTimeMs: state.lastTimeMs, checkpointIndex: meta.appliedIndex };
  ops.push({ type: 'put', key: META_KEY, value: encoder.encode(JSON.stringify(upgraded)) });
  await kv.batch(ops, { sync: true });
  return { state, head };
}
