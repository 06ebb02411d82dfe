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
import { SmallSet } from './small-set.js';
import { decodeSession, decodeUser, encodeFile, encodeSession, fileParts, reply as decodeReply } from './snapshot.js';
import {
  FILE_NAMES_NOT_LOADED,
  FILES_NOT_LOADED,
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

/** A file read back: its group, the key of its record (`group\0fileId`: also its holders' holding key), its sharers' names. */
interface LoadedFile {
  group: string;
  key: string;
  file: FileRecord;
  sharers: string[];
}

/** A holder read back: the key of its file's record (and the file, when found as it came), its session, the holder itself. */
export interface LoadedHolder {
  fileKey: string;
  file: LoadedFile | undefined;
  sessionId: string;
  holder: HolderRecord;
}

/**
 * stateFromRecords a record at a time, so a store of millions is never all text at once. Each
 * record costs one JSON.parse and its checks: paths for messages are built only on failure, and
 * the maps are ordered by index in one counting pass each, not by comparison sorts.
 */
export class RecordLoader {
  private readonly users: UserRecord[] = [];
  private readonly sessions: SessionRecord[] = [];
  private readonly groups: GroupRecord[] = [];
  private readonly files: LoadedFile[] = [];
  private readonly holders: LoadedHolder[] = [];
  private readonly replies: [string, CachedReply][] = [];
  private readonly refreshes: [string, RefreshRecord][] = [];
  /** The first file whose key is not below the last holder's file key (fileInOrder). */
  private fileCursor = 0;

  add(id: string, json: string): void {
    const path = id.length > 80 ? id.slice(0, 80) : id;
    const value: unknown = JSON.parse(json);
    switch (id.charCodeAt(0)) {
      case 117: // u
        this.users.push(decodeUser(value, path));
        break;
      case 115: // s
        this.sessions.push(decodeSession(value, path));
        break;
      case 103: {
        // g
        const g = obj(value, path);
        this.groups.push({
          group: str(g.group, path, 'group'),
          owner: str(g.owner, path, 'owner'),
          createdIndex: int(g.createdIndex, path, 'createdIndex'),
          members: new Map(arr(g.members, `${path}.members`).map((m, i) => pair(m, `${path}.members[${i}]`, str, int))),
          requests: new Map(arr(g.requests, `${path}.requests`).map((m, i) => pair(m, `${path}.requests[${i}]`, str, int))),
          files: FILES_NOT_LOADED, // finish gives each group maps of its own; finishWithoutFiles leaves them on disk
          fileNames: FILE_NAMES_NOT_LOADED,
        });
        break;
      }
      case 102: {
        // f:<group>\0<file id>
        const { file, sharers } = fileParts(value, path);
        const key = id.slice(2);
        this.files.push({ group: key.slice(0, key.indexOf('\u0000')), key, file, sharers });
        break;
      }
      case 104: {
        // h:<group>\0<file id>\0<session id>
        const h = obj(value, path);
        const at = id.lastIndexOf('\u0000');
        const fileKey = id.slice(2, at);
        this.holders.push({
          fileKey,
          file: this.fileInOrder(fileKey),
          sessionId: id.slice(at + 1),
          holder: { user: str(h.user, path, 'user'), complete: bool(h.complete, path, 'complete'), sinceIndex: int(h.sinceIndex, path, 'sinceIndex') },
        });
        break;
      }
      case 114: // r
        this.replies.push([id.slice(2), decodeReply(value, path)]);
        break;
      case 120: {
        // x
        const r = obj(value, path);
        this.refreshes.push([id.slice(2), { user: str(r.user, path, 'user'), sessionId: str(r.sessionId, path, 'sessionId'), issuedIndex: int(r.issuedIndex, path, 'issuedIndex') }]);
        break;
      }
      default:
        throw new RangeError(`no such record kind: ${path}`);
    }
  }

  /**
   * The file whose record key is `key`, found by walking the files as they came: a store's
   * records come in key order, files (`f:`) before holders (`h:`), and a file's holders in the
   * order of its key. Undefined when it is not found that way (records in another order): finish
   * looks those up by key.
   */
  private fileInOrder(key: string): LoadedFile | undefined {
    const files = this.files;
    while (this.fileCursor < files.length && files[this.fileCursor]!.key < key) this.fileCursor++;
    const file = files[this.fileCursor];
    return file !== undefined && file.key === key ? file : undefined;
  }

  /** The state, each map in the order its members were inserted. */
  finish(appliedIndex: number, lastTimeMs: number): TrackerState {
    const state = this.withoutFiles(appliedIndex, lastTimeMs);
    for (const group of state.groups.values()) {
      group.files = new Map();
      group.fileNames = new Map();
    }
    this.attachFiles(state, appliedIndex);
    // Holders whose file was not found in order (records that came in another order) by key.
    let fileByKey: Map<string, LoadedFile> | null = null;
    const fileOf = (h: LoadedHolder): LoadedFile | undefined => {
      if (h.file !== undefined) return h.file;
      fileByKey ??= new Map(this.files.map((f) => [f.key, f]));
      return fileByKey.get(h.fileKey);
    };
    // Holders after files and sessions, in one pass: each entry adds at most one, so their order
    // is one order. A session's holding is its file's record key (one string for all its holders);
    // a holder is keyed by its session's own id.
    for (const loadedHolder of byIndex(this.holders, (h) => h.holder.sinceIndex, appliedIndex, 'holders')) {
      const loaded = fileOf(loadedHolder);
      if (loaded === undefined) throw new RangeError(`a holder of ${loadedHolder.fileKey.replace('\u0000', ' in ')} for ${loadedHolder.sessionId}, a file with no record`);
      const session = this.sessionOf(state, loadedHolder);
      attachHolder(state, loaded.file, session.sessionId, loadedHolder.holder);
      session.holdings.add(loaded.key);
    }
    return state;
  }

  /**
   * The state with every group's files left on disk (FILES_NOT_LOADED; the loader was given no
   * `f:` records), and the holders of each group's files, in order, for loadGroupFiles. Each
   * session's holdings are complete: they come from the holder records.
   */
  finishWithoutFiles(appliedIndex: number, lastTimeMs: number): { state: TrackerState; holders: Map<string, LoadedHolder[]> } {
    if (this.files.length > 0) throw new RangeError('finishWithoutFiles: the loader was given file records');
    const state = this.withoutFiles(appliedIndex, lastTimeMs);
    const holders = new Map<string, LoadedHolder[]>();
    for (const loadedHolder of byIndex(this.holders, (h) => h.holder.sinceIndex, appliedIndex, 'holders')) {
      const session = this.sessionOf(state, loadedHolder);
      const group = loadedHolder.fileKey.slice(0, loadedHolder.fileKey.indexOf('\u0000'));
      if (!state.groups.has(group)) throw new RangeError(`a holder of ${loadedHolder.fileKey.replace('\u0000', ' in ')} for ${session.sessionId}, a group with no record`);
      session.holdings.add(loadedHolder.fileKey);
      const ofGroup = holders.get(group);
      if (ofGroup === undefined) holders.set(group, [loadedHolder]);
      else ofGroup.push(loadedHolder);
    }
    return { state, holders };
  }

  /**
   * Gives `group` (still FILES_NOT_LOADED in `state`) its files: this loader holds exactly the
   * group's `f:` records, `holders` are the group's from finishWithoutFiles. All or nothing: on
   * records that do not fit (a holder of no file, two files at one index) the group keeps its
   * files on disk, so nothing is ever decided against part of them.
   */
  loadGroupFiles(state: TrackerState, group: GroupRecord, holders: readonly LoadedHolder[]): void {
    if (this.users.length + this.sessions.length + this.groups.length + this.holders.length + this.replies.length + this.refreshes.length > 0) {
      throw new RangeError(`loadGroupFiles: the loader for ${group.group} was given records other than its files`);
    }
    for (const loaded of this.files) if (loaded.group !== group.group) throw new RangeError(`loadGroupFiles: file ${loaded.file.fileId} of ${loaded.group} is not ${group.group}'s`);
    const files = new Map<string, FileRecord>();
    const fileNames = new Map<string, string>();
    group.files = files;
    group.fileNames = fileNames;
    try {
      this.attachFiles(state, state.appliedIndex);
      for (const holder of holders) {
        const file = files.get(holder.fileKey.slice(holder.fileKey.indexOf('\u0000') + 1));
        if (file === undefined) throw new RangeError(`a holder of ${holder.fileKey.replace('\u0000', ' in ')} for ${holder.sessionId}, a file with no record`);
        attachHolder(state, file, holder.sessionId, holder.holder);
      }
    } catch (error) {
      group.files = FILES_NOT_LOADED;
      group.fileNames = FILE_NAMES_NOT_LOADED;
      throw error;
    }
  }

  /** Users, sessions, groups (files not yet), replies and refresh credentials. */
  private withoutFiles(appliedIndex: number, lastTimeMs: number): TrackerState {
    const state = initialState();
    state.appliedIndex = appliedIndex;
    state.lastTimeMs = lastTimeMs;
    const bound = appliedIndex;
    for (const user of byIndex(this.users, (u) => u.credentialsIndex, bound, 'users')) state.users.set(user.user, user);
    for (const session of byIndex(this.sessions, (s) => s.openedIndex, bound, 'sessions')) state.sessions.set(session.sessionId, session);
    for (const group of byIndex(this.groups, (g) => g.createdIndex, bound, 'groups')) state.groups.set(group.group, group);
    for (const [clientId, reply] of byIndex(this.replies, ([, r]) => r.index, bound, 'replies')) state.replies.set(clientId, reply);
    for (const [hash, refresh] of byIndex(this.refreshes, ([, r]) => r.issuedIndex, bound, 'refresh credentials')) state.refreshes.set(hash, refresh);
    return state;
  }

  /** The loaded files into their groups' maps, in the order they were shared. */
  private attachFiles(state: TrackerState, bound: number): void {
    const lastShared = new Map<string, number>();
    // Files of different groups may share an index; within a group they may not.
    for (const loaded of byIndex(this.files, (f) => f.file.sharedIndex, bound, 'files', false)) {
      const { file, group: groupName } = loaded;
      const group = state.groups.get(groupName);
      if (group === undefined) throw new RangeError(`file ${file.fileId} of ${groupName}, a group with no record`);
      if ((lastShared.get(groupName) ?? -1) >= file.sharedIndex) throw new RangeError(`two files of ${groupName} were inserted at index ${file.sharedIndex}`);
      lastShared.set(groupName, file.sharedIndex);
      // Names are the users map's strings, as evolve keeps them (state.ts): a million files read
      // back must not each hold copies of their sharers' names.
      file.sharedBy = nameIn(state, file.sharedBy);
      const sharers = new SmallSet<string>();
      for (const sharer of loaded.sharers) sharers.add(nameIn(state, sharer));
      file.sharers = sharers;
      group.files.set(file.fileId, file);
      group.fileNames.set(file.name, file.fileId);
    }
  }

  private sessionOf(state: TrackerState, h: LoadedHolder): SessionRecord {
    const session = state.sessions.get(h.sessionId);
    if (session === undefined) throw new RangeError(`a holder of ${h.fileKey.replace('\u0000', ' in ')} for ${h.sessionId}, a session with no record`);
    return session;
  }
}

/** The users map's own string for `user` (see attachFiles). */
function nameIn(state: TrackerState, user: string): string {
  return state.users.get(user)?.user ?? user;
}

/** A holder into its file's map, the shared empty one replaced by the file's own. */
function attachHolder(state: TrackerState, file: FileRecord, sessionId: string, holder: HolderRecord): void {
  holder.user = nameIn(state, holder.user);
  if (file.holders === NO_HOLDERS) file.holders = new Map();
  file.holders.set(sessionId, holder);
}

/**
 * Records in the order of the index that inserted them (an entry index, so at most the applied
 * index `bound`), in one counting pass; those of one index keep the order they came in. Each
 * entry inserts at most one member into a map, so with `unique` two members never share an
 * index: if they do, the order this relies on is gone, and loading stops rather than guess. An
 * index outside [0, bound], or a bound far above the count, takes a comparison sort instead.
 */
function byIndex<T>(items: T[], indexOf: (item: T) => number, bound: number, what: string, unique = true): T[] {
  const n = items.length;
  const indices = new Float64Array(n);
  let countable = Number.isSafeInteger(bound) && bound <= 4 * n + 1024;
  for (let i = 0; i < n; i++) {
    const index = indexOf(items[i]!);
    indices[i] = index;
    if (!(Number.isInteger(index) && index >= 0 && index <= bound)) countable = false;
  }
  if (!countable) return inOrder(items, indexOf, what, unique);
  const starts = new Int32Array(bound + 2);
  for (let i = 0; i < n; i++) {
    const at = indices[i]! + 1;
    if (unique && starts[at] !== 0) throw new RangeError(`two ${what} were inserted at index ${indices[i]}`);
    starts[at] = starts[at]! + 1;
  }
  for (let k = 1; k < starts.length; k++) starts[k] = starts[k]! + starts[k - 1]!;
  const out = new Array<T>(n);
  for (let i = 0; i < n; i++) {
    const index = indices[i]!;
    out[starts[index]!] = items[i]!;
    starts[index] = starts[index]! + 1;
  }
  return out;
}

/** byIndex by a comparison sort (stable, so equal indices keep their order). */
function inOrder<T>(items: T[], indexOf: (item: T) => number, what: string, unique: boolean): T[] {
  items.sort((a, b) => indexOf(a) - indexOf(b));
  for (let i = 1; unique && i < items.length; i++) {
    if (indexOf(items[i - 1]!) === indexOf(items[i]!)) throw new RangeError(`two ${what} were inserted at index ${indexOf(items[i]!)}`);
  }
  return items;
}
