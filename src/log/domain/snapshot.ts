// Why this file exists: a snapshot is the projection written down. encodeState gives plain,
// canonical-encodable data (Maps and Sets as arrays in their insertion order, which is part of
// the state); decodeState rebuilds the exact same state, validated because snapshots are read
// from disk and from other nodes.

import type { PasswordRecord } from './commands.js';
import { DOMAIN_ERROR_CODES, type DomainError, type DomainErrorCode } from './errors.js';
import { arr, bool, fail, int, obj, pair, str } from './json-check.js';
import { SmallSet } from './small-set.js';
export { SnapshotFormatError } from './json-check.js';
import { NO_DELISTINGS, NO_HOLDERS, NO_REPORTS, RefreshMap, type CachedReply, type FileRecord, type GroupRecord, type SessionRecord, type TrackerState, type UserRecord } from './state.js';

/**
 * 2: files carry no piece list (piece-lists.ts). Snapshots are what stores of formats 1 and 2
 * kept (layout.ts); audit --verify still checks theirs, and encodeState is what it checks with.
 */
export const SNAPSHOT_FORMAT_VERSION = 2;

/**
 * `reports` ([accused, [[reporter, timeMs], …]], …) and `delisted` ([user, sinceMs, reporters], …)
 * only when not empty: snapshots of stores from before reports encode the same.
 */
export type FileJson = Omit<FileRecord, 'sharers' | 'holders' | 'reports' | 'delisted'> & {
  sharers: string[];
  holders: [string, string, boolean][];
  reports?: [string, [string, number][]][];
  delisted?: [string, number, string[]][];
};
type GroupJson = Omit<GroupRecord, 'members' | 'requests' | 'files' | 'fileNames'> & {
  members: [string, number][];
  requests: [string, number][];
  files: FileJson[];
};
export type SessionJson = Omit<SessionRecord, 'holdings' | 'reachable' | 'keyFingerprint'> & { holdings: string[]; reachable?: false; keyFingerprint?: string };

export interface StateJson {
  v: number;
  appliedIndex: number;
  lastTimeMs: number;
  users: UserRecord[];
  sessions: SessionJson[];
  groups: GroupJson[];
  replies: [string, CachedReply][];
  /** [refreshHash, user, sessionId], oldest first; absent in snapshots made before refresh credentials. */
  refreshes?: [string, string, string][];
}

/** `reachable` only when false, `keyFingerprint` only when known: records of stores from before either encode the same. */
export function encodeSession({ reachable, keyFingerprint, ...session }: SessionRecord): SessionJson {
  return {
    ...session,
    ...(reachable ? {} : { reachable }),
    ...(keyFingerprint === null ? {} : { keyFingerprint }),
    holdings: [...session.holdings],
  };
}

export function encodeFile({ reports, delisted, ...file }: FileRecord): FileJson {
  return {
    ...file,
    sharers: [...file.sharers],
    holders: [...file.holders].map(([sessionId, holder]): [string, string, boolean] => [sessionId, holder.user, holder.complete]),
    ...(reports.size === 0 ? {} : { reports: [...reports].map(([user, by]): [string, [string, number][]] => [user, [...by]]) }),
    ...(delisted.size === 0 ? {} : { delisted: [...delisted].map(([user, d]): [string, number, string[]] => [user, d.sinceMs, [...d.reporters]]) }),
  };
}

export function encodeState(state: TrackerState): StateJson {
  return {
    v: SNAPSHOT_FORMAT_VERSION,
    appliedIndex: state.appliedIndex,
    lastTimeMs: state.lastTimeMs,
    users: [...state.users.values()],
    sessions: [...state.sessions.values()].map(encodeSession),
    groups: [...state.groups.values()].map((group) => ({
      group: group.group,
      owner: group.owner,
      createdIndex: group.createdIndex,
      members: [...group.members],
      requests: [...group.requests],
      files: [...group.files.values()].map(encodeFile),
    })),
    replies: [...state.replies],
    refreshes: [...state.refreshes].map(([hash, r]): [string, string, string] => [hash, r.user, r.sessionId]),
  };
}

