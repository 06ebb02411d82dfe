// Why this file exists: password guessing must cost the guesser time, not the user their
// account (DESIGN.md §7). Only the leader checks passwords (a login needs a ReadIndex), so the
// counters live in the leader's memory: they see every attempt, cost no log entries, and a
// failover resets them — which an attacker cannot cause from the client port, and which would
// buy at most one fresh allowance per election.
//
// Three counters of failures, each with exponential back-off once its free attempts are spent:
//   - per (user, source): one address guessing one user;
//   - per source: one address guessing many users. Many users may share one address (a
//     carrier-grade NAT, an office), so this one allows more free failures and forgets one of
//     them every SOURCE_LEAK_MS: one user's typos do not make their neighbours wait;
//   - per user: many addresses guessing one user. It applies only to sources that have already
//     failed for that user, so the real user, logging in from an address with no failures of
//     its own, gets in at once; a botnet gets one guess per fresh address, then waits too.
// An IPv6 source counts by its /64 (one host holds a whole /64). A success clears the pair's
// counter and the user's, never the source's (a guesser cannot launder an address by logging
// into an account of its own). Attempts refused for back-off are not checked, so they cost no
// scrypt, and are not counted.

/** Failures allowed before any waiting: typos. */
export const FREE_FAILURES = 5;
/** Failures from one source (all users together) allowed before its sources wait. */
export const SOURCE_FREE_FAILURES = 20;
/** A source's count loses one failure per this much time without failures. */
export const SOURCE_LEAK_MS = 30_000;
/** The first wait after the free failures; each further failure doubles it. */
export const FIRST_BACKOFF_MS = 1_000;
/** No wait is longer than this. */
export const MAX_BACKOFF_MS = 15 * 60_000;
/** A counter untouched this long is forgotten. */
export const FORGET_AFTER_MS = 60 * 60_000;
/** Counters kept at most (the oldest go first): the guard's memory is bounded. */
export const MAX_COUNTERS = 100_000;

interface Failures {
  count: number;
  lastMs: number;
}

export type LoginVerdict = { allowed: true } | { allowed: false; retryAfterMs: number; reason: string };

export function backoffMs(failures: number, free = FREE_FAILURES): number {
  if (failures < free) return 0;
  return Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (failures - free));
}

/** The part of a source address that counts: an IPv4 address, or an IPv6 address's /64. */
export function sourceKey(host: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
  if (mapped) return mapped[1]!;
  if (!host.includes(':')) return host; // IPv4, or a simulated host's name
  const [head = '', tail = ''] = host.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = host.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

export class LoginGuard {
  /** Insertion order is recency order: a touched counter is moved to the end. */
  private readonly counters = new Map<string, Failures>();

  constructor(private readonly nowMs: () => number) {}

  /** Whether `user` may try a password from `host` now. */
  check(user: string, host: string): LoginVerdict {
    const source = sourceKey(host);
    const nowMs = this.nowMs();
    const pair = this.get(`p\u0000${user}\u0000${source}`, nowMs);
    const limits: Array<[Failures | null, number, string]> = [
      [pair, FREE_FAILURES, `failed logins for ${user} from ${source}`],
      [this.get(`s\u0000${source}`, nowMs), SOURCE_FREE_FAILURES, `failed logins from ${source}`],
      // The user's own counter binds only a source that has failed for this user before.
      [pair === null ? null : this.get(`u\u0000${user}`, nowMs), FREE_FAILURES, `failed logins for ${user}`],
    ];
    let worst: { retryAfterMs: number; reason: string } | null = null;
    for (const [failures, free, reason] of limits) {
      if (failures === null) continue;
      const retryAfterMs = failures.lastMs + backoffMs(failures.count, free) - nowMs;
      if (retryAfterMs > 0 && (worst === null || retryAfterMs > worst.retryAfterMs)) worst = { retryAfterMs, reason: `${failures.count} ${reason}` };
    }
    return worst === null ? { allowed: true } : { allowed: false, ...worst };
  }

  failed(user: string, host: string): void {
    const source = sourceKey(host);
    const nowMs = this.nowMs();
    for (const key of [`p\u0000${user}\u0000${source}`, `s\u0000${source}`, `u\u0000${user}`]) {
      const failures = this.get(key, nowMs) ?? { count: 0, lastMs: nowMs };
      this.counters.delete(key);
      this.counters.set(key, { count: failures.count + 1, lastMs: nowMs });
    }
    while (this.counters.size > MAX_COUNTERS) this.counters.delete(this.counters.keys().next().value!);
  }

  succeeded(user: string, host: string): void {
    this.counters.delete(`p\u0000${user}\u0000${sourceKey(host)}`);
    this.counters.delete(`u\u0000${user}`);
  }

  get size(): number {
    return this.counters.size;
  }

  /** A counter as it stands now (a source's leaked down), or null if there is none. */
  private get(key: string, nowMs: number): Failures | null {
    const failures = this.counters.get(key);
    if (failures === undefined) return null;
    if (nowMs - failures.lastMs > FORGET_AFTER_MS) {
      this.counters.delete(key);
      return null;
    }
    if (!key.startsWith('s\u0000')) return failures;
    return { count: Math.max(0, failures.count - Math.floor((nowMs - failures.lastMs) / SOURCE_LEAK_MS)), lastMs: failures.lastMs };
  }
}
