// The gate a download's requests pass through under a download limit: requests go out at once
// within the limiter's budget, then in order as it refills; a request cancelled while held never
// reaches the wire; a peer that chokes us or goes loses what we held for it; and the scheduler
// hears that a peer whose requests we hold is not the one making us wait.

import { describe, expect, it } from 'vitest';
import type { BlockRef } from '../../src/actors/piece-picker.js';
import { RateLimiter } from '../../src/peer/rate-limiter.js';
import { RequestPacer } from '../../src/peer/request-pacer.js';
import { SimWorld } from '../../src/world/sim/sim-world.js';

const BLOCK = 16 * 1024;

function blocks(pieceIndex: number, count: number): BlockRef[] {
  return Array.from({ length: count }, (_, i) => ({ pieceIndex, beginBytes: i * BLOCK, lengthBytes: BLOCK }));
}

function setUp(bytesPerSecond: number | null | 'none') {
  const sim = new SimWorld({ seed: 1 });
  const { clock } = sim.forHost('h');
  const startMs = clock.monotonicMs();
  const limiter = bytesPerSecond === 'none' ? undefined : new RateLimiter(clock, bytesPerSecond, 2 * BLOCK);
  const sent: string[] = [];
  const pacer = new RequestPacer(clock, limiter, (peer, bs) => {
    for (const b of bs) sent.push(`${clock.monotonicMs() - startMs} ${peer} ${b.pieceIndex}/${b.beginBytes / BLOCK}`);
  });
  return { sim, clock, limiter, pacer, sent, startMs };
}

describe('RequestPacer', () => {
  it('without a limiter, or an unlimited one, requests go out at once', () => {
    for (const rate of ['none', null] as const) {
      const { pacer, sent } = setUp(rate);
      pacer.request('a', blocks(0, 3));
      expect(sent).toEqual(['0 a 0/0', '0 a 0/1', '0 a 0/2']);
      expect(pacer.sentAtMs('a')).toBe(-Infinity);
    }
  });

  it('sends the burst at once, then one block per block-time, in order across peers', async () => {
    const { sim, pacer, sent } = setUp(4 * BLOCK); // four blocks a second, burst two
    pacer.request('a', blocks(0, 3));
    pacer.request('b', blocks(1, 2));
    expect(sent).toEqual(['0 a 0/0', '0 a 0/1']);
    await sim.runFor(1_000);
    expect(sent).toEqual(['0 a 0/0', '0 a 0/1', '250 a 0/2', '500 b 1/0', '750 b 1/1']);
  });

  it('a request cancelled while held is dropped (nothing to cancel on the wire); one already sent is not', async () => {
    const { sim, pacer, sent } = setUp(4 * BLOCK);
    pacer.request('a', blocks(0, 4));
    expect(pacer.cancel('a', blocks(0, 1)[0]!)).toBe(false); // went out at once
    expect(pacer.cancel('a', blocks(0, 4)[2]!)).toBe(true);
    expect(pacer.cancel('a', blocks(0, 4)[2]!)).toBe(false);
    await sim.runFor(1_000);
    expect(sent).toEqual(['0 a 0/0', '0 a 0/1', '250 a 0/3']);
  });

  it('a peer that chokes us or goes loses what was held for it; closed, nothing more goes out', async () => {
    const { sim, pacer, sent } = setUp(4 * BLOCK);
    pacer.request('a', blocks(0, 4));
    pacer.request('b', blocks(1, 2));
    pacer.dropPeer('a');
    await sim.runFor(1_000);
    // The wait paid for a's third block goes to b's first.
    expect(sent).toEqual(['0 a 0/0', '0 a 0/1', '250 b 1/0', '500 b 1/1']);
    pacer.request('b', blocks(2, 4));
    pacer.close();
    await sim.runFor(2_000);
    expect(sent.filter((s) => s.includes(' 2/'))).toEqual(['1000 b 2/0', '1000 b 2/1']);
  });

  it('sentAtMs: now while requests of the peer are held, then when the last held ones went out', async () => {
    const { sim, clock, pacer, startMs } = setUp(4 * BLOCK);
    pacer.request('a', blocks(0, 2)); // within the burst: sent when made
    expect(pacer.sentAtMs('a')).toBe(-Infinity);
    pacer.request('a', blocks(1, 2));
    await sim.runFor(300);
    expect(pacer.sentAtMs('a')).toBe(clock.monotonicMs()); // one still held
    await sim.runFor(1_000);
    expect(pacer.sentAtMs('a') - startMs).toBe(500);
  });

  it('a limit lifted while requests wait sends them all at once', async () => {
    const { sim, limiter, pacer, sent } = setUp(BLOCK); // one block a second
    pacer.request('a', blocks(0, 6));
    await sim.runFor(1_500);
    expect(sent).toHaveLength(3);
    limiter!.setRate(null);
    await sim.runFor(0);
    expect(sent).toHaveLength(6);
    expect(sent.slice(3).every((s) => s.startsWith('1500 '))).toBe(true);
  });
});
