// The schedule that shows a stale read when a core serves reads without ReadIndex: the leader
// stalls (its clock and timers run 20x slow, like a long pause) and is cut off from the other
// nodes; clients still reach it. A new leader commits a join; then a client that last talked to
// the old leader reads from it.

import { LEADER, type Schedule } from '../../src/sim/cluster/schedule.js';

export const staleReadSchedule: Schedule = {
  nodes: 3,
  clients: 4,
  steps: [
    { t: 'op', client: 0, op: { kind: 'create', group: 0 } },
    { t: 'wait', ms: 300 },
    { t: 'op', client: 1, op: { kind: 'read', group: 0 } },
    { t: 'wait', ms: 200 },
    { t: 'skew', node: LEADER, offsetMs: 0, ratePpm: -950_000 },
    { t: 'partition', side: [LEADER], symmetric: true },
    { t: 'wait', ms: 400 },
    { t: 'op', client: 2, op: { kind: 'join', group: 0 } },
    { t: 'wait', ms: 900 },
    { t: 'op', client: 1, op: { kind: 'read', group: 0 } },
    { t: 'wait', ms: 900 },
  ],
};
