// The peer's XState machines on the simulated clock (issues 6, 7): the fetching and serving
// connections (timeouts, refusal, admission, choke, keep-alive, idleness), the scheduler
// (pipeline depth from the measured rate, snubbing a stalled peer, strikes and a ban), the
// upload choker (bounded slots plus an optimistic one, fastest first, rotation), and the
// session (login, heartbeats through a failover, expiry, logout).

import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { fetchConnectionMachine, type FetchConnectionIo } from '../../src/actors/fetch-connection.js';
import { BAN_STRIKES, schedulerMachine, type SchedulerIo } from '../../src/actors/scheduler.js';
import { serveConnectionMachine, type ServeConnectionIo } from '../../src/actors/serve-connection.js';
import { sessionMachine, type SessionIo } from '../../src/actors/session.js';
import { uploadChokerMachine } from '../../src/actors/upload-choker.js';
import { DEFAULT_CONNECTION_TIMINGS } from '../../src/actors/wire-events.js';
import { Bitfield } from '../../src/torrent/bitfield.js';
import { BLOCK_LENGTH_BYTES, PiecePicker, type BlockRef } from '../../src/actors/piece-picker.js';
import { encodeExtendedHandshake } from '../../src/torrent/wire-codec.js';
import { SeededRng } from '../../src/world/rng.js';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import { xstateClock } from '../../src/world/xstate-clock.js';

const timings = DEFAULT_CONNECTION_TIMINGS;

function simClock(): { sim: SimWorld; clock: ReturnType<SimWorld['forHost']>['clock'] } {
  const sim = new SimWorld({ seed: 1 });
  return { sim, clock: sim.forHost('h').clock };
}

/** An io that records every call by name. */
function recorder<T extends object>(overrides: Partial<T>, calls: string[]): T {
  return new Proxy(overrides as T, {
    get: (target, name: string) => {
      const own = (target as Record<string, unknown>)[name];
      return (...args: unknown[]) => {
        calls.push(args.length === 0 ? name : `${name} ${args.map((a) => (a instanceof Uint8Array ? `<${a.length} bytes>` : String(a))).join(' ')}`);
        return typeof own === 'function' ? (own as (...a: unknown[]) => unknown)(...args) : undefined;
      };
    },
  });
}

