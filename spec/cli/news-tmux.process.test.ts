// News at a terminal (issue "A shell people enjoy"): tmux runs the owner's `clique shell`, the
// test types into it and reads the screen. When someone asks to join, "bob asks to join club"
// prints above the prompt, and the prompt comes back below it with the half-typed line intact.
// After a logout, a login says which requests wait and what happened meanwhile. Needs tmux.
// tmux's screen capture drops trailing spaces, so "clique> " reads "clique>".

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ok, suiteCluster } from '../helpers/peer-processes.js';
import { CLI, until } from '../helpers/tracker-processes.js';

const { cluster, dir, shell } = suiteCluster('clique-news-tmux-');
const socket = `clique-news-${process.pid}`;

function tmux(...args: string[]): string {
  const result = spawnSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`tmux ${args[0]}: ${result.stderr}`);
  return result.stdout;
}

const screen = (): string => tmux('capture-pane', '-p', '-t', 'olive');

async function shows(what: string, pattern: RegExp): Promise<string> {
  try {
    return await until(what, async () => (pattern.test(screen()) ? screen() : null), 15_000);
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}; the screen:\n${screen()}`);
  }
}

afterAll(() => {
  spawnSync('tmux', ['-L', socket, 'kill-server']);
});

describe('news at a terminal', () => {
  it('prints a join request above the prompt, the typed text kept, and sums up at the next login', async () => {
    const command = `${process.execPath} ${CLI} shell --cluster ${cluster.clusterPath} --home ${join(dir, 'olive')}`;
    tmux('new-session', '-d', '-s', 'olive', '-x', '160', '-y', '40', command);
    await shows('the prompt', /^clique>$/m);
    tmux('send-keys', '-t', 'olive', 'create_user olive pw', 'Enter');
    tmux('send-keys', '-t', 'olive', 'login olive pw', 'Enter');
    await shows('the login', /logged in as olive/);
    tmux('send-keys', '-t', 'olive', 'create_group club', 'Enter');
    await shows('the group made', /group club made; you own it/);

    // olive has begun typing when bob asks to join.
    tmux('send-keys', '-t', 'olive', 'list_req');
    await shows('the typing', /^clique> list_req$/m);
    const bob = shell('bob');
    ok(await bob.run('create_user bob pw', 'login bob pw', 'join_group club'));
    const seen = await shows('the news line', /^bob asks to join club$/m);
    const lines = seen.split('\n');
    const news = lines.findIndex((l) => l === 'bob asks to join club');
    // Above the prompt, which is drawn again below it with what she typed.
    expect(lines.slice(news + 1).find((l) => l.length > 0)).toBe('clique> list_req');
    expect(lines.filter((l) => l.startsWith('clique> list_req'))).toHaveLength(1);
    tmux('send-keys', '-t', 'olive', 'uests club', 'Enter');
    await shows('her command, as typed in two goes', /^clique> list_requests club\nbob$/m);

    // Away, and back: the login says who waits and what happened.
    tmux('send-keys', '-t', 'olive', 'logout', 'Enter');
    await shows('the logout', /logged out/);
    const carol = shell('carol');
    ok(await carol.run('create_user carol pw', 'login carol pw', 'join_group club'));
    tmux('send-keys', '-t', 'olive', 'login olive pw', 'Enter');
    const back = await shows('the login summary', /since you were last here/);
    expect(back).toMatch(/^2 requests waiting: bob → club, carol → club$/m);
    expect(back).toMatch(/^since you were last here: carol asks to join club$/m);
    // Told once: in the login's answer, not again above the prompt.
    expect(back.split('\n').filter((l) => l.includes('carol asks to join club'))).toHaveLength(1);
    tmux('send-keys', '-t', 'olive', 'news', 'Enter');
    await shows('news in words', /^#[0-9]+ {2}bob asks to join club\n#[0-9]+ {2}carol asks to join club$/m);

    tmux('send-keys', '-t', 'olive', 'quit', 'Enter');
    await until('the shell to end', async () => (spawnSync('tmux', ['-L', socket, 'has-session', '-t', 'olive']).status !== 0 ? true : null), 30_000);
  }, 120_000);
});
