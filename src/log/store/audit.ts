// Why this file exists: the audit answers "what happened, who did it, when, at which index" from
// a store's archive alone: it replays from genesis (denied attempts included), filters by group
// or user, stops at an index, and hands back the state as of that index.

import { isAuth } from '../domain/commands.js';
import { replayEntry } from '../domain/entry.js';
import type { Event } from '../domain/events.js';
import { initialState, type TrackerState } from '../domain/state.js';
import type { KvStore } from '../../sim/world.js';
import type { StoredEntry } from './chain.js';
import { readEntries, readMeta } from './read.js';

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

function actorOf(state: TrackerState, entry: StoredEntry): string | null {
  const command = entry.command as Record<string, unknown> | null;
  if (command === null || typeof command !== 'object') return command === null ? 'tracker' : null;
  if (isAuth(command.auth)) {
    const session = state.sessions.get(command.auth.sessionId);
    return session && session.tokenHash === command.auth.tokenHash ? session.user : null;
  }
  if (command.type === 'ExpireSession') return 'tracker';
  return typeof command.user === 'string' ? command.user : null;
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

function touchesGroup(entry: StoredEntry, group: string): boolean {
  const command = entry.command as { group?: unknown } | null;
  return command?.group === group || entry.events.some((event) => 'group' in event && event.group === group);
}

function touchesUser(entry: StoredEntry, actor: string | null, user: string): boolean {
  if (actor === user || (entry.command as { user?: unknown } | null)?.user === user) return true;
  return entry.events.some((event) => USER_FIELDS.some((field) => field in event && (event as Record<string, unknown>)[field] === user));
}

function recordOf(entry: StoredEntry, actor: string | null, duplicate: boolean): AuditRecord {
  const command = entry.command as { type?: unknown } | null;
  const first = entry.events[0];
  const rejected = first?.type === 'CommandRejected' ? first : null;
  return {
    index: entry.index,
    term: entry.term,
    timeMs: entry.timeMs,
    actor,
    command: command === null ? 'Noop' : typeof command?.type === 'string' ? command.type : '?',
    outcome: command === null ? 'noop' : rejected ? 'rejected' : duplicate ? 'duplicate' : 'applied',
    error: rejected ? { code: rejected.code, message: rejected.message } : null,
    request: command === null ? null : (redact(command) as Record<string, unknown>),
    events: redact(entry.events) as Event[],
  };
}

/** Replays the archive, handing each matching entry to `onRecord`; returns the state as of the last replayed index. */
export async function auditStore(kv: KvStore, filter: AuditFilter, onRecord: (record: AuditRecord) => void): Promise<AuditResult> {
  const meta = await readMeta(kv);
  const appliedIndex = meta?.appliedIndex ?? 0;
  const stopAt = Math.min(filter.asOfIndex ?? appliedIndex, appliedIndex);
  const state = initialState();
  outer: for await (const batch of readEntries(kv)) {
    for (const { entry } of batch) {
      if (entry.index > stopAt) break outer;
      const actor = actorOf(state, entry);
      const cached = entry.clientId === null ? undefined : state.replies.get(entry.clientId);
      const duplicate = entry.command !== null && cached !== undefined && cached.requestId === entry.requestId;
      replayEntry(state, entry);
      if (filter.group !== undefined && !touchesGroup(entry, filter.group)) continue;
      if (filter.user !== undefined && !touchesUser(entry, actor, filter.user)) continue;
      onRecord(recordOf(entry, actor, duplicate));
    }
  }
  return { appliedIndex, lastIndex: state.appliedIndex, state };
}
