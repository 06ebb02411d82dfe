// Downloads as a BitTorrent client keeps them, on three real tracker processes and real `clique
// shell --json` processes on 127.0.0.1 (issue "Downloads as a BitTorrent client keeps them"):
// a download whose only holder logs out waits, naming her, and completes when she logs in again;
// a script ends WAITING_FOR_HOLDERS (exit 1) after its wait timeout and a second script resumes
// the download; pause, resume and cancel act on one id (cancel leaves no .part and no journal);
// a shell killed with kill -9 and restarted lists and resumes its downloads in their states; a
// file that appears at the destination mid-download is never replaced. Every step waits for an
// observed state (a download seen running, waiting, complete), never for a timer; the sharers'
// upload limit keeps downloads running long enough to act on them.

import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Level } from 'level';
import { describe, expect, it } from 'vitest';
import { ok, ShellProcess, suiteCluster } from '../helpers/peer-processes.js';
import { until } from '../helpers/tracker-processes.js';

const { dir, shell: shellOn } = suiteCluster('clique-downloads-');
/** 1 MiB/s: a 6 MiB file takes about 6 s, so each step lands mid-download. */
const SLOW = ['--max-upload-rate', String(1024 * 1024)];
const FILE_BYTES = 6 * 1024 * 1024;

interface Shown {
  id: number;
  name: string;
  state: 'running' | 'waiting' | 'paused' | 'complete' | 'failed';
  verifiedBytes: number;
  partPath: string | null;
  waiting?: { code: string; message: string; holders: string[] };
  failure?: { code: string; message: string };
}

function shell(home: string, extra: string[] = []): ShellProcess {
  return shellOn(home, extra);
}

function file(name: string): { path: string; bytes: Buffer } {
  const bytes = randomBytes(FILE_BYTES);
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return { path, bytes };
}

async function shown(s: ShellProcess, id: number): Promise<Shown> {
  const [downloads] = ok(await s.run('show_downloads'));
  const d = (downloads as Shown[]).find((x) => x.id === id);
  expect(d, `download ${id} is listed`).toBeDefined();
  return d!;
}

/** Polls show_downloads until download `id` is in one of `states` (recording every state seen on the way). */
async function reaches(s: ShellProcess, id: number, states: Shown['state'][], seen: Set<string> = new Set(), timeoutMs = 40_000): Promise<Shown> {
  return until(`download ${id} to be ${states.join(' or ')}`, async () => {
    const now = await shown(s, id);
    seen.add(now.state);
    return states.includes(now.state) ? now : null;
  }, timeoutMs);
}

/** Running with some bytes verified: mid-download. */
async function midway(s: ShellProcess, id: number): Promise<Shown> {
  return until(`download ${id} under way`, async () => {
    const now = await shown(s, id);
    expect(now.state).not.toBe('complete');
    return now.state === 'running' && now.verifiedBytes > 0 ? now : null;
  });
}

const sha = (bytes: Buffer): string => createHash('sha1').update(bytes).digest('hex');

