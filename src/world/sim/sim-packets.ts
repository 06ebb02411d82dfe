// The simulated network's packet layer: every packet crosses one directed link whose faults
// (latency, jitter, loss, duplication, reordering) and partitions decide its fate with that
// link's own forked rng. Streams (sim-stream.ts) and raw messages (for Raft) both ride on it.

import type { Scheduler } from './event-queue.js';
import type { SeededRng } from '../rng.js';

export interface LinkFaults {
  /** Base one-way delay. */
  latencyMs: number;
  /** Extra delay drawn uniformly from [0, jitterMs]. */
  jitterMs: number;
  dropProbability: number;
  duplicateProbability: number;
  /** Chance that a packet is held back by an extra delay in [1, reorderDelayMs], letting later ones overtake it. */
  reorderProbability: number;
  reorderDelayMs: number;
}

export const PERFECT_LINK: Readonly<LinkFaults> = {
  latencyMs: 1,
  jitterMs: 0,
  dropProbability: 0,
  duplicateProbability: 0,
  reorderProbability: 0,
  reorderDelayMs: 0,
};

export interface PacketCounters {
  sent: number;
  delivered: number;
  dropped: number;
  /** Lost because the link was partitioned when sent or when due to arrive. */
  blocked: number;
  duplicated: number;
  reordered: number;
}

export type LossReason = 'drop' | 'partition';

export type RawPacketHandler = (from: string, payload: unknown) => void;

function linkKey(from: string, to: string): string {
  return `${from}>${to}`;
}

function checkFaults(faults: LinkFaults): void {
  for (const [name, value] of Object.entries(faults)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new RangeError(`link fault ${name} must be a finite non-negative number, got ${String(value)}`);
    }
  }
  for (const p of [faults.dropProbability, faults.duplicateProbability, faults.reorderProbability]) {
    if (p > 1) throw new RangeError(`probability must be at most 1, got ${p}`);
  }
}

export class PacketLayer {
  readonly counters: PacketCounters = { sent: 0, delivered: 0, dropped: 0, blocked: 0, duplicated: 0, reordered: 0 };
  private defaultFaults: LinkFaults;
  private readonly linkFaults = new Map<string, LinkFaults>();
  private readonly linkRngs = new Map<string, SeededRng>();
  private readonly blockedLinks = new Set<string>();
  private readonly rawHandlers = new Map<string, RawPacketHandler[]>();

  constructor(
    private readonly scheduler: Scheduler,
    private readonly rng: SeededRng,
    defaultFaults: Partial<LinkFaults> = {},
  ) {
    this.defaultFaults = { ...PERFECT_LINK, ...defaultFaults };
    checkFaults(this.defaultFaults);
  }

  /** Faults of every link without its own setting. */
  setDefaultLink(faults: Partial<LinkFaults>): void {
    const merged = { ...this.defaultFaults, ...faults };
    checkFaults(merged);
    this.defaultFaults = merged;
  }

  /** Faults of the directed link from -> to, over the defaults. */
  setLink(from: string, to: string, faults: Partial<LinkFaults>): void {
    const merged = { ...this.faultsOf(from, to), ...faults };
    checkFaults(merged);
    this.linkFaults.set(linkKey(from, to), merged);
  }

  faultsOf(from: string, to: string): LinkFaults {
    return this.linkFaults.get(linkKey(from, to)) ?? this.defaultFaults;
  }

  /** Blocks every link from groupA to groupB, and back too when symmetric (the default). */
  partition(groupA: readonly string[], groupB: readonly string[], options: { symmetric?: boolean } = {}): void {
    const symmetric = options.symmetric ?? true;
    for (const a of groupA) {
      for (const b of groupB) {
        if (a === b) throw new Error(`host ${a} cannot be on both sides of a partition`);
        this.blockedLinks.add(linkKey(a, b));
        if (symmetric) this.blockedLinks.add(linkKey(b, a));
      }
    }
  }

  /** Lifts every partition (link faults stay). */
  heal(): void {
    this.blockedLinks.clear();
  }

  isBlocked(from: string, to: string): boolean {
    return this.blockedLinks.has(linkKey(from, to));
  }

  /**
   * Sends one packet from -> to. `deliver` runs once per arriving copy (duplicates included);
   * `lost` runs instead when the packet is dropped or meets a partition. A packet to oneself
   * crosses the loopback link, which has the same faults as any other unless set otherwise.
   */
  transmit(from: string, to: string, deliver: () => void, lost: (reason: LossReason) => void): void {
    this.counters.sent++;
    if (this.isBlocked(from, to)) {
      this.counters.blocked++;
      lost('partition');
      return;
    }
    const faults = this.faultsOf(from, to);
    const rng = this.rngOf(from, to);
    if (rng.float() < faults.dropProbability) {
      this.counters.dropped++;
      lost('drop');
      return;
    }
    const copies = rng.float() < faults.duplicateProbability ? 2 : 1;
    if (copies === 2) this.counters.duplicated++;
    for (let copy = 0; copy < copies; copy++) {
      let delayMs = faults.latencyMs + rng.int(Math.floor(faults.jitterMs) + 1);
      if (faults.reorderDelayMs >= 1 && rng.float() < faults.reorderProbability) {
        delayMs += 1 + rng.int(Math.floor(faults.reorderDelayMs));
        this.counters.reordered++;
      }
      this.scheduler.after(delayMs, () => {
        if (this.isBlocked(from, to)) {
          this.counters.blocked++;
          lost('partition');
          return;
        }
        this.counters.delivered++;
        deliver();
      });
    }
  }

  /** Sends a message on the raw layer; it reaches the handlers registered on `to` (if any) when it arrives. */
  sendPacket(from: string, to: string, payload: unknown): void {
    this.transmit(
      from,
      to,
      () => {
        for (const handler of this.rawHandlers.get(to) ?? []) handler(from, payload);
      },
      () => {},
    );
  }

  /** Registers a raw-packet handler on `host`; returns its removal. Crashing the host removes them all. */
  onPacket(host: string, handler: RawPacketHandler): () => void {
    const handlers = this.rawHandlers.get(host) ?? [];
    handlers.push(handler);
    this.rawHandlers.set(host, handlers);
    return () => {
      const current = this.rawHandlers.get(host) ?? [];
      this.rawHandlers.set(
        host,
        current.filter((candidate) => candidate !== handler),
      );
    };
  }

  clearHandlers(host: string): void {
    this.rawHandlers.delete(host);
  }

  private rngOf(from: string, to: string): SeededRng {
    const key = linkKey(from, to);
    let rng = this.linkRngs.get(key);
    if (rng === undefined) {
      rng = this.rng.fork(`link/${key}`);
      this.linkRngs.set(key, rng);
    }
    return rng;
  }
}
