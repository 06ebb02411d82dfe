// The serving side's ticket after admission (issue 15), on the simulated clock: expiry is
// checked at every request with the ±30 s skew allowance used at open, so an expired ticket
// ends an open connection; a renewed ticket shown on the link extends it; a renewed ticket that
// does not hold, or a kick from the host, ends it too.

import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { serveConnectionMachine, type ServeConnectionIo } from '../../src/actors/serve-connection.js';
import { DEFAULT_CONNECTION_TIMINGS } from '../../src/actors/wire-events.js';
import { TICKET_CLOCK_SKEW_MS, type TicketCheck } from '../../src/torrent/ticket.js';
import { encodeExtendedHandshake } from '../../src/torrent/wire-codec.js';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import { xstateClock } from '../../src/world/xstate-clock.js';

const TICKET_LIFE_MS = 120_000;
const BLOCK = 16_384;

/** A serving actor whose tickets `T<n>` expire at the given times; `KICKED` is refused. */
function serving(expiresByTicket: Record<string, number>) {
  const sim = new SimWorld({ seed: 3 });
  const clock = sim.forHost('holder').clock;
  const calls: string[] = [];
  const io: ServeConnectionIo = {
    wallMs: () => clock.nowMs(),
    monotonicMs: () => clock.monotonicMs(),
    // The downloader keeps talking: no idle timeout interferes.
    lastReceivedAtMs: () => clock.monotonicMs(),
    lastSentAtMs: () => clock.monotonicMs(),
    sendKeepAlive: () => {},
    checkTicket: (ticket): TicketCheck | { ok: false; code: 'TICKET_MISSING' | 'KICKED'; message: string } => {
      calls.push(`checkTicket ${ticket}`);
      if (ticket === 'KICKED') return { ok: false, code: 'KICKED', message: 'out of the group' };
      const expires = expiresByTicket[ticket ?? ''];
      if (expires === undefined) return { ok: false, code: 'TICKET_MISSING', message: 'none' };
      if (clock.nowMs() - TICKET_CLOCK_SKEW_MS >= expires) return { ok: false, code: 'TICKET_EXPIRED', message: 'ticket has expired' };
      return { ok: true, claims: { v: 2, user: 'bob', key: 'k', group: 'g', fileId: 'f', notBefore: expires - TICKET_LIFE_MS, expires } };
    },
    admit: () => calls.push('admit'),
    refuse: (code) => calls.push(`refuse ${code}`),
    interested: () => {},
    sendChoke: () => {},
    sendUnchoke: () => calls.push('unchoke'),
    sendHave: () => {},
    queueRequest: (pieceIndex, beginBytes) => calls.push(`serve ${pieceIndex}/${beginBytes}`),
    cancelRequest: () => {},
    dropRequests: () => {},
    close: (reason) => calls.push(`close ${reason}`),
  };
  const actor = createActor(serveConnectionMachine, { clock: xstateClock(clock), input: { io, timings: DEFAULT_CONNECTION_TIMINGS } }).start();
  const show = (ticket: string) => actor.send({ type: 'EXTENDED', extId: 0, payload: encodeExtendedHandshake({ m: {}, ticket }) });
  let nextBegin = 0;
  const request = () => {
    actor.send({ type: 'REQUEST', pieceIndex: 0, beginBytes: nextBegin, lengthBytes: BLOCK });
    nextBegin += BLOCK;
  };
  return { sim, clock, calls, actor, show, request };
}

describe('a ticket on an open connection', () => {
  it('ends the connection at the first request after it expired (with 30 s of skew), not before', async () => {
    const start = 1_700_000_000_000;
    const { sim, clock, calls, actor, show, request } = serving({ T1: start + TICKET_LIFE_MS });
    await sim.runFor(start - clock.nowMs());
    show('T1');
    actor.send({ type: 'UNCHOKE_PEER' });
    request();
    // Just inside the allowance: still served.
    await sim.runFor(TICKET_LIFE_MS + TICKET_CLOCK_SKEW_MS - 1 - (clock.nowMs() - start));
    request();
    expect(actor.getSnapshot().status).toBe('active');
    await sim.runFor(1);
    request();
    request();
    expect(calls.filter((c) => c !== 'checkTicket T1')).toEqual(['admit', 'unchoke', 'serve 0/0', `serve 0/${BLOCK}`, 'refuse TICKET_EXPIRED']);
    expect(actor.getSnapshot().status).toBe('done');
  });

  it('goes on past the first ticket when a renewed one arrives on the link', async () => {
    const start = 1_700_000_000_000;
    const { sim, clock, calls, actor, show, request } = serving({ T1: start + TICKET_LIFE_MS, T2: start + 2 * TICKET_LIFE_MS });
    await sim.runFor(start - clock.nowMs());
    show('T1');
    actor.send({ type: 'UNCHOKE_PEER' });
    await sim.runFor(TICKET_LIFE_MS / 2);
    show('T2'); // renewed at half-life
    await sim.runFor(TICKET_LIFE_MS + TICKET_CLOCK_SKEW_MS);
    request();
    expect(actor.getSnapshot().status).toBe('active');
    expect(calls.filter((c) => !c.startsWith('checkTicket'))).toEqual(['admit', 'unchoke', 'serve 0/0']);
    expect(calls).toContain('checkTicket T2');
    // A "renewal" that does not hold (here the old, expired ticket) ends it.
    show('T1');
    request();
    expect(calls.filter((c) => !c.startsWith('checkTicket'))).toEqual(['admit', 'unchoke', 'serve 0/0', 'refuse TICKET_EXPIRED']);
  });

  it('ends when a renewed ticket does not hold, or when the host revokes it (a kick)', () => {
    const renewedBad = serving({ T1: Date.UTC(2030, 0, 1) });
    renewedBad.show('T1');
    renewedBad.show('KICKED');
    expect(renewedBad.calls.at(-1)).toBe('refuse KICKED');
    expect(renewedBad.actor.getSnapshot().status).toBe('done');

    const kicked = serving({ T1: Date.UTC(2030, 0, 1) });
    kicked.show('T1');
    kicked.actor.send({ type: 'UNCHOKE_PEER' });
    kicked.request();
    kicked.actor.send({ type: 'REVOKE', code: 'KICKED', message: 'bob is no longer a member of g' });
    kicked.request();
    expect(kicked.calls).toEqual(['checkTicket T1', 'admit', 'unchoke', 'serve 0/0', 'refuse KICKED']);
  });
});
