// Why this file exists: a download must survive kill -9 without re-hashing the whole partial
// file. This journal, kept in the peer's home LevelDB, records each piece once its bytes are
// verified and synced; a restarted download trusts exactly the recorded pieces.

import type { KvStore } from '../world/world.js';

/**
 * Every key of a journal lies in [`piece:<journalId>:`, `piece:<journalId>;`) since ';' follows
 * ':'. A journal id names one download: the file's info-hash and its destination.
 */
function keyPrefix(journalId: string): string {
  return `piece:${journalId}:`;
}

export function journalKey(journalId: string, pieceIndex: number): string {
  return `${keyPrefix(journalId)}${pieceIndex}`;
}

export class PieceJournal {
  constructor(
    private readonly kv: KvStore,
    private readonly journalId: string,
  ) {}

  /** Recorded pieces: index → the SHA1 recorded with it. Keys that do not parse are ignored. */
  async load(): Promise<Map<number, Uint8Array>> {
    const recorded = new Map<number, Uint8Array>();
    for await (const chunk of this.kv.iterate(this.range())) {
      for (const [key, value] of chunk) {
        const indexText = key.slice(keyPrefix(this.journalId).length);
        if (/^(0|[1-9][0-9]{0,9})$/.test(indexText)) recorded.set(Number(indexText), value);
      }
    }
    return recorded;
  }

  /** Durable when the promise resolves (a synced batch). */
  async record(pieceIndex: number, pieceSha1: Uint8Array): Promise<void> {
    await this.kv.batch([{ type: 'put', key: journalKey(this.journalId, pieceIndex), value: pieceSha1 }], { sync: true });
  }

  /** Records several pieces in one synced batch. */
  async recordMany(pieces: ReadonlyArray<readonly [pieceIndex: number, pieceSha1: Uint8Array]>): Promise<void> {
    if (pieces.length === 0) return;
    await this.kv.batch(pieces.map(([i, hash]) => ({ type: 'put' as const, key: journalKey(this.journalId, i), value: hash })), { sync: true });
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
    return { gte: keyPrefix(this.journalId), lt: `piece:${this.journalId};` };
  }
}
