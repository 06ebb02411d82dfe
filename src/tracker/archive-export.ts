// Why this file exists: a live audit (`clique audit --cluster`) asks a running node for its
// store — the same blob a lagging follower gets by InstallSnapshot: meta, snapshot and the whole
// archive — taken between Ready cycles and handed out in chunks. Only holders of the cluster
// secret may ask (the archive holds password and token hashes), and the node proves the blob:
//   1. the client asks for a challenge: a fresh, single-use nonce;
//   2. it asks for chunks with proof = HMAC(secret, "audit", nonce, node id);
//   3. the last chunk carries HMAC(secret, "archive", nonce, node id, SHA-256 of the blob).

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { World } from '../world/world.js';
import type { ServiceOutcome } from './session-service.js';
import type { TrackerNode } from './tracker-node.js';

export const ARCHIVE_CHUNK_BYTES = 1024 * 1024;
const CHALLENGE_LIFETIME_MS = 30_000;
const EXPORT_LIFETIME_MS = 60_000;
const MAX_EXPORTS = 4;
const MAX_CHALLENGES = 64;

function hmac(secret: Uint8Array, ...parts: string[]): string {
  const h = createHmac('sha256', secret);
  for (const part of parts) h.update(part).update('\u0000');
  return h.digest('base64');
}

export function archiveProof(secret: Uint8Array, nonce: string, nodeId: string): string {
  return hmac(secret, 'audit', nonce, nodeId);
}

export function archiveSeal(secret: Uint8Array, nonce: string, nodeId: string, blob: Uint8Array): string {
  return hmac(secret, 'archive', nonce, nodeId, createHash('sha256').update(blob).digest('hex'));
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

interface Export {
  nonce: string;
  blob: Uint8Array;
  lastUseMs: number;
}

export class ArchiveExports {
  private readonly challenges = new Map<string, number>();
  private readonly exports = new Map<string, Export>();

  constructor(
    private readonly world: World,
    private readonly node: TrackerNode,
    private readonly nodeId: string,
    private readonly nodeSecret: Uint8Array,
  ) {}

  challenge(): ServiceOutcome {
    const nowMs = this.world.clock.monotonicMs();
    for (const [nonce, madeMs] of this.challenges) if (nowMs - madeMs > CHALLENGE_LIFETIME_MS) this.challenges.delete(nonce);
    if (this.challenges.size >= MAX_CHALLENGES) return { ok: false, code: 'BUSY', message: 'too many audits starting' };
    const nonce = this.world.rng.id(32);
    this.challenges.set(nonce, nowMs);
    return { ok: true, result: { nonce, node: this.nodeId } };
  }

  async serve(nonce: string, proof: string, exportId: string | null, offset: number): Promise<ServiceOutcome> {
    const refused: ServiceOutcome = { ok: false, code: 'NOT_AUTHORIZED', message: 'an archive needs a proof of the cluster secret over a fresh challenge' };
    if (!same(proof, archiveProof(this.nodeSecret, nonce, this.nodeId))) return refused;
    const nowMs = this.world.clock.monotonicMs();
    for (const [id, made] of this.exports) if (nowMs - made.lastUseMs > EXPORT_LIFETIME_MS) this.exports.delete(id);
    let id = exportId;
    if (id === null) {
      // A challenge opens one export, once.
      if (!this.challenges.delete(nonce)) return refused;
      if (this.exports.size >= MAX_EXPORTS) return { ok: false, code: 'BUSY', message: 'too many archive exports under way' };
      const blob = await this.node.withQuietStore((store) => store.exportSnapshot());
      id = this.world.rng.id(16);
      this.exports.set(id, { nonce, blob, lastUseMs: nowMs });
    }
    const made = this.exports.get(id);
    if (!made || made.nonce !== nonce) return { ok: false, code: 'NO_SUCH_EXPORT', message: 'that archive export expired; start again' };
    made.lastUseMs = nowMs;
    const chunk = made.blob.subarray(offset, offset + ARCHIVE_CHUNK_BYTES);
    const last = offset + chunk.length >= made.blob.length;
    if (last) this.exports.delete(id);
    const seal = last ? archiveSeal(this.nodeSecret, nonce, this.nodeId, made.blob) : null;
    return { ok: true, result: { exportId: id, totalBytes: made.blob.length, offset, chunk, seal } };
  }
}
