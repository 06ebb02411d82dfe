// Why this file exists: a live audit (`clique audit --cluster`) asks a running node for its
// store — the same blob a lagging follower gets by InstallSnapshot: meta, snapshot and the whole
// archive — taken between Ready cycles and handed out in chunks. Only holders of the cluster
// secret may ask: the archive holds password hashes and token hashes.

import { createHmac, timingSafeEqual } from 'node:crypto';
import type { World } from '../sim/world.js';
import type { ServiceOutcome } from './session-service.js';
import type { TrackerNode } from './tracker-node.js';

export const ARCHIVE_CHUNK_BYTES = 1024 * 1024;
const PROOF_WINDOW_MS = 60_000;
const EXPORT_LIFETIME_MS = 60_000;
const MAX_EXPORTS = 4;

export function archiveProof(nodeSecret: Uint8Array, timeMs: number): string {
  return createHmac('sha256', nodeSecret).update(`audit:${timeMs}`).digest('base64');
}

export class ArchiveExports {
  private readonly exports = new Map<string, { blob: Uint8Array; madeMs: number }>();

  constructor(
    private readonly world: World,
    private readonly node: TrackerNode,
    private readonly nodeSecret: Uint8Array,
  ) {}

  async serve(timeMs: number, proof: string, exportId: string | null, offset: number): Promise<ServiceOutcome> {
    const nowMs = this.world.clock.nowMs();
    const expected = Buffer.from(archiveProof(this.nodeSecret, timeMs));
    const given = Buffer.from(proof);
    if (Math.abs(nowMs - timeMs) > PROOF_WINDOW_MS || expected.length !== given.length || !timingSafeEqual(expected, given)) {
      return { ok: false, code: 'NOT_AUTHORIZED', message: 'an archive needs a fresh proof of the cluster secret' };
    }
    for (const [id, made] of this.exports) if (nowMs - made.madeMs > EXPORT_LIFETIME_MS) this.exports.delete(id);
    let id = exportId;
    if (id === null) {
      if (this.exports.size >= MAX_EXPORTS) return { ok: false, code: 'BUSY', message: 'too many archive exports under way' };
      const blob = await this.node.withQuietStore((store) => store.exportSnapshot());
      id = this.world.rng.id(16);
      this.exports.set(id, { blob, madeMs: nowMs });
    }
    const made = this.exports.get(id);
    if (!made) return { ok: false, code: 'NO_SUCH_EXPORT', message: 'that archive export expired; start again' };
    made.madeMs = nowMs; // an export lives a minute past its last chunk, not past its making
    const chunk = made.blob.subarray(offset, offset + ARCHIVE_CHUNK_BYTES);
    if (offset + chunk.length >= made.blob.length) this.exports.delete(id);
    return { ok: true, result: { exportId: id, totalBytes: made.blob.length, offset, chunk } };
  }
}
