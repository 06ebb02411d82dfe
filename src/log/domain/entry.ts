// Why this file exists: a log entry is more than its command. applyEntry wraps decide and evolve
// with what every entry needs: its index, its monotonic time, the reply cache that makes a
// retried request apply once, and the conversion of a refusal into a recorded CommandRejected
// event (the audit shows denied attempts too). replayEntry redoes an applied entry from its
// stored events alone, with the same bookkeeping, so replay == apply.

import { canonicalJson, CanonicalError } from '../../torrent/canonical.js';
import { isAuth } from './commands.js';
import { decide } from './decide.js';
import { domainError, isDomainError, type DomainError } from './errors.js';
import type { Event } from './events.js';
import { commandUnderRules } from './rules.js';
import { sameHash } from './same-hash.js';
import { evolve, InvariantError } from './evolve.js';
import type { PieceLists } from './piece-lists.js';
import { NO_CHANGES, replyRecordId, type Changes } from './records.js';
import type { CachedReply, TrackerState } from './state.js';

/** Version of the entry format; readers upcast older versions. */
export const ENTRY_FORMAT_VERSION = 1;
/** A client's cached reply is dropped once this many entries have been applied after it. */
export const REPLY_CACHE_WINDOW_ENTRIES = 100_000;
const MAX_CLIENT_ID_LENGTH = 64;

/**
 * What the node that received a request puts in the log: the command and every
 * non-deterministic input. A null command is a new leader's no-op: it takes an index, nothing else.
 */
export interface ProposedEntry {
  index: number;
  /** Time at the receiving node; made monotonic at apply. */
  timeMs: number;
  clientId: string | null;
  requestId: number | null;
  /** The rules the command was proposed under (rules.ts); it is decided by those. */
  rulesVersion: number;
  /** Untrusted until parsed. */
  command: unknown;
}

/** What happened at an entry: all that replay needs to rebuild the state. */
export interface EntryOutcome {
  v: number;
  index: number;
  timeMs: number;
  /** Null for entries without a client: a leader's no-op, a system command. */
  clientId: string | null;
  requestId: number | null;
  /** Empty for a no-op and for a retried request answered from the reply cache. */
  events: Event[];
}

/** An entry as applied and stored: what was asked and what happened. */
export interface AppliedEntry extends EntryOutcome {
  command: unknown;
}

export interface Applied {
  state: TrackerState;
  entry: AppliedEntry;
  /** The answer for the client that asked; null for entries without a client. */
  reply: CachedReply | null;
}

/** The longest text of an unencodable command that is kept, as evidence, in the log. */
const MAX_KEPT_COMMAND_CHARS = 1024;

/**
 * A command as the store keeps it: itself when canonical JSON can encode it (integers only,
 * no undefined), otherwise a bounded description, so a malformed command is recorded and refused
 * rather than making the entry impossible to store.
 */
export function storableCommand(command: unknown): unknown {
  try {
    canonicalJson(command);
    return command;
  } catch (error) {
    if (!(error instanceof CanonicalError)) throw error;
    let text: string;
    try {
      text = String(JSON.stringify(command));
    } catch {
      text = typeof command;
    }
    return { type: '?', unencodable: text.slice(0, MAX_KEPT_COMMAND_CHARS) };
  }
}

/** `pieces`: the piece lists deciding this entry needs (pieceListNeeded), at least. */
export function applyEntry(state: TrackerState, proposed: ProposedEntry, pieces: PieceLists, changes: Changes = NO_CHANGES): Applied {
  checkNext(state, proposed.index);
  const timeMs = Number.isSafeInteger(proposed.timeMs) && proposed.timeMs > state.lastTimeMs ? proposed.timeMs : state.lastTimeMs;
  const index = proposed.index;
  const command = storableCommand(proposed.command);
  // A no-op belongs to no client; malformed client fields are refused and not kept.
  const badClient = badClientFields(proposed.clientId, proposed.requestId);
  const clientId = command === null || badClient ? null : proposed.clientId;
  const requestId = command === null || badClient ? null : proposed.requestId;
  let events: Event[] = [];
  // decide reads the entry's own time (delistings and reports expire by entry time); the
  // bookkeeping below sets the same value again.
  state.lastTimeMs = timeMs;
  if (command !== null && !isDuplicate(state, clientId, requestId)) {
    const decision = badClient ?? decideEntry(state, { ...proposed, command, clientId, requestId }, pieces);
    events = isDomainError(decision) ? [rejection(state, command, decision)] : [...decision];
  }
  const entry: AppliedEntry = { v: ENTRY_FORMAT_VERSION, index, timeMs, clientId, requestId, command, events };
  const reply = finishEntry(state, entry, changes);
  return { state, entry, reply };
}

