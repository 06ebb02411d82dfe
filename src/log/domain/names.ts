// Why this file exists: names come from users and travel into logs, paths and terminals. One
// place decides what a user id, a group id, a file name and a peer address may look like.

import { utf8Length } from '../../torrent/bytes.js';
import { formatNetAddress, parseNetAddress, type NetAddress } from '../../world/net-address.js';
import { domainError, type DomainError } from './errors.js';

/** User and group ids: 1–64 of [A-Za-z0-9._-], not starting with '.' or '-'. */
const ID_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/;
export const MAX_ID_LENGTH = 64;
/** A file name is a name, never a path: at most 255 UTF-8 bytes, as on ext4. */
export const MAX_FILE_NAME_BYTES = 255;

function describe(value: unknown): string {
  if (typeof value !== 'string') return `a ${typeof value}`;
  const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
  return JSON.stringify(shown);
}

export function checkId(kind: 'user' | 'group', value: unknown): DomainError | null {
  if (typeof value === 'string' && ID_PATTERN.test(value)) return null;
  return domainError(
    'BAD_NAME',
    `${kind} id ${describe(value)} is not 1–${MAX_ID_LENGTH} letters, digits, '.', '_' or '-' (not starting with '.' or '-')`,
  );
}

export function checkFileName(value: unknown): DomainError | null {
  if (typeof value !== 'string' || value.length === 0) return domainError('BAD_NAME', 'file name is empty');
  if (value === '.' || value === '..') return domainError('BAD_NAME', `file name ${describe(value)} is not a name`);
  if (/[/\\]/.test(value)) return domainError('BAD_NAME', `file name ${describe(value)} is a path, not a name`);
  // C0 and C1 control characters, DEL, and the Unicode line/paragraph separators.
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(value)) {
    return domainError('BAD_NAME', `file name ${describe(value)} holds a control character`);
  }
  if (value.trim() !== value) return domainError('BAD_NAME', `file name ${describe(value)} starts or ends with a space`);
  if (!isWellFormedUtf16(value)) return domainError('BAD_NAME', `file name ${describe(value)} is not valid Unicode`);
  if (utf8Length(value) > MAX_FILE_NAME_BYTES) {
    return domainError('BAD_NAME', `file name ${describe(value)} is longer than ${MAX_FILE_NAME_BYTES} bytes`);
  }
  return null;
}

/** What a download writes first is `<name>.part`: a shared name leaves room for it in 255 bytes. */
export const MAX_SHARED_FILE_NAME_BYTES = MAX_FILE_NAME_BYTES - '.part'.length;
/**
 * Characters that make a name read as another: bidirectional overrides, embeddings, isolates
 * and marks (`invoice\u202Efdp.exe` shows as `invoiceexe.pdf`), and zero-width or invisible
 * ones (`secret\u200B.txt` looks like `secret.txt`).
 */
const DECEPTIVE = /[\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\u3164\ufeff\uffa0]/g;

function escapeDeceptive(text: string): string {
  return text.replace(DECEPTIVE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()}`);
}

/**
 * A name as it may be shared from rules version 7 on, and as any download writes it: a file
 * name (above), with no character that makes it read as another, and room for `.part`.
 */
export function checkSharedFileName(value: unknown): DomainError | null {
  const deceptive = typeof value === 'string' ? value.match(DECEPTIVE) : null;
  if (typeof value === 'string' && deceptive !== null) {
    const shown = escapeDeceptive(describe(value));
    return domainError('BAD_NAME', `file name ${shown} holds ${escapeDeceptive(deceptive[0])}, an invisible or direction-changing character: it would read as another name`);
  }
  const bad = checkFileName(value);
  if (bad !== null || typeof value !== 'string') return bad;
  if (utf8Length(value) > MAX_SHARED_FILE_NAME_BYTES) {
    return domainError('BAD_NAME', `file name ${describe(value)} is longer than ${MAX_SHARED_FILE_NAME_BYTES} bytes (a download writes <name>.part, and a name has 255)`);
  }
  return null;
}

/** Where a peer is reached: a host name, an IPv4 or an IPv6 address, and a port from 1 to 65535. */
export function checkPeerAddress(address: NetAddress): DomainError | null {
  const text = formatNetAddress(address);
  try {
    const parsed = parseNetAddress(text);
    if (parsed.host === address.host && parsed.port === address.port) return null;
  } catch {
    // refused below
  }
  return domainError('BAD_ADDRESS', `peer address ${describe(text)} is not host:port`);
}

function isWellFormedUtf16(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = value.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++;
    } else if (unit >= 0xdc00 && unit <= 0xdfff) {
      return false;
    }
  }
  return true;
}
