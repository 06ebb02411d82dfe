// Why this file exists: a follower's side of a chunked InstallSnapshot (Raft §7, Figure 13):
// chunks must arrive in order from offset 0; a gap asks the leader for the missing offset; a
// new snapshot (or offset 0) starts over; the last chunk yields the whole snapshot.

import type { MessageOf, Snapshot, SnapshotMeta } from './types.js';

/** A follower refuses a snapshot larger than this (it holds it in memory while it arrives). */
export const MAX_SNAPSHOT_BYTES = 2 ** 31;

export type ChunkResult = { kind: 'want'; offset: number } | { kind: 'complete'; snapshot: Snapshot } | { kind: 'rejected' };

interface Incoming {
  /** Who sends it, in which term: another leader's snapshot of the same index may differ in its bytes. */
  from: string;
  term: number;
  meta: SnapshotMeta;
  totalBytes: number;
  chunks: Uint8Array[];
  receivedBytes: number;
}

export class SnapshotReceiver {
  private incoming: Incoming | null = null;

  reset(): void {
    this.incoming = null;
  }

  accept(m: MessageOf<'InstallSnapshot'>): ChunkResult {
    if (m.totalBytes > MAX_SNAPSHOT_BYTES) return { kind: 'rejected' };
    const current = this.incoming;
    // Another snapshot (or another sender or term) starts over; the same one goes on where it is
    // (a late duplicate of the first chunk must not throw away what arrived since).
    const same =
      current !== null &&
      current.from === m.from &&
      current.term === m.term &&
      current.meta.index === m.meta.index &&
      current.meta.term === m.meta.term &&
      current.totalBytes === m.totalBytes;
    if (!same) this.incoming = { from: m.from, term: m.term, meta: m.meta, totalBytes: m.totalBytes, chunks: [], receivedBytes: 0 };
    const incoming = this.incoming!;
    if (m.offset !== incoming.receivedBytes) return { kind: 'want', offset: incoming.receivedBytes };
    incoming.chunks.push(m.data.slice());
    incoming.receivedBytes += m.data.length;
    if (!m.done) return { kind: 'want', offset: incoming.receivedBytes };
    this.incoming = null;
    if (incoming.receivedBytes !== incoming.totalBytes) return { kind: 'rejected' };
    const data = new Uint8Array(incoming.totalBytes);
    let at = 0;
    for (const chunk of incoming.chunks) {
      data.set(chunk, at);
      at += chunk.length;
    }
    return { kind: 'complete', snapshot: { meta: incoming.meta, data } };
  }
}