/** Applies a stored entry: its events are facts already decided. Returns the reply it gave. */
export function replayEntry(state: TrackerState, entry: EntryOutcome, changes: Changes = NO_CHANGES): CachedReply | null {
  checkNext(state, entry.index);
  if (entry.timeMs < state.lastTimeMs) throw new InvariantError(`entry ${entry.index} goes back in time`);
  return finishEntry(state, entry, changes);
}

function checkNext(state: TrackerState, index: number): void {
  if (index !== state.appliedIndex + 1) throw new InvariantError(`entry ${index} applied after ${state.appliedIndex}`);
}

function isDuplicate(state: TrackerState, clientId: string | null, requestId: number | null): boolean {
  return clientId !== null && requestId !== null && state.replies.get(clientId)?.requestId === requestId;
}

/** The bookkeeping shared by apply and replay: index, time, events, reply cache. `changes` hears every record changed. */
function finishEntry(state: TrackerState, entry: EntryOutcome, changes: Changes): CachedReply | null {
  const { clientId, requestId } = entry;
  const duplicate = isDuplicate(state, clientId, requestId);
  state.appliedIndex = entry.index;
  state.lastTimeMs = entry.timeMs;
  for (const event of entry.events) evolve(state, event, changes);
  let reply: CachedReply | null = null;
  if (clientId !== null && requestId !== null) {
    const cached = state.replies.get(clientId);
    const first = entry.events[0];
    const error: DomainError | null = first?.type === 'CommandRejected' ? domainError(first.code, first.message) : null;
    if (duplicate && cached) {
      reply = cached;
    } else {
      reply = { requestId, index: entry.index, error };
      // A stale request is answered but does not displace the client's latest reply.
      if (error?.code !== 'STALE_REQUEST') {
        state.replies.delete(clientId); // re-inserted last: the map stays ordered oldest first
        state.replies.set(clientId, reply);
        changes.add(replyRecordId(clientId));
      }
    }
  }
  // Oldest first: drop replies until one is still inside the window (keys(): no pair per step).
  for (const oldClientId of state.replies.keys()) {
    if (state.replies.get(oldClientId)!.index > entry.index - REPLY_CACHE_WINDOW_ENTRIES) break;
    state.replies.delete(oldClientId);
    changes.add(replyRecordId(oldClientId));
  }
  return reply;
}

/** clientId and requestId come together: a 1–64 character id and a non-negative integer. */
function badClientFields(clientId: unknown, requestId: unknown): DomainError | null {
  if (clientId === null && requestId === null) return null;
  if (typeof clientId !== 'string' || clientId.length === 0 || clientId.length > MAX_CLIENT_ID_LENGTH) {
    return domainError('BAD_COMMAND', `clientId is not 1–${MAX_CLIENT_ID_LENGTH} characters`);
  }
  if (typeof requestId !== 'number' || !Number.isSafeInteger(requestId) || requestId < 0) {
    return domainError('BAD_COMMAND', 'requestId is not a non-negative integer');
  }
  return null;
}

function decideEntry(state: TrackerState, proposed: ProposedEntry, pieces: PieceLists): readonly Event[] | DomainError {
  const { clientId, requestId } = proposed;
  const cached = clientId === null ? undefined : state.replies.get(clientId);
  if (cached !== undefined && requestId !== null && requestId < cached.requestId) {
    return domainError('STALE_REQUEST', `request ${requestId} is older than this client's latest (${cached.requestId})`);
  }
  const command = commandUnderRules(proposed.rulesVersion, proposed.command);
  return isDomainError(command) ? command : decide(state, command, pieces);
}

/** Who was refused and in which group, as far as the (possibly malformed) command tells. */
function rejection(state: TrackerState, raw: unknown, error: DomainError): Event {
  const record = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
  const type = typeof record.type === 'string' ? record.type.slice(0, 64) : '?';
  let user: string | null = null;
  if (isAuth(record.auth)) {
    const session = state.sessions.get(record.auth.sessionId);
    if (session && sameHash(session.tokenHash, record.auth.tokenHash)) user = session.user;
  } else if ((type === 'CreateUser' || type === 'OpenSession' || type === 'RenewSession') && typeof record.user === 'string') {
    user = record.user.slice(0, 64);
  }
  const group = typeof record.group === 'string' ? record.group.slice(0, 64) : null;
  return { type: 'CommandRejected', command: type, user, group, code: error.code, message: error.message };
}
