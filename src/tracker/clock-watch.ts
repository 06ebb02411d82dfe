// Why this file exists: tickets and entry times are wall-clock time, so a tracker node must know
// when its wall clock is wrong (DESIGN.md §4, §7). The transport measures each peer's wall clock
// by round trips (clockPing/clockPong between nodes: the peer read its clock about halfway
// through, measured on our monotonic clock); this file keeps those measurements, tells how far
// this node's clock is from the median of the cluster's, and — on a skewed node — logs it and
// hands leadership to a node whose clock agrees, so tickets and entry times come from there.
//
// A measurement is kept as "the peer's wall clock minus our monotonic clock", which a step of
// our own wall clock does not change: a node whose clock steps knows it at its next reading,
// without waiting for a new round trip. A peer's step shows at the next round trip (1 s).

import type { NodeId } from '../raft/types.js';
import type { Clock, Timer, World } from '../world/world.js';

/** A node whose clock is further than this from the cluster's median is skewed. */
export const CLOCK_SKEW_LIMIT_MS = 10_000;
/** How often each node measures every peer's clock. */
export const CLOCK_PING_EVERY_MS = 1_000;
/** A measurement older than this (a peer gone silent) no longer counts. */
export const CLOCK_SAMPLE_FRESH_MS = 10_000;
/** A skewed leader hands leadership over at most this often. */
const HANDOVER_EVERY_MS = 2_000;

export interface ClockSkewView {
  /** This node's wall clock minus the cluster's median (including this node's); null until a majority is measured. */
  skewMs: number | null;
  /** |skewMs| > CLOCK_SKEW_LIMIT_MS: this node issues no tickets and proposes no entry times. */
  skewed: boolean;
  /** Peers measured recently. */
  peersMeasured: number;
}

interface Measurement {
  /** The peer's wall clock minus our monotonic clock, at the moment it answered. */
  peerWallMinusMonotonicMs: number;
  atMonotonicMs: number;
}

export class ClockWatch {
  private readonly measured = new Map<NodeId, Measurement>();

  constructor(
    private readonly clock: Clock,
    /** How many nodes the cluster has, this one included. */
    private readonly clusterSize: number,
    private readonly limitMs = CLOCK_SKEW_LIMIT_MS,
  ) {}

  /** A round trip to `peer` began at `sentMonotonicMs` (ours); the peer's wall clock read `peerWallMs` when it answered. */
  sample(peer: NodeId, sentMonotonicMs: number, peerWallMs: number): void {
    const nowMonotonicMs = this.clock.monotonicMs();
    const roundTripMs = nowMonotonicMs - sentMonotonicMs;
    if (!Number.isFinite(peerWallMs) || roundTripMs < 0 || roundTripMs > CLOCK_SAMPLE_FRESH_MS) return;
    this.measured.set(peer, { peerWallMinusMonotonicMs: peerWallMs - (sentMonotonicMs + roundTripMs / 2), atMonotonicMs: nowMonotonicMs });
  }

  /** Each freshly measured peer's wall clock minus ours, now. */
  private offsets(): Map<NodeId, number> {
    const nowMonotonicMs = this.clock.monotonicMs();
    const nowWallMs = this.clock.nowMs();
    const offsets = new Map<NodeId, number>();
    for (const [peer, m] of this.measured) {
      if (nowMonotonicMs - m.atMonotonicMs > CLOCK_SAMPLE_FRESH_MS) continue;
      offsets.set(peer, m.peerWallMinusMonotonicMs + nowMonotonicMs - nowWallMs);
    }
    return offsets;
  }

  /**
   * The median of the offsets of this node (0) and every measured peer. With an even count, the
   * middle one nearer to this node's clock: two nodes alone cannot tell which of them is wrong,
   * so neither is called skewed. Null while fewer than a majority of the cluster are measured.
   */
  private medianOffsetMs(offsets: ReadonlyMap<NodeId, number>): number | null {
    if (offsets.size + 1 <= this.clusterSize / 2) return null;
    const sorted = [0, ...offsets.values()].sort((a, b) => a - b);
    const n = sorted.length;
    if (n % 2 === 1) return sorted[(n - 1) / 2]!;
    const low = sorted[n / 2 - 1]!;
    const high = sorted[n / 2]!;
    return Math.abs(low) <= Math.abs(high) ? low : high;
  }

  view(): ClockSkewView {
    const offsets = this.offsets();
    const median = this.medianOffsetMs(offsets);
    const skewMs = median === null ? null : Math.round(-median);
    return { skewMs: skewMs === 0 ? 0 : skewMs, skewed: skewMs !== null && Math.abs(skewMs) > this.limitMs, peersMeasured: offsets.size };
  }

  /** Peers whose clocks are within the limit of the median: where a skewed leader hands over. */
  peersInAgreement(): NodeId[] {
    const offsets = this.offsets();
    const median = this.medianOffsetMs(offsets);
    if (median === null) return [];
    return [...offsets].filter(([, offsetMs]) => Math.abs(offsetMs - median) <= this.limitMs).map(([peer]) => peer);
  }
}

/** What the guard needs of the node: its role, and a way to hand leadership over. */
export interface LeadershipControl {
  isLeader(): boolean;
  transferLeadership(to: NodeId): void;
}

/**
 * Once a second: logs when this node's clock becomes skewed or agrees again, and while it is
 * skewed and leads, hands leadership to a peer whose clock agrees (a leader's time is what
 * entries and tickets carry).
 */
export class ClockGuard {
  private timer: Timer | null = null;
  private skewed = false;
  private lastHandoverMs = -Infinity;

  constructor(
    private readonly world: World,
    private readonly watch: ClockWatch,
    private readonly node: LeadershipControl,
    private readonly log: (event: string, fields: Record<string, unknown>) => void,
  ) {}

  start(): void {
    const tick = (): void => {
      this.check();
      this.timer = this.world.clock.setTimer(CLOCK_PING_EVERY_MS, tick);
    };
    this.timer = this.world.clock.setTimer(CLOCK_PING_EVERY_MS, tick);
  }

  stop(): void {
    this.timer?.cancel();
  }

  check(): void {
    const view = this.watch.view();
    if (view.skewed !== this.skewed) {
      this.skewed = view.skewed;
      if (view.skewed) this.log('clock_skewed', { skewMs: view.skewMs, limitMs: CLOCK_SKEW_LIMIT_MS, peersMeasured: view.peersMeasured });
      else this.log('clock_agrees', { skewMs: view.skewMs, peersMeasured: view.peersMeasured });
    }
    if (!view.skewed || !this.node.isLeader()) return;
    const nowMonotonicMs = this.world.clock.monotonicMs();
    if (nowMonotonicMs - this.lastHandoverMs < HANDOVER_EVERY_MS) return;
    const to = this.watch.peersInAgreement()[0];
    if (to === undefined) return;
    this.lastHandoverMs = nowMonotonicMs;
    this.log('leadership_handover', { to, reason: 'clock skewed', skewMs: view.skewMs });
    this.node.transferLeadership(to);
  }
}
