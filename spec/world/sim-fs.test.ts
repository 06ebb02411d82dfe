// The simulated file system: unsynced bytes lost on a crash, synced ones kept, rename atomic
// and durable at once, Node's error codes.

import { describe, expect, it } from 'vitest';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import { isWorldError, type WorldErrorCode } from '../../src/world/world.js';

const text = (value: string): Uint8Array => new TextEncoder().encode(value);
const decode = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
const failsWith = (code: WorldErrorCode) => (error: unknown) => isWorldError(error, code);

describe('simulated fs', () => {
  it('keeps synced bytes and loses unsynced ones on a crash', async () => {
    const sim = new SimWorld({ seed: 1 });
    const fs = sim.forHost('h').fs;
    await fs.mkdir('/d');
    await fs.writeFile('/d/synced', text('v1'), { sync: true });
    await fs.writeFile('/d/synced', text('v2 not synced'));
    await fs.writeFile('/d/never-synced', text('gone'));
    const handle = await fs.open('/d/handle', 'w+');
    await handle.write(0, text('abc'));
    await handle.sync();
    await handle.write(3, text('def'));
    expect(decode(await fs.readFile('/d/synced'))).toBe('v2 not synced');
    expect(decode(await handle.read(0, 100))).toBe('abcdef');

    sim.crashHost('h');
    await expect(handle.read(0, 1)).rejects.toSatisfy(failsWith('CRASHED'));
    await expect(fs.readFile('/d/synced')).rejects.toSatisfy(failsWith('CRASHED'));
    const after = sim.forHost('h').fs;
    expect(decode(await after.readFile('/d/synced'))).toBe('v1');
    expect(decode(await after.readFile('/d/handle'))).toBe('abc');
    expect(await after.stat('/d/never-synced')).toBeNull();
    expect(await after.readdir('/d')).toEqual(['handle', 'synced']);
  });

  it('renames atomically, replacing the target, durable at once', async () => {
    const sim = new SimWorld({ seed: 1 });
    const fs = sim.forHost('h').fs;
    await fs.writeFile('/state', text('old'), { sync: true });
    await fs.writeFile('/state.tmp', text('new'), { sync: true });
    await fs.rename('/state.tmp', '/state');
    expect(decode(await fs.readFile('/state'))).toBe('new');
    expect(await fs.stat('/state.tmp')).toBeNull();
    sim.crashHost('h');
    const after = sim.forHost('h').fs;
    expect(decode(await after.readFile('/state'))).toBe('new');
    expect(await after.readdir('/')).toEqual(['state']);
  });

  it('supports random access through handles', async () => {
    const sim = new SimWorld({ seed: 1 });
    const fs = sim.forHost('h').fs;
    const handle = await fs.open('/f', 'w+');
    await handle.write(4, text('xy'));
    expect(await handle.sizeBytes()).toBe(6);
    expect(await handle.read(0, 6)).toEqual(new Uint8Array([0, 0, 0, 0, 120, 121]));
    await handle.truncate(5);
    await handle.truncate(7);
    expect(await handle.read(3, 10)).toEqual(new Uint8Array([0, 120, 0, 0]));
    await handle.close();
    await expect(handle.read(0, 1)).rejects.toSatisfy(failsWith('EBADF'));
    const readOnly = await fs.open('/f', 'r');
    await expect(readOnly.write(0, text('z'))).rejects.toSatisfy(failsWith('EBADF'));
    expect((await fs.stat('/f'))?.sizeBytes).toBe(7);
  });

  it('copies written bytes', async () => {
    const sim = new SimWorld({ seed: 1 });
    const fs = sim.forHost('h').fs;
    const bytes = text('abc');
    await fs.writeFile('/f', bytes);
    bytes[0] = 0;
    expect(decode(await fs.readFile('/f'))).toBe('abc');
  });

  it("reports Node's error codes", async () => {
    const sim = new SimWorld({ seed: 1 });
    const fs = sim.forHost('h').fs;
    await fs.mkdir('/a/b/c', { recursive: true });
    await fs.mkdir('/a/b/c', { recursive: true });
    await fs.writeFile('/a/file', text('x'));
    await expect(fs.readFile('/nope')).rejects.toSatisfy(failsWith('ENOENT'));
    await expect(fs.open('/nope', 'r+')).rejects.toSatisfy(failsWith('ENOENT'));
    await expect(fs.writeFile('/missing/dir/f', text('x'))).rejects.toSatisfy(failsWith('ENOENT'));
    await expect(fs.mkdir('/a')).rejects.toSatisfy(failsWith('EEXIST'));
    await expect(fs.readdir('/a/file')).rejects.toSatisfy(failsWith('ENOTDIR'));
    await expect(fs.readFile('/a/file/x')).rejects.toSatisfy(failsWith('ENOTDIR'));
    await expect(fs.readFile('/a')).rejects.toSatisfy(failsWith('EISDIR'));
    await expect(fs.unlink('/a')).rejects.toSatisfy(failsWith('EISDIR'));
    await expect(fs.rename('/a/b', '/a/file')).rejects.toSatisfy(failsWith('ENOTDIR'));
    await expect(fs.rename('/a/file', '/a/b')).rejects.toSatisfy(failsWith('EISDIR'));
    await fs.mkdir('/empty');
    await expect(fs.rename('/empty', '/a')).rejects.toSatisfy(failsWith('ENOTEMPTY'));
    expect(await fs.stat('/a/file/x')).toBeNull();
    expect(await fs.stat('/a')).toEqual({ sizeBytes: 0, isDirectory: true });
    await fs.unlink('/a/file');
    await expect(fs.unlink('/a/file')).rejects.toSatisfy(failsWith('ENOENT'));
  });

  it('keeps one tree per host', async () => {
    const sim = new SimWorld({ seed: 1 });
    await sim.forHost('h1').fs.writeFile('/f', text('1'));
    expect(await sim.forHost('h2').fs.stat('/f')).toBeNull();
  });
});
