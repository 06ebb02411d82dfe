// Why this file exists: commands are what clients (and the leader, for expiries) ask of the
// tracker. They arrive as untrusted data inside log entries, so parseCommand validates their
// shape before decide sees them; a malformed command is a BAD_COMMAND refusal, never a crash.

import { isHex } from '../../torrent/bytes.js';
import type { FileMeta } from '../../torrent/file-meta.js';
import type { NetAddress } from '../../world/net-address.js';
import { domainError, type DomainError } from './errors.js';

/** The scrypt hash of a password with its salt and parameters (never the password). */
export interface PasswordRecord {
  algorithm: 'scrypt';
  costN: number;
  blockSizeR: number;
  parallelP: number;
  /** hex */
  salt: string;
  /** hex */
  hash: string;
}

/** Proof of a session: its id and the SHA-256 (hex) of its secret token. */
export interface Auth {
  sessionId: string;
  tokenHash: string;
}

export type Command =
  | { type: 'CreateUser'; user: string; password: PasswordRecord }
  /**
   * A login, proposed by the node that checked the password. `observed` is where other peers
   * reach this one: the source IP that node saw on the client's connection, and the port the
   * peer listens on; `reachable`: whether that node could open a connection there (a peer
   * behind a router cannot be dialed). Both are non-deterministic inputs, filled in by the node
   * as time is. `keyFingerprint`: SHA-256 (hex) of the public key the peer's TLS certificate
   * carries; tickets name it, and other peers pin the peer to it.
   */
  | { type: 'OpenSession'; user: string; sessionId: string; tokenHash: string; observed: NetAddress; reachable: boolean; credentialsIndex: number; refreshHash?: string; keyFingerprint?: string }
  /** A session re-opened with a refresh credential (its SHA-256), e.g. after it expired; the credential is used up. */
  | { type: 'RenewSession'; user: string; refreshHash: string; sessionId: string; tokenHash: string; observed: NetAddress; reachable: boolean; newRefreshHash: string; keyFingerprint?: string }
  | { type: 'CloseSession'; auth: Auth }
  | { type: 'ExpireSession'; sessionId: string }
  /** The leader saw a session's heartbeats come from another address (or name another port), and dialed it there. */
  | { type: 'MoveSession'; sessionId: string; observed: NetAddress; reachable: boolean }
  | { type: 'CreateGroup'; auth: Auth; group: string }
  | { type: 'RequestJoin'; auth: Auth; group: string }
  | { type: 'LeaveGroup'; auth: Auth; group: string }
  /** The owner takes a member out of the group (at once: the group's holders drop that member's connections). */
  | { type: 'RemoveMember'; auth: Auth; group: string; user: string }
  | { type: 'AcceptRequest'; auth: Auth; group: string; user: string }
  | { type: 'RejectRequest'; auth: Auth; group: string; user: string }
  /**
   * `anew`: the user shared the file by hand (upload_file), not the login's re-announce of its
   * remembered shares; only that is its word that a delisted copy is sound again (rules 6).
   */
  | { type: 'ShareFile'; auth: Auth; group: string; file: FileMeta; anew?: boolean }
  | { type: 'HoldPartial'; auth: Auth; group: string; fileId: string }
  | { type: 'DropHolding'; auth: Auth; group: string; fileId: string }
  | { type: 'StopShare'; auth: Auth; group: string; name: string }
  /**
   * A downloader banned `holder` (a user the tracker listed as holding the file) for pieces that
   * failed their SHA1, with the evidence of one of them: its index, the SHA1 the file says
   * (hex) and the SHA1 of what arrived (hex). Rules version 6.
   */
  | { type: 'ReportHolder'; auth: Auth; group: string; fileId: string; holder: string; pieceIndex: number; expectedSha1: string; receivedSha1: string };

export type CommandType = Command['type'];

