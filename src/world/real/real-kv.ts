// The real KvFactory: LevelDB through `level` (classic-level), with its open failures mapped to
// the World's codes (LOCKED, NOT_FOUND) and values handed out as plain Uint8Arrays.

import { Level } from 'level';
import { DEFAULT_CHUNK_SIZE, iterateLevel } from '../level-iterate.js';
import { WorldError, type KvEntry, type KvFactory, type KvOp, type KvRange, type KvStore } from '../world.js';

type Db = Level<string, Uint8Array>;

/** What `level` is on Node (classic-level) can compact a key range; level's own type names only what browsers have too. */
interface CompactsRanges {
  compactRange(start: string, end: string): Promise<void>;
}

function compactsRanges(db: object): db is CompactsRanges {
  return typeof (db as Partial<CompactsRanges>).compactRange === 'function';
}

function fieldOf(value: unknown, field: string): unknown {
  return typeof value === 'object' && value !== null && field in value ? (value as Record<string, unknown>)[field] : undefined;
}

/** classic-level wraps the reason in `cause`: LEVEL_LOCKED, or LevelDB's "does not exist" message. */
function mapOpenError(error: unknown, path: string): unknown {
  const cause = fieldOf(error, 'cause');
  const codes = [fieldOf(error, 'code'), fieldOf(cause, 'code')];
  if (codes.includes('LEVEL_LOCKED')) return new WorldError('LOCKED', `kv store ${path} is locked by another process or handle`);
  const message = String(fieldOf(cause, 'message') ?? fieldOf(error, 'message') ?? '');
  if (message.includes('does not exist')) return new WorldError('NOT_FOUND', `no kv store at ${path}`);
  return error;
}

/**
 * A detached plain Uint8Array (classic-level hands out Buffers). Each value classic-level reads
 * is a fresh copy that owns all of its memory: that is wrapped, not copied again (replay reads
 * hundreds of MiB); a value that shares its memory with anything else is copied.
 */
function plainCopy(value: Uint8Array): Uint8Array {
  const ownsItsMemory = value.byteOffset === 0 && value.byteLength === value.buffer.byteLength;
  return ownsItsMemory ? new Uint8Array(value.buffer, 0, value.byteLength) : new Uint8Array(value);
}

class RealKvStore implements KvStore {
  private closed = false;

  constructor(
    private readonly db: Db,
    private readonly path: string,
  ) {}

  async get(key: string): Promise<Uint8Array | undefined> {
    this.checkOpen();
    const value = await this.db.get(key);
    return value === undefined ? undefined : plainCopy(value);
  }

  async batch(ops: readonly KvOp[], options: { sync: boolean }): Promise<void> {
    this.checkOpen();
    await this.db.batch(
      ops.map((op) => (op.type === 'put' ? { type: 'put' as const, key: op.key, value: op.value } : { type: 'del' as const, key: op.key })),
      { sync: options.sync },
    );
  }

  iterate(range: KvRange, chunkSize: number = DEFAULT_CHUNK_SIZE): AsyncIterable<readonly KvEntry[]> {
    return iterateLevel(this.db, range, chunkSize, () => this.checkOpen(), plainCopy);
  }

  async reclaim(range: { gte: string; lte: string }): Promise<void> {
    this.checkOpen();
    if (!compactsRanges(this.db)) throw new Error('this LevelDB binding cannot compact a key range');
    await this.db.compactRange(range.gte, range.lte);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.close();
  }

  private checkOpen(): void {
    if (this.closed) throw new WorldError('CLOSED', `kv store ${this.path} is closed`);
  }
}

export function realKvFactory(): KvFactory {
  return {
    open: async (path, options) => {
      const db: Db = new Level<string, Uint8Array>(path, {
        createIfMissing: options.createIfMissing,
        // LevelDB maps every table it keeps open into memory, and the pages a read touched stay
        // in the process's RSS while the table stays open: with LevelDB's default of 1,000, a
        // node of a million files (5,000 tables of 2 MiB) carried 300 MiB of them (bench/scale).
        // A hundred still holds the tables of the levels most reads go to; a table opened again
        // costs its footer, index and filter blocks. A tracker node keeps room for two stores'
        // files when it sizes its client connection cap (client-door.ts).
        maxOpenFiles: 100,
        keyEncoding: 'utf8',
        valueEncoding: 'view',
      });
      try {
        await db.open();
      } catch (error) {
        throw mapOpenError(error, path);
      }
      return new RealKvStore(db, path);
    },
  };
}
