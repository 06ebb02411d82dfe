// Why this file exists: a live audit (`clique audit --cluster`) asks a running node for its
// store — what a lagging follower is streamed (snapshot-transfer.ts): meta, records and the
// whole archive — here as one blob, taken between Ready cycles and handed out in chunks. (Held
// whole in memory on both sides: fine for a store of some hundred MB, not for a million files'
// gigabytes; it should stream as the follower's copy does.) Only holders of the cluster
// secret may ask (the archive holds password and token hashes), and the node proves the blob:
//   1. the client asks for a challenge: a fresh, single-use nonce. A nonce is its own record
//      (when it was made, random bytes, and this node's MAC over both), so asking for one
//      holds nothing here: strangers asking without end cannot crowd out those with the secret;
//      a nonce is spent only by a request proving the secret;
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
  /** Nonces used to open an export (each opens one), kept until they would have expired anyway. */
  private readonly spent = new Map<string, number>();
  /** Nonces are timed by this process's monotonic clock: one made by an earlier run of the node must not pass. */
  private readonly instance: string;
  private readonly exports = new Map<string, Export>();

  constructor(
    private readonly world: World,
    private readonly node: TrackerNode,
    private readonly nodeId: string,
    private readonly nodeSecret: Uint8Array,
  ) {
    this.instance = world.rng.id(16);
  }

  challenge(): ServiceOutcome {
    const madeMs = String(Math.floor(this.world.clock.monotonicMs()));
    const random = this.world.rng.id(24);
    return { ok: true, result: { nonce: `${madeMs}.${random}.${hmac(this.nodeSecret, 'challenge', this.instance, madeMs, random, this.nodeId)}`, node: this.nodeId } };
  }

  /** Whether this node made `nonce` within its lifetime and it was not spent. */
  private fresh(nonce: string, nowMs: number): boolean {
    const [madeMs = '', random = '', mac = '', ...rest] = nonce.split('.');
    if (rest.length > 0 || !same(mac, hmac(this.nodeSecret, 'challenge', this.instance, madeMs, random, this.nodeId))) return false;
    const ageMs = nowMs - Number(madeMs);
    return ageMs >= 0 && ageMs <= CHALLENGE_LIFETIME_MS && !this.spent.has(nonce);
  }

  async serve(nonce: string, proof: string, exportId: string | null, offset: number): Promise<ServiceOutcome> {
    const refused: ServiceOutcome = { ok: false, code: 'NOT_AUTHORIZED', message: 'an archive needs a proof of the cluster secret over a fresh challenge' };
    if (!same(proof, archiveProof(this.nodeSecret, nonce, this.nodeId))) return refused;
    const nowMs = this.world.clock.monotonicMs();
    for (const [id, made] of this.exports) if (nowMs - made.lastUseMs > EXPORT_LIFETIME_MS) this.exports.delete(id);
    for (const [spent, atMs] of this.spent) if (nowMs - atMs > CHALLENGE_LIFETIME_MS) this.spent.delete(spent);
    let id = exportId;
    if (id === null) {
      // A challenge opens one export, once.
      if (!this.fresh(nonce, nowMs)) return refused;
      this.spent.set(nonce, nowMs);
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
