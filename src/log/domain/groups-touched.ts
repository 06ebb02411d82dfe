// Why this file exists: a node opens its store without the groups' files (a million of them are
// most of a restart) and reads a group's files when something first needs them. Deciding and
// evolving are synchronous, so the store reads, before an entry applies, every group whose
// files the entry could touch; this says which, from the command and the state before it.

import { splitHoldingKey, type TrackerState } from './state.js';

/**
 * Every group whose files deciding and applying `command` (untrusted: it may be malformed) could
 * read or change: the group it names, and the groups of the files held by a session it may end
 * (a logout, an expiry, a renewal that closes the old session). A superset is fine; a group that
 * does not exist is left out by the caller.
 */
export function groupsTouched(state: TrackerState, command: unknown): string[] {
  if (typeof command !== 'object' || command === null) return [];
  const c = command as { type?: unknown; group?: unknown; sessionId?: unknown; auth?: unknown; refreshHash?: unknown };
  const groups: string[] = [];
  if (typeof c.group === 'string') groups.push(c.group);
  let ending: unknown;
  if (c.type === 'CloseSession' && typeof c.auth === 'object' && c.auth !== null) ending = (c.auth as { sessionId?: unknown }).sessionId;
  else if (c.type === 'ExpireSession') ending = c.sessionId;
  else if (c.type === 'RenewSession' && typeof c.refreshHash === 'string') ending = state.refreshes.get(c.refreshHash)?.sessionId;
  if (typeof ending === 'string') {
    for (const key of state.sessions.get(ending)?.holdings ?? []) groups.push(splitHoldingKey(key).group);
  }
  return groups;
}
