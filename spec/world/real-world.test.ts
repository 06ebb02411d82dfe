// The real World on this machine: TCP on 127.0.0.1, LevelDB and files in a temp dir, scrypt.

import { spawnSync } from 'node:child_process';
import { randomBytes, scryptSync } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isNetFailure } from '../../src/world/net-error.js';
import { createRealWorld } from '../../src/world/real/real-world.js';
import { readOpenFileLimit } from '../../src/world/real/real-net.js';
import { KdfBusyError, SIM_KDF_PARAMS, threadPoolKdf } from '../../src/world/kdf.js';
import { isWorldError, type Connection, type NetError, type World, type WorldErrorCode } from '../../src/world/world.js';

const world: World = createRealWorld();
let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'clique-real-world-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const failsWith = (code: WorldErrorCode) => (error: unknown) => isWorldError(error, code);
const sleep = (delayMs: number) => new Promise<void>((resolve) => world.clock.setTimer(delayMs, resolve));

function collect(connection: Connection): { bytes: () => Uint8Array; lengthBytes: () => number; closed: Promise<NetError | null> } {
  const chunks: Uint8Array[] = [];
  let lengthBytes = 0;
  const closed = new Promise<NetError | null>((resolve) => {
    connection.attach({
      data: (bytes) => {
        chunks.push(bytes);
        lengthBytes += bytes.length;
      },
      close: resolve,
    });
  });
  const bytes = (): Uint8Array => {
    const out = new Uint8Array(lengthBytes);
    let offset = 0;
    for (const chunk of chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  };
  return { bytes, lengthBytes: () => lengthBytes, closed };
}

describe('real network', () => {
  it('echoes over 127.0.0.1 on a port picked by the OS, holding early data until attach', async () => {
    const listener = await world.net.listen({ host: '127.0.0.1', port: 0 }, (connection) => {
      connection.write(new TextEncoder().encode('hi:')); // before the client attaches
      connection.attach({
        data: (bytes) => connection.write(bytes),
        close: () => {},
      });
    });
    expect(listener.address.port).toBeGreaterThan(0);
    const client = await world.net.connect(listener.address);
    expect(client.remote.port).toBe(listener.address.port);
    await sleep(50);
    const received = collect(client);
    const payload = new Uint8Array(200_000).map((_, i) => (i * 7) % 256);
    client.write(payload);
    while (received.lengthBytes() < payload.length + 3) await sleep(5);
    client.end();
    expect(await received.closed).toBeNull();
    const bytes = received.bytes();
    expect(new TextDecoder().decode(bytes.subarray(0, 3))).toBe('hi:');
    expect(Buffer.compare(bytes.subarray(3), payload)).toBe(0); // (toEqual on 200 kB is slow)
    await listener.close();
  });

  it('gives an IPv4 peer of a dual-stack listener as its IPv4 address, not ::ffff:a.b.c.d', async () => {
    let accepted: Connection | null = null;
    const listener = await world.net.listen({ host: '::', port: 0 }, (connection) => (accepted = connection));
    const client = await world.net.connect({ host: '127.0.0.1', port: listener.address.port });
    while (accepted === null) await sleep(5);
    expect((accepted as Connection).remote).toEqual({ host: '127.0.0.1', port: client.local.port });
    expect((accepted as Connection).local.host).toBe('127.0.0.1');
    client.destroy();
    (accepted as Connection).destroy();
    await listener.close();
  });

  it('connects from the local address it is given (any of 127/8 on loopback), and the listener sees that address', async () => {
    let accepted: Connection | null = null;
    const listener = await world.net.listen({ host: '127.0.0.1', port: 0 }, (connection) => (accepted = connection));
    const client = await world.net.connect(listener.address, { localAddress: '127.0.0.7' });
    while (accepted === null) await sleep(5);
    expect(client.local.host).toBe('127.0.0.7');
    expect((accepted as Connection).remote).toEqual({ host: '127.0.0.7', port: client.local.port });
    client.destroy();
    (accepted as Connection).destroy();
    // An address this machine does not have cannot be connected from (EADDRNOTAVAIL, an EIO here).
    await expect(world.net.connect(listener.address, { localAddress: '192.0.2.1', timeoutMs: 2000 })).rejects.toSatisfy((e: unknown) => isNetFailure(e, 'EIO'));
    await listener.close();
  });

  it("reads the process's open file limit (ulimit -n), and none when it is unlimited", () => {
    const shell = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim();
    expect(world.net.openFileLimit()).toBe(shell === 'unlimited' ? null : Number(shell));
    const limits = (soft: string) => `Limit                     Soft Limit           Hard Limit           Units\nMax cpu time              unlimited            unlimited            seconds\nMax open files            ${soft}                20000                files\n`;
    expect(readOpenFileLimit(limits('1024'))).toBe(1024);
    expect(readOpenFileLimit(limits('unlimited'))).toBeNull();
    expect(readOpenFileLimit('no such line')).toBeNull();
    expect(readOpenFileLimit(null)).toBeNull();
  });

  it('maps refused connections and ports in use', async () => {
    const listener = await world.net.listen({ host: '127.0.0.1', port: 0 }, (connection) => connection.destroy());
    await expect(world.net.listen({ host: '127.0.0.1', port: listener.address.port }, () => {})).rejects.toSatisfy((e: unknown) =>
      isNetFailure(e, 'EADDRINUSE'),
    );
    await listener.close();
    await expect(world.net.connect(listener.address, { timeoutMs: 2000 })).rejects.toSatisfy((e: unknown) => isNetFailure(e, 'ECONNREFUSED'));
  });
});

describe('real kv (LevelDB)', () => {
  it('stores, iterates in chunks, and maps LOCKED and NOT_FOUND', async () => {
    const path = join(dir, 'db');
    await expect(world.kv.open(path, { createIfMissing: false })).rejects.toSatisfy(failsWith('NOT_FOUND'));
    const store = await world.kv.open(path, { createIfMissing: true });
    await expect(world.kv.open(path, { createIfMissing: true })).rejects.toSatisfy(failsWith('LOCKED'));
    await store.batch(
      ['c', 'a', 'b'].map((key, i) => ({ type: 'put' as const, key, value: new Uint8Array([i]) })),
      { sync: true },
    );
    await store.batch([{ type: 'del', key: 'c' }], { sync: false });
    const value = await store.get('a');
    expect(value).toEqual(new Uint8Array([1]));
    expect(value?.constructor).toBe(Uint8Array);
    expect(await store.get('c')).toBeUndefined();
    const chunks: string[][] = [];
    for await (const chunk of store.iterate({ gte: 'a' }, 1)) chunks.push(chunk.map(([key]) => key));
    expect(chunks).toEqual([['a'], ['b']]);
    await store.close();
    await expect(store.get('a')).rejects.toSatisfy(failsWith('CLOSED'));
    const reopened = await world.kv.open(path, { createIfMissing: false });
    expect(await reopened.get('b')).toEqual(new Uint8Array([2]));
    await reopened.close();
  });

  it('gives back the space of a deleted key range when asked (reclaim: the Raft log after compaction)', async () => {
    const path = join(dir, 'reclaim');
    const store = await world.kv.open(path, { createIfMissing: true });
    const key = (i: number) => `raft:entry:${i.toString().padStart(16, '0')}`;
    const count = 12_000; // 2 KiB each that snappy cannot shrink: 23 MiB
    for (let from = 0; from < count; from += 1_000) {
      const ops = Array.from({ length: 1_000 }, (_, j) => ({ type: 'put' as const, key: key(from + j), value: randomBytes(2_048) }));
      await store.batch(ops, { sync: false });
    }
    await store.batch(Array.from({ length: count - 10 }, (_, i) => ({ type: 'del' as const, key: key(i) })), { sync: true });
    const deletedStillHeld = bytesUnder(path);
    await store.reclaim({ gte: key(0), lte: key(count - 11) });
    const afterReclaim = bytesUnder(path);
    const kept: string[] = [];
    for await (const chunk of store.iterate({ gte: 'raft:' })) kept.push(...chunk.map(([k]) => k));
    await store.close();
    expect(kept).toEqual(Array.from({ length: 10 }, (_, i) => key(count - 10 + i)));
    expect(deletedStillHeld).toBeGreaterThan(16 * 1024 * 1024); // LevelDB alone had not given it back
    expect(afterReclaim).toBeLessThan(2 * 1024 * 1024);
  });
});

/** Bytes of the files directly in `path`. */
function bytesUnder(path: string): number {
  return readdirSync(path).reduce((sum, name) => sum + statSync(join(path, name)).size, 0);
}

describe('real fs', () => {
  it('round-trips files and maps error codes', async () => {
    const fs = world.fs;
    await fs.mkdir(join(dir, 'files/nested'), { recursive: true });
    const path = join(dir, 'files/nested/f.bin');
    await fs.writeFile(path, new Uint8Array([1, 2, 3]), { sync: true });
    expect(await fs.readFile(path)).toEqual(new Uint8Array([1, 2, 3]));
    const handle = await fs.open(path, 'r+');
    await handle.write(5, new Uint8Array([9]));
    await handle.sync();
    expect(await handle.sizeBytes()).toBe(6);
    expect(await handle.read(2, 10)).toEqual(new Uint8Array([3, 0, 0, 9]));
    await handle.truncate(2);
    await handle.close();
    await fs.rename(path, join(dir, 'files/g.bin'));
    expect(await fs.readdir(join(dir, 'files'))).toEqual(['g.bin', 'nested']);
    expect(await fs.stat(join(dir, 'files/g.bin'))).toEqual({ sizeBytes: 2, isDirectory: false });
    expect(await fs.stat(path)).toBeNull();
    await expect(fs.readFile(path)).rejects.toSatisfy(failsWith('ENOENT'));
    await expect(fs.mkdir(join(dir, 'files'))).rejects.toSatisfy(failsWith('EEXIST'));
    await expect(fs.readdir(join(dir, 'files/g.bin'))).rejects.toSatisfy(failsWith('ENOTDIR'));
    await fs.unlink(join(dir, 'files/g.bin'));
  });

  it('renames without replacing: EEXIST when something is at the target, both files as they were', async () => {
    const fs = world.fs;
    const [part, taken, free] = ['nr.part', 'nr-taken.bin', 'nr-free.bin'].map((name) => join(dir, name));
    await fs.writeFile(part!, new Uint8Array([1, 2, 3]), { sync: true });
    await fs.writeFile(taken!, new Uint8Array([7]), { sync: true });
    await expect(fs.renameNoReplace(part!, taken!)).rejects.toSatisfy(failsWith('EEXIST'));
    expect(await fs.readFile(taken!)).toEqual(new Uint8Array([7]));
    expect(await fs.readFile(part!)).toEqual(new Uint8Array([1, 2, 3]));
    await fs.renameNoReplace(part!, free!);
    expect(await fs.readFile(free!)).toEqual(new Uint8Array([1, 2, 3]));
    expect(await fs.stat(part!)).toBeNull();
  });
});

describe('real kdf and clock', () => {
  it("derives with scrypt exactly as node's scryptSync does", async () => {
    const salt = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    const params = world.kdf.params;
    expect(params).toMatchObject({ algorithm: 'scrypt', costN: 16_384, blockSizeR: 8, parallelP: 1, keyLengthBytes: 32 });
    const derived = await world.kdf.derive('correct horse', salt, params);
    const expected = scryptSync('correct horse', salt, 32, { N: 16_384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
    expect(derived).toEqual(new Uint8Array(expected));
  });

  it('leaves the thread pool to the disk: a file read while ten derivations are queued waits for none of them', async () => {
    const params = { ...world.kdf.params, costN: 32_768 };
    const salt = new Uint8Array(16);
    const oneStartMs = performance.now();
    await world.kdf.derive('warm', salt, params);
    const oneMs = performance.now() - oneStartMs;
    const file = join(dir, 'during-derivations');
    await world.fs.writeFile(file, new Uint8Array([1, 2, 3]));
    const derivations = Array.from({ length: 10 }, (_, i) => world.kdf.derive(`password ${i}`, salt, params));
    const readStartMs = performance.now();
    expect(await world.fs.readFile(file)).toEqual(new Uint8Array([1, 2, 3]));
    const readMs = performance.now() - readStartMs;
    await Promise.all(derivations);
    // Without the bound the four pool threads all derive and the read waits for one to end.
    expect(readMs).toBeLessThan(oneMs / 2);
  });

  it('runs the derivations it holds back in the order they were asked for, one at a time with a bound of one', async () => {
    const kdf = threadPoolKdf(SIM_KDF_PARAMS, { monotonicMs: () => world.clock.monotonicMs(), maxConcurrent: 1 });
    const finished: number[] = [];
    await Promise.all(Array.from({ length: 5 }, (_, i) => kdf.derive(`p${i}`, new Uint8Array(8), { ...SIM_KDF_PARAMS, costN: 1024 << (4 - i) }).then(() => finished.push(i))));
    expect(finished).toEqual([0, 1, 2, 3, 4]);
  });

  it('refuses a derivation that waited for a thread longer than its bound, and runs the next in time', async () => {
    const kdf = threadPoolKdf(SIM_KDF_PARAMS, { monotonicMs: () => world.clock.monotonicMs(), maxConcurrent: 1, maxWaitMs: 0 });
    const slow = { ...SIM_KDF_PARAMS, costN: 1 << 15 }; // tens of milliseconds: the waiters wait longer than 0 ms
    const outcomes = await Promise.allSettled([kdf.derive('a', new Uint8Array(8), slow), kdf.derive('b', new Uint8Array(8), slow), kdf.derive('c', new Uint8Array(8), slow)]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
    for (const outcome of outcomes.slice(1)) expect(outcome.status === 'rejected' && outcome.reason).toBeInstanceOf(KdfBusyError);
    // The slot came back: a derivation asked now runs at once.
    await expect(kdf.derive('d', new Uint8Array(8), SIM_KDF_PARAMS)).resolves.toHaveLength(32);
  });

  it('fires timers and can cancel them', async () => {
    let fired = false;
    world.clock.setTimer(1, () => (fired = true)).cancel();
    const startMs = world.clock.nowMs();
    await sleep(20);
    expect(world.clock.nowMs() - startMs).toBeGreaterThanOrEqual(15);
    expect(fired).toBe(false);
  });
});
