// The simulated LevelDB: one memory-level database per (host, path) that outlives crashes,
// plus what memory-level alone lacks — unsynced batches stay undoable until a sync batch, and
// a crash rolls back a random suffix of them (whole batches, newest first), as a real machine
// loses the tail of LevelDB's write-ahead log.

import { posix } from 'node:path';
import { MemoryLevel } from 'memory-level';
import { DEFAULT_CHUNK_SIZE, iterateLevel } from '../level-iterate.js';
import type { SeededRng } from '../rng.js';
import { WorldError, type KvEntry, type KvFactory, type KvOp, type KvRange, type KvStore } from '../world.js';

interface UndoEntry {
  key: string;
  previous: Uint8Array | undefined;
}

/** How long a synced batch takes to reach the disk, in virtual time (default: no time at all). */
export interface DiskSync {
  minMs: number;
  maxMs: number;
  /** Runs `run` after `delayMs` of virtual time (the world's scheduler). */
  after: (delayMs: number, run: () => void) => void;
  rng: SeededRng;
}

export interface KvCounters {
  batches: number;
  syncBatches: number;
  crashes: number;
  batchesLostOnCrash: number;
  batchesKeptOnCrash: number;
}

/** The "disk" behind one path: survives crashes and handles. */
class KvDisk {
  readonly db = new MemoryLevel<string, Uint8Array>({ keyEncoding: 'utf8', valueEncoding: 'view' });
  /** Undo logs of the batches written since the last sync, oldest first. */
  pending: UndoEntry[][] = [];
  openHandle: SimKvStore | undefined;
  private tail: Promise<unknown> = this.db.open();

  /** Runs `work` after every earlier batch and rollback, so undo logs see a serial history. */
  serially<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** A live host's token; replaced when the host crashes, which kills every handle holding the old one. */
interface KvHostLife {
  readonly name: string;
  readonly handles: Set<SimKvStore>;
}

class SimKvStore implements KvStore {
  private state: 'open' | 'closed' | 'crashed' = 'open';

  constructor(
    private readonly disk: KvDisk,
    private readonly life: KvHostLife,
    private readonly counters: KvCounters,
    private readonly sync: DiskSync | null,
  ) {}

  markCrashed(): void {
    this.state = 'crashed';
    if (this.disk.openHandle === this) this.disk.openHandle = undefined;
  }

  checkUsable(): void {
    if (this.state === 'crashed') throw new WorldError('CRASHED', `host ${this.life.name} crashed`);
    if (this.state === 'closed') throw new WorldError('CLOSED', 'kv store is closed');
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    this.checkUsable();
    const value = await this.disk.db.get(key);
    return value === undefined ? undefined : new Uint8Array(value);
  }

  async batch(ops: readonly KvOp[], options: { sync: boolean }): Promise<void> {
    this.checkUsable();
    // Copy values now (new Uint8Array, not slice: a Buffer's slice is a view): the caller may reuse its arrays.
    const copied = ops.map((op): KvOp => (op.type === 'put' ? { type: 'put', key: op.key, value: new Uint8Array(op.value) } : { type: 'del', key: op.key }));
    await this.disk.serially(async () => {
      this.checkUsable();
      const keys = [...new Set(copied.map((op) => op.key))];
      // A sync that takes time is undoable until it is done: a crash meanwhile may lose it.
      const slowSync = options.sync && this.sync !== null;
      const previous = options.sync && !slowSync ? [] : await this.disk.db.getMany(keys);
      this.checkUsable();
      await this.disk.db.batch(copied.map((op) => (op.type === 'put' ? { type: 'put', key: op.key, value: op.value } : { type: 'del', key: op.key })));
      this.counters.batches++;
      if (!options.sync || slowSync) this.disk.pending.push(keys.map((key, i) => ({ key, previous: previous[i] })));
      if (slowSync) {
        const { minMs, maxMs, after, rng } = this.sync!;
        await new Promise<void>((resolve) => after(minMs + rng.int(maxMs - minMs + 1), resolve));
        this.checkUsable(); // crashed meanwhile: never synced, and the rollback decides what survives
      }
      if (options.sync) {
        this.counters.syncBatches++;
        this.disk.pending = [];
      }
    });
  }

