// Why this file exists: stores of formats 1 and 2 kept the projection as whole snapshots
// (`snap:<index>`), and format 1 kept piece lists only there and in the archive. This reads such
// a store (its newest good snapshot plus the archive after it) and upgrades it to format 3 in
// one batch: every state record, every piece list, the meta record; the snapshots go.

import { fromBase64 } from '../../torrent/bytes.js';
import { replayEntry } from '../domain/entry.js';
import { pieceListsShared } from '../domain/piece-lists.js';
import { allRecords } from '../domain/records.js';
import { decodeState, type LegacyPieces } from '../domain/snapshot.js';
import { initialState, type TrackerState } from '../domain/state.js';
import type { KvOp, KvStore } from '../../world/world.js';
import { sha256Hex } from './chain.js';
import { GENESIS_HASH, indexOfKey, META_KEY, piecesKey, SNAPSHOT_PREFIX, snapshotKey, stateKey, STORE_FORMAT_VERSION, STORE_FORMAT_WITH_PIECES_IN_SNAPSHOTS, type StoreMeta } from './layout.js';
import { readEntries } from './read.js';
import { StoreCorruptError } from './stored-line.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Opens a format-1 or format-2 store and leaves it a format-3 store; returns its state and chain head. */
export async function upgradeSnapshotStore(kv: KvStore, meta: StoreMeta): Promise<{ state: TrackerState; head: string }> {
  // Format 1 kept piece lists in its snapshots: they are copied out, with those shared after.
  const lists = meta.v === STORE_FORMAT_WITH_PIECES_IN_SNAPSHOTS ? new Map<string, string>() : null;
  const snapshot = await loadLatestSnapshot(kv, meta.appliedIndex, (fileId, pieces) => lists?.set(fileId, pieces));
  const state = snapshot?.state ?? initialState();
  let head = snapshot?.chainHead ?? GENESIS_HASH;
  for await (const batch of readEntries(kv, state.appliedIndex + 1)) {
    for (const line of batch) {
      const { entry } = line;
      if (entry.index > meta.appliedIndex) break;
      const hash = line.hash;
      if (line.chainHash(head) !== hash) throw new StoreCorruptError(entry.index, 'hash chain broken (run clique audit --verify)');
      replayEntry(state, entry);
      if (lists) for (const [fileId, pieces] of pieceListsShared(entry.events)) lists.set(fileId, pieces);
      head = hash;
    }
  }
  if (state.appliedIndex !== meta.appliedIndex || head !== meta.chainHead) {
    throw new StoreCorruptError(state.appliedIndex, `archive ends at ${state.appliedIndex}, meta says ${meta.appliedIndex}`);
  }
  const ops: KvOp[] = [];
  for (const [fileId, pieces] of lists ?? []) {
    const bytes = fromBase64(pieces);
    if (bytes === null) throw new StoreCorruptError(meta.appliedIndex, `the piece list of ${fileId} is not base64`);
    ops.push({ type: 'put', key: piecesKey(fileId), value: bytes });
  }
  for (const [id, json] of allRecords(state)) ops.push({ type: 'put', key: stateKey(id), value: encoder.encode(json) });
  for await (const chunk of kv.iterate({ gte: SNAPSHOT_PREFIX, lt: SNAPSHOT_PREFIX + '~' })) for (const [key] of chunk) ops.push({ type: 'del', key });
  const upgraded: StoreMeta = { ...meta, v: STORE_FORMAT_VERSION, lastTimeMs: state.lastTimeMs };
  ops.push({ type: 'put', key: META_KEY, value: encoder.encode(JSON.stringify(upgraded)) });
  await kv.batch(ops, { sync: true });
  return { state, head };
}

interface LoadedSnapshot {
  index: number;
  chainHead: string;
  state: TrackerState;
}

/**
 * The newest snapshot at or below `maxIndex` whose checksum holds; a bad one falls back to the
 * one before. A format-1 snapshot's piece lists go to `legacyPieces`.
 */
async function loadLatestSnapshot(kv: KvStore, maxIndex: number, legacyPieces: LegacyPieces): Promise<LoadedSnapshot | null> {
  for await (const chunk of kv.iterate({ gte: SNAPSHOT_PREFIX, lte: snapshotKey(maxIndex), reverse: true })) {
    for (const [key, value] of chunk) {
      const text = decoder.decode(value);
      const json = text.slice(65);
      if (text.charAt(64) !== ' ' || sha256Hex(json) !== text.slice(0, 64)) continue;
      try {
        const parsed = JSON.parse(json) as { index: unknown; chainHead: unknown; state: unknown };
        const state = decodeState(parsed.state, legacyPieces);
        const index = indexOfKey(key, SNAPSHOT_PREFIX);
        if (index === null || parsed.index !== index || state.appliedIndex !== index || typeof parsed.chainHead !== 'string') continue;
        return { index, chainHead: parsed.chainHead, state };
      } catch {
        continue;
      }
    }
  }
  return null;
}
