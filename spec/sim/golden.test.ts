// Golden traces, as etcd-io/raft keeps its testdata: the output of a few seeded simulations is
// stored under spec/sim/golden and compared byte for byte, so a change of behaviour shows up as
// a diff in review. `CLIQUE_GOLDEN=update npx vitest run spec/sim/golden.test.ts` rewrites
// them; a change that rewrites them says why in its note.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runSim } from '../../src/cli/sim-command.js';
import { runSystemSim } from '../../src/cli/sim-system-command.js';
import { createRealWorld } from '../../src/world/real/real-world.js';

const GOLDEN = new URL('./golden/', import.meta.url).pathname;
const update = process.env.CLIQUE_GOLDEN === 'update';

async function output(run: (sink: { line(text: string): void; flush(): void }) => Promise<number>): Promise<{ status: number; text: string }> {
  const lines: string[] = [];
  const status = await run({ line: (text) => lines.push(text), flush: () => {} });
  return { status, text: lines.map((line) => `${line}\n`).join('') };
}

function compare(name: string, text: string): void {
  const path = `${GOLDEN}${name}`;
  if (update) writeFileSync(path, text);
  expect(existsSync(path), `${path} is missing; make it with CLIQUE_GOLDEN=update`).toBe(true);
  const golden = readFileSync(path, 'utf8');
  if (text === golden) return;
  const got = text.split('\n');
  const want = golden.split('\n');
  const line = got.findIndex((l, i) => l !== want[i]);
  expect(got[line], `${name} differs first at line ${line + 1} (CLIQUE_GOLDEN=update rewrites it)`).toBe(want[line]);
}

describe('golden traces', () => {
  it('clique sim --seed 42 --steps 3000: the cluster under a fault schedule', async () => {
    const { status, text } = await output((sink) => runSim(createRealWorld().fs, { seed: '42', steps: 3000, nodes: 3, clients: 4, quiet: false }, sink));
    expect(status).toBe(0);
    compare('cluster-seed42-steps3000.txt', text);
  });

  it.each([
    ['system-seed7-peers4.txt', '7', 4, false],
    ['system-seed7-peers4-wire.txt', '7', 4, true],
    ['system-seed11-peers6-wire.txt', '11', 6, true],
  ] as const)('%s: the whole system, and with --trace wire each conversation', async (name, seed, peers, traceWire) => {
    const { status, text } = await output((sink) => runSystemSim({ seed, peers, quiet: false, traceWire }, sink));
    expect(status).toBe(0);
    compare(name, text);
  });
});
