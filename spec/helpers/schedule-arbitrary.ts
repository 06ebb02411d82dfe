// fast-check arbitraries for fault schedules: plain data, so failing schedules shrink.

import fc from 'fast-check';
import { GROUP_COUNT, LEADER, type OpSpec, type Schedule, type Step } from '../../src/sim/cluster/schedule.js';

export function scheduleArbitrary(options: { nodes: number; clients: number; minSteps: number; maxSteps: number }): fc.Arbitrary<Schedule> {
  const { nodes, clients } = options;
  const node = fc.oneof(fc.constant(LEADER), fc.nat({ max: nodes - 1 }));
  const group = fc.nat({ max: GROUP_COUNT - 1 });
  const op: fc.Arbitrary<OpSpec> = fc.oneof(
    group.map((g) => ({ kind: 'create' as const, group: g })),
    group.map((g) => ({ kind: 'join' as const, group: g })),
    fc.tuple(group, fc.nat({ max: clients - 1 })).map(([g, user]) => ({ kind: 'accept' as const, group: g, user })),
    group.map((g) => ({ kind: 'leave' as const, group: g })),
    group.map((g) => ({ kind: 'read' as const, group: g })),
  );
  const step: fc.Arbitrary<Step> = fc.oneof(
    { weight: 55, arbitrary: fc.record({ t: fc.constant('op' as const), client: fc.nat({ max: clients - 1 }), op }) },
    { weight: 25, arbitrary: fc.record({ t: fc.constant('wait' as const), ms: fc.integer({ min: 10, max: 200 }) }) },
    { weight: 4, arbitrary: fc.record({ t: fc.constant('partition' as const), side: fc.array(node, { minLength: 1, maxLength: 2 }), symmetric: fc.boolean() }) },
    { weight: 4, arbitrary: fc.constant({ t: 'heal' as const }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('crash' as const), node }) },
    { weight: 3, arbitrary: fc.record({ t: fc.constant('restart' as const), node: fc.nat({ max: nodes - 1 }) }) },
    {
      weight: 3,
      arbitrary: fc.record({
        t: fc.constant('link' as const),
        drop: fc.integer({ min: 0, max: 150 }).map((n) => n / 1000),
        duplicate: fc.integer({ min: 0, max: 150 }).map((n) => n / 1000),
        reorder: fc.integer({ min: 0, max: 300 }).map((n) => n / 1000),
        latencyMs: fc.integer({ min: 1, max: 5 }),
        jitterMs: fc.integer({ min: 0, max: 30 }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        t: fc.constant('skew' as const),
        node,
        offsetMs: fc.integer({ min: -2000, max: 2000 }),
        ratePpm: fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: -900_000, max: 1_000_000 })),
      }),
    },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('transfer' as const), to: fc.nat({ max: nodes - 1 }) }) },
  );
  return fc.array(step, { minLength: options.minSteps, maxLength: options.maxSteps }).map((steps) => ({ nodes, clients, steps }));
}