export function password(value: unknown, path: string): PasswordRecord {
  const p = obj(value, path);
  if (p.algorithm !== 'scrypt') fail(path, 'algorithm');
  return {
    algorithm: 'scrypt',
    costN: int(p.costN, path, 'costN'),
    blockSizeR: int(p.blockSizeR, path, 'blockSizeR'),
    parallelP: int(p.parallelP, path, 'parallelP'),
    salt: str(p.salt, path, 'salt'),
    hash: str(p.hash, path, 'hash'),
  };
}

export function reply(value: unknown, path: string): CachedReply {
  const r = obj(value, path);
  let error: DomainError | null = null;
  if (r.error !== null) {
    const e = obj(r.error, `${path}.error`);
    const code = str(e.code, `${path}.error.code`);
    if (!(DOMAIN_ERROR_CODES as readonly string[]).includes(code)) fail(`${path}.error.code`);
    error = { kind: 'error', code: code as DomainErrorCode, message: str(e.message, `${path}.error.message`) };
  }
  return { requestId: int(r.requestId, path, 'requestId'), index: int(r.index, path, 'index'), error };
}

export function decodeUser(value: unknown, path: string): UserRecord {
  const r = obj(value, path);
  return { user: str(r.user, path, 'user'), password: password(r.password, `${path}.password`), credentialsIndex: int(r.credentialsIndex, path, 'credentialsIndex') };
}

export function decodeSession(value: unknown, path: string): SessionRecord {
  const r = obj(value, path);
  return {
    sessionId: str(r.sessionId, path, 'sessionId'),
    user: str(r.user, path, 'user'),
    tokenHash: str(r.tokenHash, path, 'tokenHash'),
    address: str(r.address, path, 'address'),
    reachable: r.reachable !== false,
    keyFingerprint: r.keyFingerprint === undefined ? null : str(r.keyFingerprint, path, 'keyFingerprint'),
    openedIndex: int(r.openedIndex, path, 'openedIndex'),
    holdings: r.holdings === undefined ? new Set() : new Set(arr(r.holdings, `${path}.holdings`).map((h, j) => str(h, `${path}.holdings[${j}]`))),
  };
}

/**
 * A file's collection as evolve keeps it: the shared empty map when the record has none or an
 * empty one (state.ts), otherwise a map of the items `entry` decodes, in order.
 */
function sharedWhenEmpty<K, V>(empty: Map<K, V>, value: unknown, path: string, entry: (item: unknown, path: string, position: number) => readonly [K, V]): Map<K, V> {
  if (value === undefined) return empty;
  const items = arr(value, path);
  return items.length === 0 ? empty : new Map(items.map((item, i) => entry(item, `${path}[${i}]`, i)));
}

/** Stands in for a file's sharers until fileParts' caller gives it its own Set. */
const SHARERS_TO_COME: SmallSet<string> = new SmallSet();

/**
 * A file's record, and its sharers as an array: the caller makes their Set (records.ts first
 * shares the names with the users map's). Collections that are absent or empty are the shared
 * empty ones, and none is built on the way.
 */
