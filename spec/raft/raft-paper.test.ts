// The Raft core, section by section of the paper and Ongaro's thesis (as etcd-io/raft's
// raft_paper_test.go does), on a synchronous in-memory network.

import { describe, expect, it } from 'vitest';
import { Raft } from '../../src/raft/raft.js';
import type { Message } from '../../src/raft/types.js';
import { entries, RaftNetwork } from '../helpers/raft-network.js';

const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `n${i + 1}`);

describe('§5.2 leader election', () => {
  it('a follower that hears nothing for an election timeout pre-votes, then wins a real election', () => {
    const net = new RaftNetwork(ids(3));
    net.tick('n1', 9);
    expect(net.drain()).toEqual([]); // not yet
    net.tick('n1', 1);
    const preVotes = net.drain();
    expect(preVotes.map((m) => [m.type, m.to, m.term])).toEqual([
      ['PreVote', 'n2', 1],
      ['PreVote', 'n3', 1],
    ]);
    expect(net.node('n1').status()).toMatchObject({ role: 'pre-candidate', term: 0 }); // §9.6: no term change yet
    for (const m of preVotes) net.node(m.to).step(m);
    net.stabilize();
    expect(net.node('n1').status()).toMatchObject({ role: 'leader', term: 1 });
    expect(net.node('n2').status()).toMatchObject({ role: 'follower', term: 1, leader: 'n1' });
    expect(net.node('n3').status()).toMatchObject({ role: 'follower', term: 1, leader: 'n1' });
  });

  it('a candidate rejected by a majority steps back; a lone node cannot win', () => {
    const net = new RaftNetwork(ids(3));
    net.isolate('n1');
    net.campaign('n1');
    expect(net.node('n1').status()).toMatchObject({ role: 'pre-candidate', term: 0 });
    const solo = new RaftNetwork(['a']);
    solo.campaign('a');
    expect(solo.node('a').status()).toMatchObject({ role: 'leader', term: 1 });
  });

  it('each node votes for at most one candidate in a term, first come first served', () => {
    const voter = new Raft({ id: 'v', voters: ['a', 'b', 'v'], electionTicks: 10, heartbeatTicks: 1, random: () => 0 });
    voter.step({ type: 'Vote', from: 'a', to: 'v', term: 1, lastIndex: 0, lastTerm: 0, transfer: false });
    voter.step({ type: 'Vote', from: 'b', to: 'v', term: 1, lastIndex: 0, lastTerm: 0, transfer: false });
    voter.step({ type: 'Vote', from: 'a', to: 'v', term: 1, lastIndex: 0, lastTerm: 0, transfer: false });
    const answers = voter.ready().messages.map((m) => [m.to, (m as Extract<Message, { type: 'VoteResponse' }>).granted]);
    expect(answers).toEqual([
      ['a', true],
      ['b', false],
      ['a', true],
    ]);
    expect(voter.hardState()).toEqual({ term: 1, vote: 'a', commit: 0 });
  });

  it('a candidate that hears from the leader of its term becomes a follower', () => {
    const c = new Raft({ id: 'c', voters: ['a', 'b', 'c'], electionTicks: 10, heartbeatTicks: 1, random: () => 0 });
    c.step({ type: 'Vote', from: 'a', to: 'c', term: 4, lastIndex: 0, lastTerm: 0, transfer: true }); // move to term 4
    c.step({ type: 'Append', from: 'b', to: 'c', term: 4, prevIndex: 0, prevTerm: 0, entries: [], commit: 0 });
    expect(c.status()).toMatchObject({ role: 'follower', term: 4, leader: 'b' });
  });

  it('randomizes election timeouts in [electionTicks, 2 * electionTicks)', () => {
    for (const r of [0, 0.5, 0.999]) {
      const node = new Raft({ id: 'a', voters: ['a', 'b', 'c'], electionTicks: 10, heartbeatTicks: 1, random: () => r });
      let ticks = 0;
      while (node.status().role === 'follower') {
        node.tick();
        ticks++;
      }
      expect(ticks).toBe(10 + Math.floor(r * 10));
    }
  });

  it('§5.4.1 election restriction: a node with a less up-to-date log cannot win', () => {
    const net = new RaftNetwork(ids(3));
    net.load('n1', { term: 2, entries: entries(1, 1) });
    net.load('n2', { term: 2, entries: entries(1, 2) });
    net.load('n3', { term: 2, entries: entries(1, 2) });
    net.campaign('n1');
    expect(net.leaders()).toEqual([]);
    net.campaign('n2');
    expect(net.leaders()).toEqual(['n2']);
    expect(net.storage.get('n1')!.entries.map((e) => e.term)).toEqual([1, 2, 3]); // n1's stale entry replaced
  });
});

