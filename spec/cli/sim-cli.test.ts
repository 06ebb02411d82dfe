// `clique sim`: the same seed prints the same trace byte for byte, another seed another trace;
// --history-out writes the history for outside checkers; --replay reruns a schedule exactly.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateSchedule } from '../../src/sim/cluster/schedule.js';
import { SeededRng } from '../../src/world/rng.js';
import { staleReadSchedule } from '../helpers/stale-read-schedule.js';

const CLI = new URL('../../dist/cli/clique.cjs', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'clique-sim-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sim(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, 'sim', ...args], { encoding: 'utf8', cwd: dir });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('clique sim', () => {
  it('prints the same trace twice for seed 42, and another for seed 43', () => {
    const first = sim('--seed', '42');
    const second = sim('--seed', '42');
    const other = sim('--seed', '43');
    expect(first.status).toBe(0);
    expect(first.stdout).toBe(second.stdout);
    expect(other.stdout).not.toBe(first.stdout);
    expect(first.stdout).toMatch(/^sim: seed 42, 3 nodes, 4 clients, 500 steps\n/);
    expect(first.stdout).toMatch(/\ncoverage: elections [1-9]\d*, .*\nrecovery after healing: \d+ ms\nlinearizability: ok\nok\n$/);
    expect(first.stdout).toMatch(/\n\d{10} sim leader n\d \(term \d+\)\n/); // virtual time, never wall time
  });

  it('writes the history for outside checkers', () => {
    const out = join(dir, 'history.json');
    expect(sim('--seed', '7', '--steps', '200', '--quiet', '--history-out', out).status).toBe(0);
    const history = JSON.parse(readFileSync(out, 'utf8')) as { clientId: string; input: { kind: string }; call: number; output: string | null; return: number }[];
    expect(history.length).toBeGreaterThan(20);
    for (const op of history) {
      expect(Object.keys(op).sort()).toEqual(['call', 'clientId', 'input', 'output', 'return']);
      expect(op.return).toBeGreaterThanOrEqual(op.call);
    }
  });

  it('replays a schedule file to the same trace', () => {
    const schedule = generateSchedule(new SeededRng('schedule/9'), 300, 3, 4);
    const file = join(dir, 'nine.replay.json');
    writeFileSync(file, JSON.stringify({ seed: '9', schedule }));
    const replayed = sim('--replay', file);
    const seeded = sim('--seed', '9', '--steps', '300');
    expect(replayed.status).toBe(0);
    expect(replayed.stdout).toBe(seeded.stdout);
  });

  it('refuses bad usage with exit 2', () => {
    expect(sim('--steps', 'many').status).toBe(2);
    expect(sim('--nodes', '0').status).toBe(2);
    writeFileSync(join(dir, 'junk.json'), '{"nope": 1}');
    const junk = sim('--replay', join(dir, 'junk.json'));
    expect(junk.status).toBe(2);
    expect(junk.stderr).toMatch(/^error BAD_REPLAY: /);
  });
});

describe('clique sim on a broken core', () => {
  it('exits 1 with the seed and a replay file that reproduces the failure', async () => {
    const { runSim } = await import('../../src/cli/sim-command.js');
    const { createRealWorld } = await import('../../src/world/real/real-world.js');
    const schedule = staleReadSchedule;
    const file = join(dir, 'stale.json');
    writeFileSync(file, JSON.stringify({ seed: '1', schedule }));
    const lines: string[] = [];
    const sink = { line: (text: string) => lines.push(text), flush: () => {} };
    const fs = createRealWorld().fs;
    const status = await runSim(fs, { steps: 0, nodes: 3, clients: 4, replay: file, quiet: true, replayDir: dir, unsafe: { readWithoutQuorum: true } }, sink);
    expect(status).toBe(1);
    expect(lines).toContain('linearizability: illegal');
    const failed = lines.find((l) => l.startsWith('FAILED: seed 1; replay with: clique sim --replay '))!;
    const replayPath = failed.slice('FAILED: seed 1; replay with: clique sim --replay '.length);
    expect(JSON.parse(readFileSync(replayPath, 'utf8'))).toEqual({ seed: '1', schedule });
    // The same schedule on the correct core passes.
    expect(await runSim(fs, { steps: 0, nodes: 3, clients: 4, replay: file, quiet: true, replayDir: dir }, { line: () => {}, flush: () => {} })).toBe(0);
  });
});
