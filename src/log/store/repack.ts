// Why this file exists: each applied batch is a segment of its own, often of one entry; reading
// the archive back (replay, audit, a push channel's catch-up) goes faster over few large ones.
// Behind each checkpoint the segments are repacked: consecutive small ones become one of up to
// PACKED_SEGMENT_ENTRIES lines or PACKED_SEGMENT_BYTES, keyed, as every segment, by its last
// index. A pack is one atomic batch (its key put, the others deleted), so readers see either the
// old segments or the new one, and the work can run beside applies: it only touches segments
// below the checkpoint, which nothing else writes, and holds one pack in memory at a time.

import type { KvOp, KvStore } from '../../world/world.js';
import { indexOfKey, PACKED_SEGMENT_BYTES, PACKED_SEGMENT_ENTRIES, SEGMENT_PREFIX, segmentKey } from './layout.js';

const LINE_FEED = 0x0a;

function lineCount(bytes: Uint8Array): number {
  let lines = 1;
  for (let i = bytes.indexOf(LINE_FEED); i !== -1; i = bytes.indexOf(LINE_FEED, i + 1)) lines++;
  return lines;
}

/** Repacks the segments whose last entry is in fromIndex..toIndex; returns how many it removed. */
export async function repackSegments(kv: KvStore, fromIndex: number, toIndex: number): Promise<number> {
  let pack: { key: string; value: Uint8Array }[] = [];
  let lines = 0;
  let bytes = 0;
  let removed = 0;
  const flush = async (): Promise<void> => {
    if (pack.length > 1) {
      const last = pack[pack.length - 1]!;
      const value = new Uint8Array(bytes - 1);
      let at = 0;
      for (const [i, segment] of pack.entries()) {
        value.set(segment.value, at);
        at += segment.value.length;
        if (i < pack.length - 1) value[at++] = LINE_FEED;
      }
      const ops: KvOp[] = pack.slice(0, -1).map((segment): KvOp => ({ type: 'del', key: segment.key }));
      ops.push({ type: 'put', key: last.key, value });
      await kv.batch(ops, { sync: false });
      removed += pack.length - 1;
    }
    pack = [];
    lines = 0;
    bytes = 0;
  };
  for await (const chunk of kv.iterate({ gte: segmentKey(fromIndex), lte: segmentKey(toIndex) })) {
    for (const [key, value] of chunk) {
      if (indexOfKey(key, SEGMENT_PREFIX) === null) continue;
      const count = lineCount(value);
      if (pack.length > 0 && (lines + count > PACKED_SEGMENT_ENTRIES || bytes + value.length + 1 > PACKED_SEGMENT_BYTES)) await flush();
      pack.push({ key, value });
      lines += count;
      bytes += value.length + 1;
    }
  }
  await flush();
  return removed;
}
