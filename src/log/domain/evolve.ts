// Why this file exists: evolve(state, event) is how a fact changes the projection. It is the only
// writer of TrackerState (see the ownership rule in state.ts), it trusts its events (decide
// made them), and it asserts the invariants it relies on so a corrupt log stops loudly.

import type { Event } from './events.js';
import { SmallSet } from './small-set.js';
import { fileRecordId, groupRecordId, holderRecordId, NO_CHANGES, refreshRecordId, sessionRecordId, userRecordId, type Changes } from './records.js';
import {
  holdingKey,
  MAX_REFRESHES_PER_USER,
  NO_DELISTINGS,
  NO_HOLDERS,
  NO_REPORTS,
  REPORT_VALID_MS,
  type FileRecord,
  type GroupRecord,
  type RefreshRecord,
  type TrackerState,
} from './state.js';

export class InvariantError extends Error {
  override name = 'InvariantError';
}

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}

function groupOf(state: TrackerState, group: string): GroupRecord {
  const record = state.groups.get(group);
  assert(record !== undefined, `event names unknown group ${group}`);
  return record;
}

function fileOf(state: TrackerState, group: string, fileId: string): FileRecord {
  const file = groupOf(state, group).files.get(fileId);
  assert(file !== undefined, `event names unknown file ${fileId} in ${group}`);
  return file;
}

/**
 * The user's name as the state already holds it: a million records naming a few users share
 * their strings instead of each keeping the copy its event was parsed into.
 */
function userName(state: TrackerState, user: string): string {
  return state.users.get(user)?.user ?? user;
}

/** A file's own map for `field`, made when the file still shares the empty one (state.ts). */
function own<K extends 'holders' | 'reports' | 'delisted'>(file: FileRecord, field: K, empty: FileRecord[K]): FileRecord[K] {
  if (file[field] === empty) file[field] = new Map() as FileRecord[K];
  return file[field];
}

/** Back to the shared empty map once a file's own is empty. */
function release(file: FileRecord): void {
  if (file.holders.size === 0) file.holders = NO_HOLDERS;
  if (file.reports.size === 0) file.reports = NO_REPORTS;
  if (file.delisted.size === 0) file.delisted = NO_DELISTINGS;
}

function removeFile(state: TrackerState, group: GroupRecord, file: FileRecord): void {
  for (const sessionId of file.holders.keys()) {
    state.sessions.get(sessionId)?.holdings.delete(holdingKey(group.group, file.fileId));
  }
  group.files.delete(file.fileId);
  group.fileNames.delete(file.name);
}

/** `changes` hears the id of every record the event adds, changes or removes (records.ts). */
export function evolve(state: TrackerState, event: Event, changes: Changes = NO_CHANGES): TrackerState {
  const index = state.appliedIndex;
  touch(state, event, changes);
  switch (event.type) {
    case 'UserRegistered':
      assert(!state.users.has(event.user), `user ${event.user} registered twice`);
      state.users.set(event.user, { user: event.user, password: event.password, credentialsIndex: index });
      break;
    case 'SessionOpened':
      assert(state.users.has(event.user), `session for unknown user ${event.user}`);
      if (event.refreshHash !== undefined) addRefresh(state, event.refreshHash, { user: userName(state, event.user), sessionId: event.sessionId, issuedIndex: index }, changes);
      state.sessions.set(event.sessionId, {
        sessionId: event.sessionId,
        user: event.user,
        tokenHash: event.tokenHash,
        address: event.address,
        reachable: event.reachable !== false,
        keyFingerprint: event.keyFingerprint ?? null,
        openedIndex: index,
        holdings: new Set(),
      });
      break;
    case 'SessionMoved': {
      const session = state.sessions.get(event.sessionId);
      assert(session !== undefined, `moved session ${event.sessionId} is not open`);
      session.address = event.address;
      session.reachable = event.reachable;
      break;
    }
    case 'RefreshRevoked':
      state.refreshes.delete(event.refreshHash);
      break;
    case 'SessionClosed':
    case 'SessionExpired': {
      const session = state.sessions.get(event.sessionId);
      assert(session !== undefined && session.holdings.size === 0, `session ${event.sessionId} ends while holding files`);
      state.sessions.delete(event.sessionId);
      break;
    }
    case 'GroupCreated':
      state.groups.set(event.group, {
        group: event.group,
        owner: event.owner,
        createdIndex: index,
        members: new Map<string, number>().set(event.owner, index),
        requests: new Map(),
        files: new Map(),
        fileNames: new Map(),
      });
      break;
    case 'JoinRequested':
      groupOf(state, event.group).requests.set(event.user, index);
      break;
    case 'JoinAccepted': {
      const group = groupOf(state, event.group);
      group.requests.delete(event.user);
      group.members.set(event.user, index);
      break;
    }
    case 'JoinRejected':
      groupOf(state, event.group).requests.delete(event.user);
      break;
    case 'MemberLeft':
    case 'MemberRemoved':
      groupOf(state, event.group).members.delete(event.user);
      break;
    case 'OwnershipTransferred': {
      const group = groupOf(state, event.group);
      assert(group.members.has(event.to), `ownership of ${event.group} passes to non-member ${event.to}`);
      group.owner = event.to;
      break;
    }
    case 'GroupDeleted': {
      const group = groupOf(state, event.group);
      for (const file of [...group.files.values()]) removeFile(state, group, file);
      state.groups.delete(event.group);
      break;
    }
    case 'FileShared': {
      const group = groupOf(state, event.group);
      group.files.set(event.fileId, {
        fileId: event.fileId,
        name: event.name,
        sizeBytes: event.sizeBytes,
        pieceLengthBytes: event.pieceLengthBytes,
        sharedBy: userName(state, event.user),
        sharedIndex: index,
        sharers: new SmallSet<string>().add(userName(state, event.user)),
        holders: NO_HOLDERS,
        reports: NO_REPORTS,
        delisted: NO_DELISTINGS,
      });
      group.fileNames.set(event.name, event.fileId);
      break;
    }
    case 'SharerAdded':
      fileOf(state, event.group, event.fileId).sharers.add(userName(state, event.user));
      break;
    case 'SharerRemoved':
      fileOf(state, event.group, event.fileId).sharers.delete(event.user);
      break;
    case 'FileUnshared':
      removeFile(state, groupOf(state, event.group), fileOf(state, event.group, event.fileId));
      break;
    case 'HolderAdded': {
      const session = state.sessions.get(event.sessionId);
      assert(session !== undefined, `holder for unknown session ${event.sessionId}`);
      const holders = own(fileOf(state, event.group, event.fileId), 'holders', NO_HOLDERS);
      const sinceIndex = holders.get(event.sessionId)?.sinceIndex ?? index;
      holders.set(event.sessionId, { user: userName(state, event.user), complete: event.complete, sinceIndex });
      session.holdings.add(holdingKey(event.group, event.fileId));
      break;
    }
    case 'HolderRemoved': {
      const file = fileOf(state, event.group, event.fileId);
      file.holders.delete(event.sessionId);
      release(file);
      state.sessions.get(event.sessionId)?.holdings.delete(holdingKey(event.group, event.fileId));
      break;
    }
    case 'HolderReported': {
      const file = fileOf(state, event.group, event.fileId);
      const reports = file.reports.get(event.user) ?? new Map<string, number>();
      // Reports too old to count are forgotten; a reporter's newest report replaces its last.
      for (const [reporter, atMs] of reports) if (atMs + REPORT_VALID_MS <= state.lastTimeMs) reports.delete(reporter);
      reports.delete(event.reporter);
      reports.set(event.reporter, state.lastTimeMs);
      own(file, 'reports', NO_REPORTS).set(event.user, reports);
      break;
    }
    case 'HolderDelisted': {
      const file = fileOf(state, event.group, event.fileId);
      own(file, 'delisted', NO_DELISTINGS).set(event.user, { sinceMs: state.lastTimeMs, reporters: [...event.reporters] });
      file.reports.delete(event.user);
      release(file);
      break;
    }
    case 'HolderReinstated': {
      const file = fileOf(state, event.group, event.fileId);
      file.delisted.delete(event.user);
      file.reports.delete(event.user);
      release(file);
      break;
    }
    case 'CommandRejected':
      break;
    default:
      assertNever(event);
  }
  return state;
}

