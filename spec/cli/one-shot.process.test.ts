// One-shot commands (issue "A shell people enjoy"), on three real tracker processes: `clique
// list_groups` and the like reach a running shell through its home's control socket (mode 0600),
// with the shell's answers and exit statuses (0, 1, 2); with no shell running, `clique login`
// saves a session in the home (a token file, mode 0600, never the password) and the tracker's
// commands run in it; commands that need a running peer say so; `clique logout` ends it.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ok, ShellProcess, suiteCluster } from '../helpers/peer-processes.js';
import { CLI } from '../helpers/tracker-processes.js';

const { cluster, dir, shell } = suiteCluster('clique-oneshot-');
let alice: ReturnType<typeof shell>;

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `clique ARGS` to its end. */
function clique(...args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args, '--cluster', cluster.clusterPath], { cwd: dir }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

const json = (ran: Ran): unknown => JSON.parse(ran.stdout.trim().split('\n').at(-1)!);

describe('one-shot commands', () => {
  it('reach a running shell through its control socket, with its answers and exit statuses', async () => {
    alice = shell('alice');
    ok(await alice.run('create_user alice pw-a', 'login alice pw-a', 'create_group friends'));
    const socket = join(dir, 'alice', 'control.sock');
    expect(statSync(socket).mode & 0o777).toBe(0o600);

    const listed = await clique('list_groups', '--home', join(dir, 'alice'), '--json');
    expect(listed.code).toBe(0);
    expect(json(listed)).toMatchObject({ ok: true, command: 'list_groups', result: [{ group: 'friends', relation: 'owner' }] });
    const human = await clique('list_groups', '--home', join(dir, 'alice'));
    expect(human.stdout).toMatch(/^friends {2}\(yours; owner alice, 1 member\)/);
    const refused = await clique('list_files', 'nosuch', '--home', join(dir, 'alice'));
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/^error [A-Z_]+: /);
    const badArity = await clique('list_files', '--home', join(dir, 'alice'));
    expect(badArity.code).toBe(2);
    expect(badArity.stdout).toContain('error BAD_ARGUMENTS: usage: list_files <group_id>');
    // The shell's own status, as a one-shot (clique status is the cluster's).
    const status = await clique('peer_status', '--home', join(dir, 'alice'), '--json');
    expect(json(status)).toMatchObject({ ok: true, result: { user: 'alice' } });
  }, 60_000);

  it('with no shell running, run in a session `clique login` saved (never the password) until `clique logout`', async () => {
    const homes = join(dir, 'homes');
    // A refused login leaves no home behind: not from a one-shot, not from a shell.
    const ghost = await clique('login', 'ghost', 'pw', '--homes', homes);
    expect(ghost.code).toBe(1);
    expect(ghost.stdout).toMatch(/^error BAD_CREDENTIALS: /);
    const roaming = new ShellProcess(['--cluster', cluster.clusterPath, '--homes', homes]);
    const [refused] = await roaming.run('login ghost pw');
    expect(refused).toMatchObject({ ok: false, error: { code: 'BAD_CREDENTIALS' } });
    expect(await roaming.end()).toBe(1);
    expect(existsSync(join(homes, 'ghost'))).toBe(false);
    const made = await clique('create_user', 'bob', 'pw-b', '--homes', homes);
    expect(made.code).toBe(0);
    const login = await clique('login', 'bob', 'pw-b', '--homes', homes);
    expect(login.code).toBe(0);
    expect(login.stdout).toContain('logged in as bob; the session is saved for one-shot commands');
    const token = join(homes, 'bob', 'session.token');
    expect(statSync(token).mode & 0o777).toBe(0o600);
    expect(readFileSync(token, 'utf8')).not.toContain('pw-b');

    expect((await clique('join_group', 'friends', '--user', 'bob', '--homes', homes)).code).toBe(0);
    const mine = await clique('list_groups', '--user', 'bob', '--homes', homes, '--json');
    expect(json(mine)).toMatchObject({ ok: true, result: [{ group: 'friends', relation: 'pending' }] });
    // Alice's running shell accepts, by a one-shot too.
    expect((await clique('accept_request', 'friends', 'bob', '--home', join(dir, 'alice'))).code).toBe(0);
    const files = await clique('list_files', 'friends', '--user', 'bob', '--homes', homes, '--json');
    expect(files.code).toBe(0);
    expect(json(files)).toEqual({ ok: true, command: 'list_files', result: [] });

    // What needs a running peer says so.
    const upload = await clique('upload_file', 'x.bin', 'friends', '--user', 'bob', '--homes', homes);
    expect(upload.code).toBe(1);
    expect(upload.stdout).toMatch(/^error NO_SHELL: no shell runs on .*; upload_file needs one: start clique shell/);
    const download = await clique('download_file', 'friends', 'x.bin', '.', '--user', 'bob', '--homes', homes);
    expect(download.stdout).toContain('--foreground');
    // In the foreground: here until the file is complete, then gone.
    const bytes = randomBytes(3 * 512 * 1024 + 11);
    writeFileSync(join(dir, 'x.bin'), bytes);
    ok(await alice.run(`upload_file ${join(dir, 'x.bin')} friends`));
    const fetched = await clique('download_file', 'friends', 'x.bin', join(dir, 'bob-x.bin'), '--foreground', '--user', 'bob', '--homes', homes, '--json');
    expect(fetched.code).toBe(0);
    expect(fetched.stdout.trim().split('\n').map((l) => JSON.parse(l) as { command: string; ok: boolean })).toEqual([expect.objectContaining({ command: 'download_file', ok: true }), expect.objectContaining({ command: 'wait', ok: true })]);
    expect(readFileSync(join(dir, 'bob-x.bin')).equals(bytes)).toBe(true);
    // Gone with the process, Bob is not listed as a holder (his next shell offers the file).
    const [listed] = ok(await alice.run('list_files friends'));
    expect(listed).toEqual([expect.objectContaining({ name: 'x.bin', completeHolders: 1, partialHolders: 0 })]);

    const out = await clique('logout', '--user', 'bob', '--homes', homes);
    expect(out.code).toBe(0);
    expect(existsSync(token)).toBe(false);
    const after = await clique('list_groups', '--user', 'bob', '--homes', homes);
    expect(after.code).toBe(1);
    expect(after.stdout).toMatch(/^error NOT_LOGGED_IN: no shell runs on .* and no session is saved there; log in with: clique login USER PASSWORD/);
  }, 90_000);
});
