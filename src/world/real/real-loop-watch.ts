// Why this file exists: a tracker node's one thread runs Raft's timers, its messages and every
// client's requests, so a stall of the event loop (a long apply, a full collection on a large
// heap, a burst of TLS handshakes) is what turns into elections and slow answers. This watches
// the loop's delay and the collector's pauses and reports them every interval, so a node's log
// says where a slow second went. It reads the process's own clocks, hence its place in world/real.

import { constants, monitorEventLoopDelay, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

/** One interval's figures, in milliseconds. */
export interface LoopReport {
  intervalMs: number;
  /** How late a timer meant to fire every 10 ms ran: median, 99th percentile and the worst. */
  delayP50Ms: number;
  delayP99Ms: number;
  delayMaxMs: number;
  /** Garbage collections in the interval, their summed pause and the longest one. */
  gcCount: number;
  gcPauseMs: number;
  gcMaxPauseMs: number;
  /** Which collection the longest pause was: a full one ('major') or of the young generation. */
  gcMaxPauseKind: GcKind | null;
}

export type GcKind = 'major' | 'minor' | 'incremental' | 'weak-callbacks';

function gcKindOf(entry: PerformanceEntry): GcKind {
  const kind = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
  if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) return 'major';
  if (kind === constants.NODE_PERFORMANCE_GC_INCREMENTAL) return 'incremental';
  if (kind === constants.NODE_PERFORMANCE_GC_WEAKCB) return 'weak-callbacks';
  return 'minor';
}

export interface LoopWatch {
  stop(): void;
}

const RESOLUTION_MS = 10;
const round = (ms: number): number => Math.round(ms * 10) / 10;

/** Calls `report` every `everyMs` with the interval's figures, until stopped. */
export function watchEventLoop(report: (figures: LoopReport) => void, everyMs = 10_000): LoopWatch {
  const delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  delay.enable();
  let gcCount = 0;
  let gcPauseMs = 0;
  let gcMaxPauseMs = 0;
  let gcMaxPauseKind: GcKind | null = null;
  const gc = new PerformanceObserver((list) => {
    for (const entry of list.getEntries() as PerformanceEntry[]) {
      gcCount += 1;
      gcPauseMs += entry.duration;
      if (entry.duration > gcMaxPauseMs) {
        gcMaxPauseMs = entry.duration;
        gcMaxPauseKind = gcKindOf(entry);
      }
    }
  });
  gc.observe({ entryTypes: ['gc'] });
  let lastMs = performance.now();
  const timer = setInterval(() => {
    const nowMs = performance.now();
    // The histogram is in nanoseconds and includes the resolution's own wait: subtract it.
    const late = (ns: number): number => round(Math.max(0, ns / 1e6 - RESOLUTION_MS));
    report({
      intervalMs: Math.round(nowMs - lastMs),
      delayP50Ms: late(delay.percentile(50)),
      delayP99Ms: late(delay.percentile(99)),
      delayMaxMs: late(delay.max),
      gcCount,
      gcPauseMs: round(gcPauseMs),
      gcMaxPauseMs: round(gcMaxPauseMs),
      gcMaxPauseKind,
    });
    delay.reset();
    gcCount = 0;
    gcPauseMs = 0;
    gcMaxPauseMs = 0;
    gcMaxPauseKind = null;
    lastMs = nowMs;
  }, everyMs);
  timer.unref();
  return {
    stop(): void {
      clearInterval(timer);
      delay.disable();
      gc.disconnect();
    },
  };
}
