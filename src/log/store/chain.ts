// Why this file exists: the hash chain that makes a store auditable. hash(i) = SHA-256(hash(i-1)
// ‖ the entry's canonical JSON bytes), so one changed byte anywhere breaks every later link and
// verification names the first broken entry. Pure: bytes in, hex out.

import { createHash } from 'node:crypto';
import { canonicalJson } from '../domain/canonical.js';
import type { AppliedEntry } from '../domain/entry.js';

/** An applied entry as the store keeps it: with the Raft term it was committed in. */
export interface StoredEntry extends AppliedEntry {
  term: number;
}

export const HASH_HEX_LENGTH = 64;

export function chainHash(previousHex: string, entryJson: string): string {
  return createHash('sha256').update(Buffer.from(previousHex, 'hex')).update(entryJson, 'utf8').digest('hex');
}

export interface EncodedLine {
  line: string;
  hash: string;
}

export function encodeLine(previousHex: string, entry: StoredEntry): EncodedLine {
  const json = canonicalJson(entry);
  const hash = chainHash(previousHex, json);
  return { line: `${hash} ${json}`, hash };
}

/** Splits a stored line; null when it does not have the `<hash> <json>` layout. */
export function splitLine(line: string): { hash: string; json: string } | null {
  if (line.length <= HASH_HEX_LENGTH + 1 || line.charCodeAt(HASH_HEX_LENGTH) !== 0x20) return null;
  const hash = line.slice(0, HASH_HEX_LENGTH);
  if (!/^[0-9a-f]{64}$/.test(hash)) return null;
  return { hash, json: line.slice(HASH_HEX_LENGTH + 1) };
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
