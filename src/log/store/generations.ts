// Why this file exists: a tracker store lives in one generation of keys of its LevelDB, so that a
// snapshot from the leader (gigabytes at a million files) can be streamed in beside the store it
// replaces, and one synced write of the root key makes it current: a crash leaves the old store
// or the new one, never half of each. Generation 0 is the unprefixed layout every store had
// before; generation N > 0 prefixes its keys with `g<N>/`. Every reader opens the current one
// through generationKv.

import type { KvEntry, KvOp, KvRange, KvStore } from '../../world/world.js';
import { META_KEY, PIECES_PREFIX, SEGMENT_PREFIX, SNAPSHOT_PREFIX, STATE_PREFIX } from './layout.js';
import { StoreCorruptError } from './stored-line.js';

/** The root key: the current generation's number (absent: 0). Outside every generation's range. */
export const GENERATION_KEY = 'generation';
/** Keys of every generation above 0: `g<digits>/...` ('g:' is the character after '9'). */
const NUMBERED_GENERATIONS: KvRange = { gte: 'g0', lt: 'g:' };
const DELETES_PER_BATCH = 1024;
const STORE_PREFIXES = [PIECES_PREFIX, SEGMENT_PREFIX, SNAPSHOT_PREFIX, STATE_PREFIX];

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function generationPrefix(generation: number): string {
  return generation === 0 ? '' : `g${generation}/`;
}

/** Whether `key` (without its generation prefix) is one a tracker store writes. */
export function isStoreKey(key: string): boolean {
  return key === META_KEY || STORE_PREFIXES.some((prefix) => key.startsWith(prefix));
}

export async function currentGeneration(kv: KvStore): Promise<number> {
  const bytes = await kv.get(GENERATION_KEY);
  if (bytes === undefined) return 0;
  const generation = Number(decoder.decode(bytes));
  if (!Number.isSafeInteger(generation) || generation < 1) throw new StoreCorruptError(0, 'store generation record is malformed');
  return generation;
}

/** The current generation's keys, as a store of their own. */
export async function currentGenerationKv(kv: KvStore): Promise<{ generation: number; kv: KvStore }> {
  const generation = await currentGeneration(kv);
  return { generation, kv: generationKv(kv, generation) };
}

/** Generation `generation` of `kv`: keys without its prefix. Closing it closes the root only if `owner`. */
export function generationKv(kv: KvStore, generation: number, owner = false): KvStore {
  return generation === 0 ? new UnprefixedGeneration(kv, owner) : new PrefixedKv(kv, generationPrefix(generation), owner);
}

/** The current generation of a store opened for reading alone (audit, verify): closing it closes `root`. */
export async function ownCurrentGeneration(root: KvStore): Promise<KvStore> {
  return generationKv(root, await currentGeneration(root), true);
}

/** Makes `generation` current: one synced write. */
export async function makeCurrent(kv: KvStore, generation: number): Promise<void> {
  await kv.batch([{ type: 'put', key: GENERATION_KEY, value: encoder.encode(String(generation)) }], { sync: true });
}

/** The numbered generations present (current, replaced, or staged and never finished), ascending by key. */
export async function listGenerations(kv: KvStore): Promise<number[]> {
  const found: number[] = [];
  let from = NUMBERED_GENERATIONS.gte!;
  for (;;) {
    let key: string | undefined;
    for await (const chunk of kv.iterate({ gte: from, lt: NUMBERED_GENERATIONS.lt!, limit: 1 }, 1)) key = chunk[0]?.[0];
    if (key === undefined) return found;
    const match = /^g([0-9]+)\//.exec(key);
    if (match === null) throw new StoreCorruptError(0, `unexpected key ${key.slice(0, 40)} among the store's generations`);
    found.push(Number(match[1]));
    from = `g${match[1]}0`; // past every `g<n>/` key ('0' follows '/')
  }
}

/** Deletes generation `generation`, in batches: what an install replaced, or a transfer left unfinished. */
export async function dropGeneration(kv: KvStore, generation: number): Promise<void> {
  const view = generationKv(kv, generation);
  // Generation 0's keys are spread among the others': its own ranges only, not a scan of all.
  // Its meta record last: while it is there, a later open knows generation 0 is still to drop.
  const ranges: KvRange[] = generation === 0 ? [...STORE_PREFIXES.map((prefix) => ({ gte: prefix, lt: prefix + '~' })), { gte: META_KEY, lte: META_KEY }] : [{}];
  for (const range of ranges) {
    let ops: KvOp[] = [];
    for await (const chunk of view.iterate(range, 256)) {
      for (const [key] of chunk) ops.push({ type: 'del', key });
      if (ops.length >= DELETES_PER_BATCH) {
        await view.batch(ops, { sync: false });
        ops = [];
      }
    }
    if (ops.length > 0) await view.batch(ops, { sync: false });
  }
}

/** Generation 0: the root's keys as they are, but only the store's (not the root key, not other generations). */
class UnprefixedGeneration implements KvStore {
  constructor(
    private readonly root: KvStore,
    private readonly owner: boolean,
  ) {}

  get(key: string): Promise<Uint8Array | undefined> {
    return this.root.get(key);
  }

  batch(ops: readonly KvOp[], options: { sync: boolean }): Promise<void> {
    return this.root.batch(ops, options);
  }

  async *iterate(range: KvRange, chunkSize?: number): AsyncIterable<readonly KvEntry[]> {
    for await (const chunk of this.root.iterate(range, chunkSize)) {
      const kept = chunk.filter(([key]) => isStoreKey(key));
      if (kept.length > 0) yield kept;
    }
  }

  reclaim(range: { gte: string; lte: string }): Promise<void> {
    return this.root.reclaim(range);
  }

  async close(): Promise<void> {
    if (this.owner) await this.root.close();
  }
}

class PrefixedKv implements KvStore {
  /** The first key after every key with the prefix. */
  private readonly end: string;

  constructor(
    private readonly root: KvStore,
    private readonly prefix: string,
    private readonly owner: boolean,
  ) {
    this.end = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
  }

  get(key: string): Promise<Uint8Array | undefined> {
    return this.root.get(this.prefix + key);
  }

  batch(ops: readonly KvOp[], options: { sync: boolean }): Promise<void> {
    return this.root.batch(
      ops.map((op) => ({ ...op, key: this.prefix + op.key })),
      options,
    );
  }

  async *iterate(range: KvRange, chunkSize?: number): AsyncIterable<readonly KvEntry[]> {
    const inner: KvRange = { ...range };
    for (const bound of ['gt', 'gte', 'lt', 'lte'] as const) {
      const value = range[bound];
      if (value !== undefined) inner[bound] = this.prefix + value;
    }
    if (inner.gt === undefined && inner.gte === undefined) inner.gte = this.prefix;
    if (inner.lt === undefined && inner.lte === undefined) inner.lt = this.end;
    const cut = this.prefix.length;
    for await (const chunk of this.root.iterate(inner, chunkSize)) yield chunk.map(([key, value]): KvEntry => [key.slice(cut), value]);
  }

  reclaim(range: { gte: string; lte: string }): Promise<void> {
    return this.root.reclaim({ gte: this.prefix + range.gte, lte: this.prefix + range.lte });
  }

  async close(): Promise<void> {
    if (this.owner) await this.root.close();
  }
}