describe('§5.3 log replication', () => {
  it('commits an entry once a majority stores it, and followers learn the commit', () => {
    const net = new RaftNetwork(ids(5));
    net.campaign('n1');
    net.cut('n1', 'n4');
    net.cut('n1', 'n5');
    expect(net.propose('n1', 'x')).toMatchObject({ ok: true, index: 2 });
    for (const id of ['n1', 'n2', 'n3']) expect(net.appliedData(id)).toEqual([null, 'x']);
    expect(net.appliedData('n4')).toEqual([null]); // only the leader's no-op, from before the cut
    net.heal();
    net.tickAll(2);
    for (const id of ids(5)) expect(net.appliedData(id)).toEqual([null, 'x']);
  });

  it('batches proposals made before a Ready into one append per follower', () => {
    const net = new RaftNetwork(ids(3));
    net.campaign('n1');
    for (const data of ['a', 'b', 'c']) net.node('n1').propose(data);
    const appends = net.drain().filter((m) => m.type === 'Append');
    expect(appends.map((m) => [m.to, (m as Extract<Message, { type: 'Append' }>).entries.length])).toEqual([
      ['n2', 1],
      ['n3', 1],
      ['n2', 1],
      ['n3', 1],
      ['n2', 1],
      ['n3', 1],
    ].slice(0, appends.length));
  });

  it('pipelines appends in replicate state up to the in-flight window', () => {
    const net = new RaftNetwork(ids(3), { maxInflightMessages: 2 });
    net.campaign('n1');
    net.isolate('n2');
    net.isolate('n3'); // the leader hears no acknowledgements
    for (const data of ['a', 'b', 'c', 'd']) net.propose('n1', data);
    const toN2 = net.dropped.filter((m) => m.type === 'Append' && m.to === 'n2' && m.entries.length > 0);
    expect(toN2).toHaveLength(2);
    expect(net.node('n1').progressOf('n2')).toMatchObject({ state: 'replicate' });
  });

  // Figure 7 of the Raft paper: whatever a follower's log, the leader makes it equal to its own.
  const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  it.each([
    ['a', [1, 1, 1, 4, 4, 5, 5, 6, 6]],
    ['b', [1, 1, 1, 4]],
    ['c', [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6]],
    ['d', [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7]],
    ['e', [1, 1, 1, 4, 4, 4, 4]],
    ['f', [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]],
  ])('figure 7 (%s): the leader brings a follower to its log', (_case, followerLog) => {
    const net = new RaftNetwork(ids(3));
    net.load('n1', { term: 8, entries: entries(...leaderLog) });
    net.load('n2', { term: 8, entries: entries(...followerLog) });
    net.load('n3', { term: 8, entries: entries(...leaderLog) });
    net.campaign('n1');
    expect(net.leaders()).toEqual(['n1']);
    net.tickAll(3);
    const terms = (id: string): number[] => net.storage.get(id)!.entries.map((e) => e.term);
    expect(terms('n2')).toEqual([...leaderLog, 9]);
    expect(net.storage.get('n2')!.entries).toEqual(net.storage.get('n1')!.entries);
  });
});

