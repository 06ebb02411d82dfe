// The real FileSystem never writes through a symbolic link it opens to write: a link planted
// where a download's .part will be (by anyone who can write in that directory) makes the open
// fail, and the file the link points at is untouched. Reading follows links (a shared file may be one).

import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { realFileSystem } from '../../src/world/real/real-fs.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('the real FileSystem and symbolic links', () => {
  it("refuses to open a link to write ('w+' and 'r+'), and reads through one", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'clique-links-'));
    dirs.push(dir);
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'keep me');
    symlinkSync(victim, join(dir, 'film.bin.part'));
    const fs = realFileSystem();
    await expect(fs.open(join(dir, 'film.bin.part'), 'w+')).rejects.toMatchObject({ code: 'ELOOP' });
    await expect(fs.open(join(dir, 'film.bin.part'), 'r+')).rejects.toMatchObject({ code: 'ELOOP' });
    expect(readFileSync(victim, 'utf8')).toBe('keep me');
    const read = await fs.open(join(dir, 'film.bin.part'), 'r');
    expect(new TextDecoder().decode(await read.read(0, 7))).toBe('keep me');
    await read.close();
    expect(await fs.realpath(join(dir, 'film.bin.part'))).toBe(victim);
  });
});