describe('downloads wait for holders', () => {
  it('the only holder logs out mid-download: the download waits, naming her, and completes with the exact bytes when she logs in again', async () => {
    const { path, bytes } = file('film.bin');
    const alice = shell('alice', SLOW);
    const bob = shell('bob');
    ok(await alice.run('create_user alice pw', 'login alice pw', 'create_group film'));
    ok(await bob.run('create_user bob pw', 'login bob pw', 'join_group film'));
    ok(await alice.run('accept_request film bob', `upload_file ${path} film`));
    const [started] = ok(await bob.run(`download_file film film.bin ${join(dir, 'bob-film.bin')}`));
    expect(started).toMatchObject({ download: 1 });

    await midway(bob, 1);
    ok(await alice.run('logout'));
    const seen = new Set<string>();
    const waiting = await reaches(bob, 1, ['waiting', 'failed', 'complete'], seen);
    expect(waiting).toMatchObject({ state: 'waiting', waiting: { code: 'WAITING_FOR_HOLDERS', holders: ['alice'], message: expect.stringMatching(/^waiting for holders: alice\b/) } });
    expect(waiting.verifiedBytes).toBeGreaterThan(0);

    const [login] = ok(await alice.run('login alice pw'));
    expect(login).toMatchObject({ resumed: ['film/film.bin'] });
    const done = await reaches(bob, 1, ['complete', 'failed'], seen, 60_000);
    expect(done.state).toBe('complete');
    expect(seen.has('failed')).toBe(false);
    // Bytes by user: the tracker named the peer.
    expect(Object.keys((done as Shown & { bytesFromUser: Record<string, number> }).bytesFromUser)).toEqual(['alice']);
    expect(sha(readFileSync(join(dir, 'bob-film.bin')))).toBe(sha(bytes));
    // One id from start to finish, in the log too.
    expect(bob.stderr.filter((l) => /^download [^1 ]/.test(l))).toEqual([]);
    expect(bob.stderr.some((l) => l.startsWith('download 1 (film.bin): complete in '))).toBe(true);
    ok(await alice.run('logout'));
  }, 120_000);

  it('a script ends WAITING_FOR_HOLDERS with exit 1 after its wait timeout; a second script resumes the download', async () => {
    const { path, bytes } = file('clip.bin');
    const carol = shell('carol', SLOW);
    ok(await carol.run('create_user carol pw', 'login carol pw', 'create_group clips'));
    const setup = shell('dave');
    ok(await setup.run('create_user dave pw', 'login dave pw', 'join_group clips'));
    ok(await carol.run('accept_request clips dave', `upload_file ${path} clips`, 'logout'));
    ok(await setup.run('logout'));
    expect(await setup.end()).toBe(0);

    // Nobody holds the file now: the script's download waits, and its end reports it.
    const script = shell('dave', ['--wait-timeout', '2']);
    const [, started] = ok(await script.run('login dave pw', `download_file clips clip.bin ${join(dir, 'dave-clip.bin')}`));
    expect(started).toMatchObject({ download: 1 });
    const endedAtMs = Date.now();
    expect(await script.end()).toBe(1);
    const last = script.answers.at(-1)!;
    expect(last).toMatchObject({ ok: false, command: 'wait', error: { code: 'WAITING_FOR_HOLDERS', message: expect.stringContaining('1 clip.bin: WAITING_FOR_HOLDERS: waiting for holders: carol') } });
    expect(Date.now() - endedAtMs).toBeLessThan(15_000);
    expect(existsSync(join(dir, 'dave-clip.bin.part'))).toBe(true);

    // The second script: the login says the download goes on; carol comes back; it completes.
    const again = shell('dave', ['--wait-timeout', '60']);
    const [login] = ok(await again.run('login dave pw'));
    expect(login).toMatchObject({ downloads: { resumed: ['1 clip.bin'], paused: [] } });
    ok(await carol.run('login carol pw'));
    const [waited] = ok(await again.run('wait'));
    expect(waited).toEqual({ downloads: 1 });
    expect(await again.end()).toBe(0);
    expect(sha(readFileSync(join(dir, 'dave-clip.bin')))).toBe(sha(bytes));
    expect(existsSync(join(dir, 'dave-clip.bin.part'))).toBe(false);
    ok(await carol.run('logout'));
  }, 120_000);
});