describe('fetch connection', () => {
  function start(overrides: Partial<FetchConnectionIo> = {}) {
    const { sim, clock } = simClock();
    const calls: string[] = [];
    let lastReceivedAtMs = clock.monotonicMs();
    const startMs = clock.monotonicMs();
    const io = recorder<FetchConnectionIo>({ monotonicMs: () => clock.monotonicMs(), lastReceivedAtMs: () => lastReceivedAtMs, lastSentAtMs: () => startMs, bitfieldError: () => null, ...overrides }, calls);
    const actor = createActor(fetchConnectionMachine, { clock: xstateClock(clock), input: { io, timings } }).start();
    return { sim, clock, calls, actor, received: () => (lastReceivedAtMs = clock.monotonicMs()) };
  }

  it('gives up on a holder that answers our ticket with nothing, after the access timeout and not a millisecond before; only our fetching ends', async () => {
    const { sim, calls, actor } = start();
    await sim.runFor(timings.accessTimeoutMs - 1);
    expect(actor.getSnapshot().value).toBe('awaitingAccess');
    await sim.runFor(1);
    expect(actor.getSnapshot().value).toBe('closed');
    expect(calls.at(-1)).toBe('close ACCESS_TIMEOUT: no answer to our ticket false');
  });

  it('reports a refusal with its code, and ends only our fetching', () => {
    const { calls, actor } = start();
    actor.send({ type: 'EXTENDED', extId: 0, payload: encodeExtendedHandshake({ m: {}, refused: 'TICKET_EXPIRED' }) });
    expect(actor.getSnapshot().value).toBe('closed');
    expect(calls.at(-1)).toBe('close REFUSED TICKET_EXPIRED false');
  });

  it('joins on the bitfield, follows choke and have, and takes the link down on a bad bitfield', () => {
    const { calls, actor } = start();
    actor.send({ type: 'EXTENDED', extId: 0, payload: encodeExtendedHandshake({ m: {}, p: 6881 }) });
    actor.send({ type: 'BITFIELD', bitfield: new Uint8Array([0x80]) });
    expect(actor.getSnapshot().value).toBe('active');
    actor.send({ type: 'UNCHOKE' });
    actor.send({ type: 'UNCHOKE' }); // no change, no report
    actor.send({ type: 'HAVE', pieceIndex: 3 });
    actor.send({ type: 'CHOKE' });
    expect(calls.filter((c) => !/^(nowMs|last)/.test(c))).toEqual(['bitfieldError <1 bytes>', 'joined <1 bytes>', 'unchoked', 'have 3', 'choked']);

    const bad = start({ bitfieldError: () => 'bitfield has spare bits set' });
    bad.actor.send({ type: 'BITFIELD', bitfield: new Uint8Array([0xff]) });
    expect(bad.calls.at(-1)).toBe('close PROTOCOL: bitfield has spare bits set true');
    const early = start();
    early.actor.send({ type: 'HAVE', pieceIndex: 0 });
    expect(early.calls.at(-1)).toBe('close PROTOCOL: message before the bitfield true');
  });

  it('ends our fetching when the download is done with the peer, keeping the link', () => {
    const { calls, actor } = start();
    actor.send({ type: 'BITFIELD', bitfield: new Uint8Array([0x80]) });
    actor.send({ type: 'STOP', reason: 'COMPLETE' });
    expect(actor.getSnapshot().value).toBe('closed');
    expect(calls.at(-1)).toBe('close COMPLETE false');
  });

  it('sends keep-alives while quiet and takes down a link that says nothing for the idle timeout', async () => {
    const { sim, calls, actor, received } = start();
    actor.send({ type: 'BITFIELD', bitfield: new Uint8Array([0x80]) });
    received();
    await sim.runFor(timings.keepAliveMs + timings.tickMs);
    expect(calls).toContain('sendKeepAlive');
    expect(actor.getSnapshot().value).toBe('active');
    await sim.runFor(timings.idleTimeoutMs);
    expect(actor.getSnapshot().value).toBe('closed');
    expect(calls.at(-1)).toMatch(/^close IDLE.* true$/);
  });
});

describe('serve connection', () => {
  function start(ticketOk: boolean) {
    const { sim, clock } = simClock();
    const calls: string[] = [];
    const io = recorder<ServeConnectionIo>(
      {
        monotonicMs: () => clock.monotonicMs(),
        wallMs: () => clock.nowMs(),
        lastReceivedAtMs: () => clock.monotonicMs(),
        lastSentAtMs: () => clock.monotonicMs(),
        checkTicket: () => (ticketOk ? { ok: true, claims: {} as never } : { ok: false, code: 'TICKET_EXPIRED', message: 'ticket has expired' }),
      },
      calls,
    );
    const actor = createActor(serveConnectionMachine, { clock: xstateClock(clock), input: { io, timings } }).start();
    return { sim, calls, actor };
  }
  const ticket = { type: 'EXTENDED' as const, extId: 0, payload: encodeExtendedHandshake({ m: {}, ticket: 'T' }) };

  it('refuses a downloader that shows no ticket in time', async () => {
    const { sim, calls, actor } = start(true);
    await sim.runFor(timings.accessTimeoutMs);
    expect(actor.getSnapshot().value).toBe('refused');
    expect(calls).toEqual(['refuse TICKET_MISSING no ticket in time']);
  });

  it('refuses a bad ticket without admitting, and a request before the ticket is a refusal too', () => {
    const bad = start(false);
    bad.actor.send(ticket);
    expect(bad.calls).toEqual(['checkTicket T', 'refuse TICKET_EXPIRED ticket has expired']);
    const pushy = start(true);
    pushy.actor.send({ type: 'REQUEST', pieceIndex: 0, beginBytes: 0, lengthBytes: 16384 });
    expect(pushy.calls).toEqual(['refuse TICKET_MISSING a message came before the ticket']);
  });

  it('admits a good ticket, ignores requests while choking, serves them once unchoked, drops them on choke', () => {
    const { calls, actor } = start(true);
    actor.send(ticket);
    actor.send({ type: 'INTERESTED' });
    actor.send({ type: 'REQUEST', pieceIndex: 0, beginBytes: 0, lengthBytes: 16384 });
    actor.send({ type: 'UNCHOKE_PEER' });
    actor.send({ type: 'REQUEST', pieceIndex: 0, beginBytes: 16384, lengthBytes: 16384 });
    actor.send({ type: 'CHOKE_PEER' });
    actor.send({ type: 'PIECE_AVAILABLE', pieceIndex: 5 });
    expect(calls.filter((c) => !/^(nowMs|wallMs|monotonicMs|last)/.test(c))).toEqual([
      'checkTicket T',
      'admit',
      'interested true',
      'sendUnchoke',
      'queueRequest 0 16384 16384',
      'dropRequests',
      'sendChoke',
      'sendHave 5',
    ]);
  });
});

