// The event-loop watch a tracker node logs from (real-loop-watch.ts), on the real machine: an
// 800 ms stall of the thread, made 300 ms after one report (reports every 2 s), shows as the
// next report's longest delay, and the report after that (its own interval only) shows less
// than half of it.

import { describe, expect, it } from 'vitest';
import { watchEventLoop, type LoopReport } from '../../src/world/real/real-loop-watch.js';

describe('the event-loop watch (real)', () => {
  it('reports a stall in the interval it happened in, and only there', async () => {
    const reports: LoopReport[] = [];
    let third: () => void = () => {};
    const done = new Promise<void>((resolve) => (third = resolve));
    const watch = watchEventLoop((report) => {
      reports.push(report);
      if (reports.length === 1) {
        setTimeout(() => {
          const startedMs = performance.now();
          while (performance.now() - startedMs < 800);
        }, 300);
      }
      if (reports.length === 3) third();
    }, 2_000);
    try {
      await done;
    } finally {
      watch.stop();
    }
    const [, stalled, after] = reports;
    expect(stalled!.delayMaxMs).toBeGreaterThanOrEqual(700);
    expect(stalled!.delayP50Ms).toBeLessThan(stalled!.delayMaxMs);
    expect(after!.delayMaxMs).toBeLessThan(stalled!.delayMaxMs / 2);
    expect(stalled!.intervalMs).toBeGreaterThanOrEqual(1_900);
  }, 15_000);
});
