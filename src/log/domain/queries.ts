// Why this file exists: every question the shell (and the ticket issuer) asks of the tracker
// state, answered from the projection without writing it. Membership gates every file query:
// a non-member, a pending or a rejected user sees no files.

import type { Auth } from './commands.js';
import { domainError, type DomainError } from './errors.js';
import { sameHash } from './same-hash.js';
import type { Event } from './events.js';
import { isDelisted, type FileRecord, type GroupRecord, type TrackerState } from './state.js';

export type Relation = 'owner' | 'member' | 'pending' | 'none';

export interface GroupSummary {
  group: string;
  owner: string;
  memberCount: number;
  relation: Relation;
}

export interface FileSummary {
  fileId: string;
  name: string;
  sizeBytes: number;
  sharers: string[];
  completeHolders: number;
  partialHolders: number;
}

export interface HolderView {
  sessionId: string;
  user: string;
  address: string;
  /** Whether the tracker could dial it at `address` (false: behind a router; it dials out only). */
  reachable: boolean;
  /** SHA-256 (hex) of its TLS public key: a downloader accepts this holder only with that key. */
  keyFingerprint: string | null;
  complete: boolean;
}

export interface FileDetail extends FileSummary {
  group: string;
  pieceLengthBytes: number;
  pieces: string;
  holders: HolderView[];
}

/** A FileDetail as the projection answers it: the store adds the piece list (piece-lists.ts). */
export type FileDetailWithoutPieces = Omit<FileDetail, 'pieces'>;

export interface GroupMembers {
  group: string;
  owner: string;
  members: { user: string; joinedIndex: number }[];
}

export interface GroupDetail {
  group: string;
  owner: string;
  createdIndex: number;
  members: { user: string; joinedIndex: number }[];
  requests: { user: string; requestedIndex: number }[];
  files: FileSummary[];
}

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function authenticate(state: TrackerState, auth: Auth): string | DomainError {
  const session = state.sessions.get(auth.sessionId);
  if (!session || !sameHash(session.tokenHash, auth.tokenHash)) return domainError('NOT_LOGGED_IN', 'not logged in (no such session)');
  return session.user;
}

export function relationOf(group: GroupRecord, user: string | null): Relation {
  if (user === null) return 'none';
  if (group.owner === user) return 'owner';
  if (group.members.has(user)) return 'member';
  return group.requests.has(user) ? 'pending' : 'none';
}

/** Every group on the network, as the original list_groups; the viewer's relation to each. */
export function listGroups(state: TrackerState, viewer: string | null): GroupSummary[] {
  return [...state.groups.values()]
    .map((group) => ({ group: group.group, owner: group.owner, memberCount: group.members.size, relation: relationOf(group, viewer) }))
    .sort((a, b) => byName(a.group, b.group));
}

export function listRequests(state: TrackerState, viewer: string, groupId: string): { user: string; requestedIndex: number }[] | DomainError {
  const group = state.groups.get(groupId);
  if (!group) return domainError('NO_SUCH_GROUP', `no group ${groupId}`);
  if (group.owner !== viewer) return domainError('NOT_OWNER', `only ${groupId}'s owner sees its join requests`);
  return [...group.requests].map(([user, requestedIndex]) => ({ user, requestedIndex }));
}

function memberGroup(state: TrackerState, viewer: string, groupId: string): GroupRecord | DomainError {
  const group = state.groups.get(groupId);
  if (!group) return domainError('NO_SUCH_GROUP', `no group ${groupId}`);
  if (!group.members.has(viewer)) return domainError('NOT_A_MEMBER', `${viewer} is not a member of ${groupId}`);
  return group;
}

/**
 * The part of the log a viewer may read of a group's timeline: from the group's creation (an
 * earlier group of the same name is another group's history) to the last applied entry. Only
 * its members may (the owner is one): not a user waiting for an answer, nor anyone else.
 */
export function timelineRange(state: TrackerState, viewer: string, groupId: string): { fromIndex: number; toIndex: number } | DomainError {
  const group = memberGroup(state, viewer, groupId);
  if (!('files' in group)) return group;
  return { fromIndex: group.createdIndex, toIndex: state.appliedIndex };
}

/** A group's owner and members with the index each joined at (the owner's, the group's creation): for its members only. */
export function listMembers(state: TrackerState, viewer: string, groupId: string): GroupMembers | DomainError {
  const group = memberGroup(state, viewer, groupId);
  if (!('files' in group)) return group;
  const members = [...group.members].map(([user, joinedIndex]) => ({ user, joinedIndex })).sort((a, b) => a.joinedIndex - b.joinedIndex || byName(a.user, b.user));
  return { group: group.group, owner: group.owner, members };
}

/** A file's summary as of entry time `nowMs`: holders the tracker delisted are not counted. */
function summarize(file: FileRecord, nowMs: number): FileSummary {
  let complete = 0;
  let listed = 0;
  for (const holder of file.holders.values()) {
    if (isDelisted(file, holder.user, nowMs)) continue;
    listed++;
    if (holder.complete) complete++;
  }
  return {
    fileId: file.fileId,
    name: file.name,
    sizeBytes: file.sizeBytes,
    sharers: [...file.sharers].sort(byName),
    completeHolders: complete,
    partialHolders: listed - complete,
  };
}