describe('scheduler', () => {
  const PIECE = 4 * BLOCK_LENGTH_BYTES;
  function start(pieces: number, memory = { short: false }) {
    const { sim, clock } = simClock();
    const calls: string[] = [];
    const queued: Array<{ peer: string; block: BlockRef }> = [];
    const io = recorder<SchedulerIo>(
      { monotonicMs: () => clock.monotonicMs(), mayStartPieces: (nothingRequested) => !memory.short || nothingRequested(), request: (peer, blocks) => void queued.push(...blocks.map((block) => ({ peer, block }))) },
      calls,
    );
    const picker = new PiecePicker({ sizeBytes: pieces * PIECE, pieceLengthBytes: PIECE, have: () => false, rng: new SeededRng(2), randomFirstPieces: 0 });
    const actor = createActor(schedulerMachine, { clock: xstateClock(clock), input: { io, picker, timings: { initialDepth: 8 } } }).start();
    /** Delivers up to `count` requested blocks (the data plane's part), oldest first. */
    const deliver = (count: number): void => {
      for (let i = 0; i < count && queued.length > 0; i++) {
        const { peer, block } = queued.shift()!;
        const verdict = picker.onBlock(peer, block.pieceIndex, block.beginBytes, block.lengthBytes);
        if (verdict.accepted) {
          actor.send({ type: 'BLOCKS', peer, bytes: block.lengthBytes, completedPieces: verdict.pieceComplete ? [block.pieceIndex] : [], cancels: verdict.cancels });
        }
      }
    };
    return { sim, calls, actor, picker, deliver, queued };
  }

  it('short of memory, asks only for pieces already begun — unless nothing is requested at all', () => {
    const memory = { short: false };
    const { actor, picker, deliver, queued } = start(8, memory);
    actor.send({ type: 'PEER_JOINED', peer: 'a', bitfield: Bitfield.full(8) });
    actor.send({ type: 'PEER_UNCHOKED', peer: 'a' }); // 8 blocks: pieces 0 and 1 begun
    memory.short = true;
    deliver(2);
    const begun = new Set(queued.map((q) => q.block.pieceIndex));
    expect(begun.size).toBe(2);
    deliver(queued.length); // the begun pieces complete; nothing is outstanding now
    expect(picker.outstanding('a')).toBeGreaterThan(0); // so a new piece was begun after all
    expect(queued.some((q) => !begun.has(q.block.pieceIndex))).toBe(true);
  });

  it('fills an unchoked peer to its depth, then deepens the pipeline to the measured rate', async () => {
    const { sim, actor, picker, deliver } = start(64);
    actor.send({ type: 'PEER_JOINED', peer: 'a', bitfield: Bitfield.full(64) });
    actor.send({ type: 'PEER_UNCHOKED', peer: 'a' });
    expect(picker.outstanding('a')).toBe(8);
    deliver(64); // 1 MiB within one tick
    await sim.runFor(1_000);
    const depth = actor.getSnapshot().context.pipelines.get('a')!.depth;
    // rate ≈ 0.5 MiB/s after smoothing; requestQueueMs 1 s of it is 32 blocks.
    expect(depth).toBe(32);
    expect(picker.outstanding('a')).toBe(32);
  });

  it('snubs a peer that stalls: its requests are cancelled and go to another peer', async () => {
    const { sim, actor, picker, calls } = start(4);
    actor.send({ type: 'PEER_JOINED', peer: 'slow', bitfield: Bitfield.full(4) });
    actor.send({ type: 'PEER_UNCHOKED', peer: 'slow' });
    expect(picker.outstanding('slow')).toBe(8);
    await sim.runFor(10_000);
    actor.send({ type: 'PEER_JOINED', peer: 'fast', bitfield: Bitfield.full(4) });
    actor.send({ type: 'PEER_UNCHOKED', peer: 'fast' });
    await sim.runFor(4_999);
    expect(actor.getSnapshot().context.counters.snubs).toBe(0);
    await sim.runFor(1_001);
    expect(actor.getSnapshot().context.counters.snubs).toBe(1);
    expect(calls.filter((c) => c.startsWith('cancel slow'))).toHaveLength(8);
    // A snubbed peer keeps one request; the rest are free for anyone.
    expect(picker.outstanding('slow')).toBe(1);
    picker.addPeer('spare', Bitfield.full(4));
    expect(picker.pick('spare', 7)).toHaveLength(7);
    expect(picker.endgameRequests).toBe(0); // they were open blocks, not duplicates
  });

  it(`bans a peer after ${BAN_STRIKES} pieces it alone sent fail; a banned peer stays out`, () => {
    const { actor, calls, deliver } = start(3);
    actor.send({ type: 'PEER_JOINED', peer: 'liar', bitfield: Bitfield.full(3) });
    actor.send({ type: 'PEER_UNCHOKED', peer: 'liar' });
    for (let strike = 0; strike < BAN_STRIKES; strike++) {
      deliver(8);
      const verified = calls.filter((c) => c.startsWith('verify')).map((c) => Number(c.split(' ')[1]));
      actor.send({ type: 'PIECE_FAILED', pieceIndex: verified[strike]! });
    }
    expect(calls.filter((c) => c.startsWith('ban '))).toEqual([expect.stringMatching(/^ban liar BANNED: 2 pieces from it failed their SHA1/)]);
    actor.send({ type: 'PEER_JOINED', peer: 'liar', bitfield: Bitfield.full(3) });
    expect(actor.getSnapshot().context.pipelines.has('liar')).toBe(false);
    expect(actor.getSnapshot().context.counters).toMatchObject({ strikes: 2, bans: 1, piecesFailed: 2 });
  });

  it('completes once every piece is verified', () => {
    const { actor, calls, deliver } = start(2);
    actor.send({ type: 'PEER_JOINED', peer: 'a', bitfield: Bitfield.full(2) });
    actor.send({ type: 'PEER_UNCHOKED', peer: 'a' });
    deliver(8);
    for (const c of calls.filter((c) => c.startsWith('verify'))) actor.send({ type: 'PIECE_VERIFIED', pieceIndex: Number(c.split(' ')[1]) });
    expect(actor.getSnapshot().value).toBe('complete');
    expect(calls.at(-1)).toBe('completed');
  });
});

