// Why this file exists: the stored form of an applied entry and the hash chain over it. A line is
//
//   <64 hex hash> <replay JSON>\t<command JSON>
//
// replay JSON = canonical [v, index, term, timeMs, clientId, requestId, events]: all that replay
// needs, positional to keep it small, so replay never parses commands. hash(i) = SHA-256(hash(i-1)
// ‖ everything after the space), so one changed byte anywhere breaks every later link and
// verification names the first broken entry. Canonical JSON holds no tab or newline.

import * as crypto from 'node:crypto';
import { canonicalJson } from '../../torrent/canonical.js';
import type { AppliedEntry, EntryOutcome } from '../domain/entry.js';
import type { Event } from '../domain/events.js';
import { parseReplayRecord } from './replay-record.js';

/** An applied entry as the store keeps it: with the Raft term it was committed in. */
export interface StoredEntry extends AppliedEntry {
  term: number;
}

/** A stored entry as replay reads it (its command stays text in the line until someone asks). */
export interface StoredOutcome extends EntryOutcome {
  term: number;
}

export const HASH_HEX_LENGTH = 64;

export function chainHash(previousHex: string, body: string): string {
  return crypto.createHash('sha256').update(Buffer.from(previousHex, 'hex')).update(body, 'utf8').digest('hex');
}

/** One-shot SHA-256 where this Node has it (20.12 on): no hash object per entry. */
const oneShotHash = typeof crypto.hash === 'function' ? crypto.hash : null;
/** The previous hash and a body side by side, reused from entry to entry. */
let scratch = Buffer.alloc(64 * 1024);

/**
 * chainHash(previousHex, text of bytes[start, end)) for a body still in its segment's bytes
 * (valid UTF-8, so the bytes are the text's encoding): the same digest without decoding it.
 */
export function chainHashOfBytes(previousHex: string, bytes: Buffer, start: number, end: number): string {
  const needed = previousHex.length + end - start;
  if (scratch.length < needed) scratch = Buffer.alloc(Math.max(needed, scratch.length * 2));
  // Buffer.from(previousHex, 'hex') decodes as far as the text is hex; write() stops at the same place.
  const prefix = scratch.write(previousHex, 0, 'hex');
  const length = prefix + bytes.copy(scratch, prefix, start, end);
  const view = new Uint8Array(scratch.buffer, scratch.byteOffset, length);
  return oneShotHash ? oneShotHash('sha256', view, 'hex') : crypto.createHash('sha256').update(view).digest('hex');
}

export function sha256Hex(text: string): string {
  return crypto.createHash('sha256').update(text, 'utf8').digest('hex');
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

/** A parsed replay record as the stored entry of `expectedIndex`; throws LineFormatError when it is not one. */
export function replayOutcome(replay: unknown, expectedIndex: number): StoredOutcome {
  if (!Array.isArray(replay) || replay.length !== 7) throw new LineFormatError('entry is malformed');
  const record = replay as unknown[];
  const v = record[0];
  const index = record[1];
  const term = record[2];
  const timeMs = record[3];
  const clientId = record[4];
  const requestId = record[5];
  const events = record[6];
  if (index !== expectedIndex) throw new LineFormatError(`entry says index ${String(index).slice(0, 20)}`);
  if (typeof v !== 'number' || typeof term !== 'number' || typeof timeMs !== 'number' || !Array.isArray(events)) {
    throw new LineFormatError('entry is malformed');
  }
  if ((clientId !== null && typeof clientId !== 'string') || (requestId !== null && typeof requestId !== 'number')) {
    throw new LineFormatError('entry is malformed');
  }
  return { v, index, term, timeMs, clientId, requestId, events: events as Event[] };
}

/** Decodes a line's replay JSON; throws LineFormatError when it is not a stored entry of `expectedIndex`. */
export function decodeReplay(replayJson: string, expectedIndex: number): StoredOutcome {
  let replay: unknown;
  try {
    replay = JSON.parse(replayJson);
  } catch {
    throw new LineFormatError('entry is not JSON');
  }
  return replayOutcome(replay, expectedIndex);
}

/** decodeReplay of the text of bytes[start, end) (valid UTF-8), read without decoding all of it. */
export function decodeReplayBytes(bytes: Buffer, start: number, end: number, expectedIndex: number): StoredOutcome {
  let replay: unknown;
  try {
    replay = parseReplayRecord(bytes, start, end);
  } catch {
    throw new LineFormatError('entry is not JSON');
  }
  return replayOutcome(replay, expectedIndex);
}
