// The README's two-user walk-through, run as written (issue 7): every ```clique <user>``` block is
// fed, in order, to that user's `clique shell --json` on three real trackers, in a scratch
// directory holding a copy of the README; every command must succeed and Bob must end up with
// Alice's file, byte for byte.

import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { ShellProcess } from '../helpers/peer-processes.js';
import { CLI, TrackerProcesses, until } from '../helpers/tracker-processes.js';

const README = new URL('../../README.md', import.meta.url).pathname;
const cluster = new TrackerProcesses();
const dir = mkdtempSync(join(tmpdir(), 'clique-readme-'));
const shells = new Map<string, ShellProcess>();

afterAll(async () => {
  for (const s of shells.values()) s.kill('SIGKILL');
  await cluster.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('the README walk-through', () => {
  it('runs as written', async () => {
    // ```clique USER blocks go to that user's shell; ```oneshot blocks are `npx clique …` command lines.
    const blocks = [...readFileSync(README, 'utf8').matchAll(/```(?:clique (\w+)|(oneshot))\n([\s\S]*?)```/g)].map((m) => ({ user: m[1] ?? m[2]!, lines: m[3]!.trim().split('\n') }));
    expect(blocks.length).toBeGreaterThanOrEqual(4);
    copyFileSync(README, join(dir, 'README.md'));
    await cluster.init(3);
    cluster.startAll();
    await until('a leader', async () => cluster.leader(), 30_000);
    const answered: Array<{ line: string; result: unknown }> = [];
    let previousUser: string | null = null;
    for (const { user, lines } of blocks) {
      if (user === 'oneshot') {
        for (const line of lines) {
          expect(line).toMatch(/^npx clique /);
          const ran = spawnSync(process.execPath, [CLI, ...line.slice('npx clique '.length).split(' '), '--homes', join(dir, 'homes'), '--cluster', cluster.clusterPath], { cwd: dir, encoding: 'utf8' });
          expect(ran.status, `${line}: ${ran.stdout}${ran.stderr}`).toBe(0);
          answered.push({ line: `oneshot: ${line}`, result: ran.stdout });
        }
        continue;
      }
      let shell = shells.get(user);
      if (!shell) {
        shell = new ShellProcess(['--cluster', cluster.clusterPath, '--homes', join(dir, 'homes')], { cwd: dir });
        shells.set(user, shell);
      }
      if (lines[0] === 'news' && previousUser !== null) {
        // News comes on the push stream, which may sit on a follower that applies the previous
        // block's last entry a moment after it was answered: as the README says, Alice reads
        // it above her prompt, so wait for it to arrive before her block reads it.
        const named = `"user":"${previousUser}"`;
        await until(`${user}'s news of ${previousUser}`, async () => (JSON.stringify((await shell!.run('news'))[0]?.result).includes(named) ? true : null), 10_000);
      }
      previousUser = user;
      const answers = await shell.run(...lines);
      answers.forEach((answer, i) => expect(answer, `${user}: ${lines[i]}`).toMatchObject({ ok: true }));
      answers.forEach((answer, i) => answered.push({ line: `${user}: ${lines[i]}`, result: answer.ok ? answer.result : null }));
    }
    expect(readFileSync(join(dir, 'from-alice.md')).equals(readFileSync(README))).toBe(true);
    // Carol's download waited for a holder, was paused and resumed, and completed once Alice was back.
    const said = (line: string): unknown => answered.find((a) => a.line === line)?.result;
    expect(said('carol: download_file friends README.md for-carol.md')).toMatchObject({ download: 1, state: 'waiting' });
    expect(said('carol: show_downloads')).toEqual([expect.objectContaining({ id: 1, state: 'waiting', waiting: expect.objectContaining({ holders: ['alice', 'bob'] }) })]);
    expect(said('carol: pause_download 1')).toMatchObject({ id: 1, state: 'paused' });
    expect(readFileSync(join(dir, 'for-carol.md')).equals(readFileSync(README))).toBe(true);
    // The one-shot reached Alice's running shell; her news held Carol's request.
    expect(said('oneshot: npx clique list_files friends --user alice')).toMatch(/^README\.md {2}/);
    expect(JSON.stringify(said('alice: news'))).toContain('"type":"JoinRequested","group":"friends","user":"carol"');
    const [shown] = await shells.get('bob')!.run('show_downloads');
    expect(shown!.result).toEqual([expect.objectContaining({ name: 'README.md', state: 'complete' })]);
  }, 120_000);
});