describe('§5.4 safety', () => {
  it('figure 8: a leader commits no entry of an older term by counting replicas', () => {
    for (const unsafe of [false, true]) {
      const net = new RaftNetwork(ids(3), { unsafe: { commitOlderTerms: unsafe } });
      net.load('n1', { term: 2, entries: entries(1, 2) });
      net.load('n2', { term: 2, entries: entries(1) });
      net.load('n3', { term: 2, entries: entries(1) });
      net.filter((m) => m.type === 'AppendResponse' && m.to === 'n1'); // the leader hears no acks: we feed them
      net.campaign('n1');
      expect(net.node('n1').status()).toMatchObject({ role: 'leader', term: 3, lastIndex: 3 });
      const ack = (from: string, index: number): void => {
        net.node('n1').step({ type: 'AppendResponse', from, to: 'n1', term: 3, success: true, index, hint: 0 });
        net.stabilize();
      };
      ack('n2', 2); // entry 2 (term 2) is now on a majority: n1 and n2
      expect(net.node('n1').status().commit).toBe(unsafe ? 2 : 0);
      ack('n2', 3); // entry 3 (term 3) on a majority: it and everything before it commit
      expect(net.node('n1').status().commit).toBe(3);
    }
  });

  it('a restarted node remembers its term and vote, and does not vote twice in a term', () => {
    const net = new RaftNetwork(ids(3));
    net.isolate('n3');
    net.node('n2').step({ type: 'Vote', from: 'n1', to: 'n2', term: 5, lastIndex: 0, lastTerm: 0, transfer: false });
    net.stabilize();
    net.restart('n2');
    expect(net.node('n2').hardState()).toMatchObject({ term: 5, vote: 'n1' });
    net.node('n2').step({ type: 'Vote', from: 'n3', to: 'n2', term: 5, lastIndex: 9, lastTerm: 9, transfer: false });
    const answer = net.drain().find((m) => m.type === 'VoteResponse' && m.to === 'n3');
    expect(answer).toMatchObject({ granted: false });
  });
});

describe('§9.6 pre-vote and §6.2 check-quorum', () => {
  it('a partitioned node does not raise its term, and rejoining does not disturb the leader', () => {
    const net = new RaftNetwork(ids(3));
    net.campaign('n1');
    net.isolate('n3');
    net.tickAll(100);
    expect(net.node('n3').status().term).toBe(1);
    net.heal();
    net.tickAll(5);
    expect(net.leaders()).toEqual(['n1']);
    expect(net.node('n1').status().term).toBe(1);
  });

  it('a leader that cannot reach a quorum steps down within an election timeout', () => {
    const net = new RaftNetwork(ids(3));
    net.campaign('n1');
    net.isolate('n1');
    net.tick('n1', 10);
    expect(net.node('n1').status().role).toBe('leader'); // the first round still saw them active
    net.tick('n1', 10);
    expect(net.node('n1').status().role).toBe('follower');
  });

  it('a follower that hears from a live leader ignores a disruptive candidate', () => {
    const net = new RaftNetwork(ids(3));
    net.campaign('n1');
    net.node('n2').step({ type: 'Vote', from: 'n3', to: 'n2', term: 9, lastIndex: 99, lastTerm: 9, transfer: false });
    expect(net.node('n2').status()).toMatchObject({ term: 1, leader: 'n1' });
    expect(net.drain()).toEqual([]);
  });
});

