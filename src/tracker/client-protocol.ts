// Why this file exists: what clients and tracker nodes say to each other over framed TCP.
// Requests carry an id the response echoes; writes carry (clientId, requestId) so a retry
// through any node applies once. A node that does not lead answers NOT_LEADER with a hint.

import { parseSessionCommand, type SessionCommand } from '../log/domain/commands.js';
import { isDomainError } from '../log/domain/errors.js';
import type { Event } from '../log/domain/events.js';
import type { FileDetail, FileSummary, GroupMembers, GroupSummary } from '../log/domain/queries.js';
import type { TimelineEntry } from '../log/domain/timeline.js';

/** A session as the client holds it: the secret token travels, only its SHA-256 is stored. */
export interface SessionCredential {
  sessionId: string;
  token: string;
}

/** Queries a logged-in user asks (answered by ReadIndex, as that user). */
export type SessionQuery =
  | { name: 'whoami' }
  | { name: 'listGroups' }
  | { name: 'listRequests'; group: string }
  | { name: 'listFiles'; group: string }
  | { name: 'listMembers'; group: string }
  | { name: 'file'; group: string; file: string }
  /**
   * A group's timeline, for its members only (NOT_A_MEMBER otherwise, NO_SUCH_GROUP): the
   * entries after `afterIndex` (from the group's creation when absent), a bounded page a reply.
   */
  | { name: 'groupTimeline'; group: string; afterIndex?: number };

/** One reply to `groupTimeline`: ask again with `afterIndex: nextAfterIndex` while it is not null. */
export interface GroupTimelinePage {
  group: string;
  /** In log order; the events of one log entry are never split across replies. */
  entries: TimelineEntry[];
  /** Null: every entry up to the index the membership was checked at is in this reply or an earlier one. */
  nextAfterIndex: number | null;
}

/** What each query answers. */
export interface QueryResults {
  whoami: { user: string; sessionId: string };
  listGroups: GroupSummary[];
  listRequests: Array<{ user: string; requestedIndex: number }>;
  listFiles: FileSummary[];
  listMembers: GroupMembers;
  file: FileDetail;
  groupTimeline: GroupTimelinePage;
}

export type QueryResult<Q extends SessionQuery> = QueryResults[Q['name']];

interface Write {
  clientId: string;
  requestId: number;
}

export type ClientRequest = { id: number } & (
  | { type: 'status' }
  /** The node derives the password's scrypt hash with a fresh salt. */
  | ({ type: 'createUser'; user: string; password: string } & Write)
  /**
   * The node checks the password against linearizable state, then opens the session. Other peers
   * will reach this one at the source address the node sees on this connection and at `port`,
   * the port the peer listens on (or the one forwarded to it). With `refresh`: a secret (its
   * SHA-256 is kept) that can later re-open the session without the password.
   */
  /** `keyFingerprint`: SHA-256 (hex) of the peer's TLS key, which its tickets will name. */
  | ({ type: 'login'; user: string; password: string; port: number; session: SessionCredential; refresh?: string; keyFingerprint?: string } & Write)
  /** A new session from a refresh credential (the old session is closed if still open); `newRefresh` replaces it. */
  | ({ type: 'renew'; user: string; refresh: string; newRefresh: string; port: number; session: SessionCredential; keyFingerprint?: string } & Write)
  /** A command as a session: the node fills in its auth from the token. */
  | ({ type: 'command'; session: SessionCredential; command: SessionCommand } & Write)
  | { type: 'query'; session: SessionCredential; query: SessionQuery }
  /** A ticket for the key the session logged in with. */
  | { type: 'ticket'; session: SessionCredential; group: string; fileId: string }
  /** `port`: where the peer listens now; with the source address of this connection, checked against the session's. */
  | { type: 'heartbeat'; session: SessionCredential; port?: number }
  /**
   * Opens the session's push channel on this connection: the committed events after
   * `afterIndex` that concern the user or the user's groups, then each as it commits, and the
   * one-off requests addressed to the session (PushFrame, under this request's id).
   */
  | { type: 'subscribe'; session: SessionCredential; afterIndex: number }
  /** Asks the holders of a file that cannot be dialed to dial us (connection reversal); the leader's. */
  | { type: 'dialBack'; session: SessionCredential; group: string; fileId: string }
  /** A single-use nonce for an archive request (see archive-export.ts). */
  | { type: 'archiveChallenge' }
  /** The node's store as one blob (meta, snapshot, whole archive), in chunks, for a live audit. */
  | { type: 'archive'; nonce: string; proof: string; exportId: string | null; offset: number }
);