type WithoutAuth<C> = C extends { auth: Auth } ? Omit<C, 'auth'> : never;
/**
 * A command as a logged-in client sends it: every command that carries an `auth`, without it
 * (the node fills it in from the session's token). The others are the tracker's own
 * (ExpireSession, MoveSession) or built by a node after it checked a secret (CreateUser, OpenSession,
 * RenewSession): never taken from a client as they are.
 */
export type SessionCommand = WithoutAuth<Command>;

/** The command a session's request becomes once the node has its auth. */
export function withAuth(command: SessionCommand, auth: Auth): Command {
  // Adding `auth` back to a member of the union gives the member it came from; TypeScript
  // cannot follow that through the distributive Omit.
  return { ...command, auth } as Command;
}

/** Session ids are nanoid-like: 8–64 URL-safe characters. */
export const SESSION_ID = /^[A-Za-z0-9_-]{8,64}$/;

type Kind = 'string' | 'integer' | 'boolean' | 'auth' | 'password' | 'file' | 'address';
/** A field's kind; a trailing '?' makes it optional. */
type Shape = Record<string, Kind | `${Kind}?`>;

const SHAPES: { readonly [T in CommandType]: Shape } = {
  CreateUser: { user: 'string', password: 'password' },
  OpenSession: { user: 'string', sessionId: 'string', tokenHash: 'string', observed: 'address', reachable: 'boolean', credentialsIndex: 'integer', refreshHash: 'string?', keyFingerprint: 'string?' },
  RenewSession: { user: 'string', refreshHash: 'string', sessionId: 'string', tokenHash: 'string', observed: 'address', reachable: 'boolean', newRefreshHash: 'string', keyFingerprint: 'string?' },
  CloseSession: { auth: 'auth' },
  ExpireSession: { sessionId: 'string' },
  MoveSession: { sessionId: 'string', observed: 'address', reachable: 'boolean' },
  CreateGroup: { auth: 'auth', group: 'string' },
  RequestJoin: { auth: 'auth', group: 'string' },
  LeaveGroup: { auth: 'auth', group: 'string' },
  RemoveMember: { auth: 'auth', group: 'string', user: 'string' },
  AcceptRequest: { auth: 'auth', group: 'string', user: 'string' },
  RejectRequest: { auth: 'auth', group: 'string', user: 'string' },
  ShareFile: { auth: 'auth', group: 'string', file: 'file', anew: 'boolean?' },
  HoldPartial: { auth: 'auth', group: 'string', fileId: 'string' },
  DropHolding: { auth: 'auth', group: 'string', fileId: 'string' },
  StopShare: { auth: 'auth', group: 'string', name: 'string' },
  ReportHolder: { auth: 'auth', group: 'string', fileId: 'string', holder: 'string', pieceIndex: 'integer', expectedSha1: 'string', receivedSha1: 'string' },
};

export function isCommandType(value: unknown): value is CommandType {
  return typeof value === 'string' && Object.hasOwn(SHAPES, value);
}

/** Strings inside commands are bounded before anything looks at them. */
export const MAX_COMMAND_STRING_LENGTH = 4096;
/** Piece lists may be long (see MAX_FILE_PIECES); they are bounded there. */
const MAX_PIECES_TEXT_LENGTH = 4 * 1024 * 1024;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function hasExactKeys(value: Record<string, unknown>, keys: readonly string[]): boolean {
  const own = Object.keys(value);
  return own.length === keys.length && keys.every((key) => Object.hasOwn(value, key));
}

