// One incarnation of a simulated host: the World a process on it sees. It owns the process's
// timers (cancelled by a crash) and its possibly skewed clock (whose wall time may step, while
// its monotonic time only runs, at the host's rate). A crash ends the incarnation;
// the next forHost() starts a fresh one over the same surviving disk.

import type { Scheduler, ScheduledEvent } from './event-queue.js';
import type { Clock, FileSystem, HttpServers, KvFactory, Network, PasswordKdf, Rng, Timer, World } from '../world.js';
import { simCertificates } from './sim-certs.js';

export interface ClockSkew {
  /** Added to the host's clock. */
  offsetMs: number;
  /** The host's clock runs this many parts per million fast (negative: slow). */
  ratePpm: number;
}

export interface SimHostParts {
  readonly scheduler: Scheduler;
  readonly epochMs: number;
  readonly skew: () => ClockSkew;
  readonly rng: Rng;
  readonly net: Network;
  readonly fs: FileSystem;
  readonly http: HttpServers;
  readonly kv: KvFactory;
  readonly kdf: PasswordKdf;
  readonly trace: (line: string) => void;
}

const NO_TIMER: Timer = { cancel: () => {} };

export class SimHost {
  readonly world: World;
  private alive = true;
  private readonly timers = new Set<ScheduledEvent>();
  private lastMonotonicMs = 0;

  constructor(
    readonly name: string,
    readonly incarnation: number,
    private readonly parts: SimHostParts,
  ) {
    const clock: Clock = {
      nowMs: () => this.localNowMs(),
      monotonicMs: () => this.localMonotonicMs(),
      setTimer: (delayMs, fire) => this.setTimer(delayMs, fire),
      // A simulated host never stalls: what is due at the same virtual time runs in the order it was scheduled.
      setDeadline: (delayMs, fire) => this.setTimer(delayMs, fire),
    };
    this.world = {
      clock,
      rng: parts.rng,
      net: parts.net,
      fs: parts.fs,
      kv: parts.kv,
      kdf: parts.kdf,
      certs: simCertificates(parts.rng),
      http: parts.http,
      trace: (line) => {
        if (this.alive) parts.trace(line);
      },
    };
  }

  get isAlive(): boolean {
    return this.alive;
  }

  /** The process dies: its timers never fire and its trace lines are dropped. */
  kill(): void {
    this.alive = false;
    for (const event of this.timers) this.parts.scheduler.cancel(event);
    this.timers.clear();
  }

  private localNowMs(): number {
    const { offsetMs, ratePpm } = this.parts.skew();
    const elapsedMs = this.parts.scheduler.elapsedMs();
    return this.parts.epochMs + offsetMs + Math.floor(elapsedMs * (1 + ratePpm / 1_000_000));
  }

  /** Virtual time at the host's rate; offsets (steps) never touch it, and a change of rate never sends it back. */
  private localMonotonicMs(): number {
    const { ratePpm } = this.parts.skew();
    const monotonicMs = Math.floor(this.parts.scheduler.elapsedMs() * (1 + ratePpm / 1_000_000));
    this.lastMonotonicMs = Math.max(this.lastMonotonicMs, monotonicMs);
    return this.lastMonotonicMs;
  }

  private setTimer(delayMs: number, fire: () => void): Timer {
    if (!Number.isFinite(delayMs)) throw new RangeError(`timer delay must be finite, got ${delayMs}`);
    if (!this.alive) return NO_TIMER;
    // A fast clock's milliseconds are shorter: the timer fires sooner in virtual time.
    const virtualDelayMs = Math.max(0, delayMs) / (1 + this.parts.skew().ratePpm / 1_000_000);
    const event = this.parts.scheduler.after(virtualDelayMs, () => {
      this.timers.delete(event);
      if (this.alive) fire();
    });
    this.timers.add(event);
    return {
      cancel: () => {
        this.parts.scheduler.cancel(event);
        this.timers.delete(event);
      },
    };
  }
}