/** A one-off request the tracker pushes to one session. */
export type PushRequest =
  /** Dial `address` (a downloader who cannot reach you) and serve it `fileId` over that link. */
  /** Dial `address` to serve `user` the file; the peer there must show the key `key` (its fingerprint). */
  { type: 'dialBack'; group: string; fileId: string; address: string; user: string; key: string };

/** What travels down a push channel. */
export type Push =
  /** The committed events at log index `index` that concern the subscriber. */
  | { kind: 'events'; index: number; events: Event[] }
  | { kind: 'request'; request: PushRequest }
  /**
   * `user` left `group` or was removed from it, by the entry at `index`, at the tracker's time
   * `atMs`: a peer that serves the group's files drops its connections serving that user, and
   * refuses tickets issued until `atMs`. Sent to the group's other online members with that
   * entry's events (holders are members); the peer's answer is the same if it hears it twice.
   */
  | { kind: 'kick'; index: number; group: string; user: string; atMs: number }
  /** Nothing new: the stream is alive, and everything up to `index` has been gone through. */
  | { kind: 'tick'; index: number }
  /** The channel is over (the session ended, the node stops); subscribe again if it makes sense. */
  | { kind: 'end'; code: string; message: string };

export interface PushFrame {
  /** The subscribe request's id. */
  id: number;
  push: Push;
}

export interface LeaderHint {
  id: string;
  client: string;
}

export type ClientResponse = { id: number } & (
  | { ok: true; result: unknown }
  /** `retryAfterMs`: set on LOGIN_BACKOFF, how long until another attempt may be made. */
  | { ok: false; error: { code: string; message: string; retryAfterMs?: number }; leader: LeaderHint | null }
);

export interface NodeStatus {
  id: string;
  /** The cluster's ticket-signing public key, base64 (for peers that know only node addresses). */
  publicKey?: string;
  /** The cluster's CA (PEM): a client that knows only addresses pins it on first use. */
  ca?: string;
  role: string;
  term: number;
  leader: string | null;
  commit: number;
  applied: number;
  lastIndex: number;
  snapshotIndex: number;
  /** The index the node's tracker store has applied: behind `applied` while a snapshot installs (absent from older builds). */
  storeApplied?: number;
  /** Client connections this node holds, and bytes buffered for their unfinished frames (client-door.ts). */
  clients?: { connections: number; bufferedBytes: number; maxConnections?: number };
  /** Sessions open in this node's applied state (absent from older builds). */
  sessions?: number;
  /** Heartbeats this node answered since it started, and sessions followers relayed to it while it led. */
  heartbeats?: { answered: number; relayedIn: number };
  /** This node's wall clock minus the median of the cluster's; null until measured (absent from older builds). */
  clockSkewMs?: number | null;
  /** The skew is beyond the limit: the node issues no tickets and proposes no entry times. */
  clockSkewed?: boolean;
}

const MAX_FIELD = 4096;

function isText(value: unknown, max = MAX_FIELD): value is string {
  return typeof value === 'string' && value.length <= max;
}

/** An optional key fingerprint: 64 hex digits. */
function isKey(value: unknown): boolean {
  return value === undefined || (typeof value === 'string' && /^[0-9a-f]{64}$/.test(value));
}

function isPort(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65_535;
}

