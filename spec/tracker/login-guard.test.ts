// Login back-off (issue 15): a guesser waits longer after each failure once the free ones are
// spent; the real user from an address with no failures of its own is never held back; an
// IPv6 guesser cannot escape by changing addresses inside its /64.

import { describe, expect, it } from 'vitest';
import { backoffMs, FIRST_BACKOFF_MS, FREE_FAILURES, LoginGuard, MAX_BACKOFF_MS, SOURCE_FREE_FAILURES, SOURCE_LEAK_MS, sourceKey } from '../../src/tracker/login-guard.js';

function guard(): { guard: LoginGuard; advance(ms: number): void } {
  let nowMs = 1_000_000;
  return { guard: new LoginGuard(() => nowMs), advance: (ms) => (nowMs += ms) };
}

describe('login back-off', () => {
  it('doubles the wait after the free failures, up to the cap', () => {
    expect(backoffMs(FREE_FAILURES - 1)).toBe(0);
    expect(backoffMs(FREE_FAILURES)).toBe(FIRST_BACKOFF_MS);
    expect(backoffMs(FREE_FAILURES + 3)).toBe(8 * FIRST_BACKOFF_MS);
    expect(backoffMs(200)).toBe(MAX_BACKOFF_MS);
  });

  it('holds back one address guessing one user, says for how long, and lets the time pass', () => {
    const { guard: g, advance } = guard();
    for (let i = 0; i < FREE_FAILURES; i++) {
      expect(g.check('alice', '10.0.0.9')).toEqual({ allowed: true });
      g.failed('alice', '10.0.0.9');
    }
    const held = g.check('alice', '10.0.0.9');
    expect(held).toMatchObject({ allowed: false, retryAfterMs: FIRST_BACKOFF_MS });
    advance(FIRST_BACKOFF_MS);
    expect(g.check('alice', '10.0.0.9')).toEqual({ allowed: true });
    g.failed('alice', '10.0.0.9');
    expect(g.check('alice', '10.0.0.9')).toMatchObject({ allowed: false, retryAfterMs: 2 * FIRST_BACKOFF_MS });
  });

  it('does not hold back the real user from another address, but does the guesser guessing other users', () => {
    const { guard: g } = guard();
    for (let i = 0; i < 50; i++) g.failed('alice', '10.0.0.9');
    expect(g.check('alice', '10.0.0.7')).toEqual({ allowed: true });
    expect(g.check('bob', '10.0.0.9')).toMatchObject({ allowed: false });
  });

  it('gives many addresses guessing one user one try each, then the user counter binds them', () => {
    const { guard: g } = guard();
    for (let i = 0; i < 20; i++) {
      expect(g.check('alice', `10.1.0.${i}`)).toEqual({ allowed: true });
      g.failed('alice', `10.1.0.${i}`);
    }
    expect(g.check('alice', '10.1.0.3')).toMatchObject({ allowed: false, reason: expect.stringContaining('for alice') as unknown });
    expect(g.check('alice', '10.2.0.1')).toEqual({ allowed: true });
  });

  it('a success clears the pair and the user, not the source', () => {
    const { guard: g } = guard();
    for (let i = 0; i < SOURCE_FREE_FAILURES; i++) g.failed(`user${i}`, '10.0.0.9');
    expect(g.check('alice', '10.0.0.9')).toMatchObject({ allowed: false, reason: expect.stringContaining('from 10.0.0.9') as unknown });
    g.succeeded('mallory', '10.0.0.9');
    expect(g.check('alice', '10.0.0.9')).toMatchObject({ allowed: false, reason: expect.stringContaining('from 10.0.0.9') as unknown });
  });

  it("does not make one user's neighbours behind the same address wait for that user's typos, and forgets a source's failures slowly", () => {
    const { guard: g, advance } = guard();
    for (let i = 0; i < 2 * FREE_FAILURES; i++) g.failed('alice', '100.64.0.1');
    expect(g.check('alice', '100.64.0.1')).toMatchObject({ allowed: false });
    expect(g.check('bob', '100.64.0.1')).toEqual({ allowed: true });
    for (let i = 0; i < SOURCE_FREE_FAILURES - 2 * FREE_FAILURES; i++) g.failed(`user${i}`, '100.64.0.1');
    expect(g.check('bob', '100.64.0.1')).toMatchObject({ allowed: false });
    advance(SOURCE_LEAK_MS);
    expect(g.check('bob', '100.64.0.1')).toEqual({ allowed: true });
  });

  it('counts an IPv6 source by its /64 and a mapped IPv4 address as IPv4', () => {
    expect(sourceKey('2001:db8:1:2:aaaa::1')).toBe(sourceKey('2001:db8:1:2::ffff'));
    expect(sourceKey('2001:db8:1:3::1')).not.toBe(sourceKey('2001:db8:1:2::1'));
    expect(sourceKey('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(sourceKey('fd00::1')).toBe('fd00:0:0:0::/64');
  });
});