  iterate(range: KvRange, chunkSize: number = DEFAULT_CHUNK_SIZE): AsyncIterable<readonly KvEntry[]> {
    return iterateLevel(this.disk.db, range, chunkSize, () => this.checkUsable(), (value) => new Uint8Array(value));
  }

  /** A memory store holds no space for deleted keys. */
  async reclaim(): Promise<void> {
    this.checkUsable();
  }

  async close(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'closed';
    this.life.handles.delete(this);
    if (this.disk.openHandle === this) this.disk.openHandle = undefined;
  }
}

export class SimKv {
  readonly counters: KvCounters = { batches: 0, syncBatches: 0, crashes: 0, batchesLostOnCrash: 0, batchesKeptOnCrash: 0 };
  private readonly disks = new Map<string, KvDisk>();
  private readonly lives = new Map<string, KvHostLife>();
  private readonly crashRngs = new Map<string, SeededRng>();

  constructor(
    private readonly rng: SeededRng,
    private readonly sync: DiskSync | null = null,
  ) {}

  /** The KvFactory of the current incarnation of `hostName`. */
  factoryFor(hostName: string): KvFactory {
    let life = this.lives.get(hostName);
    if (life === undefined) {
      life = { name: hostName, handles: new Set() };
      this.lives.set(hostName, life);
    }
    const boundLife = life;
    return { open: async (path, options) => this.open(boundLife, path, options) };
  }

  /** Kills the host's handles and, per path, rolls back a random suffix of its unsynced batches. */
  crashHost(hostName: string): void {
    this.counters.crashes++;
    const life = this.lives.get(hostName);
    this.lives.delete(hostName);
    for (const handle of life?.handles ?? []) handle.markCrashed();
    const rng = this.crashRngOf(hostName);
    const prefix = diskKey(hostName, '/');
    const paths = [...this.disks.keys()].filter((key) => key.startsWith(prefix)).sort();
    for (const key of paths) {
      const disk = this.disks.get(key);
      if (disk === undefined) continue;
      void disk.serially(async () => this.rollBackSuffix(disk, rng));
    }
  }

  private async open(life: KvHostLife, path: string, options: { createIfMissing: boolean }): Promise<KvStore> {
    const checkAlive = (): void => {
      if (this.lives.get(life.name) !== life) throw new WorldError('CRASHED', `host ${life.name} crashed`);
    };
    checkAlive();
    const key = diskKey(life.name, path);
    let disk = this.disks.get(key);
    if (disk === undefined) {
      if (!options.createIfMissing) throw new WorldError('NOT_FOUND', `no kv store at ${path}`);
      disk = new KvDisk();
      this.disks.set(key, disk);
    }
    if (disk.openHandle !== undefined) throw new WorldError('LOCKED', `kv store ${path} is open already`);
    const handle = new SimKvStore(disk, life, this.counters, this.sync);
    disk.openHandle = handle;
    life.handles.add(handle);
    await disk.serially(async () => undefined); // wait for the database to open and any rollback to finish
    handle.checkUsable();
    return handle;
  }

  private async rollBackSuffix(disk: KvDisk, rng: SeededRng): Promise<void> {
    const pending = disk.pending;
    disk.pending = [];
    const lostCount = rng.int(pending.length + 1);
    this.counters.batchesLostOnCrash += lostCount;
    this.counters.batchesKeptOnCrash += pending.length - lostCount;
    for (let i = pending.length - 1; i >= pending.length - lostCount; i--) {
      const undo = pending[i];
      if (undo === undefined) throw new Error('undo log index out of range');
      await disk.db.batch(
        undo.map((entry) =>
          entry.previous === undefined ? { type: 'del' as const, key: entry.key } : { type: 'put' as const, key: entry.key, value: entry.previous },
        ),
      );
    }
  }

  private crashRngOf(hostName: string): SeededRng {
    let rng = this.crashRngs.get(hostName);
    if (rng === undefined) {
      rng = this.rng.fork(`kv-crash/${hostName}`);
      this.crashRngs.set(hostName, rng);
    }
    return rng;
  }
}

/** Paths are absolute and normalised, so "db" and "/db/" name the same store. */
function diskKey(hostName: string, path: string): string {
  return `${hostName}\u0000${posix.resolve('/', path)}`;
}
