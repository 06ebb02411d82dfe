// The deterministic simulated world (DESIGN.md §3): one event queue, one virtual clock and one
// seed from which every random draw derives. Hosts get World views; tests drive time with
// step/runFor/runUntil and inject faults (network, clock skew, crashes). Same seed and same
// driving code give a byte-identical trace.

import { SimHttp } from './sim-http.js';
import { EventQueue, type ScheduledEvent, type Scheduler } from './event-queue.js';
import { inlineKdf, SIM_KDF_PARAMS } from '../kdf.js';
import { SeededRng } from '../rng.js';
import { SimFs } from './sim-fs.js';
import { SimHost, type ClockSkew } from './sim-host.js';
import { SimKv, type KvCounters } from './sim-kv.js';
import { SimNet } from './sim-net.js';
import type { LinkFaults, PacketCounters } from './sim-packets.js';
import type { StreamCounters, StreamOptions } from './sim-stream.js';
import type { KdfParams, PasswordKdf, World } from '../world.js';

export const DEFAULT_EPOCH_MS = 1_700_000_000_000;
const HOST_NAME = /^[A-Za-z0-9_.:-]+$/;
/** Host column of trace lines written by the simulation itself (crashes). */
const SIM_TRACE_HOST = '*';

export interface SimWorldOptions {
  seed: number | string;
  /** What hosts' clocks read at virtual time 0. */
  epochMs?: number;
  defaultLink?: Partial<LinkFaults>;
  stream?: Partial<StreamOptions>;
  kdfParams?: KdfParams;
  /**
   * How long a synced LevelDB batch takes, drawn per batch (default: none). With it, a Raft
   * node's Ready is still being written when messages arrive, as on a real disk.
   */
  diskSyncMs?: { minMs: number; maxMs: number };
  /** Also receives every trace line as it is written (e.g. console.log while debugging). */
  traceSink?: (line: string) => void;
}

export interface SimCounters {
  eventsRun: number;
  elapsedMs: number;
  crashes: number;
  packets: PacketCounters;
  streams: StreamCounters;
  kv: KvCounters;
}

