// Why this file exists: the projection kept on disk record by record, so a node never encodes
// the whole of it. evolve names each record an event changes (its id); the store writes those
// records with the batch that applied the event, so the records on disk always are the state at
// the applied index: a snapshot costs nothing, and a restart reads them back (stateFromRecords).
//
//   u:<user>                      a user and their password record
//   s:<session id>                a session (its holdings are the h: records naming it)
//   g:<group>                     a group: owner, members, requests (files are records of their own)
//   f:<group>\0<file>             a file of a group: sharers, reports, delistings
//   h:<group>\0<file>\0<session>  a session holding a file: user, complete, since which index
//   r:<client id>                 the client's cached reply
//   x:<refresh hash>              a refresh credential
//
// Holders are records of their own so that a change to one rewrites a few bytes, not a file's
// whole list of holders or a session's whole list of holdings (a sharer of 10,000 files would
// otherwise rewrite a list growing to 10,000 with each file it shares).
//
// Maps keep insertion order, and that order is part of the state. Records come back in key
// order, so each map is sorted again by the index that inserted its members, which only grows:
// users by credentialsIndex, sessions by openedIndex, groups by createdIndex, a group's files by
// sharedIndex, a file's holders and a session's holdings by sinceIndex, replies by index,
// refreshes by issuedIndex.

import { canonicalJson } from '../../torrent/canonical.js';
import { arr, bool, int, obj, pair, str } from './json-check.js';
import { decodeSession, decodeUser, encodeFile, encodeSession, file as decodeFile, reply as decodeReply } from './snapshot.js';
import {
  holdingKey,
  initialState,
  NO_HOLDERS,
  type CachedReply,
  type FileRecord,
  type GroupRecord,
  type HolderRecord,
  type RefreshRecord,
  type SessionRecord,
  type TrackerState,
  type UserRecord,
} from './state.js';

/** Hears the id of each record that changes. A Set<string> is one. */
export interface Changes {
  add(id: string): unknown;
}

export const NO_CHANGES: Changes = { add: () => undefined };

export const userRecordId = (user: string): string => `u:${user}`;
export const sessionRecordId = (sessionId: string): string => `s:${sessionId}`;
export const groupRecordId = (group: string): string => `g:${group}`;
export const fileRecordId = (group: string, fileId: string): string => `f:${group}\u0000${fileId}`;
export const holderRecordId = (group: string, fileId: string, sessionId: string): string => `h:${group}\u0000${fileId}\u0000${sessionId}`;
export const replyRecordId = (clientId: string): string => `r:${clientId}`;
export const refreshRecordId = (refreshHash: string): string => `x:${refreshHash}`;

/** The record `id` names as the state holds it now (canonical JSON: every node writes the same bytes), or null when it is gone. */
export function encodeRecord(state: TrackerState, id: string): string | null {
  const key = id.slice(2);
  switch (id.charAt(0)) {
    case 'u': {
      const user = state.users.get(key);
      return user === undefined ? null : canonicalJson(user);
    }
    case 's': {
      const session = state.sessions.get(key);
      if (session === undefined) return null;
      const { holdings: _heldInHolderRecords, ...json } = encodeSession(session);
      return canonicalJson(json);
    }
    case 'g': {
      const group = state.groups.get(key);
      if (group === undefined) return null;
      return canonicalJson({ group: group.group, owner: group.owner, createdIndex: group.createdIndex, members: [...group.members], requests: [...group.requests] });
    }
    case 'f': {
      const at = key.indexOf('\u0000');
      const file = state.groups.get(key.slice(0, at))?.files.get(key.slice(at + 1));
      if (file === undefined) return null;
      const { holders: _inHolderRecords, ...json } = encodeFile(file);
      return canonicalJson(json);
    }
    case 'h': {
      const [group, fileId, sessionId] = key.split('\u0000') as [string, string, string];
      const holder = state.groups.get(group)?.files.get(fileId)?.holders.get(sessionId);
      return holder === undefined ? null : canonicalJson(holder);
    }
    case 'r': {
      const reply = state.replies.get(key);
      return reply === undefined ? null : canonicalJson(reply);
    }
    case 'x': {
      const refresh = state.refreshes.get(key);
      return refresh === undefined ? null : canonicalJson(refresh);
    }
    default:
      throw new RangeError(`no such record kind: ${id.slice(0, 40)}`);
  }
}

/** Every record of a state, as [id, JSON]: what a store of records holds for it. */
export function* allRecords(state: TrackerState): Generator<[string, string]> {
  const ids = [
    ...[...state.users.keys()].map(userRecordId),
    ...[...state.sessions.keys()].map(sessionRecordId),
    ...[...state.groups.values()].flatMap((g) => [
      groupRecordId(g.group),
      ...[...g.files.values()].flatMap((f) => [fileRecordId(g.group, f.fileId), ...[...f.holders.keys()].map((sessionId) => holderRecordId(g.group, f.fileId, sessionId))]),
    ]),
    ...[...state.replies.keys()].map(replyRecordId),
    ...[...state.refreshes.keys()].map(refreshRecordId),
  ];
  for (const id of ids) yield [id, encodeRecord(state, id)!];
}

/**
 * Rebuilds a state from its records, in any order, with the applied index and entry time they
 * stand at. Every field is checked (they come from disk or another node).
 */
export function stateFromRecords(records: Iterable<readonly [string, string]>, appliedIndex: number, lastTimeMs: number): TrackerState {
  const loader = new RecordLoader();
  for (const [id, json] of records) loader.add(id, json);
  return loader.finish(appliedIndex, lastTimeMs);
}