export function fileParts(value: unknown, path: string): { file: FileRecord; sharers: string[] } {
  const f = obj(value, path);
  const sharers = arr(f.sharers, path + '.sharers');
  for (let i = 0; i < sharers.length; i++) if (typeof sharers[i] !== 'string') fail(`${path}.sharers[${i}]`);
  const file: FileRecord = {
    fileId: str(f.fileId, path, 'fileId'),
    name: str(f.name, path, 'name'),
    sizeBytes: int(f.sizeBytes, path, 'sizeBytes'),
    pieceLengthBytes: int(f.pieceLengthBytes, path, 'pieceLengthBytes'),
    sharedBy: str(f.sharedBy, path, 'sharedBy'),
    sharedIndex: int(f.sharedIndex, path, 'sharedIndex'),
    sharers: SHARERS_TO_COME,
    holders: sharedWhenEmpty(NO_HOLDERS, f.holders, `${path}.holders`, (h, at, i) => {
      const items = arr(h, at);
      if (items.length !== 3) fail(at);
      // Snapshots keep holders in order without the index that added them: their place stands in for it.
      return [str(items[0], at), { user: str(items[1], at), complete: bool(items[2], at), sinceIndex: i }];
    }),
    reports: sharedWhenEmpty(NO_REPORTS, f.reports, `${path}.reports`, (r, at) => pair(r, at, str, (by, p) => new Map(arr(by, p).map((b, j) => pair(b, `${p}[${j}]`, str, int))))),
    delisted: sharedWhenEmpty(NO_DELISTINGS, f.delisted, `${path}.delisted`, (d, at) => {
      const items = arr(d, at);
      if (items.length !== 3) fail(at);
      const reporters = arr(items[2], `${at}[2]`).map((u, j) => str(u, `${at}[2][${j}]`));
      return [str(items[0], `${at}[0]`), { sinceMs: int(items[1], `${at}[1]`), reporters }] as const;
    }),
  };
  return { file, sharers: sharers as string[] };
}

export function file(value: unknown, path: string): FileRecord {
  const { file, sharers } = fileParts(value, path);
  file.sharers = new SmallSet(sharers);
  return file;
}

function group(value: unknown, path: string): GroupRecord {
  const g = obj(value, path);
  const files = arr(g.files, `${path}.files`).map((f, i) => file(f, `${path}.files[${i}]`));
  return {
    group: str(g.group, `${path}.group`),
    owner: str(g.owner, `${path}.owner`),
    createdIndex: int(g.createdIndex, `${path}.createdIndex`),
    members: new Map(arr(g.members, `${path}.members`).map((m, i) => pair(m, `${path}.members[${i}]`, str, int))),
    requests: new Map(arr(g.requests, `${path}.requests`).map((m, i) => pair(m, `${path}.requests[${i}]`, str, int))),
    files: new Map(files.map((f) => [f.fileId, f])),
    fileNames: new Map(files.map((f) => [f.name, f.fileId])),
  };
}

/** Rebuilds a state from its snapshot (version 2: no piece lists). Stores no longer load snapshots; tests and tools do. */
export function decodeState(value: unknown): TrackerState {
  const s = obj(value, 'state');
  if (s.v !== SNAPSHOT_FORMAT_VERSION) fail('v');
  const users = arr(s.users, 'users').map((u, i) => decodeUser(u, `users[${i}]`));
  const sessions = arr(s.sessions, 'sessions').map((v, i) => decodeSession(v, `sessions[${i}]`));
  const groups = arr(s.groups, 'groups').map((g, i) => group(g, `groups[${i}]`));
  return {
    appliedIndex: int(s.appliedIndex, 'appliedIndex'),
    lastTimeMs: int(s.lastTimeMs, 'lastTimeMs'),
    users: new Map(users.map((u) => [u.user, u])),
    sessions: new Map(sessions.map((session) => [session.sessionId, session])),
    groups: new Map(groups.map((g) => [g.group, g])),
    replies: new Map(arr(s.replies, 'replies').map((r, i) => pair(r, `replies[${i}]`, str, reply))),
    refreshes: new RefreshMap(
      (s.refreshes === undefined ? [] : arr(s.refreshes, 'refreshes')).map((v, i) => {
        const t = arr(v, `refreshes[${i}]`);
        // Snapshots keep refreshes in issue order without the index: their place stands in for it.
        return [str(t[0], `refreshes[${i}][0]`), { user: str(t[1], `refreshes[${i}][1]`), sessionId: str(t[2], `refreshes[${i}][2]`), issuedIndex: i }] as const;
      }),
    ),
  };
}
