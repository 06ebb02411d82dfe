// Access tickets: signed by the cluster key, bound to a file, a group and a handshake peer id,
// valid for a window with ±30 s of clock skew and nothing more.

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  ed25519FromSeed,
  ed25519PublicKeyFromRaw,
  ed25519PublicKeyToRaw,
  signTicket,
  TICKET_CLOCK_SKEW_MS,
  verifyTicket,
  type TicketClaims,
 TICKET_VERSION,} from '../../src/torrent/ticket.js';

const cluster = ed25519FromSeed(new Uint8Array(32).fill(1));
const other = ed25519FromSeed(new Uint8Array(32).fill(2));
const now = 1_700_000_000_000;
const claims: TicketClaims = {
  v: TICKET_VERSION,
  user: 'bob',
  key: 'aa'.repeat(32),
  group: 'g1',
  fileId: 'bb'.repeat(20),
  notBefore: now - 1000,
  expires: now + 5 * 60_000,
};
const expect_ = { nowMs: now, fileId: claims.fileId, key: claims.key, group: 'g1' };

describe('access tickets', () => {
  it("verify when signed by the cluster key for this file, group and the connection's key", () => {
    const result = verifyTicket(signTicket(claims, cluster.privateKey), cluster.publicKey, expect_);
    expect(result).toEqual({ ok: true, claims });
  });

  it('derive the same key from the same seed, and round-trip the raw public key', () => {
    const again = ed25519FromSeed(new Uint8Array(32).fill(1));
    expect(ed25519PublicKeyToRaw(again.publicKey)).toEqual(ed25519PublicKeyToRaw(cluster.publicKey));
    const raw = ed25519PublicKeyToRaw(cluster.publicKey);
    const ticket = signTicket(claims, cluster.privateKey);
    expect(verifyTicket(ticket, ed25519PublicKeyFromRaw(raw), expect_).ok).toBe(true);
  });

  it.each([
    ['none', () => '', 'TICKET_MALFORMED'],
    ['garbage', () => 'not a ticket', 'TICKET_MALFORMED'],
    ['oversized', () => 'a'.repeat(5000), 'TICKET_MALFORMED'],
    ['forged signature', () => signTicket(claims, other.privateKey), 'TICKET_BAD_SIGNATURE'],
    ['tampered claims', () => {
      const [, signature] = signTicket(claims, cluster.privateKey).split('.');
      const payload = Buffer.from(JSON.stringify({ ...claims, user: 'mallory' })).toString('base64url');
      return `${payload}.${signature}`;
    }, 'TICKET_BAD_SIGNATURE'],
    ['expired beyond the skew', () => signTicket({ ...claims, expires: now - TICKET_CLOCK_SKEW_MS }, cluster.privateKey), 'TICKET_EXPIRED'],
    ['not valid yet beyond the skew', () => signTicket({ ...claims, notBefore: now + TICKET_CLOCK_SKEW_MS + 1 }, cluster.privateKey), 'TICKET_NOT_YET_VALID'],
    ['another file', () => signTicket({ ...claims, fileId: 'cc'.repeat(20) }, cluster.privateKey), 'TICKET_WRONG_FILE'],
    ["another peer's key", () => signTicket({ ...claims, key: 'dd'.repeat(32) }, cluster.privateKey), 'TICKET_WRONG_KEY'],
    ['version 1 (bound to a peer id)', () => signTicket({ ...claims, v: 1 }, cluster.privateKey), 'TICKET_MALFORMED'],
    ['another group', () => signTicket({ ...claims, group: 'g2' }, cluster.privateKey), 'TICKET_WRONG_GROUP'],
  ])('refuse %s', (_label, make, code) => {
    const result = verifyTicket(make(), cluster.publicKey, expect_);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.code).toBe(code);
  });

  it('accept clock skew up to 30 s on both ends', () => {
    const justExpired = signTicket({ ...claims, expires: now - TICKET_CLOCK_SKEW_MS + 1 }, cluster.privateKey);
    expect(verifyTicket(justExpired, cluster.publicKey, expect_).ok).toBe(true);
    const early = signTicket({ ...claims, notBefore: now + TICKET_CLOCK_SKEW_MS }, cluster.privateKey);
    expect(verifyTicket(early, cluster.publicKey, expect_).ok).toBe(true);
  });

  it('never throw on random input', () => {
    for (let i = 0; i < 2000; i++) {
      const junk = randomBytes(i % 200).toString(i % 2 ? 'base64url' : 'latin1') + (i % 3 ? '.' + randomBytes(64).toString('base64url') : '');
      expect(verifyTicket(junk, cluster.publicKey, expect_).ok).toBe(false);
    }
  });
});