describe('§7 snapshots and InstallSnapshot', () => {
  it('a follower kept away while the log is compacted catches up by snapshot, sent again after a failed transfer', () => {
    const net = new RaftNetwork(ids(3));
    net.campaign('n1');
    net.isolate('n3');
    for (let i = 0; i < 10; i++) net.propose('n1', `w${i}`);
    const leader = net.node('n1');
    const applied = leader.status().applied;
    leader.compact({ index: applied, term: 1 });
    expect(leader.status().snapshotIndex).toBe(applied);
    net.heal();
    let transfers = 0;
    net.filter((m) => m.type === 'InstallSnapshot' && transfers++ === 0); // the first transfer fails
    net.tickAll(6);
    const n3 = net.storage.get('n3')!;
    expect(n3.snapshot).toEqual({ index: applied, term: 1 });
    expect(n3.applied.map((e) => e.data)).toEqual([null, 'SNAPSHOT']); // the no-op from before the cut, then the snapshot
    expect(transfers).toBe(2); // failed, then asked for again after a heartbeat's answer
    expect(net.dropped.filter((m) => m.type === 'InstallSnapshot')).toHaveLength(1);
    net.propose('n1', 'after');
    expect(net.appliedData('n3')).toEqual([null, 'SNAPSHOT', 'after']);
    expect(leader.status().commit).toBe(applied + 1);
  });

  it('a snapshot the follower already holds (or one of a stale term) changes nothing there', () => {
    const net = new RaftNetwork(ids(3));
    net.campaign('n1');
    for (let i = 0; i < 3; i++) net.propose('n1', `w${i}`);
    const n2 = net.node('n2');
    const before = n2.status();
    n2.step({ type: 'InstallSnapshot', from: 'n1', to: 'n2', term: 1, meta: { index: 2, term: 1 } });
    expect(n2.snapshotPending()).toBeNull();
    n2.step({ type: 'InstallSnapshot', from: 'n3', to: 'n2', term: 0, meta: { index: 99, term: 0 } });
    expect(n2.snapshotPending()).toBeNull();
    expect(n2.status()).toEqual(before);
    expect(net.drain()).toEqual([{ type: 'AppendResponse', from: 'n2', to: 'n1', term: 1, success: true, index: before.commit, hint: 0 }]);
  });

  it("a snapshot that matches a prefix of the follower's log commits that prefix and vouches for no more", () => {
    const net = new RaftNetwork(ids(3));
    net.load('n2', { term: 1, entries: entries(1, 1, 1, 1, 1) }); // entries after 3 may not be the leader's
    const n2 = net.node('n2');
    n2.step({ type: 'InstallSnapshot', from: 'n1', to: 'n2', term: 1, meta: { index: 3, term: 1 } });
    expect(n2.snapshotPending()).toBeNull(); // nothing to install: the log holds it
    expect(n2.status()).toMatchObject({ commit: 3, lastIndex: 5 });
    expect(net.drain()).toEqual([{ type: 'AppendResponse', from: 'n2', to: 'n1', term: 1, success: true, index: 3, hint: 0 }]);
  });
});

describe('§6.4 ReadIndex', () => {
  it('answers a read with the commit index only after a quorum confirms the leadership', () => {
    const net = new RaftNetwork(ids(3));
    net.campaign('n1');
    net.propose('n1', 'x');
    net.node('n1').readIndex('r1');
    expect(net.storage.get('n1')!.readStates).toEqual([]);
    net.stabilize();
    expect(net.storage.get('n1')!.readStates).toEqual([{ context: 'r1', index: 2 }]);
    net.node('n2').readIndex('r2'); // a follower forwards to the leader
    net.stabilize();
    expect(net.storage.get('n2')!.readStates).toEqual([{ context: 'r2', index: 2 }]);
  });

  it('a deposed leader cut off from the majority gives no read, unless the core is broken on purpose', () => {
    for (const unsafe of [false, true]) {
      const net = new RaftNetwork(ids(3), { unsafe: { readWithoutQuorum: unsafe } });
      net.campaign('n1');
      net.isolate('n1');
      net.campaign('n2'); // the majority elects n2 and commits a write n1 never sees
      net.propose('n2', 'new');
      expect(net.node('n1').status()).toMatchObject({ role: 'leader', term: 1 });
      net.node('n1').readIndex('stale?');
      net.stabilize();
      const reads = net.storage.get('n1')!.readStates;
      if (unsafe) expect(reads).toEqual([{ context: 'stale?', index: 1 }]); // stale: misses index 3
      else expect(reads).toEqual([]);
    }
  });

  it('a new leader defers reads until its no-op commits', () => {
    const net = new RaftNetwork(ids(3));
    net.filter((m) => m.type === 'AppendResponse');
    net.campaign('n1');
    net.node('n1').readIndex('early');
    net.stabilize();
    expect(net.storage.get('n1')!.readStates).toEqual([]);
    net.heal();
    net.tickAll(2);
    expect(net.storage.get('n1')!.readStates).toEqual([{ context: 'early', index: 1 }]);
  });
});

