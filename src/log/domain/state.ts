// Why this file exists: the projection every node holds in memory and keeps on disk record by
// record (records.ts): users, sessions, groups with their members, requests and files, the reply
// cache and refresh credentials. Piece lists are not here (piece-lists.ts).
//
// Ownership rule: evolve() and applyEntry() update a state in place and return it, the way a
// Rust `fn evolve(self, e) -> Self` consumes its input. decide() and the queries never write.
// In-place updates keep replay at millions of events a second; determinism is unaffected
// because every node applies the same events in the same order. Map iteration order is part of
// the state (it is insertion order, restored exactly from the records).

import type { PasswordRecord } from './commands.js';
import type { DomainError } from './errors.js';
import type { SmallSet } from './small-set.js';

export interface UserRecord {
  user: string;
  password: PasswordRecord;
  /** Index of the entry that set the current credentials; OpenSession must name it. */
  credentialsIndex: number;
}

export interface SessionRecord {
  sessionId: string;
  user: string;
  tokenHash: string;
  address: string;
  /** Whether the tracker could dial the peer at its address when the session opened. */
  reachable: boolean;
  /** SHA-256 (hex) of the peer's TLS public key; null for sessions opened before keys. */
  keyFingerprint: string | null;
  openedIndex: number;
  /** Keys `group\u0000fileId` of the files this session holds. */
  holdings: Set<string>;
}

export interface HolderRecord {
  user: string;
  complete: boolean;
  /** The entry that first made this session a holder of the file (a partial holder completing keeps it): the order holders and holdings come back in. */
  sinceIndex: number;
}

export interface FileRecord {
  fileId: string;
  name: string;
  sizeBytes: number;
  pieceLengthBytes: number;
  /* The piece list is not here: it is kept out of memory (piece-lists.ts). */
  sharedBy: string;
  sharedIndex: number;
  /** Users who hold a complete copy; the file is listed while one remains. */
  sharers: SmallSet<string>;
  /** Sessions that serve it now. */
  holders: Map<string, HolderRecord>;
  /** Reports against holders (rules version 6): accused user → reporter → time of the report (entry time, ms); oldest first. */
  reports: Map<string, Map<string, number>>;
  /** Holders the tracker does not list for this file: user → since when (entry time, ms) and who reported them. */
  delisted: Map<string, DelistingRecord>;
}

/**
 * A Map that stays empty. Most of a million files hold nothing beyond their sharers (no one
 * online, no report), and an empty Map costs about 150 bytes: every such file shares the three
 * below, and evolve gives a file a map of its own when it first writes one (and the shared one
 * again once it is empty), so a collection is empty exactly when it is the shared one.
 */
class EmptyMap<K, V> extends Map<K, V> {
  override set(key: K): this {
    throw new TypeError(`write of ${String(key)} into a shared empty map`);
  }
}
export const NO_HOLDERS: Map<string, HolderRecord> = new EmptyMap();
export const NO_REPORTS: Map<string, Map<string, number>> = new EmptyMap();
export const NO_DELISTINGS: Map<string, DelistingRecord> = new EmptyMap();

export interface DelistingRecord {
  sinceMs: number;
  reporters: string[];
}

/** A delisting ends this long after the entry that made it (compared with later entries' times). */
export const DELISTING_MS = 24 * 60 * 60 * 1000;
/** A report counts towards a delisting for this long after its entry. */
export const REPORT_VALID_MS = DELISTING_MS;

/** Whether `user` is delisted for `file` at entry time `nowMs`. */
export function isDelisted(file: FileRecord, user: string, nowMs: number): boolean {
  const record = file.delisted.get(user);
  return record !== undefined && nowMs < record.sinceMs + DELISTING_MS;
}

/**
 * Stands in for a group's files (and file names) that still wait on disk: a node opens its store
 * without its million files and reads a group's the first time something needs them
 * (TrackerStore.ensureGroups). Any use before that is a bug in the caller, and says so rather
 * than answer "no files".
 */
class NotLoadedMap<K, V> extends Map<K, V> {
  #refuse(): never {
    throw new TypeError("a group's files were used before they were read from disk (TrackerStore.ensureGroups)");
  }
  override get size(): number {
    return this.#refuse();
  }
  override get(): V | undefined {
    return this.#refuse();
  }
  override has(): boolean {
    return this.#refuse();
  }
  override set(): this {
    return this.#refuse();
  }
  override delete(): boolean {
    return this.#refuse();
  }
  override clear(): void {
    this.#refuse();
  }
  override forEach(): void {
    this.#refuse();
  }
  override keys(): MapIterator<K> {
    return this.#refuse();
  }
  override values(): MapIterator<V> {
    return this.#refuse();
  }
  override entries(): MapIterator<[K, V]> {
    return this.#refuse();
  }
  override [Symbol.iterator](): MapIterator<[K, V]> {
    return this.#refuse();
  }
}
export const FILES_NOT_LOADED: Map<string, FileRecord> = new NotLoadedMap();
export const FILE_NAMES_NOT_LOADED: Map<string, string> = new NotLoadedMap();