/** Lets pending promise chains settle (memory-level is promise-based, pure JS) before the next event. */
function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class SimWorld implements Scheduler {
  readonly seed: number | string;
  readonly epochMs: number;
  readonly net: SimNet;
  readonly kv: SimKv;
  readonly fs: SimFs;
  /** The hosts' web servers; tests ask them with `http.request`. */
  readonly http = new SimHttp();
  private readonly queue = new EventQueue();
  private readonly rootRng: SeededRng;
  private readonly kdf: PasswordKdf;
  private readonly hosts = new Map<string, SimHost>();
  private readonly skews = new Map<string, ClockSkew>();
  private readonly lines: string[] = [];
  private stepping = false;
  private readonly traceSink: ((line: string) => void) | undefined;
  private nowElapsedMs = 0;
  private eventsRun = 0;
  private crashes = 0;

  constructor(options: SimWorldOptions) {
    this.seed = options.seed;
    this.epochMs = options.epochMs ?? DEFAULT_EPOCH_MS;
    this.rootRng = new SeededRng(options.seed);
    this.net = new SimNet(this, this.rootRng.fork('net'), { defaultLink: options.defaultLink ?? {}, stream: options.stream ?? {} });
    const kvRng = this.rootRng.fork('kv');
    const sync = options.diskSyncMs;
    // Forked only when asked for, so runs without it draw exactly what they always drew.
    this.kv = new SimKv(kvRng, sync === undefined ? null : { ...sync, after: (delayMs, run) => void this.after(delayMs, run), rng: this.rootRng.fork('disk-sync') });
    this.fs = new SimFs();
    this.kdf = inlineKdf(options.kdfParams ?? SIM_KDF_PARAMS);
    this.traceSink = options.traceSink;
  }

  // ---- time ----

  elapsedMs(): number {
    return this.nowElapsedMs;
  }

  /** Virtual wall-clock time (without any host's skew). */
  nowMs(): number {
    return this.epochMs + this.nowElapsedMs;
  }

  after(delayMs: number, run: () => void): ScheduledEvent {
    if (!Number.isFinite(delayMs) || delayMs < 0) throw new RangeError(`delay must be finite and >= 0, got ${delayMs}`);
    return this.queue.push(this.nowElapsedMs + Math.ceil(delayMs), run);
  }

  cancel(event: ScheduledEvent): void {
    this.queue.cancel(event);
  }

  // ---- hosts ----

  /** The World of the host's current incarnation; after crashHost, a fresh one (a restarted process). */
  forHost(name: string): World {
    if (!HOST_NAME.test(name)) throw new Error(`bad host name ${JSON.stringify(name)}`);
    const current = this.hosts.get(name);
    if (current?.isAlive === true) return current.world;
    const incarnation = (current?.incarnation ?? 0) + 1;
    const host = new SimHost(name, incarnation, {
      scheduler: this,
      epochMs: this.epochMs,
      skew: () => this.skews.get(name) ?? { offsetMs: 0, ratePpm: 0 },
      rng: this.rootRng.fork(`host/${name}#${incarnation}`),
      net: this.net.networkFor(name),
      fs: this.fs.fileSystemFor(name),
      http: this.http.serversFor(name),
      kv: this.kv.factoryFor(name),
      kdf: this.kdf,
      trace: (line) => this.trace(name, line),
    });
    this.hosts.set(name, host);
    return host.world;
  }

  /** Kills the host's process: timers cancelled, connections reset, listeners closed, unsynced writes partly lost. */
  crashHost(name: string): void {
    this.crashes++;
    this.hosts.get(name)?.kill();
    this.net.crashHost(name);
    this.kv.crashHost(name);
    this.fs.crashHost(name);
    this.http.crashHost(name);
    this.trace(SIM_TRACE_HOST, `crash ${name}`);
  }

  /** The host's clock reads virtual time * (1 + ratePpm/1e6) + offsetMs; its timers scale alike. */
  setClockSkew(host: string, offsetMs: number, ratePpm = 0): void {
    if (!Number.isFinite(offsetMs) || !Number.isFinite(ratePpm) || ratePpm <= -1_000_000) {
      throw new RangeError(`bad clock skew ${offsetMs} ms, ${ratePpm} ppm`);
    }
    this.skews.set(host, { offsetMs, ratePpm });
  }

  /**
   * The host's wall clock steps by `byMs` (forward or back), as an NTP step or `date -s` would;
   * its monotonic clock and timers are untouched. Traced, so a step shows in the trace.
   */
  stepClock(host: string, byMs: number): void {
    if (!Number.isSafeInteger(byMs)) throw new RangeError(`bad clock step ${byMs} ms`);
    const skew = this.skews.get(host) ?? { offsetMs: 0, ratePpm: 0 };
    this.skews.set(host, { offsetMs: skew.offsetMs + byMs, ratePpm: skew.ratePpm });
    this.trace(SIM_TRACE_HOST, `clock ${host} steps ${byMs} ms`);
  }

  // ---- trace ----

  trace(host: string, line: string): void {
    const text = `${String(this.nowElapsedMs).padStart(10, '0')} ${host} ${line.replaceAll('\n', '\\n')}`;
    this.lines.push(text);
    this.traceSink?.(text);
  }

  /** Every trace line so far, oldest first. */
  get traceLines(): readonly string[] {
    return this.lines;
  }

  traceText(): string {
    return this.lines.map((line) => `${line}\n`).join('');
  }

  counters(): SimCounters {
    return {
      eventsRun: this.eventsRun,
      elapsedMs: this.nowElapsedMs,
      crashes: this.crashes,
      packets: { ...this.net.packets.counters },
      streams: { ...this.net.counters },
      kv: { ...this.kv.counters },
    };
  }

  // ---- driving ----

  /**
   * Runs the next event if it is due by `deadlineMs`; false when nothing is due. The check and
   * the pop happen together, so an event cancelled meanwhile cannot let a later one slip in.
   */
  async step(deadlineMs = Infinity): Promise<boolean> {
    if (this.stepping) throw new Error('step() called while another step is running: await each driving call');
    this.stepping = true;
    try {
      if (this.queue.size === 0) await yieldToLoop();
      const nextMs = this.queue.peekTimeMs();
      if (nextMs === undefined || nextMs > deadlineMs) return false;
      const event = this.queue.pop()!;
      if (event.atMs < this.nowElapsedMs) throw new Error(`event at ${event.atMs} ms is in the past (now ${this.nowElapsedMs} ms)`);
      this.nowElapsedMs = event.atMs;
      this.eventsRun++;
      try {
        event.run();
      } finally {
        await yieldToLoop();
      }
      return true;
    } finally {
      this.stepping = false;
    }
  }

  /** Runs events until none is left; throws when more than `maxEvents` would be needed (a livelock, or periodic timers). */
  async runUntilIdle(maxEvents = 1_000_000): Promise<number> {
    for (let count = 0; ; count++) {
      if (count >= maxEvents) {
        if (this.queue.size === 0) await yieldToLoop();
        if (this.queue.size > 0) throw new Error(`simulation not idle after ${maxEvents} events`);
        return count;
      }
      if (!(await this.step())) return count;
    }
  }

  /** Runs every event due within `durationMs`, then sets the clock to the end of that span. */
  async runFor(durationMs: number): Promise<number> {
    if (!Number.isFinite(durationMs) || durationMs < 0) throw new RangeError(`bad duration ${durationMs}`);
    const deadlineMs = this.nowElapsedMs + Math.ceil(durationMs);
    let count = 0;
    while (await this.step(deadlineMs)) count++;
    this.advanceTo(deadlineMs);
    return count;
  }

  /**
   * Moves the clock forward to `deadlineMs`, but never past a scheduled event: a promise chain
   * that resumed after the last step may have scheduled one before the deadline.
   */
  private advanceTo(deadlineMs: number): void {
    const nextMs = this.queue.peekTimeMs() ?? deadlineMs;
    this.nowElapsedMs = Math.max(this.nowElapsedMs, Math.min(deadlineMs, nextMs));
  }

  /**
   * Runs events until `predicate` holds (true) or no event is due within `maxVirtualMs` (false;
   * the clock then stands at the deadline if events remain beyond it).
   */
  async runUntil(predicate: () => boolean, maxVirtualMs: number): Promise<boolean> {
    if (!Number.isFinite(maxVirtualMs) || maxVirtualMs < 0) throw new RangeError(`bad time limit ${maxVirtualMs}`);
    const deadlineMs = this.nowElapsedMs + Math.ceil(maxVirtualMs);
    while (!predicate()) {
      if (!(await this.step(deadlineMs))) {
        if (this.queue.size > 0) this.advanceTo(deadlineMs);
        return predicate();
      }
    }
    return true;
  }
}
