// Why this file exists: the stored form of an applied entry and the hash chain over it. A line is
//
//   <64 hex hash> <replay JSON>\t<command JSON>
//
// replay JSON = canonical [v, index, term, timeMs, clientId, requestId, events]: all that replay
// needs, positional to keep it small, so replay never parses commands. hash(i) = SHA-256(hash(i-1)
// ‖ everything after the space), so one changed byte anywhere breaks every later link and
// verification names the first broken entry. Canonical JSON holds no tab or newline.

import { createHash } from 'node:crypto';
import { canonicalJson } from '../../torrent/canonical.js';
import type { AppliedEntry, EntryOutcome } from '../domain/entry.js';
import type { Event } from '../domain/events.js';

/** An applied entry as the store keeps it: with the Raft term it was committed in. */
export interface StoredEntry extends AppliedEntry {
  term: number;
}

/** A stored entry as replay reads it: the command left as text until someone asks. */
export interface StoredOutcome extends EntryOutcome {
  term: number;
  commandJson: string;
}

export const HASH_HEX_LENGTH = 64;

export function chainHash(previousHex: string, body: string): string {
  return createHash('sha256').update(Buffer.from(previousHex, 'hex')).update(body, 'utf8').digest('hex');
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export function encodeLine(previousHex: string, entry: StoredEntry): { line: string; hash: string } {
  const replay = canonicalJson([entry.v, entry.index, entry.term, entry.timeMs, entry.clientId, entry.requestId, entry.events]);
  const body = `${replay}\t${canonicalJson(entry.command)}`;
  const hash = chainHash(previousHex, body);
  return { line: `${hash} ${body}`, hash };
}

export class LineFormatError extends Error {
  override name = 'LineFormatError';
}

/** The stored hash and the hashed body of a line; null when it lacks the `<hash> <body>` layout. */
export function splitLine(line: string): { hash: string; body: string } | null {
  if (line.length <= HASH_HEX_LENGTH + 1 || line.charCodeAt(HASH_HEX_LENGTH) !== 0x20) return null;
  return { hash: line.slice(0, HASH_HEX_LENGTH), body: line.slice(HASH_HEX_LENGTH + 1) };
}

/** Decodes a line's body; throws LineFormatError when it is not a stored entry of `expectedIndex`. */
export function decodeBody(body: string, expectedIndex: number): StoredOutcome {
  const tab = body.indexOf('\t');
  if (tab === -1) throw new LineFormatError('line has no command part');
  let replay: unknown;
  try {
    replay = JSON.parse(body.slice(0, tab));
  } catch {
    throw new LineFormatError('entry is not JSON');
  }
  if (!Array.isArray(replay) || replay.length !== 7) throw new LineFormatError('entry is malformed');
  const [v, index, term, timeMs, clientId, requestId, events] = replay as unknown[];
  if (index !== expectedIndex) throw new LineFormatError(`entry says index ${String(index).slice(0, 20)}`);
  if (typeof v !== 'number' || typeof term !== 'number' || typeof timeMs !== 'number' || !Array.isArray(events)) {
    throw new LineFormatError('entry is malformed');
  }
  if ((clientId !== null && typeof clientId !== 'string') || (requestId !== null && typeof requestId !== 'number')) {
    throw new LineFormatError('entry is malformed');
  }
  return { v, index, term, timeMs, clientId, requestId, events: events as Event[], commandJson: body.slice(tab + 1) };
}
