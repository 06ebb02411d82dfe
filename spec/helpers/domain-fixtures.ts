// Test fixtures for the domain: files with real piece lists and info-hashes, password records,
// session tokens, and a tiny driver that applies commands with consecutive indices.

import { createHash } from 'node:crypto';
import type { Auth, Command, PasswordRecord } from '../../src/log/domain/commands.js';
import type { FileMeta } from '../../src/torrent/file-meta.js';
import { toBase64 } from '../../src/torrent/bytes.js';
import { applyEntry, type Applied } from '../../src/log/domain/entry.js';
import { MemoryPieceLists } from '../../src/log/domain/piece-lists.js';
import { RULES_VERSION } from '../../src/log/domain/rules.js';
import type { NetAddress } from '../../src/world/net-address.js';
import { hashPieces, infoHash, PIECE_LENGTH_BYTES } from '../../src/torrent/infohash.js';
import { initialState, type TrackerState } from '../../src/log/domain/state.js';

/** Byte i of the file is (i * 31 + seed) % 251, like the shared info-hash vectors. */
export function fileBytes(sizeBytes: number, seed = 7): Uint8Array {
  const out = new Uint8Array(sizeBytes);
  for (let i = 0; i < sizeBytes; i++) out[i] = (i * 31 + seed) % 251;
  return out;
}

export function fileMeta(name: string, bytes: Uint8Array): FileMeta {
  const pieces = hashPieces(bytes);
  return {
    fileId: infoHash({ name, sizeBytes: bytes.length, pieceLengthBytes: PIECE_LENGTH_BYTES, pieces }),
    name,
    sizeBytes: bytes.length,
    pieceLengthBytes: PIECE_LENGTH_BYTES,
    pieces: toBase64(pieces),
  };
}

export function passwordRecord(seed: string): PasswordRecord {
  const digest = (label: string): string => createHash('sha256').update(`${label}:${seed}`).digest('hex');
  return { algorithm: 'scrypt', costN: 16, blockSizeR: 1, parallelP: 1, salt: digest('salt').slice(0, 32), hash: digest('hash') };
}

export function tokenHashOf(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function authFor(sessionId: string, token: string): Auth {
  return { sessionId, tokenHash: tokenHashOf(token) };
}

/** Applies commands one by one with consecutive indices and a ticking clock. */
export class Driver {
  state: TrackerState = initialState();
  /** Every piece list shared so far (the store keeps them out of the state; piece-lists.ts). */
  readonly pieces = new MemoryPieceLists();
  private timeMs = 1_700_000_000_000;
  private requestId = 0;
  readonly applied: Applied[] = [];

  constructor(readonly clientId = 'test-client') {}

  /** Applies `command` as the next entry, under today's rules unless told otherwise. */
  run(command: Command | unknown, rulesVersion = RULES_VERSION): Applied {
    this.timeMs += 1000;
    const applied = applyEntry(this.state, {
      index: this.state.appliedIndex + 1,
      timeMs: this.timeMs,
      clientId: this.clientId,
      requestId: ++this.requestId,
      rulesVersion,
      command,
    }, this.pieces);
    this.pieces.record(applied.entry.events);
    this.applied.push(applied);
    return applied;
  }

  /** Moves the time of the next entries on (entry times drive expiries). */
  advanceMs(durationMs: number): void {
    this.timeMs += durationMs;
  }

  /** The error code of the last reply, or 'OK'. */
  code(applied: Applied): string {
    return applied.reply?.error?.code ?? 'OK';
  }

  createUser(user: string): Applied {
    return this.run({ type: 'CreateUser', user, password: passwordRecord(user) });
  }

  login(user: string, sessionId: string, token: string, observed: NetAddress = { host: '127.0.0.1', port: 6881 }): Applied {
    const credentialsIndex = this.state.users.get(user)?.credentialsIndex ?? 0;
    return this.run({ type: 'OpenSession', user, sessionId, tokenHash: tokenHashOf(token), observed, reachable: true, credentialsIndex });
  }
}
