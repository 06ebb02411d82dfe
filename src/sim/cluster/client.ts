// Why this file exists: a simulated tracker client. One operation at a time; it sends to the node
// it believes leads, follows leader hints, retries the same (clientId, requestId) through other
// nodes on timeouts (the reply cache makes a retried write apply once), and gives up after a
// deadline — recording the outcome as unknown, as a real client would have to.

import type { SimWorld } from '../../world/sim/sim-world.js';
import type { World } from '../../world/world.js';
import type { ClientRequestOp, ClientResponseOutcome, Packet } from './protocol.js';

export interface ClientTimings {
  attemptTimeoutMs: number;
  giveUpAfterMs: number;
}

export class SimClient {
  private readonly world: World;
  private attempt = 0;
  private requestId = 0;
  private leaderGuess: string | null = null;
  private readonly waiting = new Map<number, (outcome: ClientResponseOutcome | null) => void>();
  busy = false;

  constructor(
    private readonly sim: SimWorld,
    readonly host: string,
    readonly clientId: string,
    private readonly nodes: readonly string[],
    private readonly timings: ClientTimings,
  ) {
    this.world = sim.forHost(host);
    sim.net.onPacket(host, (_from, payload) => {
      const packet = payload as Packet;
      if (packet.kind !== 'response') return;
      const resolve = this.waiting.get(packet.attempt);
      this.waiting.delete(packet.attempt);
      resolve?.(packet.outcome);
    });
  }

  /** Runs one operation to its end: the outcome, or null when it gave up (unknown). */
  async run(op: ClientRequestOp): Promise<ClientResponseOutcome | null> {
    const requestId = ++this.requestId;
    const deadline = this.world.clock.monotonicMs() + this.timings.giveUpAfterMs;
    let target = this.leaderGuess ?? this.nodes[this.world.rng.int(this.nodes.length)]!;
    while (this.world.clock.monotonicMs() < deadline) {
      const outcome = await this.send(target, requestId, op);
      if (outcome === null) {
        target = this.nextNode(target);
        continue;
      }
      if (outcome.type === 'not-leader') {
        target = outcome.leader ?? this.nextNode(target);
        await this.sleep(outcome.leader === null ? 50 : 5);
        continue;
      }
      if (outcome.type === 'lost') {
        await this.sleep(20);
        continue;
      }
      this.leaderGuess = target;
      return outcome;
    }
    this.leaderGuess = null;
    return null;
  }

  private nextNode(node: string): string {
    return this.nodes[(this.nodes.indexOf(node) + 1) % this.nodes.length]!;
  }

  private send(to: string, requestId: number, op: ClientRequestOp): Promise<ClientResponseOutcome | null> {
    const attempt = ++this.attempt;
    const packet: Packet = { kind: 'request', attempt, clientId: this.clientId, requestId, op };
    return new Promise((resolve) => {
      this.waiting.set(attempt, resolve);
      const timer = this.world.clock.setTimer(this.timings.attemptTimeoutMs, () => {
        if (this.waiting.delete(attempt)) resolve(null);
      });
      this.waiting.set(attempt, (outcome) => {
        timer.cancel();
        resolve(outcome);
      });
      this.sim.net.sendPacket(this.host, to, packet);
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.world.clock.setTimer(ms, resolve));
  }
}
