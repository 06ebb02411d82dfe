// Why this file exists: the test-only switch that steps the real World's wall clock
// (CLIQUE_TEST_CLOCK_OFFSET_FILE=path). Clock-step tests must show that a process whose wall
// clock jumps (an NTP step, an operator's `date -s`) expires no session early and refuses no
// ticket for it, and that a node whose clock is off says so; nobody can step the machine's
// clock for one process, so the real World adds an offset read from this file to Date.now().
// The file holds one integer (milliseconds, may be negative); the test rewrites it while the
// process runs, and the process picks the new offset up within OFFSET_REREAD_MS. A missing or
// malformed file means no offset. Monotonic time is never offset. Never set it outside tests.

import { readFileSync } from 'node:fs';

export const CLOCK_OFFSET_SWITCH = 'CLIQUE_TEST_CLOCK_OFFSET_FILE';
/** How often the file is read again, at most (measured on the monotonic clock). */
export const OFFSET_REREAD_MS = 100;

/** A function giving the current test offset in ms (0 without the switch), and a warning on stderr once when it is on. */
export function clockOffsetForTests(monotonicMs: () => number): () => number {
  const path = process.env[CLOCK_OFFSET_SWITCH];
  if (path === undefined || path === '') return () => 0;
  process.stderr.write(`warning: ${CLOCK_OFFSET_SWITCH} is set: the wall clock is offset by ${path} (a test-only switch)\n`);
  let offsetMs = 0;
  let readAtMs = -Infinity;
  return () => {
    const nowMs = monotonicMs();
    if (nowMs - readAtMs < OFFSET_REREAD_MS) return offsetMs;
    readAtMs = nowMs;
    try {
      const text = readFileSync(path, 'utf8').trim();
      offsetMs = /^-?\d{1,15}$/.test(text) ? Number(text) : 0;
    } catch {
      offsetMs = 0;
    }
    return offsetMs;
  };
}