export function listFiles(state: TrackerState, viewer: string, groupId: string): FileSummary[] | DomainError {
  const group = memberGroup(state, viewer, groupId);
  if (!('files' in group)) return group;
  return [...group.files.values()].map((file) => summarize(file, state.lastTimeMs)).sort((a, b) => byName(a.name, b.name));
}

/**
 * What a downloader needs, but for the piece list: who serves it now (the viewer's own sessions
 * excluded, and holders delisted for the file until 24 h after their delisting, judged by the
 * time of the last applied entry).
 */
export function fileDetail(
  state: TrackerState,
  viewer: string,
  groupId: string,
  key: { name: string } | { fileId: string },
  exceptSessionId: string | null = null,
): FileDetailWithoutPieces | DomainError {
  const group = memberGroup(state, viewer, groupId);
  if (!('files' in group)) return group;
  const fileId = 'fileId' in key ? key.fileId : group.fileNames.get(key.name);
  const file = fileId === undefined ? undefined : group.files.get(fileId);
  if (!file) return domainError('NO_SUCH_FILE', `no file ${'name' in key ? key.name : key.fileId} in ${groupId}`);
  const holders: HolderView[] = [];
  for (const [sessionId, holder] of file.holders) {
    const session = state.sessions.get(sessionId);
    if (isDelisted(file, holder.user, state.lastTimeMs)) continue;
    if (session && sessionId !== exceptSessionId) holders.push({ sessionId, user: holder.user, address: session.address, reachable: session.reachable, keyFingerprint: session.keyFingerprint, complete: holder.complete });
  }
  return { ...summarize(file, state.lastTimeMs), group: groupId, pieceLengthBytes: file.pieceLengthBytes, holders };
}

/** The ticket issuer's question: may this user fetch this file now? */
export function mayAccessFile(state: TrackerState, user: string, groupId: string, fileId: string): boolean {
  const group = state.groups.get(groupId);
  return group !== undefined && group.members.has(user) && group.files.has(fileId);
}

export function groupDetail(state: TrackerState, groupId: string): GroupDetail | null {
  const membership = groupMembership(state, groupId);
  if (!membership) return null;
  const files = state.groups.get(groupId)!.files;
  return { ...membership, files: [...files.values()].map((file) => summarize(file, state.lastTimeMs)).sort((a, b) => byName(a.name, b.name)) };
}

/** groupDetail without the files (which a node may not have read from disk yet). */
export function groupMembership(state: TrackerState, groupId: string): Omit<GroupDetail, 'files'> | null {
  const group = state.groups.get(groupId);
  if (!group) return null;
  return {
    group: group.group,
    owner: group.owner,
    createdIndex: group.createdIndex,
    members: [...group.members].map(([user, joinedIndex]) => ({ user, joinedIndex })).sort((a, b) => a.joinedIndex - b.joinedIndex),
    requests: [...group.requests].map(([user, requestedIndex]) => ({ user, requestedIndex })),
  };
}

export function sessionsOf(state: TrackerState, user: string): { sessionId: string; address: string; openedIndex: number }[] {
  const out: { sessionId: string; address: string; openedIndex: number }[] = [];
  for (const session of state.sessions.values()) {
    if (session.user === user) out.push({ sessionId: session.sessionId, address: session.address, openedIndex: session.openedIndex });
  }
  return out;
}

const NAMING_FIELDS = ['user', 'by', 'from', 'to', 'owner'] as const;

/** The users an event names by one of its naming fields. */
function namedBy(event: Event): string[] {
  const named: string[] = [];
  for (const field of NAMING_FIELDS) {
    const value = field in event ? (event as Record<string, unknown>)[field] : undefined;
    if (typeof value === 'string') named.push(value);
  }
  return named;
}

/**
 * The events a user's push channel carries: those that name the user, and those of a group the
 * user owns, belongs to or asked to join (as the state stands now).
 */
export function eventsFor(state: TrackerState, user: string, events: readonly Event[]): Event[] {
  return events.filter((event) => {
    if (namedBy(event).includes(user)) return true;
    if (!('group' in event) || typeof event.group !== 'string') return false;
    const group = state.groups.get(event.group);
    return group !== undefined && (group.owner === user || group.members.has(user) || group.requests.has(user));
  });
}

/**
 * Every user for whom eventsFor(state, user, events) is not empty, found from the events (and
 * their groups) rather than by asking each user: a node holding 10,000 push streams asks only
 * the few a batch concerns.
 */
export function usersConcerned(state: TrackerState, events: readonly Event[]): Set<string> {
  const users = new Set<string>();
  for (const event of events) {
    for (const user of namedBy(event)) users.add(user);
    if (!('group' in event) || typeof event.group !== 'string') continue;
    const group = state.groups.get(event.group);
    if (group === undefined) continue;
    users.add(group.owner);
    for (const member of group.members.keys()) users.add(member);
    for (const asker of group.requests.keys()) users.add(asker);
  }
  return users;
}
