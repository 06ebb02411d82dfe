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
