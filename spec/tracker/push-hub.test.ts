// The push hub offers each applied batch only to the live streams of the users it concerns
// (usersConcerned), not to every stream the node holds: with 10,000 streams that filter ran
// 3,000 times an entry on each node. Here the hub must send exactly what asking every stream
// would send (eventsFor, kicksFor, the end of its own session), to streams subscribed from the
// start and to streams that catch up from the archive midway, across a jump over entries (a
// snapshot installed), and every stream's tick names the index it has been brought past.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyEntry, type EntryOutcome } from '../../src/log/domain/entry.js';
import { MemoryPieceLists } from '../../src/log/domain/piece-lists.js';
import { eventsFor, usersConcerned } from '../../src/log/domain/queries.js';
import { initialState, type TrackerState } from '../../src/log/domain/state.js';
import type { Push } from '../../src/tracker/client-protocol.js';
import { kicksFor, LEADERLESS_TICKS_BEFORE_RETRY, PUSH_TICK_MS, PushHub, type PushSink } from '../../src/tracker/push-hub.js';
import type { TrackerNode } from '../../src/tracker/tracker-node.js';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import { makeWorkload } from '../helpers/workload.js';

/** The entries of a workload as the node applies them, with the state after each. */
function outcomes(seed: number, count: number): { state: TrackerState; after: (index: number) => void; entries: EntryOutcome[] } {
  const { entries: proposed } = makeWorkload(seed, count);
  const state = initialState();
  const pieces = new MemoryPieceLists();
  const entries: EntryOutcome[] = [];
  let next = 0;
  const after = (index: number): void => {
    while (next < proposed.length && proposed[next]!.index <= index) {
      const applied = applyEntry(state, proposed[next]!, pieces);
      pieces.record(applied.entry.events);
      entries.push(applied.entry);
      next++;
    }
  };
  return { state, after, entries };
}

/** What the hub used to do for one stream: ask about every entry. */
function expectedPushes(state: TrackerState, user: string, sessionId: string, entries: readonly EntryOutcome[]): Push[] {
  const pushes: Push[] = [];
  for (const entry of entries) {
    const events = eventsFor(state, user, entry.events);
    if (events.length > 0) pushes.push({ kind: 'events', index: entry.index, events });
    pushes.push(...kicksFor(state, user, entry));
    if (entry.events.some((e) => (e.type === 'SessionClosed' || e.type === 'SessionExpired') && e.sessionId === sessionId)) {
      pushes.push({ kind: 'end', code: 'SESSION_ENDED', message: 'the session is over' });
      break;
    }
  }
  return pushes;
}

describe('usersConcerned', () => {
  it('holds exactly the users for whom eventsFor is not empty, after every entry of random workloads', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), (seed) => {
        const { state, after, entries } = outcomes(seed, 200);
        for (let index = 1; index <= 200; index++) {
          after(index);
          const last = entries.at(-1)!;
          const users = new Set([...state.users.keys(), ...last.events.flatMap((e) => ('user' in e && typeof e.user === 'string' ? [e.user] : []))]);
          const concerned = usersConcerned(state, last.events);
          for (const user of users) expect(concerned.has(user), `${user} at ${index}`).toBe(eventsFor(state, user, last.events).length > 0);
        }
      }),
      { numRuns: 25 },
    );
  });
});

