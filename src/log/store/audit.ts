// Why this file exists: the audit answers "what happened, who did it, when, at which index" from
// a store's archive alone: it replays from genesis (denied attempts included), filters by group
// or user, stops at an index, and hands back the state as of that index.

import { isAuth } from '../domain/commands.js';
import { replayEntry } from '../domain/entry.js';
import { sameHash } from '../domain/same-hash.js';
import type { Event } from '../domain/events.js';
import { initialState, type TrackerState } from '../domain/state.js';
import type { KvStore } from '../../world/world.js';
import type { StoredOutcome } from './chain.js';
import { readEntries, readMeta } from './read.js';
import type { ParsedLine } from './stored-line.js';

export interface AuditFilter {
  group?: string;
  user?: string;
  /** Stop after this index (inclusive). */
  asOfIndex?: number;
}

export type AuditOutcome = 'applied' | 'rejected' | 'noop' | 'duplicate';

export interface AuditRecord {
  index: number;
  term: number;
  timeMs: number;
  /** Who asked: the session's user, the named user of CreateUser/OpenSession, 'tracker' for system entries. */
  actor: string | null;
  command: string;
  outcome: AuditOutcome;
  error: { code: string; message: string } | null;
  /** Secrets' hashes (password hash and salt, token hashes) are redacted. */
  request: Record<string, unknown> | null;
  events: Event[];
}

export interface AuditResult {
  appliedIndex: number;
  lastIndex: number;
  state: TrackerState;
}

const REDACTED = '(redacted)';

function commandOf(line: ParsedLine): unknown {
  try {
    return JSON.parse(line.commandJson()) as unknown;
  } catch {
    return '(unreadable command)';
  }
}

function actorOf(state: TrackerState, command: unknown): string | null {
  if (command === null) return 'tracker';
  if (typeof command !== 'object') return null;
  const fields = command as Record<string, unknown>;
  if (isAuth(fields.auth)) {
    const session = state.sessions.get(fields.auth.sessionId);
    return session && sameHash(session.tokenHash, fields.auth.tokenHash) ? session.user : null;
  }
  if (fields.type === 'ExpireSession' || fields.type === 'MoveSession') return 'tracker';
  return typeof fields.user === 'string' ? fields.user : null;
}

function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    if (key === 'auth' || key === 'tokenHash' || key === 'salt' || key === 'hash') out[key] = REDACTED;
    else if (key === 'pieces' && typeof inner === 'string') out[key] = `(${Math.floor((inner.length * 3) / 4 / 20)} piece hashes)`;
    else out[key] = redact(inner);
  }
  return out;
}

const USER_FIELDS = ['user', 'by', 'from', 'to', 'owner'] as const;

/** Whether one of the entry's events names the group (they do for everything that happened or was refused). */
function eventsTouchGroup(entry: StoredOutcome, group: string): boolean {
  for (const event of entry.events) if ('group' in event && event.group === group) return true;
  return false;
}

function touchesUser(entry: StoredOutcome, actor: string | null, command: unknown, user: string): boolean {
  if (actor === user || (command as { user?: unknown } | null)?.user === user) return true;
  return entry.events.some((event) => USER_FIELDS.some((field) => field in event && (event as Record<string, unknown>)[field] === user));
}

function recordOf(entry: StoredOutcome, command: unknown, actor: string | null, duplicate: boolean): AuditRecord {
  const first = entry.events[0];
  const rejected = first?.type === 'CommandRejected' ? first : null;
  const type = (command as { type?: unknown } | null)?.type;
  return {
    index: entry.index,
    term: entry.term,
    timeMs: entry.timeMs,
    actor,
    command: command === null ? 'Noop' : typeof type === 'string' ? type : '?',
    outcome: command === null ? 'noop' : rejected ? 'rejected' : duplicate ? 'duplicate' : 'applied',
    error: rejected ? { code: rejected.code, message: rejected.message } : null,
    request: command === null || typeof command !== 'object' ? null : (redact(command) as Record<string, unknown>),
    events: redact(entry.events) as Event[],
  };
}

/**
 * Replays the archive from genesis, handing each matching entry to `onRecord`; returns the state
 * as of the last replayed index. Commands are parsed only for entries that are shown.
 */
export async function auditStore(kv: KvStore, filter: AuditFilter, onRecord: (record: AuditRecord) => void): Promise<AuditResult> {
  const meta = await readMeta(kv);
  const appliedIndex = meta?.appliedIndex ?? 0;
  const stopAt = Math.min(filter.asOfIndex ?? appliedIndex, appliedIndex);
  const state = initialState();
  outer: for await (const batch of readEntries(kv)) {
    for (const line of batch) {
      const { entry } = line;
      if (entry.index > stopAt) break outer;
      // Only no-change entries need their command read to tell whether they touch the group.
      let command: unknown = undefined;
      let parsed = false;
      let shown = true;
      if (filter.group !== undefined && !eventsTouchGroup(entry, filter.group)) {
        shown = false;
        if (entry.events.length === 0) {
          command = commandOf(line);
          parsed = true;
          shown = (command as { group?: unknown } | null)?.group === filter.group;
        }
      }
      if (shown && !parsed) command = commandOf(line);
      // Who asked is read from the state before the entry applies (a CloseSession ends the session).
      const actor = shown ? actorOf(state, command) : null;
      if (shown && filter.user !== undefined) shown = touchesUser(entry, actor, command, filter.user);
      const duplicate = shown && entry.clientId !== null && state.replies.get(entry.clientId)?.requestId === entry.requestId;
      replayEntry(state, entry);
      if (shown) onRecord(recordOf(entry, command, actor, duplicate));
    }
  }
  return { appliedIndex, lastIndex: state.appliedIndex, state };
}
