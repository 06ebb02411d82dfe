// A shared file changed on the sharer's disk, on three real tracker processes and `clique shell
// --json` processes on 127.0.0.1 (issue "Downloads as a BitTorrent client keeps them"). A sharer
// edits its file in place, at the same size, restoring its modification time: it stops offering
// the file (FILE_CHANGED, the tracker no longer lists it, the next login does not offer it), and
// no downloader bans anyone. The file truncated while served ends the downloader's use of that
// holder within seconds (not minutes later, STALLED). Each change is made once the download is
// seen running, never after a sleep; the sharer's upload limit keeps it running meanwhile.

import { randomBytes } from 'node:crypto';
import { closeSync, openSync, statSync, truncateSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ok, ShellProcess, suiteCluster } from '../helpers/peer-processes.js';
import { until } from '../helpers/tracker-processes.js';

const { dir, shell: shellOn } = suiteCluster('clique-changed-');
/** 1 MiB/s: a 12 MiB file takes about 12 s, so each change lands mid-download. */
const RATE = ['--max-upload-rate', String(1024 * 1024)];
const FILE_BYTES = 12 * 1024 * 1024;

interface DownloadShown {
  id: number;
  state: string;
  verifiedBytes: number;
  failure?: { code: string; message: string };
  waiting?: { code: string; message: string; holders: string[] };
  counters: { bans: Record<string, string>; strikes: Record<string, number>; piecesFailed: number };
}

function shell(name: string, extra: string[] = []): ShellProcess {
  return shellOn(`home-${name}`, extra);
}

async function shown(s: ShellProcess, id: number): Promise<DownloadShown> {
  const [downloads] = ok(await s.run('show_downloads'));
  return (downloads as DownloadShown[]).find((d) => d.id === id)!;
}

/** The download once it has verified some bytes and still runs (an observed state). */
async function midway(s: ShellProcess, id: number): Promise<DownloadShown> {
  const d = await until(`download ${id} to be under way`, async () => {
    const now = await shown(s, id);
    return now.verifiedBytes > 0 || now.state !== 'running' ? now : null;
  });
  expect(d.state).toBe('running');
  return d;
}

async function ended(s: ShellProcess, id: number, timeoutMs: number): Promise<DownloadShown> {
  return until(`download ${id} to end`, async () => {
    const now = await shown(s, id);
    return now.state !== 'running' ? now : null;
  }, timeoutMs);
}

function escaped(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function expectNoBlame(d: DownloadShown): void {
  expect(d.counters?.bans).toEqual({});
  expect(d.counters?.strikes).toEqual({});
  expect(d.counters?.piecesFailed).toBe(0);
}

describe('a shared file that changed on disk', () => {
  it('edited in place at the same size, its modification time restored: the sharer stops offering it, and nobody is banned', async () => {
    const path = join(dir, 'notes.bin');
    writeFileSync(path, randomBytes(FILE_BYTES));
    const alice = shell('alice', ['--serve', ...RATE]);
    const bob = shell('bob');
    ok(await alice.run('create_user alice pw', 'login alice pw', 'create_group team'));
    ok(await bob.run('create_user bob pw', 'login bob pw', 'join_group team'));
    ok(await alice.run('accept_request team bob', `upload_file ${path} team`));

    ok(await bob.run(`download_file team notes.bin ${join(dir, 'bob-notes.bin')}`));
    await midway(bob, 1);
    // Every byte rewritten (so whichever piece alice reads next differs), the same size and mtime.
    const before = statSync(path);
    const fd = openSync(path, 'r+');
    writeSync(fd, randomBytes(FILE_BYTES), 0, FILE_BYTES, 0);
    closeSync(fd);
    utimesSync(path, before.atimeMs / 1000, before.mtimeMs / 1000);
    const after = statSync(path);
    expect(after.size).toBe(before.size);
    expect(Math.abs(after.mtimeMs - before.mtimeMs)).toBeLessThan(1);

    const line = await until('alice to say FILE_CHANGED', async () => alice.stderr.find((l) => l.startsWith('FILE_CHANGED: ')) ?? null);
    expect(line).toMatch(new RegExp(`^FILE_CHANGED: ${escaped(path)} no longer matches what was shared in team \\(piece \\d+ fails its SHA1\\); stopped offering it; share it again with: upload_file ${escaped(path)} team$`));
    expect(alice.stderr.join('\n')).toMatch(/refused 127\.0\.0\.1:\d+ FILE_CHANGED: /);

    const bobs = await ended(bob, 1, 20_000);
    // Not failed: alice may share it anew; bob's download waits for her, saying why.
    expect(bobs).toMatchObject({ state: 'waiting', waiting: { code: 'WAITING_FOR_HOLDERS', holders: ['alice'], message: expect.stringContaining('REFUSED FILE_CHANGED') } });
    expectNoBlame(bobs);
    // The tracker no longer lists alice, and her next login does not offer the file.
    const [files] = ok(await bob.run('list_files team'));
    expect(files).toEqual([expect.objectContaining({ name: 'notes.bin', completeHolders: 0 })]);
    const [, login] = ok(await alice.run('logout', 'login alice pw'));
    expect(login).toEqual({ user: 'alice', resumed: [], downloads: { resumed: [], paused: [] }, requests: [], news: [] });
    expect(alice.stderr.filter((l) => l.startsWith('FILE_CHANGED: '))).toHaveLength(1);
  }, 120_000);

  it('truncated while served: the downloader stops using that holder within seconds', async () => {
    const path = join(dir, 'clip.bin');
    writeFileSync(path, randomBytes(FILE_BYTES));
    const carol = shell('carol', ['--serve', ...RATE]);
    const dan = shell('dan');
    ok(await carol.run('create_user carol pw', 'login carol pw', 'create_group crew'));
    ok(await dan.run('create_user dan pw', 'login dan pw', 'join_group crew'));
    ok(await carol.run('accept_request crew dan', `upload_file ${path} crew`));

    ok(await dan.run(`download_file crew clip.bin ${join(dir, 'dan-clip.bin')}`));
    await midway(dan, 1);
    truncateSync(path, 1024 * 1024);
    const truncatedAt = Date.now();
    const dans = await ended(dan, 1, 20_000);
    expect(Date.now() - truncatedAt).toBeLessThan(8_000);
    expect(dans).toMatchObject({ state: 'waiting', waiting: { code: 'WAITING_FOR_HOLDERS', holders: ['carol'], message: expect.stringContaining('REFUSED FILE_CHANGED') } });
    expectNoBlame(dans);
    const line = await until('carol to say FILE_CHANGED', async () => carol.stderr.find((l) => l.startsWith('FILE_CHANGED: ')) ?? null);
    expect(line).toContain(`${path} no longer matches what was shared in crew (truncated to 1048576 bytes)`);
  }, 120_000);
});
