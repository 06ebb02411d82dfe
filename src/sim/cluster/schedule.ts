// Why this file exists: a fault schedule as plain data — client operations, partitions
// (symmetric or not), lossy/duplicating/reordering links, crashes, restarts, clock drift,
// leadership transfers — so fast-check can generate and shrink it and a failing run can be
// written to a file and replayed exactly.

import type { Rng } from '../../world/world.js';

export const GROUP_COUNT = 3;

export type OpSpec =
  | { kind: 'create'; group: number }
  | { kind: 'join'; group: number }
  | { kind: 'accept'; group: number; user: number }
  | { kind: 'leave'; group: number }
  | { kind: 'read'; group: number };

/** A node index, or LEADER: whichever node leads when the step runs (faults aimed where they hurt). */
export const LEADER = -1;

export type Step =
  | { t: 'op'; client: number; op: OpSpec }
  | { t: 'wait'; ms: number }
  | { t: 'partition'; side: number[]; symmetric: boolean }
  | { t: 'heal' }
  | { t: 'crash'; node: number }
  | { t: 'restart'; node: number }
  | { t: 'link'; drop: number; duplicate: number; reorder: number; latencyMs: number; jitterMs: number }
  | { t: 'skew'; node: number; offsetMs: number; ratePpm: number }
  | { t: 'transfer'; to: number };

export interface Schedule {
  nodes: number;
  clients: number;
  steps: Step[];
}

/** A schedule drawn from a seeded rng: the same seed, the same schedule. */
export function generateSchedule(rng: Rng, steps: number, nodes = 3, clients = 4): Schedule {
  const out: Step[] = [];
  const pick = (n: number): number => rng.int(n);
  const someNode = (): number => (pick(2) === 0 ? LEADER : pick(nodes));
  for (let i = 0; i < steps; i++) {
    const r = pick(1000);
    if (r < 550) {
      const group = pick(GROUP_COUNT);
      const k = pick(10);
      const op: OpSpec =
        k < 2 ? { kind: 'create', group } : k < 4 ? { kind: 'join', group } : k < 6 ? { kind: 'accept', group, user: pick(clients) } : k < 7 ? { kind: 'leave', group } : { kind: 'read', group };
      out.push({ t: 'op', client: pick(clients), op });
    } else if (r < 800) out.push({ t: 'wait', ms: 10 + pick(200) });
    else if (r < 840) {
      const side = [someNode()];
      if (nodes > 3 && pick(2) === 0) side.push(pick(nodes));
      out.push({ t: 'partition', side, symmetric: pick(3) !== 0 });
    } else if (r < 880) out.push({ t: 'heal' });
    else if (r < 900) out.push({ t: 'crash', node: someNode() });
    else if (r < 930) out.push({ t: 'restart', node: pick(nodes) });
    else if (r < 965) {
      const calm = pick(3) === 0;
      out.push({
        t: 'link',
        drop: calm ? 0 : pick(150) / 1000,
        duplicate: calm ? 0 : pick(150) / 1000,
        reorder: calm ? 0 : pick(300) / 1000,
        latencyMs: 1 + pick(5),
        jitterMs: pick(30),
      });
    } else if (r < 985) {
      // Clock drift: mostly small; sometimes a clock (and its timers) running 10x slow — a process
      // stalled by a pause — or up to twice as fast.
      const ratePpm = pick(4) === 0 ? pick(1_900_000) - 900_000 : pick(2000) - 1000;
      out.push({ t: 'skew', node: someNode(), offsetMs: pick(4000) - 2000, ratePpm });
    }
    else out.push({ t: 'transfer', to: pick(nodes) });
  }
  return { nodes, clients, steps: out };
}
