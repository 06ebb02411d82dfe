// A deliberately broken core is caught. Each bug is injected through a test-only flag
// (RaftConfig.unsafe), and the same scenario runs with and without it: the checks pass on the
// correct core and fail on the broken one.

import { describe, expect, it } from 'vitest';
import { SimCluster } from '../../src/sim/cluster/sim-cluster.js';
import type { Message } from '../../src/raft/types.js';
import { entries, RaftNetwork } from '../helpers/raft-network.js';
import { staleReadSchedule } from '../helpers/stale-read-schedule.js';

/**
 * Leader completeness (§5.4): an entry committed in some term is in the log of every leader of a
 * later term. Committed entries are read off every node's log up to its commit index.
 */
function leaderCompletenessViolations(net: RaftNetwork): string[] {
  // An entry's commit is dated by the term of a node that holds it as committed (an upper bound
  // on the term it was committed in).
  const committed = new Map<number, { term: number; by: string; inTerm: number }>();
  for (const id of net.ids) {
    const node = net.node(id);
    for (let index = node.log.firstIndex(); index <= node.status().commit; index++) {
      const inTerm = node.status().term;
      const seen = committed.get(index);
      if (!seen || inTerm < seen.inTerm) committed.set(index, { term: node.log.term(index)!, by: id, inTerm });
    }
  }
  const out: string[] = [];
  for (const id of net.leaders()) {
    const leader = net.node(id);
    for (const [index, entry] of committed) {
      if (entry.inTerm < leader.status().term && leader.log.term(index) !== entry.term) {
        out.push(`${id}, leader of term ${leader.status().term}, lacks entry ${index} (term ${entry.term}) committed by ${entry.by} in term ${entry.inTerm}`);
      }
    }
  }
  return out;
}

/**
 * Figure 8 of the Raft paper, on five nodes: S1 (term 2) gets index 2 onto S2 only; S5 (term 3)
 * writes its own index 2 and is cut off; S1 returns in term 4 and puts its term-2 entry on S3.
 * Counting replicas, a broken core commits it; then S5 can win a later term without it.
 */
function figure8(unsafe: boolean): string[] {
  const net = new RaftNetwork(['s1', 's2', 's3', 's4', 's5'], { maxMessageBytes: 1, unsafe: { commitOlderTerms: unsafe } });
  for (const id of net.ids) net.load(id, { term: 1, entries: entries(1), commit: 1 });
  // (a) S1 leads term 2; its no-op (index 2, term 2) reaches S2 only.
  net.filter((m) => m.from === 's1' && m.type === 'Append' && m.to !== 's2');
  net.campaign('s1');
  expect(net.node('s1').status()).toMatchObject({ role: 'leader', term: 2 });
  // (b) S1 is cut off; S5 leads term 3 with S3 and S4, and its no-op (index 2, term 3) goes nowhere.
  net.heal();
  net.isolate('s1');
  net.filter((m) => m.from === 's5' && m.type === 'Append');
  net.campaign('s5');
  expect(net.node('s5').status()).toMatchObject({ role: 'leader', term: 3 });
  // (c) S5 is cut off; S1 learns of term 3 and leads term 4 with S3 and S4.
  net.heal();
  net.isolate('s5');
  net.filter((m) => m.from === 's1' && m.to === 's4' && m.type === 'Append'); // S4 votes, but gets no entries
  // S3 gets S1's old entry (index 2, term 2) but never the term-4 no-op after it: the first
  // append after index 2 (the probe that finds S3 lacks index 2) passes, later ones do not.
  let appendsAfter2 = 0;
  net.filter((m: Message) => m.from === 's1' && m.to === 's3' && m.type === 'Append' && m.prevIndex === 2 && appendsAfter2++ > 0);
  net.tickAll(1);
  net.campaign('s1');
  net.tickAll(3);
  expect(net.node('s1').status()).toMatchObject({ role: 'leader', term: 4 });
  expect(net.storage.get('s3')!.entries.map((e) => e.term)).toEqual([1, 2]);
  // (d) S1 and S2 are cut off; S5 returns and wins a later term with S3 and S4.
  net.heal();
  net.isolate('s1');
  net.isolate('s2');
  net.filter((m) => m.from === 's5' && m.type === 'Append'); // judge the election, not what follows
  const s5LeadsNewTerm = (): boolean => net.node('s5').status().role === 'leader' && net.node('s5').status().term > 4;
  for (let round = 0; round < 100 && !s5LeadsNewTerm(); round++) net.tickAll(1);
  expect(s5LeadsNewTerm()).toBe(true);
  return leaderCompletenessViolations(net);
}

describe('a deliberately broken core is caught', () => {
  it("committing an older term's entry by counting replicas breaks leader completeness (figure 8)", () => {
    expect(figure8(false)).toEqual([]);
    const violations = figure8(true);
    expect(violations).toHaveLength(1);
    expect(violations[0]).toMatch(/^s5, leader of term 5, lacks entry 2 \(term 2\) committed by s[123] in term 4$/);
  });

  it('reads served without ReadIndex return stale data, and the linearizability checker says so', async () => {
    const schedule = staleReadSchedule;
    const correct = await new SimCluster(schedule, { seed: 1 }).run();
    expect(correct.violations).toEqual([]);
    expect(correct.linearizability).toEqual({ result: 'ok' });
    expect(correct.history.at(-1)).toMatchObject({ input: { kind: 'read' }, output: 'owner=u0 members=u0 pending=u2' });

    const broken = await new SimCluster(schedule, { seed: 1, unsafe: { readWithoutQuorum: true } }).run();
    expect(broken.history.at(-1)).toMatchObject({ input: { kind: 'read' }, output: 'owner=u0 members=u0 pending=' });
    expect(broken.linearizability).toMatchObject({ result: 'illegal' });
  });
});
