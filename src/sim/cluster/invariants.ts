// Why this file exists: Raft's safety properties (Figure 3 of the paper), checked on the live
// nodes after every step of a simulation: election safety, log matching, leader completeness,
// state machine safety, and — for our store — every node's hash chain a prefix of the others'.

import type { TrackerNode } from '../../tracker/tracker-node.js';

interface CommittedEntry {
  term: number;
  data: string | null;
  /**
   * The term of the node through which the commit was first seen: at least the term in which
   * the entry was committed, so leaders of later terms must hold it (§5.4.3).
   */
  seenInTerm: number;
}

export class SafetyChecker {
  private readonly leaderOfTerm = new Map<number, string>();
  private readonly committed = new Map<number, CommittedEntry>();
  private readonly chainAt = new Map<number, string>();
  readonly violations: string[] = [];
  /** (term, leader) pairs seen: elections won. */
  readonly leadersSeen = new Set<string>();

  check(nodes: ReadonlyMap<string, TrackerNode>): void {
    for (const [id, node] of nodes) this.checkNode(id, node);
    const entries = [...nodes];
    for (let i = 0; i < entries.length; i++) {
      for (let j = i + 1; j < entries.length; j++) this.checkLogMatching(entries[i]!, entries[j]!);
    }
  }

  private fail(message: string): void {
    if (this.violations.length < 20) this.violations.push(message);
  }

  private checkNode(id: string, node: TrackerNode): void {
    const raft = node.raft;
    const { role, term, commit } = raft.status();
    if (role === 'leader') {
      const known = this.leaderOfTerm.get(term);
      if (known !== undefined && known !== id) this.fail(`election safety: ${known} and ${id} both lead term ${term}`);
      this.leaderOfTerm.set(term, id);
      this.leadersSeen.add(`${term}/${id}`);
    }
    const log = raft.log;
    // State machine safety: what a node holds as committed is what every other node holds there.
    for (let index = log.firstIndex(); index <= commit; index++) {
      const [entry] = log.slice(index, index + 1);
      if (!entry) continue;
      const seen = this.committed.get(index);
      if (!seen) this.committed.set(index, { term: entry.term, data: entry.data, seenInTerm: term });
      else if (seen.term !== entry.term || seen.data !== entry.data) {
        this.fail(`state machine safety: ${id} committed ${entry.term}:${String(entry.data).slice(0, 60)} at ${index}, another node ${seen.term}:${String(seen.data).slice(0, 60)}`);
      }
    }
    // Leader completeness: a leader holds every entry committed in an earlier term. (An entry of
    // term 7 may be committed in term 9; a leader of term 8 need not hold it.)
    if (role === 'leader') {
      for (const [index, entry] of this.committed) {
        if (entry.seenInTerm >= term || index < log.firstIndex()) continue;
        if (log.term(index) !== entry.term) this.fail(`leader completeness: leader ${id} of term ${term} lacks entry ${index} (term ${entry.term}) committed by term ${entry.seenInTerm}`);
      }
    }
    // The store's chain: equal heads at equal indices.
    const { appliedIndex, chainHead } = node.store;
    const seenHead = this.chainAt.get(appliedIndex);
    if (seenHead === undefined) this.chainAt.set(appliedIndex, chainHead);
    else if (seenHead !== chainHead) this.fail(`chain: ${id}'s head at ${appliedIndex} differs from another node's`);
  }

  /** If two logs hold an entry with the same index and term, they are identical up to it (§5.3). */
  private checkLogMatching([idA, a]: [string, TrackerNode], [idB, b]: [string, TrackerNode]): void {
    const logA = a.raft.log;
    const logB = b.raft.log;
    const lo = Math.max(logA.firstIndex(), logB.firstIndex());
    const hi = Math.min(logA.lastIndex(), logB.lastIndex());
    let matched = false;
    for (let index = hi; index >= lo; index--) {
      const termA = logA.term(index);
      if (!matched && termA !== logB.term(index)) continue;
      matched = true;
      const [ea] = logA.slice(index, index + 1);
      const [eb] = logB.slice(index, index + 1);
      if (ea?.term !== eb?.term || ea?.data !== eb?.data) {
        this.fail(`log matching: ${idA} and ${idB} agree at a later index but differ at ${index}`);
        return;
      }
    }
  }

  /** The highest index known committed. */
  maxCommitted(): number {
    let max = 0;
    for (const index of this.committed.keys()) if (index > max) max = index;
    return max;
  }
}
