// Why this file exists: a whole tracker store as one blob, for Raft's InstallSnapshot: the meta
// record, the snapshot at the applied index and every archive segment, so a node that catches
// up by snapshot still holds the whole history (DESIGN.md §4). Length-prefixed records, checked
// on the way in: the blob comes from another node.

import type { KvEntry } from '../../world/world.js';

const MAGIC = 0x434c5153; // "CLQS"
const VERSION = 1;
const MAX_KEY_BYTES = 1024;

export class SnapshotBlobError extends Error {
  override name = 'SnapshotBlobError';
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeBlob(records: readonly KvEntry[]): Uint8Array {
  const keys = records.map(([key]) => encoder.encode(key));
  let size = 12;
  for (let i = 0; i < records.length; i++) size += 8 + keys[i]!.length + records[i]![1].length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC);
  view.setUint32(4, VERSION);
  view.setUint32(8, records.length);
  let at = 12;
  for (let i = 0; i < records.length; i++) {
    const key = keys[i]!;
    const value = records[i]![1];
    view.setUint32(at, key.length);
    out.set(key, at + 4);
    at += 4 + key.length;
    view.setUint32(at, value.length);
    out.set(value, at + 4);
    at += 4 + value.length;
  }
  return out;
}

export function decodeBlob(blob: Uint8Array): KvEntry[] {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const need = (at: number, bytes: number): void => {
    if (at + bytes > blob.length) throw new SnapshotBlobError(`snapshot blob truncated at byte ${at}`);
  };
  need(0, 12);
  if (view.getUint32(0) !== MAGIC || view.getUint32(4) !== VERSION) throw new SnapshotBlobError('not a snapshot blob of this version');
  const count = view.getUint32(8);
  const records: KvEntry[] = [];
  let at = 12;
  for (let i = 0; i < count; i++) {
    need(at, 4);
    const keyBytes = view.getUint32(at);
    if (keyBytes > MAX_KEY_BYTES) throw new SnapshotBlobError(`key of ${keyBytes} bytes`);
    need(at + 4, keyBytes + 4);
    const key = decoder.decode(blob.subarray(at + 4, at + 4 + keyBytes));
    at += 4 + keyBytes;
    const valueBytes = view.getUint32(at);
    need(at + 4, valueBytes);
    records.push([key, blob.slice(at + 4, at + 4 + valueBytes)]);
    at += 4 + valueBytes;
  }
  if (at !== blob.length) throw new SnapshotBlobError('trailing bytes after the last record');
  return records;
}