describe('download control', () => {
  it('pause, resume and cancel by id; a shell killed with kill -9 and restarted lists and resumes its downloads in their states', async () => {
    const one = file('one.bin');
    const two = file('two.bin');
    const three = file('three.bin');
    const erin = shell('erin', SLOW);
    const frankHome = 'frank';
    let frank = shell(frankHome);
    ok(await erin.run('create_user erin pw', 'login erin pw', 'create_group box'));
    ok(await frank.run('create_user frank pw', 'login frank pw', 'join_group box'));
    ok(await erin.run('accept_request box frank', `upload_file ${one.path} box`, `upload_file ${two.path} box`, `upload_file ${three.path} box`));
    const out = (name: string): string => join(dir, `frank-${name}`);
    ok(await frank.run(`download_file box one.bin ${out('one.bin')}`, `download_file box two.bin ${out('two.bin')}`, `download_file box three.bin ${out('three.bin')}`));

    await midway(frank, 1);
    const [paused] = ok(await frank.run('pause_download 1'));
    expect(paused).toMatchObject({ id: 1, state: 'paused', partPath: `${out('one.bin')}.part` });
    const [again] = await frank.run('pause_download 1');
    expect(again).toMatchObject({ ok: false, error: { code: 'NOT_ACTIVE' } });
    const [cancelled] = ok(await frank.run('cancel_download 2'));
    expect(cancelled).toEqual({ id: 2, name: 'two.bin', removed: `${out('two.bin')}.part` });
    expect(existsSync(`${out('two.bin')}.part`)).toBe(false);
    const [unknown] = await frank.run('resume_download 2');
    expect(unknown).toMatchObject({ ok: false, error: { code: 'NO_SUCH_DOWNLOAD' } });

    // Killed mid-download: 1 paused, 3 running.
    await midway(frank, 3);
    expect((await shown(frank, 1)).state).toBe('paused');
    frank.kill('SIGKILL');
    await frank.exited;

    frank = shell(frankHome);
    const [login] = ok(await frank.run('login frank pw'));
    expect(login).toMatchObject({ downloads: { resumed: ['3 three.bin'], paused: ['1 one.bin'] } });
    const [list] = ok(await frank.run('show_downloads'));
    expect((list as Shown[]).map((d) => [d.id, d.name])).toEqual([[1, 'one.bin'], [3, 'three.bin']]);
    expect((list as Shown[])[0]).toMatchObject({ state: 'paused' });
    expect((list as Shown[])[0]!.verifiedBytes).toBeGreaterThan(0);
    // Bytes from each peer, from before the restart too.
    expect(Object.values((list as Array<Shown & { bytesFromPeer: Record<string, number> }>)[0]!.bytesFromPeer).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(['running', 'complete']).toContain((list as Shown[])[1]!.state);

    // Limits change at runtime; status shows them.
    const [limit] = ok(await frank.run('set_rate down 4194304'));
    expect(limit).toEqual({ direction: 'down', bytesPerSecond: 4194304 });
    const [bad] = await frank.run('set_rate sideways 10');
    expect(bad).toMatchObject({ ok: false, error: { code: 'BAD_ARGUMENTS' } });
    const [status] = ok(await frank.run('status'));
    expect(status).toMatchObject({ rates: { up: null, down: 4194304 } });
    ok(await frank.run('set_rate down unlimited', 'resume_download 1'));
    ok(await frank.run('wait'));
    for (const [name, bytes] of [['one.bin', one.bytes], ['three.bin', three.bytes]] as const) expect(sha(readFileSync(out(name)))).toBe(sha(bytes));
    expect(existsSync(out('two.bin'))).toBe(false);
    ok(await frank.run('logout'));
    expect(await frank.end()).toBe(2); // the malformed set_rate above makes the script bad usage

    // Cancel left no journal: no piece of two.bin is recorded in frank's home.
    const [detail] = ok(await erin.run('list_files box'));
    const twoId = (detail as Array<{ name: string; fileId: string }>).find((f) => f.name === 'two.bin')!.fileId;
    const home = new Level<string, string>(join(dir, frankHome, 'db'));
    const keys: string[] = [];
    for await (const key of home.keys({ gte: `piece:${twoId}`, lt: `piece:${twoId}\uffff` })) keys.push(key);
    await home.close();
    expect(keys).toEqual([]);
    ok(await erin.run('logout'));
  }, 180_000);

  it('a file that appears at the destination mid-download survives: DESTINATION_EXISTS; a same-size wrong file is not ALREADY_COMPLETE', async () => {
    const { path, bytes } = file('song.bin');
    const gina = shell('gina', SLOW);
    const hal = shell('hal');
    ok(await gina.run('create_user gina pw', 'login gina pw', 'create_group tunes'));
    ok(await hal.run('create_user hal pw', 'login hal pw', 'join_group tunes'));
    ok(await gina.run('accept_request tunes hal', `upload_file ${path} tunes`));

    const zeros = join(dir, 'hal-zeros.bin');
    writeFileSync(zeros, Buffer.alloc(FILE_BYTES));
    const [wrong] = await hal.run(`download_file tunes song.bin ${zeros}`);
    expect(wrong).toMatchObject({ ok: false, error: { code: 'DESTINATION_EXISTS' } });
    expect(readFileSync(zeros).equals(Buffer.alloc(FILE_BYTES))).toBe(true);

    const target = join(dir, 'hal-song.bin');
    ok(await hal.run(`download_file tunes song.bin ${target}`));
    await midway(hal, 1);
    writeFileSync(target, 'mine, written meanwhile\n');
    const end = await reaches(hal, 1, ['complete', 'failed'], new Set(), 60_000);
    expect(end).toMatchObject({ state: 'failed', failure: { code: 'DESTINATION_EXISTS' } });
    expect(readFileSync(target, 'utf8')).toBe('mine, written meanwhile\n');
    expect(sha(readFileSync(`${target}.part`))).toBe(sha(bytes));

    // Gina downloads her own file again, and cancels: she still holds it complete, and serves it.
    const [own] = ok(await gina.run(`download_file tunes song.bin ${join(dir, 'gina-again.bin')}`));
    expect(own).toMatchObject({ download: 1, state: 'waiting' });
    ok(await gina.run('cancel_download 1'));
    const [files] = ok(await hal.run('list_files tunes'));
    expect(files).toEqual([expect.objectContaining({ name: 'song.bin', completeHolders: 1 })]);
    ok(await hal.run('resume_download 1'));
    const [waited] = await hal.run('wait --timeout 30');
    expect(waited).toMatchObject({ ok: false, error: { code: 'DOWNLOAD_FAILED', message: expect.stringContaining('DESTINATION_EXISTS') } });
    ok(await gina.run('logout'));
  }, 120_000);
});
