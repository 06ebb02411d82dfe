// Why this file exists: a download must survive kill -9 without re-hashing the whole partial
// file. This journal, kept in the peer's home LevelDB, records each piece once its bytes are
// verified and synced; a restarted download trusts exactly the recorded pieces.

import type { KvStore } from '../sim/world.js';

/** Every key of a file lies in [`piece:<fileId>:`, `piece:<fileId>;`) since ';' follows ':'. */
function keyPrefix(fileId: string): string {
  return `piece:${fileId}:`;
}

export function journalKey(fileId: string, pieceIndex: number): string {
  return `${keyPrefix(fileId)}${pieceIndex}`;
}

export class PieceJournal {
  constructor(
    private readonly kv: KvStore,
    private readonly fileId: string,
  ) {}

  /** Recorded pieces: index → the SHA1 recorded with it. Keys that do not parse are ignored. */
  async load(): Promise<Map<number, Uint8Array>> {
    const recorded = new Map<number, Uint8Array>();
    for await (const chunk of this.kv.iterate(this.range())) {
      for (const [key, value] of chunk) {
        const indexText = key.slice(keyPrefix(this.fileId).length);
        if (/^(0|[1-9][0-9]{0,9})$/.test(indexText)) recorded.set(Number(indexText), value);
      }
    }
    return recorded;
  }

  /** Durable when the promise resolves (a synced batch). */
  async record(pieceIndex: number, pieceSha1: Uint8Array): Promise<void> {
    await this.kv.batch([{ type: 'put', key: journalKey(this.fileId, pieceIndex), value: pieceSha1 }], { sync: true });
  }

  /** Records several pieces in one synced batch. */
  async recordMany(pieces: ReadonlyArray<readonly [pieceIndex: number, pieceSha1: Uint8Array]>): Promise<void> {
    if (pieces.length === 0) return;
    await this.kv.batch(pieces.map(([i, hash]) => ({ type: 'put' as const, key: journalKey(this.fileId, i), value: hash })), { sync: true });
  }

  /** Forgets every piece of this file, in one synced batch. */
  async clear(): Promise<void> {
    const keys: string[] = [];
    for await (const chunk of this.kv.iterate(this.range())) {
      for (const [key] of chunk) keys.push(key);
    }
    if (keys.length > 0) await this.kv.batch(keys.map((key) => ({ type: 'del' as const, key })), { sync: true });
  }

  private range(): { gte: string; lt: string } {
    return { gte: keyPrefix(this.fileId), lt: `piece:${this.fileId};` };
  }
}
