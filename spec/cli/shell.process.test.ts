// The specification's story through the scripting contract (issue 7), on three real tracker
// processes and `clique shell --json` processes on 127.0.0.1: alice owns a group, bob and carol
// join, dave is rejected; alice shares a file; bob downloads it from alice, carol from alice and
// bob at once; dave is refused by the tracker. Logging out stops alice's copy being offered;
// logging in offers it again. A download survives the tracker leader's kill -9 (a tracker call
// answers meanwhile) and a seeder's kill -9. Bad commands get their codes and change nothing.

import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, ShellProcess, type ShellAnswer } from '../helpers/peer-processes.js';
import { TrackerProcesses, until } from '../helpers/tracker-processes.js';

const cluster = new TrackerProcesses();
const dir = mkdtempSync(join(tmpdir(), 'clique-shell-'));
const shells: ShellProcess[] = [];
const movie = randomBytes(6 * 1024 * 1024 + 123);

function shell(name: string, extra: string[] = []): ShellProcess {
  const s = new ShellProcess(['--cluster', cluster.clusterPath, '--home', join(dir, `home-${name}`), ...extra]);
  shells.push(s);
  return s;
}

function code(answer: ShellAnswer | undefined): string | undefined {
  return answer?.error?.code;
}

beforeAll(async () => {
  await cluster.init(3);
  cluster.startAll();
  await until('a leader', async () => cluster.leader(), 30_000);
  writeFileSync(join(dir, 'movie.bin'), movie);
}, 60_000);