function isWrite(r: Record<string, unknown>): boolean {
  return typeof r.clientId === 'string' && r.clientId.length > 0 && r.clientId.length <= 64 && Number.isSafeInteger(r.requestId) && (r.requestId as number) >= 0;
}

export function isSession(value: unknown): value is SessionCredential {
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Record<string, unknown>;
  return isText(s.sessionId, 64) && isText(s.token, 256);
}

function isSessionQuery(value: unknown): value is SessionQuery {
  if (typeof value !== 'object' || value === null) return false;
  const q = value as Record<string, unknown>;
  switch (q.name) {
    case 'whoami':
    case 'listGroups':
      return true;
    case 'listRequests':
    case 'listFiles':
    case 'listMembers':
      return isText(q.group);
    case 'file':
      return isText(q.group) && isText(q.file);
    case 'groupTimeline':
      return isText(q.group) && (q.afterIndex === undefined || (Number.isSafeInteger(q.afterIndex) && (q.afterIndex as number) >= 0));
    default:
      return false;
  }
}

/**
 * An untrusted request, checked: a request, or a refusal to answer under its id (a command that
 * is not a session command), or null when it cannot be answered at all (not a request).
 */
export function parseClientRequest(value: unknown): ClientRequest | { id: number; code: string; message: string } | null {
  if (!isClientRequest(value)) {
    // A request this protocol has, with fields of the wrong shape, is answered under its id: the
    // client hears what it did wrong instead of a closed connection it would take for an outage.
    const r = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
    if (!Number.isSafeInteger(r.id) || typeof r.type !== 'string' || !REQUEST_TYPES.has(r.type)) return null;
    return { id: r.id as number, code: 'BAD_REQUEST', message: `a ${r.type} request with fields missing or of the wrong shape` };
  }
  if (value.type !== 'command') return value;
  const command = parseSessionCommand(value.command);
  return isDomainError(command) ? { id: value.id, code: command.code, message: command.message } : value;
}

/** The request types a node answers (ClientRequest's). */
const REQUEST_TYPES: ReadonlySet<string> = new Set(['status', 'createUser', 'login', 'renew', 'command', 'query', 'ticket', 'heartbeat', 'subscribe', 'dialBack', 'archiveChallenge', 'archive'] satisfies ClientRequest['type'][]);

/** Shape checks of an untrusted request; values are judged by the domain (a command's by parseClientRequest). */
function isClientRequest(value: unknown): value is ClientRequest {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  if (!Number.isSafeInteger(r.id)) return false;
  switch (r.type) {
    case 'status':
      return true;
    case 'createUser':
      return isWrite(r) && isText(r.user) && isText(r.password, 1024);
    case 'login':
      return isWrite(r) && isText(r.user) && isText(r.password, 1024) && isPort(r.port) && isSession(r.session) && (r.refresh === undefined || isText(r.refresh, 256)) && isKey(r.keyFingerprint);
    case 'renew':
      return isWrite(r) && isText(r.user) && isText(r.refresh, 256) && isText(r.newRefresh, 256) && isPort(r.port) && isSession(r.session) && isKey(r.keyFingerprint);
    case 'command':
      return isWrite(r) && isSession(r.session) && typeof r.command === 'object' && r.command !== null && !Array.isArray(r.command);
    case 'query':
      return isSession(r.session) && isSessionQuery(r.query);
    case 'ticket':
      return isSession(r.session) && isText(r.group) && isText(r.fileId, 64);
    case 'heartbeat':
      return isSession(r.session) && (r.port === undefined || isPort(r.port));
    case 'subscribe':
      return isSession(r.session) && Number.isSafeInteger(r.afterIndex) && (r.afterIndex as number) >= 0;
    case 'dialBack':
      return isSession(r.session) && isText(r.group) && isText(r.fileId, 64);
    case 'archiveChallenge':
      return true;
    case 'archive':
      return isText(r.nonce, 128) && isText(r.proof, 128) && (r.exportId === null || isText(r.exportId, 64)) && Number.isSafeInteger(r.offset) && (r.offset as number) >= 0;
    default:
      return false;
  }
}
