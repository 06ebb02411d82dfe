// Tab completion of what the shell cannot ask the tracker (issue "A shell people enjoy"): command
// names, and paths on this machine for upload_file and download_file — a directory completes
// with `/`, a file with a space, a name with a space comes quoted so the completed line runs.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { complete } from '../../src/cli/shell-terminal.js';
import { splitWords } from '../../src/cli/shell-commands.js';
import type { PeerNode } from '../../src/peer/peer-node.js';
import { createRealWorld } from '../../src/world/real/real-world.js';

const world = createRealWorld();
const dir = mkdtempSync(join(tmpdir(), 'clique-complete-'));
mkdirSync(join(dir, 'films'));
writeFileSync(join(dir, 'my film.bin'), 'x');
writeFileSync(join(dir, 'notes.txt'), 'x');
/** Logged out: only what needs no tracker completes. */
const peer = { user: null } as unknown as PeerNode;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('completion', () => {
  it('completes command names', async () => {
    expect(await complete(world, peer, 'upl')).toEqual([['upload_file '], 'upl']);
    expect((await complete(world, peer, 'list_'))[0]).toEqual(['list_requests', 'list_groups', 'list_files', 'list_members']);
  });

  it('completes paths: a directory with /, a file with a space, a name with spaces quoted so the line runs', async () => {
    expect(await complete(world, peer, `upload_file ${dir}/fi`)).toEqual([[`${dir}/films/`], `${dir}/fi`]);
    expect(await complete(world, peer, `upload_file ${dir}/no`)).toEqual([[`${dir}/notes.txt `], `${dir}/no`]);
    const [[quoted], replaced] = await complete(world, peer, `upload_file ${dir}/my`);
    expect(replaced).toBe(`${dir}/my`);
    expect(quoted).toBe(`"${dir}/my film.bin" `);
    expect(splitWords(`upload_file ${quoted}friends`)).toEqual(['upload_file', `${dir}/my film.bin`, 'friends']);
    // Typed with its opening quote already: the quote is replaced with the rest.
    expect(await complete(world, peer, `upload_file "${dir}/my f`)).toEqual([[`"${dir}/my film.bin" `], `"${dir}/my f`]);
    expect((await complete(world, peer, `download_file g f ${dir}/`))[0]).toEqual([`${dir}/films/`, `"${dir}/my film.bin"`, `${dir}/notes.txt`]);
  });
});