describe('upload choker', () => {
  function start(slots: number) {
    const { sim, clock } = simClock();
    const unchoked = new Set<string>();
    const uploaded: Record<string, number> = {};
    const rng = new SeededRng(3);
    const actor = createActor(uploadChokerMachine, {
      clock: xstateClock(clock),
      input: {
        slots,
        io: {
          setChoked: (key, choked) => void (choked ? unchoked.delete(key) : unchoked.add(key)),
          uploadedBytes: (key) => uploaded[key] ?? 0,
          randomInt: (bound) => rng.int(bound),
        },
      },
    }).start();
    return { sim, actor, unchoked, uploaded };
  }

  it('unchokes at most slots + 1 interested peers, at once, and fills a freed slot', () => {
    const { actor, unchoked } = start(2);
    for (const key of ['a', 'b', 'c', 'd', 'e']) actor.send({ type: 'INTERESTED', peerKey: key });
    expect([...unchoked]).toEqual(['a', 'b', 'c']);
    actor.send({ type: 'GONE', peerKey: 'b' });
    unchoked.delete('b'); // its connection is gone: no choke message, just a free slot
    expect([...unchoked].sort()).toEqual(['a', 'c', 'd']);
    actor.send({ type: 'NOT_INTERESTED', peerKey: 'a' });
    expect([...unchoked].sort()).toEqual(['c', 'd', 'e']);
  });

  it('gives the regular slots to the fastest and rotates the optimistic one', async () => {
    const { sim, actor, unchoked, uploaded } = start(2);
    const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
    for (const key of keys) actor.send({ type: 'INTERESTED', peerKey: key });
    const optimists = new Set<string>();
    for (let round = 0; round < 12; round++) {
      uploaded.e = (uploaded.e ?? 0) + 5_000_000;
      uploaded.f = (uploaded.f ?? 0) + 4_000_000;
      await sim.runFor(10_000);
      expect(unchoked.has('e') && unchoked.has('f')).toBe(true);
      expect(unchoked.size).toBe(3);
      for (const key of unchoked) if (key !== 'e' && key !== 'f') optimists.add(key);
    }
    expect(optimists.size).toBeGreaterThan(1);
  });
});