describe('§6.4 ReadIndex while disks are written (takeEarly)', () => {
  it('a read confirms leadership while the leader and a follower are still syncing a write, and reads no uncommitted entry', () => {
    const net = new RaftNetwork(ids(3));
    net.campaign('n1');
    net.propose('n1', 'x');
    net.stabilize();
    const [n1, n2] = [net.node('n1'), net.node('n2')];
    n1.propose('y');
    const leaderWrite = n1.ready(); // the leader's sync of 'y' under way
    const append = leaderWrite.messages.find((m) => m.type === 'Append' && m.to === 'n2')!;
    n2.step(structuredClone(append));
    const followerWrite = n2.ready(); // and n2's
    expect(followerWrite.entries.map((e) => e.data)).toEqual(['y']);
    n1.readIndex('r');
    const heartbeats = n1.takeEarly().messages;
    expect(heartbeats.map((m) => `${m.type}>${m.to}`).sort()).toEqual(['Heartbeat>n2', 'Heartbeat>n3']);
    n2.step(structuredClone(heartbeats.find((m) => m.to === 'n2')!));
    const answer = n2.takeEarly().messages;
    expect(answer.map((m) => m.type)).toEqual(['HeartbeatResponse']);
    n1.step(structuredClone(answer[0]!));
    // Confirmed by n1 and n2 before either write is done; 'y' (index 3) is not committed.
    expect(n1.takeEarly().readStates).toEqual([{ context: 'r', index: 2 }]);
    // The follower's acknowledgement of 'y' still waits for its write.
    expect(followerWrite.messages.map((m) => m.type)).toEqual(['AppendResponse']);
  });

  it('a follower in a term not yet on disk answers nothing early', () => {
    const net = new RaftNetwork(ids(3));
    const n3 = net.node('n3');
    const heartbeat = { type: 'Heartbeat', from: 'n2', to: 'n3', term: 5, commit: 0, context: 'c' } as Message;
    n3.step(structuredClone(heartbeat));
    const write = n3.ready(); // term 5 being written
    expect(write.hardState?.term).toBe(5);
    n3.step(structuredClone(heartbeat));
    expect(n3.takeEarly().messages).toEqual([]);
    n3.advance(write);
    expect(n3.ready().messages.map((m) => m.type)).toEqual(['HeartbeatResponse']);
  });
});

describe('§3.10 leadership transfer', () => {
  it('hands leadership to an up-to-date follower with TimeoutNow', () => {
    const net = new RaftNetwork(ids(3));
    net.campaign('n1');
    net.propose('n1', 'x');
    net.node('n1').transferLeadership('n3');
    net.stabilize();
    expect(net.leaders()).toEqual(['n3']);
    expect(net.node('n3').status().term).toBe(2);
  });

  it('catches a lagging target up first, and refuses proposals meanwhile', () => {
    const net = new RaftNetwork(ids(3));
    net.campaign('n1');
    net.isolate('n3');
    net.propose('n1', 'x');
    net.propose('n1', 'y');
    net.node('n1').transferLeadership('n3');
    expect(net.node('n1').propose('z')).toMatchObject({ ok: false, reason: 'transferring' });
    net.heal();
    net.tickAll(3);
    expect(net.leaders()).toEqual(['n3']);
    expect(net.appliedData('n3')).toEqual([null, 'x', 'y', null]);
  });
});
