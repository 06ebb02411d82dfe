// The interactive shell in a real terminal (issue 7): tmux runs `clique shell`, the test types
// into it and reads the screen. The prompt appears; Tab completes a command and a group id; a
// download shows its progress in the prompt (percent, rate, ETA, peers) and ends with a `[C]`
// line. Needs tmux (Debian's package; CI installs it). tmux's screen capture drops trailing
// spaces, so "clique> " reads "clique>".

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ShellProcess } from '../helpers/peer-processes.js';
import { CLI, TrackerProcesses, until } from '../helpers/tracker-processes.js';

const cluster = new TrackerProcesses();
const dir = mkdtempSync(join(tmpdir(), 'clique-tmux-'));
const socket = `clique-test-${process.pid}`;
const shells: ShellProcess[] = [];

function tmux(...args: string[]): string {
  const result = spawnSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`tmux ${args[0]}: ${result.stderr}`);
  return result.stdout;
}

let pane = 'bob';
const screen = (): string => tmux('capture-pane', '-p', '-t', pane);

async function shows(what: string, pattern: RegExp): Promise<string> {
  try {
    return await until(what, async () => (pattern.test(screen()) ? screen() : null), 15_000);
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}; the screen:\n${screen()}`);
  }
}

afterAll(async () => {
  spawnSync('tmux', ['-L', socket, 'kill-server']);
  for (const s of shells) s.kill('SIGKILL');
  await cluster.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('the interactive shell', () => {
  it('prompts, completes, shows progress in the prompt, and reports [C]', async () => {
    await cluster.init(3);
    cluster.startAll();
    await until('a leader', async () => cluster.leader(), 30_000);
    const file = randomBytes(16 * 1024 * 1024);
    writeFileSync(join(dir, 'big.bin'), file);
    const alice = new ShellProcess(['--cluster', cluster.clusterPath, '--home', join(dir, 'alice'), '--serve', '--max-upload-rate', String(4 * 1024 * 1024)]);
    shells.push(alice);
    const answers = await alice.run('create_user alice pw', 'login alice pw', 'create_group film', `upload_file ${join(dir, 'big.bin')} film`, 'create_user bob pw');
    expect(answers.every((a) => a.ok)).toBe(true);

    const command = `${process.execPath} ${CLI} shell --cluster ${cluster.clusterPath} --home ${join(dir, 'bob')}`;
    tmux('new-session', '-d', '-s', 'bob', '-x', '200', '-y', '40', command);
    await shows('the prompt', /^clique>$/m);

    tmux('send-keys', '-t', 'bob', 'login bob pw', 'Enter');
    await shows('the login', /logged in as bob/);
    tmux('send-keys', '-t', 'bob', 'join_gr', 'Tab');
    await shows('the command completed', /clique> join_group$/m);
    tmux('send-keys', '-t', 'bob', 'fi', 'Tab');
    await shows('the group id completed', /clique> join_group film$/m);
    tmux('send-keys', '-t', 'bob', 'Enter');
    await shows('the join answered', /asked to join film; its owner decides/);
    expect((await alice.run('accept_request film bob'))[0]!.ok).toBe(true);

    const dest = join(dir, 'bob-big.bin');
    tmux('send-keys', '-t', 'bob', `download_file film big.bin ${dest}`, 'Enter');
    await shows('the progress in the prompt', /^\[D\] 1 \[film\] big\.bin {2}[0-9]+% {2}[0-9.]+ (MiB|B)\/s {2}ETA [0-9?]+s? {2}peers [0-9]+ \| clique> /m);
    const done = await shows('the [C] line', /^\[C\] 1 \[film\] big\.bin {2}100%/m);
    expect(done).toMatch(/^clique>$/m); // the prompt is plain again
    expect(readFileSync(dest).equals(file)).toBe(true);

    tmux('send-keys', '-t', 'bob', 'quit', 'Enter');
    await until('the shell to end', async () => (spawnSync('tmux', ['-L', socket, 'has-session', '-t', 'bob']).status !== 0 ? true : null), 30_000);
    expect(existsSync(`${dest}.part`)).toBe(false);
  }, 120_000);

  it('Ctrl-C clears a half-typed line; a name with spaces completes to a line that runs; no answer lands after a redrawn prompt; quit says what it waits for, and Ctrl-C again stops it', async () => {
    const file = randomBytes(24 * 1024 * 1024);
    writeFileSync(join(dir, 'my film.bin'), file);
    const alice = shells[0]!;
    expect((await alice.run(`upload_file "${join(dir, 'my film.bin')}" film`))[0]!.ok).toBe(true);
    pane = 'bob2';
    const command = `${process.execPath} ${CLI} shell --cluster ${cluster.clusterPath} --home ${join(dir, 'bob')}`;
    tmux('new-session', '-d', '-s', pane, '-x', '200', '-y', '40', command);
    await shows('the prompt', /^clique>$/m);
    tmux('send-keys', '-t', pane, 'login bob pw', 'Enter');
    await shows('the login', /logged in as bob/);

    // Ctrl-C on a half-typed line clears it and the shell goes on.
    tmux('send-keys', '-t', pane, 'list_gr');
    await shows('the typing', /^clique> list_gr$/m);
    tmux('send-keys', '-t', pane, 'C-c');
    await shows('the line cleared', /^clique> list_gr\^C\nclique>$/m);
    tmux('send-keys', '-t', pane, 'whoami', 'Enter');
    await shows('the next command answered', /^clique> whoami\nbob$/m);

    // A name with spaces completes quoted, and the line runs.
    const dest = join(dir, 'bob-my-film.bin');
    tmux('send-keys', '-t', pane, 'download_file film my', 'Tab');
    await shows('the name completed, quoted', /^clique> download_file film "my film\.bin"$/m);
    tmux('send-keys', '-t', pane, dest, 'Enter');
    await shows('the download started', /^download 2 started: /m);
    await shows('the progress in the prompt', /^\[D\] 2 \[film\] my film\.bin .*\| clique>/m);

    // While the prompt redraws itself, an answer still comes on a line of its own.
    tmux('send-keys', '-t', pane, 'whoami', 'Enter');
    const answered = await shows('whoami answered', /whoami\nbob$/m);
    expect(answered).not.toMatch(/clique> bob$/m);
    // And the line entered stays in the scrollback behind the plain prompt, not the progress.
    expect(answered).toMatch(/^clique> whoami\nbob$/m);
    expect(answered).not.toMatch(/\| clique> whoami/);

    // quit says what it waits for; a second Ctrl-C stops it (it resumes next time).
    tmux('send-keys', '-t', pane, 'quit', 'Enter');
    await shows('what quit waits for', /^waiting for 1 download \(my film\.bin at [0-9]+ %\); Ctrl-C again stops it, and it resumes next time$/m);
    tmux('send-keys', '-t', pane, 'C-c');
    await until('the shell to end', async () => (spawnSync('tmux', ['-L', socket, 'has-session', '-t', pane]).status !== 0 ? true : null), 30_000);
    expect(existsSync(`${dest}.part`)).toBe(true);
    expect(existsSync(dest)).toBe(false);
  }, 120_000);
});
