// Why this file exists: an access ticket is the tracker's signed word that a user's peer may
// fetch one file (DESIGN.md §7). The tracker signs it after a linearizable membership check; a
// serving peer verifies it offline with the cluster's public key before sending a single byte.
// Pure functions: keys come in as arguments, time as a number.

import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { concatBytes, fromUtf8, isHex, utf8 } from './bytes.js';
import { canonicalJson } from './canonical.js';

/** 2: bound to the downloader's TLS key (1 was bound to the BitTorrent peer id, shown in clear). */
export const TICKET_VERSION = 2;
/** A serving peer accepts this much clock difference with the tracker, and nothing more. */
export const TICKET_CLOCK_SKEW_MS = 30_000;
export const MAX_TICKET_LENGTH = 1024;

export interface TicketClaims {
  v: number;
  user: string;
  /** SHA-256 (hex) of the downloader's TLS public key: only a connection proving that key may use it. */
  key: string;
  group: string;
  /** The file's info-hash, hex. */
  fileId: string;
  notBefore: number;
  expires: number;
}

export type TicketErrorCode =
  | 'TICKET_MALFORMED'
  | 'TICKET_BAD_SIGNATURE'
  | 'TICKET_NOT_YET_VALID'
  | 'TICKET_EXPIRED'
  | 'TICKET_WRONG_FILE'
  | 'TICKET_WRONG_KEY'
  | 'TICKET_WRONG_GROUP';

export type TicketCheck = { ok: true; claims: TicketClaims } | { ok: false; code: TicketErrorCode; message: string };

export interface TicketExpectation {
  nowMs: number;
  fileId: string;
  /** The key fingerprint of the downloader's certificate on this connection (null: it showed none). */
  key: string | null;
  /** When the server knows the file's group, the ticket must name it. */
  group?: string;
  skewMs?: number;
}

// PKCS#8 / SPKI prefixes that wrap a raw 32-byte Ed25519 seed / public key (RFC 8410).
const PKCS8_ED25519_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);
const SPKI_ED25519_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);

/** Keys are made from 32 bytes of the World's rng, so a simulation's keys follow its seed. */
export function ed25519FromSeed(seed: Uint8Array): { privateKey: KeyObject; publicKey: KeyObject } {
  if (seed.length !== 32) throw new RangeError('an Ed25519 seed is 32 bytes');
  const privateKey = createPrivateKey({ key: Buffer.from(concatBytes([PKCS8_ED25519_PREFIX, seed])), format: 'der', type: 'pkcs8' });
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

export function ed25519PublicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new RangeError('an Ed25519 public key is 32 bytes');
  return createPublicKey({ key: Buffer.from(concatBytes([SPKI_ED25519_PREFIX, raw])), format: 'der', type: 'spki' });
}

export function ed25519PublicKeyToRaw(publicKey: KeyObject): Uint8Array {
  const der = publicKey.export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(der.length - 32));
}

function toBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

/** `base64url(canonical claims).base64url(Ed25519 signature)` */
export function signTicket(claims: TicketClaims, privateKey: KeyObject): string {
  const payload = utf8(canonicalJson(claims));
  return `${toBase64Url(payload)}.${toBase64Url(sign(null, payload, privateKey))}`;
}

function decodeBase64Url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  const bytes = new Uint8Array(Buffer.from(text, 'base64url'));
  return toBase64Url(bytes) === text ? bytes : null;
}

function parseClaims(payload: Uint8Array): TicketClaims | null {
  let value: unknown;
  try {
    value = JSON.parse(fromUtf8(payload));
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const c = value as Record<string, unknown>;
  const keys = ['expires', 'fileId', 'group', 'key', 'notBefore', 'user', 'v'];
  if (Object.keys(c).sort().join() !== keys.join()) return null;
  if (c.v !== TICKET_VERSION || typeof c.user !== 'string' || typeof c.group !== 'string') return null;
  if (!isHex(c.key, 32) || !isHex(c.fileId, 20)) return null;
  if (!Number.isSafeInteger(c.notBefore) || !Number.isSafeInteger(c.expires)) return null;
  return c as unknown as TicketClaims;
}

/**
 * How long a ticket is valid (expires - notBefore, both the issuer's clock), read without
 * checking the signature: for a holder to time its renewal on its own monotonic clock, since
 * its wall clock may differ from the issuer's or step. Null if it does not parse.
 */
export function ticketLifetimeMs(ticket: string): number | null {
  const payload = decodeBase64Url(ticket.split('.')[0] ?? '');
  const claims = payload === null ? null : parseClaims(payload);
  return claims === null ? null : claims.expires - claims.notBefore;
}

export function verifyTicket(ticket: unknown, publicKey: KeyObject, expect: TicketExpectation): TicketCheck {
  const malformed = (message: string): TicketCheck => ({ ok: false, code: 'TICKET_MALFORMED', message });
  if (typeof ticket !== 'string' || ticket.length === 0) return malformed('no ticket');
  if (ticket.length > MAX_TICKET_LENGTH) return malformed(`ticket longer than ${MAX_TICKET_LENGTH} characters`);
  const parts = ticket.split('.');
  if (parts.length !== 2) return malformed('ticket is not payload.signature');
  const payload = decodeBase64Url(parts[0]!);
  const signature = decodeBase64Url(parts[1]!);
  if (!payload || !signature || signature.length !== 64) return malformed('ticket is not base64url');
  if (!verify(null, payload, publicKey, signature)) return { ok: false, code: 'TICKET_BAD_SIGNATURE', message: 'ticket signature does not verify' };
  const claims = parseClaims(payload);
  if (!claims) return malformed('ticket claims are malformed');
  const skewMs = expect.skewMs ?? TICKET_CLOCK_SKEW_MS;
  if (expect.nowMs + skewMs < claims.notBefore) return { ok: false, code: 'TICKET_NOT_YET_VALID', message: 'ticket is not valid yet' };
  if (expect.nowMs - skewMs >= claims.expires) return { ok: false, code: 'TICKET_EXPIRED', message: 'ticket has expired' };
  if (claims.fileId !== expect.fileId) return { ok: false, code: 'TICKET_WRONG_FILE', message: 'ticket is for another file' };
  if (claims.key !== expect.key) return { ok: false, code: 'TICKET_WRONG_KEY', message: "ticket is bound to another peer's key" };
  if (expect.group !== undefined && claims.group !== expect.group) return { ok: false, code: 'TICKET_WRONG_GROUP', message: 'ticket is for another group' };
  return { ok: true, claims };
}