describe('PushHub', () => {
  it('sends each stream what asking every stream would, live, after catching up, and across a jump', async () => {
    const sim = new SimWorld({ seed: 3 });
    const world = sim.forHost('n1');
    const { state, after, entries } = outcomes(11, 400);
    let listener: (batch: readonly EntryOutcome[]) => void = () => {};
    let appliedIndex = 0;
    let leader: string | null = 'n2';
    const node = {
      raft: { status: () => ({ leader }) },
      store: {
        get state() {
          return state;
        },
        get appliedIndex() {
          return appliedIndex;
        },
        async *archiveFrom(fromIndex: number) {
          yield entries.filter((e) => e.index >= fromIndex && e.index <= appliedIndex);
        },
      },
      onApplied: (l: typeof listener) => {
        listener = l;
      },
    } as unknown as TrackerNode;
    const hub = new PushHub(world, node, null);
    const received = new Map<string, Push[]>();
    const sinks = new Map<string, PushSink>();
    const tickTimesMs: number[] = [];
    // The reference: the hub as it was, every stream asked about every entry as it arrives.
    const expected = new Map<string, { user: string; sentUpTo: number; pushes: Push[]; ended: boolean }>();
    const bringUp = (sessionId: string): void => {
      const stream = expected.get(sessionId)!;
      if (stream.ended) return;
      const pushes = expectedPushes(state, stream.user, sessionId, entries.filter((e) => e.index > stream.sentUpTo && e.index <= appliedIndex));
      stream.pushes.push(...pushes);
      stream.sentUpTo = appliedIndex;
      stream.ended = pushes.at(-1)?.kind === 'end';
    };
    const subscribe = (user: string, sessionId: string, afterIndex: number): void => {
      const log: Push[] = [];
      received.set(sessionId, log);
      const send = (push: Push): boolean => {
        log.push(push);
        if (push.kind === 'tick') tickTimesMs.push(sim.elapsedMs());
        return true;
      };
      const sink: PushSink = { send, close: () => {} };
      sinks.set(sessionId, sink);
      hub.subscribe(sessionId, user, afterIndex, sink);
      expected.set(sessionId, { user, sentUpTo: afterIndex, pushes: [], ended: false });
      bringUp(sessionId);
    };
    const apply = async (upTo: number, announce = true): Promise<void> => {
      const from = appliedIndex;
      after(upTo);
      appliedIndex = upTo;
      if (!announce) return;
      listener(entries.filter((e) => e.index > from && e.index <= upTo));
      for (const sessionId of expected.keys()) bringUp(sessionId);
      await sim.runFor(0);
    };

    // Every user of the first 150 entries on a stream from the start (a session of their own
    // if they have one, else a made-up one).
    await apply(150, false);
    const users = [...state.users.keys()];
    for (const user of users) subscribe(user, [...state.sessions.values()].find((s) => s.user === user)?.sessionId ?? `none-${user}`, 0);
    await sim.runFor(0);
    for (let index = 151; index <= 300; index += 1 + (index % 3)) await apply(index);
    // Midway, a few streams subscribe again from an older index, and the newer users join.
    for (const sessionId of [...expected.keys()].slice(0, 5)) subscribe(expected.get(sessionId)!.user, sessionId, 200);
    for (const user of [...state.users.keys()].filter((u) => !users.includes(u))) subscribe(user, `late-${user}`, 100);
    await sim.runFor(0);
    for (let index = 301; index <= 360; index += 2) await apply(index);
    // A jump: entries 361-370 applied but never announced (a snapshot installed), then 371-400.
    await apply(370, false);
    await apply(400);

    let pushes = 0;
    for (const [sessionId, stream] of expected) {
      expect(received.get(sessionId), sessionId).toEqual(stream.pushes);
      pushes += stream.pushes.length;
    }
    expect(pushes).toBeGreaterThan(100);
    expect([...expected.values()].filter((s) => s.ended).length).toBeGreaterThan(0);

    // A tick names where each live stream stands: the last index applied. Each stream gets one
    // a round, in its own slice of the round, never all at once.
    for (const log of received.values()) log.length = 0;
    tickTimesMs.length = 0;
    await sim.runFor(PUSH_TICK_MS);
    expect(new Set(tickTimesMs).size).toBeGreaterThan(1); // not one burst
    for (const [sessionId, stream] of expected) {
      expect(received.get(sessionId), sessionId).toEqual(stream.ended ? [] : [{ kind: 'tick', index: 400 }]);
    }

    // A heartbeat answered on a stream says where the stream stands, as a tick would: that
    // stream's next tick is left out, and the round after it ticks again. Another connection's
    // sink (an older stream of the session) gets no position.
    const [beating, ...others] = [...expected].filter(([, stream]) => !stream.ended).map(([sessionId]) => sessionId);
    expect(hub.positionForBeat(beating!, { send: () => true, close: () => {} })).toBeNull();
    expect(hub.positionForBeat(beating!, sinks.get(beating!)!)).toBe(400);
    for (const log of received.values()) log.length = 0;
    await sim.runFor(PUSH_TICK_MS);
    expect(received.get(beating!)).toEqual([]);
    for (const sessionId of others) expect(received.get(sessionId), sessionId).toEqual([{ kind: 'tick', index: 400 }]);
    await sim.runFor(PUSH_TICK_MS);
    expect(received.get(beating!)).toEqual([{ kind: 'tick', index: 400 }]);

    // Cut off from the others, the node ticks on for a round, then sends its streams elsewhere.
    for (const log of received.values()) log.length = 0;
    leader = null;
    await sim.runFor(LEADERLESS_TICKS_BEFORE_RETRY * PUSH_TICK_MS);
    for (const [sessionId, stream] of expected) {
      if (stream.ended) continue;
      // The first round's check (at 10 s) finds no leader once; the second ends the streams.
      const tick = { kind: 'tick', index: 400 };
      expect(received.get(sessionId), sessionId).toEqual([tick, tick, { kind: 'end', code: 'RETRY', message: 'this tracker node has known no leader for 10 s; subscribe at another' }]);
    }
    hub.close();
  });
});
