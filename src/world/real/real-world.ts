// The real World: Node's clock and timers, crypto randomness, TCP, the disk, LevelDB and scrypt
// in the thread pool. This is the only file allowed to read Date.now or call setTimeout.
// (real-clock-offset.ts, a test-only switch, may offset the wall clock.)

import { threadPoolKdf, REAL_KDF_PARAMS } from '../kdf.js';
import { realCertificates } from './real-certs.js';
import { realFileSystem } from './real-fs.js';
import { realHttp } from './real-http.js';
import { realKvFactory } from './real-kv.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, realNetwork } from './real-net.js';
import { cryptoRng } from '../rng.js';
import { clockOffsetForTests } from './real-clock-offset.js';
import { realDeadline } from './real-deadline.js';
import type { Clock, KdfParams, World } from '../world.js';

export interface RealWorldOptions {
  /** Receives each trace line; without it, trace lines are dropped. */
  traceSink?: (line: string) => void;
  kdfParams?: KdfParams;
  connectTimeoutMs?: number;
}

/**
 * Timers are left ref'd on purpose: a pending timer (an election timeout, a retry) is work the
 * process still has to do, so it keeps Node alive; shutting down means cancelling them.
 */
function realClock(): Clock {
  const monotonicMs = (): number => performance.now();
  const offsetMs = clockOffsetForTests(monotonicMs);
  return {
    nowMs: () => Date.now() + offsetMs(),
    monotonicMs,
    setTimer: (delayMs, fire) => {
      if (!Number.isFinite(delayMs)) throw new RangeError(`timer delay must be finite, got ${delayMs}`);
      const handle = setTimeout(fire, Math.max(0, delayMs));
      return { cancel: () => clearTimeout(handle) };
    },
    setDeadline: (delayMs, fire) => realDeadline(delayMs, fire),
  };
}

export function createRealWorld(options: RealWorldOptions = {}): World {
  const sink = options.traceSink;
  const clock = realClock();
  return {
    clock,
    rng: cryptoRng(),
    net: realNetwork(options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS),
    fs: realFileSystem(),
    kv: realKvFactory(),
    kdf: threadPoolKdf(options.kdfParams ?? REAL_KDF_PARAMS, { monotonicMs: () => clock.monotonicMs() }),
    certs: realCertificates(),
    http: realHttp(),
    trace: sink === undefined ? () => {} : (line) => sink(line),
  };
}