/** stateFromRecords a record at a time, so a store of millions is never all text at once. */
export class RecordLoader {
  private readonly users: UserRecord[] = [];
  private readonly sessions: SessionRecord[] = [];
  private readonly groups: GroupRecord[] = [];
  private readonly files: [string, FileRecord][] = [];
  private readonly holders: [string, string, string, HolderRecord][] = [];
  private readonly replies: [string, CachedReply][] = [];
  private readonly refreshes: [string, RefreshRecord][] = [];

  add(id: string, json: string): void {
    const path = id.slice(0, 80);
    const value: unknown = JSON.parse(json);
    const key = id.slice(2);
    switch (id.charAt(0)) {
      case 'u':
        this.users.push(decodeUser(value, path));
        break;
      case 's':
        this.sessions.push(decodeSession(value, path));
        break;
      case 'g': {
        const g = obj(value, path);
        this.groups.push({
          group: str(g.group, `${path}.group`),
          owner: str(g.owner, `${path}.owner`),
          createdIndex: int(g.createdIndex, `${path}.createdIndex`),
          members: new Map(arr(g.members, `${path}.members`).map((m, i) => pair(m, `${path}.members[${i}]`, str, int))),
          requests: new Map(arr(g.requests, `${path}.requests`).map((m, i) => pair(m, `${path}.requests[${i}]`, str, int))),
          files: new Map(),
          fileNames: new Map(),
        });
        break;
      }
      case 'f':
        this.files.push([key.slice(0, key.indexOf('\u0000')), decodeFile(value, path)]);
        break;
      case 'h': {
        const [group, fileId, sessionId] = key.split('\u0000') as [string, string, string];
        const h = obj(value, path);
        this.holders.push([group, fileId, sessionId, { user: str(h.user, `${path}.user`), complete: bool(h.complete, `${path}.complete`), sinceIndex: int(h.sinceIndex, `${path}.sinceIndex`) }]);
        break;
      }
      case 'r':
        this.replies.push([key, decodeReply(value, path)]);
        break;
      case 'x': {
        const r = obj(value, path);
        this.refreshes.push([key, { user: str(r.user, `${path}.user`), sessionId: str(r.sessionId, `${path}.sessionId`), issuedIndex: int(r.issuedIndex, `${path}.issuedIndex`) }]);
        break;
      }
      default:
        throw new RangeError(`no such record kind: ${path}`);
    }
  }

  /** The state, each map in the order its members were inserted. */
  finish(appliedIndex: number, lastTimeMs: number): TrackerState {
    const state = initialState();
    state.appliedIndex = appliedIndex;
    state.lastTimeMs = lastTimeMs;
    for (const user of inOrder(this.users, (u) => u.credentialsIndex, 'users')) state.users.set(user.user, user);
    for (const session of inOrder(this.sessions, (s) => s.openedIndex, 'sessions')) state.sessions.set(session.sessionId, session);
    for (const group of inOrder(this.groups, (g) => g.createdIndex, 'groups')) state.groups.set(group.group, group);
    // Names are the users map's strings, as evolve keeps them (state.ts): a million files read
    // back must not each hold copies of their sharers' names.
    const name = (user: string): string => state.users.get(user)?.user ?? user;
    const lastShared = new Map<string, number>();
    for (const [groupName, file] of this.files.sort(([ga, a], [gb, b]) => (ga < gb ? -1 : ga > gb ? 1 : a.sharedIndex - b.sharedIndex))) {
      const group = state.groups.get(groupName);
      if (group === undefined) throw new RangeError(`file ${file.fileId} of ${groupName}, a group with no record`);
      if ((lastShared.get(groupName) ?? -1) >= file.sharedIndex) throw new RangeError(`two files of ${groupName} were inserted at index ${file.sharedIndex}`);
      lastShared.set(groupName, file.sharedIndex);
      file.sharedBy = name(file.sharedBy);
      if (file.sharers.size > 0) file.sharers = new Set([...file.sharers].map(name));
      group.files.set(file.fileId, file);
      group.fileNames.set(file.name, file.fileId);
    }
    // Holders after files and sessions: each entry adds at most one, so their order is one order.
    for (const [group, fileId, sessionId, holder] of inOrder(this.holders, ([, , , h]) => h.sinceIndex, 'holders')) {
      const file = state.groups.get(group)?.files.get(fileId);
      const session = state.sessions.get(sessionId);
      if (file === undefined || session === undefined) throw new RangeError(`a holder of ${fileId} in ${group} for ${sessionId}, a file or session with no record`);
      holder.user = name(holder.user);
      if (file.holders === NO_HOLDERS) file.holders = new Map();
      file.holders.set(sessionId, holder);
      session.holdings.add(holdingKey(group, fileId));
    }
    for (const [clientId, reply] of inOrder(this.replies, ([, r]) => r.index, 'replies')) state.replies.set(clientId, reply);
    for (const [hash, refresh] of inOrder(this.refreshes, ([, r]) => r.issuedIndex, 'refresh credentials')) state.refreshes.set(hash, refresh);
    return state;
  }
}

/**
 * Records sorted by the index that inserted them. Each entry inserts at most one member into a
 * map, so two members never share one: if they do, the order this relies on is gone, and
 * loading stops rather than guess.
 */
function inOrder<T>(items: T[], indexOf: (item: T) => number, what: string): T[] {
  items.sort((a, b) => indexOf(a) - indexOf(b));
  for (let i = 1; i < items.length; i++) {
    if (indexOf(items[i - 1]!) === indexOf(items[i]!)) throw new RangeError(`two ${what} were inserted at index ${indexOf(items[i]!)}`);
  }
  return items;
}