function isBoundedString(value: unknown, maxLength = MAX_COMMAND_STRING_LENGTH): value is string {
  return typeof value === 'string' && value.length <= maxLength;
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

export function isAuth(value: unknown): value is Auth {
  return (
    isRecord(value) &&
    hasExactKeys(value, ['sessionId', 'tokenHash']) &&
    typeof value.sessionId === 'string' &&
    SESSION_ID.test(value.sessionId) &&
    isHex(value.tokenHash, 32)
  );
}

function isPasswordRecord(value: unknown): value is PasswordRecord {
  return (
    isRecord(value) &&
    hasExactKeys(value, ['algorithm', 'costN', 'blockSizeR', 'parallelP', 'salt', 'hash']) &&
    value.algorithm === 'scrypt' &&
    isNonNegativeInteger(value.costN) &&
    value.costN >= 2 &&
    (value.costN & (value.costN - 1)) === 0 &&
    isNonNegativeInteger(value.blockSizeR) &&
    value.blockSizeR >= 1 &&
    isNonNegativeInteger(value.parallelP) &&
    value.parallelP >= 1 &&
    typeof value.salt === 'string' &&
    /^([0-9a-f]{2}){16,64}$/.test(value.salt) &&
    typeof value.hash === 'string' &&
    /^([0-9a-f]{2}){16,64}$/.test(value.hash)
  );
}

function isFileMeta(value: unknown): value is FileMeta {
  return (
    isRecord(value) &&
    hasExactKeys(value, ['fileId', 'name', 'sizeBytes', 'pieceLengthBytes', 'pieces']) &&
    typeof value.fileId === 'string' &&
    isBoundedString(value.name) &&
    isNonNegativeInteger(value.sizeBytes) &&
    isNonNegativeInteger(value.pieceLengthBytes) &&
    isBoundedString(value.pieces, MAX_PIECES_TEXT_LENGTH)
  );
}

/** The shape of an address; whether it is one a peer can be reached at is decide's to say. */
function isAddressShape(value: unknown): value is NetAddress {
  return isRecord(value) && hasExactKeys(value, ['host', 'port']) && isBoundedString(value.host, 256) && isNonNegativeInteger(value.port);
}

const CHECKS = {
  string: (value: unknown) => isBoundedString(value),
  integer: isNonNegativeInteger,
  boolean: (value: unknown) => typeof value === 'boolean',
  auth: isAuth,
  password: isPasswordRecord,
  file: isFileMeta,
  address: isAddressShape,
} as const;

/** Validates the shape (fields, types, bounds) of an untrusted command. Names are checked by decide. */
export function parseCommand(value: unknown): Command | DomainError {
  if (!isRecord(value)) return domainError('BAD_COMMAND', 'a command is an object');
  const type = value.type;
  if (!isCommandType(type)) {
    const shown = typeof type === 'string' ? JSON.stringify(type.slice(0, 40)) : typeof type;
    return domainError('BAD_COMMAND', `unknown command ${shown}`);
  }
  const bad = shapeError(type, SHAPES[type], value);
  return bad ?? (value as Command);
}

/** Validates an untrusted session command (a command with auth, sent without it). */
export function parseSessionCommand(value: unknown): SessionCommand | DomainError {
  if (!isRecord(value)) return domainError('BAD_COMMAND', 'a command is an object');
  const type = value.type;
  if (!isCommandType(type) || SHAPES[type].auth === undefined) {
    const shown = typeof type === 'string' ? type.slice(0, 40) : typeof type;
    return domainError('BAD_COMMAND', `${shown} is not a session command`);
  }
  const { auth: _auth, ...shape } = SHAPES[type];
  const bad = shapeError(type, shape, value);
  return bad ?? (value as SessionCommand);
}

function shapeError(type: CommandType, shape: Shape, value: Record<string, unknown>): DomainError | null {
  const fields = Object.keys(shape);
  const required = fields.filter((field) => !shape[field]!.endsWith('?'));
  const keys = Object.keys(value);
  if (!required.every((field) => Object.hasOwn(value, field)) || !keys.every((key) => key === 'type' || Object.hasOwn(shape, key))) {
    return domainError('BAD_COMMAND', `${type} takes exactly: ${fields.map((f) => (shape[f]!.endsWith('?') ? `[${f}]` : f)).join(', ')}`);
  }
  for (const field of fields) {
    if (!Object.hasOwn(value, field)) continue;
    const kind = shape[field]!.replace('?', '') as Kind;
    if (!CHECKS[kind](value[field])) return domainError('BAD_COMMAND', `${type}.${field} is not a valid ${kind}`);
  }
  return null;
}