afterAll(async () => {
  for (const s of shells) s.kill('SIGKILL');
  await cluster.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('clique shell, scripted', () => {
  it('runs the group story, shares a file, and downloads it from one and then two holders', async () => {
    const alice = shell('alice', ['--serve']);
    ok(await alice.run('create_user alice pw-a', 'login alice pw-a', 'create_group film'));
    const [bob, carol, dave] = [shell('bob'), shell('carol'), shell('dave')];
    for (const [s, name] of [[bob, 'bob'], [carol, 'carol'], [dave, 'dave']] as const) {
      ok(await s.run(`create_user ${name} pw-${name}`, `login ${name} pw-${name}`, 'join_group film'));
    }
    const [requests] = ok(await alice.run('list_requests film'));
    expect((requests as Array<{ user: string }>).map((r) => r.user).sort()).toEqual(['bob', 'carol', 'dave']);
    ok(await alice.run('accept_request film bob', 'accept_request film carol', 'reject_request film dave'));
    const [shared, files] = ok(await alice.run(`upload_file ${join(dir, 'movie.bin')} film`, 'list_files film'));
    expect(shared).toMatchObject({ group: 'film', name: 'movie.bin', sizeBytes: movie.length });
    expect(files).toEqual([expect.objectContaining({ name: 'movie.bin', sharers: ['alice'], completeHolders: 1 })]);

    // bob from alice
    mkdirSync(join(dir, 'bob-dl'));
    const [started] = ok(await bob.run(`download_file film movie.bin ${join(dir, 'bob-dl')}`));
    expect(started).toMatchObject({ download: 1, destination: join(dir, 'bob-dl', 'movie.bin') });
    const [, shown] = ok(await bob.run('wait', 'show_downloads'));
    expect(readFileSync(join(dir, 'bob-dl', 'movie.bin')).equals(movie)).toBe(true);
    const bobDownload = (shown as Array<{ state: string; counters: { bytesFromPeer: Record<string, number> } }>)[0]!;
    expect(bobDownload.state).toBe('complete');
    expect(Object.keys(bobDownload.counters.bytesFromPeer)).toHaveLength(1);

    // a member's bad destinations: under a regular file, an existing file, a file nobody shared
    const bad = await bob.run(
      `download_file film movie.bin ${join(dir, 'movie.bin', 'x')}`,
      `download_file film movie.bin ${join(dir, 'bob-dl')}`,
      `download_file film nosuch.bin ${join(dir, 'bob-dl')}`,
    );
    expect(bad.map(code)).toEqual(['BAD_DESTINATION', 'ALREADY_COMPLETE', 'NO_SUCH_FILE']);

    // carol from alice and bob at once (bob shares what he downloaded)
    const [carolFiles] = ok(await carol.run('list_files film'));
    expect(carolFiles).toEqual([expect.objectContaining({ sharers: ['alice', 'bob'], completeHolders: 2 })]);
    ok(await carol.run(`download_file film movie.bin ${join(dir, 'carol-movie.bin')}`, 'wait'));
    expect(readFileSync(join(dir, 'carol-movie.bin')).equals(movie)).toBe(true);
    const [carolShown] = ok(await carol.run('show_downloads'));
    const fromPeers = (carolShown as Array<{ counters: { bytesFromPeer: Record<string, number> } }>)[0]!.counters.bytesFromPeer;
    expect(Object.keys(fromPeers)).toHaveLength(2);
    for (const bytes of Object.values(fromPeers)) expect(bytes).toBeGreaterThan(0);

    // dave, rejected, is refused by the tracker, and nothing lands on his disk
    const [refused] = await dave.run(`download_file film movie.bin ${join(dir, 'dave-movie.bin')}`);
    expect(code(refused)).toBe('NOT_A_MEMBER');
    expect(() => readFileSync(join(dir, 'dave-movie.bin'))).toThrow();
    expect(await dave.end()).toBe(1);
    expect(await bob.end()).toBe(1); // the three refusals above
    expect(await carol.end()).toBe(0);

    // alice logs out: her copy is no longer offered; she logs in again: it is
    const eve = shell('eve');
    ok(await eve.run('login carol pw-carol'));
    const holders = async (): Promise<number> => {
      const [listed] = ok(await eve.run('list_files film'));
      return (listed as Array<{ completeHolders: number }>)[0]!.completeHolders;
    };
    expect(await holders()).toBe(1); // bob and carol closed their shells; alice remains
    ok(await alice.run('logout'));
    expect(await holders()).toBe(0);
    const [login] = ok(await alice.run('login alice pw-a'));
    expect(login).toEqual({ user: 'alice', resumed: ['film/movie.bin'], downloads: { resumed: [], paused: [] }, requests: [], news: [] });
    expect(await holders()).toBe(1);
  }, 180_000);

  it("finishes a download through the leader's kill -9 (a tracker call answers meanwhile) and a seeder's kill -9", async () => {
    const big = randomBytes(24 * 1024 * 1024);
    writeFileSync(join(dir, 'big.bin'), big);
    const rate = ['--max-upload-rate', String(4 * 1024 * 1024)]; // a download lasts seconds, not a blink
    const gina = shell('gina', ['--serve', ...rate]);
    ok(await gina.run('create_user gina pw', 'login gina pw', 'create_group lab'));
    const hank = shell('hank', ['--serve', ...rate]);
    const ivan = shell('ivan');
    ok(await hank.run('create_user hank pw', 'login hank pw', 'join_group lab'));
    ok(await ivan.run('create_user ivan pw', 'login ivan pw', 'join_group lab'));
    ok(await gina.run('accept_request lab hank', 'accept_request lab ivan', `upload_file ${join(dir, 'big.bin')} lab`));
    ok(await hank.run(`download_file lab big.bin ${join(dir, 'hank-big.bin')}`, 'wait'));

    const progressed = async (s: ShellProcess, id: number): Promise<{ state: string; verifiedBytes: number }> =>
      until(`download ${id} to progress`, async () => {
        const [shown] = ok(await s.run('show_downloads'));
        const d = (shown as Array<{ id: number; state: string; verifiedBytes: number }>).find((x) => x.id === id)!;
        return d.verifiedBytes > 0 ? d : null;
      });

    // The leader dies while ivan's download runs; a tracker call answers within seconds.
    ok(await ivan.run(`download_file lab big.bin ${join(dir, 'ivan-1.bin')}`));
    expect((await progressed(ivan, 1)).state).toBe('running');
    const leader = (await cluster.leader())!;
    await cluster.kill9(leader);
    const askedAt = Date.now();
    const [files] = ok(await ivan.run('list_files lab'));
    expect(Date.now() - askedAt).toBeLessThan(5_000);
    expect(files).toEqual([expect.objectContaining({ name: 'big.bin' })]);
    ok(await ivan.run('wait'));
    expect(readFileSync(join(dir, 'ivan-1.bin')).equals(big)).toBe(true);

    // gina is killed while ivan's second download runs: it finishes from hank.
    ok(await ivan.run(`download_file lab big.bin ${join(dir, 'ivan-2.bin')}`));
    expect((await progressed(ivan, 2)).state).toBe('running');
    gina.kill('SIGKILL');
    ok(await ivan.run('wait'));
    expect(readFileSync(join(dir, 'ivan-2.bin')).equals(big)).toBe(true);
    const [shown] = ok(await ivan.run('show_downloads'));
    const second = (shown as Array<{ id: number; counters: { bytesFromPeer: Record<string, number> } }>).find((d) => d.id === 2)!;
    expect(Object.keys(second.counters.bytesFromPeer)).toHaveLength(2);
    cluster.start(leader);
  }, 180_000);

  it('starts in the original form: IP:PORT tracker_info.txt (the CA pinned on first use, the public key from a tracker)', async () => {
    const info = join(dir, 'tracker_info.txt');
    const known = join(dir, 'known_trackers');
    writeFileSync(info, cluster.config.nodes.map((n) => n.client).join('\n') + '\n');
    const s = new ShellProcess(['127.0.0.1:0', info, '--home', join(dir, 'home-olga'), '--known-trackers', known]);
    shells.push(s);
    const [, , status] = ok(await s.run('create_user olga pw', 'login olga pw', 'status'));
    expect(status).toMatchObject({ user: 'olga', listening: expect.stringMatching(/^127\.0\.0\.1:[0-9]+$/) });
    ok(await s.run('list_groups', 'logout'));
    expect(await s.end()).toBe(0);
    // As ssh does: the CA's fingerprint said once, and pinned for every address.
    expect(s.stderr.join('\n')).toMatch(/pinned the trackers' CA \(key SHA-256 [0-9a-f]{16}…\) for 127\.0\.0\.1:[0-9]+, 127\.0\.0\.1:[0-9]+, 127\.0\.0\.1:[0-9]+ in /);
    const pins = readFileSync(known, 'utf8').trim().split('\n');
    expect(pins.map((line) => line.split(' ')[0])).toEqual(cluster.config.nodes.map((n) => n.client));
    for (const line of pins) expect(Buffer.from(line.split(' ')[1]!, 'base64').toString()).toBe(cluster.config.ca);
    const again = new ShellProcess(['127.0.0.1:0', info, '--home', join(dir, 'home-olga'), '--known-trackers', known]);
    shells.push(again);
    ok(await again.run('login olga pw', 'logout'));
    expect(await again.end()).toBe(0);
    expect(again.stderr.join('\n')).not.toMatch(/pinned/);
    // The addresses now answer with another CA (here: the pin changed under them): refused, with the way out.
    const { makeCluster } = await import('../../src/tracker/cluster-config.js');
    const other = await makeCluster(cluster.world, { nodes: 1, host: '127.0.0.1', basePort: 1 });
    writeFileSync(known, pins.map((line) => `${line.split(' ')[0]} ${Buffer.from(other.config.ca).toString('base64')}`).join('\n') + '\n');
    const changed = new ShellProcess(['127.0.0.1:0', info, '--home', join(dir, 'home-olga'), '--known-trackers', known]);
    shells.push(changed);
    expect(await changed.end()).toBe(1);
    expect(changed.stderr.join('\n')).toMatch(/^error TRACKER_KEY_CHANGED: the tracker's certificate is not of the CA pinned in .*known_trackers on first use/m);
  }, 60_000);

  it('a shell killed with kill -9 and restarted on its home closes its old session first', async () => {
    const first = shell('paul');
    ok(await first.run('create_user paul pw', 'login paul pw', 'create_group p1', `upload_file ${join(dir, 'movie.bin')} p1`));
    first.kill('SIGKILL');
    await first.exited;
    const again = shell('paul');
    const [login, files] = ok(await again.run('login paul pw', 'list_files p1'));
    expect(login).toEqual({ user: 'paul', resumed: ['p1/movie.bin'], downloads: { resumed: [], paused: [] }, requests: [], news: [] });
    // The dead shell's session (and its holding) is gone at once, not after the session TTL.
    expect(files).toEqual([expect.objectContaining({ completeHolders: 1 })]);
    expect(await again.end()).toBe(0);
  }, 60_000);

  it('refuses every session command before login with NOT_LOGGED_IN', async () => {
    const s = shell('nobody');
    const lines = [
      'logout',
      'create_group g',
      'join_group g',
      'leave_group g',
      'list_requests g',
      'accept_request g u',
      'reject_request g u',
      'remove_member g u',
      'list_groups',
      'list_files g',
      `upload_file ${join(dir, 'movie.bin')} g`,
      `download_file g f ${dir}`,
      'stop_share g f',
      'whoami',
    ];
    expect((await s.run(...lines)).map(code)).toEqual(lines.map(() => 'NOT_LOGGED_IN'));
    expect(await s.end()).toBe(1);
  }, 60_000);

  it('answers bad commands with their codes and changes nothing', async () => {
    const s = shell('frank');
    const answers = await s.run(
      'list_groups', // not logged in
      'frobnicate',
      'create_user frank',
      'login frank "unclosed',
      'create_user frank pw',
      'login frank pw',
      'list_files',
      'list_files nosuchgroup',
      `upload_file ${join(dir, 'missing.bin')} nosuchgroup`,
      `download_file film movie.bin ${join(dir, 'frank-movie.bin')}`, // not a member
      'create_group ../etc',
      'help list_files',
    );
    expect(answers.map((a) => (a.ok ? 'ok' : a.error!.code))).toEqual([
      'NOT_LOGGED_IN',
      'UNKNOWN_COMMAND',
      'BAD_ARGUMENTS',
      'BAD_QUOTES',
      'ok',
      'ok',
      'BAD_ARGUMENTS',
      'NO_SUCH_GROUP',
      'FILE_NOT_FOUND',
      'NOT_A_MEMBER',
      'BAD_NAME',
      'ok',
    ]);
    for (const a of answers) if (!a.ok) expect(a.error!.message).not.toContain('\n');
    const [groups] = ok(await s.run('list_groups'));
    expect((groups as Array<{ group: string }>).map((g) => g.group)).not.toContain('../etc');
    // Every command with one word too many is refused before it runs.
    const names = ['create_user', 'login', 'logout', 'create_group', 'join_group', 'leave_group', 'list_requests', 'accept_request', 'reject_request', 'remove_member',
      'list_groups', 'list_files', 'upload_file', 'download_file', 'show_downloads', 'stop_share', 'wait', 'whoami', 'status'];
    const arity = await s.run(...names.map((n) => `${n} ${'x '.repeat(4)}`));
    expect(arity.map(code)).toEqual(names.map(() => 'BAD_ARGUMENTS'));
    // Names that would read as another, or leave no room for `<name>.part`, are refused at upload_file.
    const deceptive = ['invoice\u202Efdp.exe', 'secret\u200B.txt', `${'n'.repeat(247)}.bin`]; // the last: 251 bytes
    for (const name of deceptive) writeFileSync(join(dir, name), 'x');
    ok(await s.run('create_group names'));
    const refusedNames = await s.run(...deceptive.map((name) => `upload_file ${join(dir, name)} names`));
    expect(refusedNames.map(code)).toEqual(deceptive.map(() => 'BAD_NAME'));
    expect(refusedNames[0]!.error!.message).toContain('\\u202E');
    const [listed] = ok(await s.run('list_files names'));
    expect(listed).toEqual([]);
    // A second shell on the same home is refused.
    const twin = shell('frank');
    expect(await twin.end()).toBe(1);
    expect(twin.stderr.join('\n')).toMatch(/^error HOME_IN_USE: /m);
    expect(await s.end()).toBe(2); // its malformed lines above (unknown command, bad arity, an open quote) make it bad usage
  }, 60_000);
});
