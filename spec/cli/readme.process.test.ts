// The README's two-user walk-through, run as written (issue 7): every ```clique <user>``` block is
// fed, in order, to that user's `clique shell --json` on three real trackers, in a scratch
// directory holding a copy of the README; every command must succeed and Bob must end up with
// Alice's file, byte for byte.

import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ShellProcess } from '../helpers/peer-processes.js';
import { TrackerProcesses, until } from '../helpers/tracker-processes.js';

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
    const blocks = [...readFileSync(README, 'utf8').matchAll(/```clique (\w+)\n([\s\S]*?)```/g)].map((m) => ({ user: m[1]!, lines: m[2]!.trim().split('\n') }));
    expect(blocks.length).toBeGreaterThanOrEqual(4);
    copyFileSync(README, join(dir, 'README.md'));
    await cluster.init(3);
    cluster.startAll();
    await until('a leader', async () => cluster.leader(), 30_000);
    const answered: Array<{ line: string; result: unknown }> = [];
    for (const { user, lines } of blocks) {
      let shell = shells.get(user);
      if (!shell) {
        shell = new ShellProcess(['--cluster', cluster.clusterPath, '--homes', join(dir, 'homes')], { cwd: dir });
        shells.set(user, shell);
      }
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
    const [shown] = await shells.get('bob')!.run('show_downloads');
    expect(shown!.result).toEqual([expect.objectContaining({ name: 'README.md', state: 'complete' })]);
  }, 120_000);
});