describe('session', () => {
  class Refusal extends Error {
    constructor(readonly code: string) {
      super(code);
    }
  }
  function start(
    heartbeat: () => Promise<void>,
    renew: () => Promise<void> = async () => Promise.reject(new Refusal('BAD_REFRESH')),
    opened: () => Promise<string[]> = async () => ['g/f'],
  ) {
    const { sim, clock } = simClock();
    const calls: string[] = [];
    const io: SessionIo = {
      renew: async (old) => {
        calls.push(`renew ${old.sessionId}`);
        await renew();
        return { user: old.user, sessionId: 's2', token: 't2', refresh: 'r2' };
      },
      login: async (user, password) => {
        if (password !== 'pw') throw new Refusal('BAD_CREDENTIALS');
        return { user, sessionId: 's1', token: 't' };
      },
      heartbeat: async () => {
        calls.push(`heartbeat at ${clock.nowMs() - start0}`);
        return heartbeat();
      },
      logout: async () => void calls.push('logout'),
      opened: async (session) => {
        if (session.sessionId !== 's1') calls.push(`opened ${session.sessionId}`);
        return opened();
      },
      ended: (reason) => void calls.push(`ended ${reason}`),
      codeOf: (error) => (error instanceof Refusal ? error.code : 'INTERNAL'),
    };
    const start0 = clock.nowMs();
    const actor = createActor(sessionMachine, { clock: xstateClock(clock), input: { io, heartbeatMs: 5_000 } }).start();
    return { sim, calls, actor };
  }

  it('refuses a bad password and stays logged out', async () => {
    const { sim, actor } = start(async () => {});
    actor.send({ type: 'LOGIN', user: 'alice', password: 'nope' });
    await sim.runFor(1);
    expect(actor.getSnapshot().value).toBe('loggedOut');
    expect(actor.getSnapshot().context.error).toMatchObject({ code: 'BAD_CREDENTIALS' });
  });

  it('re-opens an expired session with its refresh credential and offers its files again', async () => {
    let answer: () => Promise<void> = async () => {};
    const { sim, calls, actor } = start(() => answer(), async () => {});
    actor.send({ type: 'LOGIN', user: 'alice', password: 'pw' });
    await sim.runFor(1);
    answer = async () => Promise.reject(new Refusal('NOT_LOGGED_IN'));
    await sim.runFor(5_000);
    expect(actor.getSnapshot().matches('active')).toBe(true);
    expect(actor.getSnapshot().context.session).toMatchObject({ sessionId: 's2', refresh: 'r2' });
    expect(calls).toEqual(['heartbeat at 5000', 'renew s1', 'opened s2']);
  });

  it('a renewed session is the current one while its files are offered again; a failed offer is made again a heartbeat later', async () => {
    let answer: () => Promise<void> = async () => {};
    let offer: () => Promise<string[]> = async () => ['g/f'];
    const { sim, calls, actor } = start(() => answer(), async () => {}, () => offer());
    actor.send({ type: 'LOGIN', user: 'alice', password: 'pw' });
    await sim.runFor(1);
    answer = async () => Promise.reject(new Refusal('NOT_LOGGED_IN'));
    let settle: { resolve: (files: string[]) => void; reject: (error: unknown) => void } | null = null;
    offer = () => new Promise((resolve, reject) => (settle = { resolve, reject }));
    await sim.runFor(5_000);
    // Offering is under way: commands already go out with the new session, not the expired one.
    expect(calls).toEqual(['heartbeat at 5000', 'renew s1', 'opened s2']);
    expect(actor.getSnapshot().matches({ active: 'reopening' })).toBe(true);
    expect(actor.getSnapshot().context.session).toMatchObject({ sessionId: 's2' });
    // The offer fails (a failover): the session stands, and the offer is made again 5 s later.
    answer = async () => {};
    settle!.reject(new Refusal('TRACKER_UNAVAILABLE'));
    await sim.runFor(1);
    expect(actor.getSnapshot().matches({ active: 'reopenLater' })).toBe(true);
    expect(actor.getSnapshot().context.session).toMatchObject({ sessionId: 's2' });
    offer = async () => ['g/f'];
    await sim.runFor(5_000);
    expect(calls).toEqual(['heartbeat at 5000', 'renew s1', 'opened s2', 'opened s2']);
    expect(actor.getSnapshot().matches({ active: 'idle' })).toBe(true);
    expect(actor.getSnapshot().context.openedResult).toEqual(['g/f']);
  });

  it('beats every heartbeatMs, rides out a tracker failover, and ends when the tracker expired it and the refresh fails', async () => {
    let answer: () => Promise<void> = async () => {};
    const { sim, calls, actor } = start(() => answer());
    actor.send({ type: 'LOGIN', user: 'alice', password: 'pw' });
    await sim.runFor(1);
    expect(actor.getSnapshot().matches('active')).toBe(true);
    expect(actor.getSnapshot().context.openedResult).toEqual(['g/f']);
    await sim.runFor(10_000);
    expect(calls).toEqual(['heartbeat at 5000', 'heartbeat at 10000']);
    answer = async () => Promise.reject(new Refusal('TRACKER_UNAVAILABLE'));
    await sim.runFor(5_000);
    expect(actor.getSnapshot().matches('active')).toBe(true);
    answer = async () => Promise.reject(new Refusal('NOT_LOGGED_IN'));
    await sim.runFor(5_000);
    expect(actor.getSnapshot().value).toBe('loggedOut');
    expect(calls.slice(-2)).toEqual(['renew s1', 'ended expired']);
  });

  it('a logout the tracker answers NOT_LOGGED_IN (it had expired the session) still logs out', async () => {
    const { sim, actor } = start(async () => {});
    actor.send({ type: 'LOGIN', user: 'alice', password: 'pw' });
    await sim.runFor(1);
    const io = actor.getSnapshot().context.io;
    io.logout = async () => Promise.reject(new Refusal('NOT_LOGGED_IN'));
    actor.send({ type: 'LOGOUT' });
    await sim.runFor(1);
    expect(actor.getSnapshot().value).toBe('loggedOut');
  });

  it('logs out: the tracker hears of it and serving stops', async () => {
    const { sim, calls, actor } = start(async () => {});
    actor.send({ type: 'LOGIN', user: 'alice', password: 'pw' });
    await sim.runFor(1);
    actor.send({ type: 'LOGOUT' });
    await sim.runFor(1);
    expect(actor.getSnapshot().value).toBe('loggedOut');
    expect(calls).toEqual(['logout', 'ended logout']);
  });
});
