// The password KDF of both worlds: scrypt. The real world runs it in libuv's thread pool with
// costly parameters; simulations use tiny parameters so a derive is cheap and immediate.

import { scrypt, scryptSync } from 'node:crypto';
import type { KdfParams, PasswordKdf } from './world.js';

/** OWASP-style interactive parameters: about 16 MiB and tens of milliseconds per derive. */
export const REAL_KDF_PARAMS: Readonly<KdfParams> = {
  algorithm: 'scrypt',
  costN: 16_384,
  blockSizeR: 8,
  parallelP: 1,
  keyLengthBytes: 32,
};

/** Deliberately weak: for simulations and tests only. */
export const SIM_KDF_PARAMS: Readonly<KdfParams> = {
  algorithm: 'scrypt',
  costN: 16,
  blockSizeR: 1,
  parallelP: 1,
  keyLengthBytes: 32,
};

function checkParams(params: KdfParams): void {
  if (params.algorithm !== 'scrypt') throw new Error(`unsupported KDF ${String(params.algorithm)}`);
  const { costN, blockSizeR, parallelP, keyLengthBytes } = params;
  if (!Number.isInteger(costN) || costN < 2 || (costN & (costN - 1)) !== 0) throw new RangeError(`scrypt N must be a power of two > 1, got ${costN}`);
  for (const [name, value] of [['r', blockSizeR], ['p', parallelP], ['keyLength', keyLengthBytes]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`scrypt ${name} must be a positive integer, got ${value}`);
  }
}

function scryptOptions(params: KdfParams): { N: number; r: number; p: number; maxmem: number } {
  // scrypt needs about 128 * N * r * p bytes; leave twice that plus slack.
  const maxmem = 2 * 128 * params.costN * params.blockSizeR * params.parallelP + 1024 * 1024;
  return { N: params.costN, r: params.blockSizeR, p: params.parallelP, maxmem };
}

/**
 * Derivations running at once in libuv's thread pool (8 threads in a `clique` process, see
 * clique.cts; 4 by default). The pool is shared with LevelDB and the file system: a tracker's
 * Raft log syncs there, and a leader whose sync waited behind a queue of logins' derivations
 * sent no heartbeats for that long, so its followers held elections (issue 20: 1,000 logins a
 * minute at the real cost). The other threads are always left to the disk; further derivations
 * wait their turn here, in order (and give up after MAX_DERIVATION_WAIT_MS).
 */
export const MAX_CONCURRENT_DERIVATIONS = 2;

/**
 * A derivation that waited this long for a thread is refused rather than run: its client (whose
 * login waits 2 s plus the reachability dial) has given up or soon will, and running it anyway
 * only makes every later login later too.
 */
export const MAX_DERIVATION_WAIT_MS = 3_000;

/** The KDF refused a derivation that waited too long for a thread (a node overloaded with logins). */
export class KdfBusyError extends Error {
  override name = 'KdfBusyError';
  readonly code = 'KDF_BUSY';
}

/** How a thread-pool KDF waits: its World's monotonic clock, and its bounds (defaults above). */
export interface ThreadPoolKdfOptions {
  monotonicMs: () => number;
  maxConcurrent?: number;
  maxWaitMs?: number;
}

/** scrypt in the thread pool, off the event loop, at most `maxConcurrent` at a time. */
export function threadPoolKdf(params: KdfParams, options: ThreadPoolKdfOptions): PasswordKdf {
  const { monotonicMs, maxConcurrent = MAX_CONCURRENT_DERIVATIONS, maxWaitMs = MAX_DERIVATION_WAIT_MS } = options;
  checkParams(params);
  if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) throw new RangeError(`at least one derivation must run at a time, got ${maxConcurrent}`);
  let running = 0;
  const waiting: { sinceMs: number; start: () => void; refuse: (error: KdfBusyError) => void }[] = [];
  /** A slot: at once if one is free, else when a running derivation hands its own over. */
  const acquire = (): Promise<void> => {
    if (running < maxConcurrent) {
      running++;
      return Promise.resolve();
    }
    return new Promise((start, refuse) => waiting.push({ sinceMs: monotonicMs(), start, refuse }));
  };
  /** The slot goes to the oldest waiter that has not waited too long; those that have are refused. */
  const release = (): void => {
    for (let next = waiting.shift(); next !== undefined; next = waiting.shift()) {
      const waitedMs = monotonicMs() - next.sinceMs;
      if (waitedMs <= maxWaitMs) return next.start();
      next.refuse(new KdfBusyError(`waited ${Math.round(waitedMs)} ms for a thread to check the password`));
    }
    running--;
  };
  return {
    params,
    derive: async (password, salt, derivationParams) => {
      checkParams(derivationParams);
      await acquire();
      return new Promise((resolve, reject) => {
        try {
          scrypt(password, salt, derivationParams.keyLengthBytes, scryptOptions(derivationParams), (error, key) => {
            release();
            if (error !== null) reject(error);
            else resolve(Uint8Array.from(key));
          });
        } catch (error) {
          release();
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    },
  };
}

/** scrypt computed synchronously: deterministic and instant with SIM_KDF_PARAMS. */
export function inlineKdf(params: KdfParams = SIM_KDF_PARAMS): PasswordKdf {
  checkParams(params);
  return {
    params,
    derive: async (password, salt, derivationParams) => {
      checkParams(derivationParams);
      const key = scryptSync(password, salt, derivationParams.keyLengthBytes, scryptOptions(derivationParams));
      return Uint8Array.from(key);
    },
  };
}