/**
 * The records an event changes, named before evolve changes them (a removed file's holders
 * are still known then). One place, so a new event cannot change a record unnoticed: the
 * store's property test reloads every state from its records and compares.
 */
function touch(state: TrackerState, event: Event, changes: Changes): void {
  switch (event.type) {
    case 'UserRegistered':
      changes.add(userRecordId(event.user));
      return;
    case 'SessionOpened':
      changes.add(sessionRecordId(event.sessionId));
      // addRefresh names the user's oldest credential if it drops it.
      if (event.refreshHash !== undefined) changes.add(refreshRecordId(event.refreshHash));
      return;
    case 'SessionMoved':
    case 'SessionClosed':
    case 'SessionExpired':
      changes.add(sessionRecordId(event.sessionId));
      return;
    case 'RefreshRevoked':
      changes.add(refreshRecordId(event.refreshHash));
      return;
    case 'GroupCreated':
    case 'JoinRequested':
    case 'JoinAccepted':
    case 'JoinRejected':
    case 'MemberLeft':
    case 'MemberRemoved':
    case 'OwnershipTransferred':
      changes.add(groupRecordId(event.group));
      return;
    case 'GroupDeleted': {
      changes.add(groupRecordId(event.group));
      for (const file of state.groups.get(event.group)?.files.values() ?? []) touchRemovedFile(event.group, file, changes);
      return;
    }
    case 'FileUnshared': {
      const file = state.groups.get(event.group)?.files.get(event.fileId);
      if (file) touchRemovedFile(event.group, file, changes);
      return;
    }
    case 'HolderAdded':
    case 'HolderRemoved':
      changes.add(holderRecordId(event.group, event.fileId, event.sessionId));
      return;
    case 'FileShared':
    case 'SharerAdded':
    case 'SharerRemoved':
    case 'HolderReported':
    case 'HolderDelisted':
    case 'HolderReinstated':
      changes.add(fileRecordId(event.group, event.fileId));
      return;
    case 'CommandRejected':
      return;
    default:
      assertNever(event);
  }
}

/** A file leaves: its record, and its holders' (the sessions' holdings are made of those). */
function touchRemovedFile(group: string, file: FileRecord, changes: Changes): void {
  changes.add(fileRecordId(group, file.fileId));
  for (const sessionId of file.holders.keys()) changes.add(holderRecordId(group, file.fileId, sessionId));
}

function assertNever(event: never): never {
  throw new InvariantError(`unknown event ${JSON.stringify(event)}`);
}

/**
 * Records a refresh credential; a user over MAX_REFRESHES_PER_USER loses their oldest (named to
 * `changes`). The user's own credentials only (RefreshMap.ofUser), whatever the user count.
 */
function addRefresh(state: TrackerState, refreshHash: string, record: RefreshRecord, changes: Changes): void {
  const mine = state.refreshes.ofUser(record.user);
  const oldest = mine.size >= MAX_REFRESHES_PER_USER ? (mine.values().next().value ?? null) : null;
  if (oldest !== null) {
    state.refreshes.delete(oldest);
    changes.add(refreshRecordId(oldest));
  }
  state.refreshes.set(refreshHash, record);
}
