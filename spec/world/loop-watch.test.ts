// The event-loop watch a tracker node logs from (real-loop-watch.ts), on the real machine: a
// 300 ms stall of the thread shows as the interval's longest delay, and a quiet interval after
// it reports no such delay (each report covers its own interval only).

import { describe, expect, it } from 'vitest';
import { watchEventLoop, type LoopReport } from '../../src/world/real/real-loop-watch.js';

describe('the event-loop watch (real)', () => {
  it('reports a stall in the interval it happened in, and only there', async () => {
    const reports: LoopReport[] = [];
    const watch = watchEventLoop((report) => reports.push(report), 500);
    try {
      setTimeout(() => {
        const startedMs = performance.now();
        while (performance.now() - startedMs < 300);
      }, 100);
      await new Promise<void>((resolve) => {
        const check = setInterval(() => {
          if (reports.length >= 2) {
            clearInterval(check);
            resolve();
          }
        }, 20);
      });
    } finally {
      watch.stop();
    }
    expect(reports[0]!.delayMaxMs).toBeGreaterThanOrEqual(250);
    expect(reports[0]!.delayP50Ms).toBeLessThan(reports[0]!.delayMaxMs);
    expect(reports[1]!.delayMaxMs).toBeLessThan(reports[0]!.delayMaxMs);
    expect(reports[0]!.intervalMs).toBeGreaterThanOrEqual(450);
  });
});