/** Whether a group's files are in memory (see FILES_NOT_LOADED). */
export function filesLoaded(group: GroupRecord): boolean {
  return group.files !== FILES_NOT_LOADED;
}

export interface GroupRecord {
  group: string;
  owner: string;
  createdIndex: number;
  /** user → index at which they became a member (the owner: the creation index). */
  members: Map<string, number>;
  /** user → index of their pending join request. */
  requests: Map<string, number>;
  files: Map<string, FileRecord>;
  /** file name → fileId */
  fileNames: Map<string, string>;
}

export interface CachedReply {
  requestId: number;
  index: number;
  error: DomainError | null;
}

export interface TrackerState {
  /** Index of the last applied entry (0 before the first). */
  appliedIndex: number;
  /** Time of the last applied entry (while an entry is decided: its own); entry time never goes backwards. */
  lastTimeMs: number;
  users: Map<string, UserRecord>;
  sessions: Map<string, SessionRecord>;
  groups: Map<string, GroupRecord>;
  /** clientId → reply to its latest request; oldest first. */
  replies: Map<string, CachedReply>;
  /** Refresh credentials (SHA-256 hex) → the user and the session they were issued with; oldest first. */
  refreshes: RefreshMap;
}

/**
 * The refresh credentials, also indexed by user: a login finds the user's oldest among at most
 * MAX_REFRESHES_PER_USER, where it used to walk every credential of every user (at 10,000
 * users, 1 % of a node's time in issue 20's online bench). Iterates, and compares equal, as the
 * plain map it extends.
 */
export class RefreshMap extends Map<string, RefreshRecord> {
  readonly #byUser = new Map<string, Set<string>>();

  constructor(entries: Iterable<readonly [string, RefreshRecord]> = []) {
    super(); // Map's own constructor would call set() before #byUser exists
    for (const [hash, record] of entries) this.set(hash, record);
  }

  override set(hash: string, record: RefreshRecord): this {
    const previous = super.get(hash);
    super.set(hash, record);
    if (previous !== undefined && previous.user !== record.user) {
      // A credential handed to another user keeps its place in the map, so in that user's order
      // too (evolve never does this: every credential is new).
      this.#forget(hash, previous.user);
      this.#byUser.set(record.user, new Set([...super.entries()].filter(([, r]) => r.user === record.user).map(([h]) => h)));
      return this;
    }
    const mine = this.#byUser.get(record.user);
    if (mine) mine.add(hash);
    else this.#byUser.set(record.user, new Set([hash]));
    return this;
  }

  override delete(hash: string): boolean {
    const previous = super.get(hash);
    if (previous === undefined) return false;
    this.#forget(hash, previous.user);
    return super.delete(hash);
  }

  override clear(): void {
    this.#byUser.clear();
    super.clear();
  }

  /** The user's credentials, oldest first (the order they were set in). */
  ofUser(user: string): ReadonlySet<string> {
    return this.#byUser.get(user) ?? NO_HASHES;
  }

  #forget(hash: string, user: string): void {
    const mine = this.#byUser.get(user);
    mine?.delete(hash);
    if (mine?.size === 0) this.#byUser.delete(user);
  }
}

const NO_HASHES: ReadonlySet<string> = new Set();

export interface RefreshRecord {
  user: string;
  sessionId: string;
  /** The entry that issued it: refreshes are kept in issue order (state records sort by it). */
  issuedIndex: number;
}

/** A user keeps at most this many refresh credentials (one per shell home, roughly); the oldest go first. */
export const MAX_REFRESHES_PER_USER = 16;

export function initialState(): TrackerState {
  return {
    appliedIndex: 0,
    lastTimeMs: 0,
    users: new Map(),
    sessions: new Map(),
    groups: new Map(),
    replies: new Map(),
    refreshes: new RefreshMap(),
  };
}

export function holdingKey(group: string, fileId: string): string {
  return `${group}\u0000${fileId}`;
}

export function splitHoldingKey(key: string): { group: string; fileId: string } {
  const at = key.indexOf('\u0000');
  return { group: key.slice(0, at), fileId: key.slice(at + 1) };
}
