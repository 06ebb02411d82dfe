// Why this file exists: decide(state, command) is the whole of the tracker's judgement. It runs on
// every node at apply time (so two racing commands cannot both succeed), never writes, and
// answers with the events that happened or a typed refusal.

import { fromBase64, isHex, toHex } from '../../torrent/bytes.js';
import type { FileMeta } from '../../torrent/file-meta.js';
import { SESSION_ID, type Auth, type Command } from './commands.js';
import { domainError, type DomainError } from './errors.js';
import type { Event } from './events.js';
import { infoHash, PIECE_HASH_BYTES, PIECE_LENGTH_BYTES, pieceCount } from '../../torrent/infohash.js';
import { formatNetAddress, type NetAddress } from '../../world/net-address.js';
import { checkFileName, checkId, checkPeerAddress } from './names.js';
import { authenticate } from './queries.js';
import { isDelisted, REPORT_VALID_MS, splitHoldingKey, type FileRecord, type GroupRecord, type TrackerState } from './state.js';
import type { PieceLists } from './piece-lists.js';
import { InvariantError } from './evolve.js';

/** Largest log entry a command may make (Raft entries and frames are bounded by it). */
export const MAX_ENTRY_BYTES = 1024 * 1024;
/** Piece lists travel base64 inside one entry: 20 bytes a piece, 4/3 for base64, 16 KiB spare. */
export const MAX_FILE_PIECES = Math.floor(((MAX_ENTRY_BYTES - 16 * 1024) * 3) / 4 / PIECE_HASH_BYTES);

type Decision = readonly Event[] | DomainError;

/** `pieces` holds at least the list of the file a ReportHolder names (see piece-lists.ts). */
export function decide(state: TrackerState, command: Command, pieces: PieceLists): Decision {
  switch (command.type) {
    case 'CreateUser':
      return createUser(state, command.user, command);
    case 'OpenSession':
      return openSession(state, command);
    case 'RenewSession':
      return renewSession(state, command);
    case 'CloseSession':
      // A logout also withdraws the refresh credential the session was issued with.
      return withUser(state, command.auth, (user) => [
        ...(endSession(state, command.auth.sessionId, user, 'SessionClosed') as Event[]),
        ...refreshesOf(state, user, command.auth.sessionId).map((refreshHash): Event => ({ type: 'RefreshRevoked', refreshHash, user })),
      ]);
    case 'ExpireSession': {
      const session = state.sessions.get(command.sessionId);
      if (!session) return domainError('NO_SUCH_SESSION', `no open session ${command.sessionId}`);
      return endSession(state, session.sessionId, session.user, 'SessionExpired');
    }
    case 'MoveSession': {
      const session = state.sessions.get(command.sessionId);
      if (!session) return domainError('NO_SUCH_SESSION', `no open session ${command.sessionId}`);
      const bad = checkPeerAddress(command.observed);
      if (bad) return bad;
      const address = formatNetAddress(command.observed);
      if (address === session.address && command.reachable === session.reachable) return [];
      return [{ type: 'SessionMoved', sessionId: session.sessionId, user: session.user, address, reachable: command.reachable }];
    }
    case 'CreateGroup':
      return withUser(state, command.auth, (user) => createGroup(state, user, command.group));
    case 'RequestJoin':
      return withGroup(state, command.auth, command.group, (user, group) => requestJoin(user, group));
    case 'LeaveGroup':
      return withMember(state, command.auth, command.group, (user, group) => leaveGroup(user, group));
    case 'RemoveMember':
      return withGroup(state, command.auth, command.group, (user, group) => removeMember(user, group, command.user));
    case 'AcceptRequest':
    case 'RejectRequest':
      return withGroup(state, command.auth, command.group, (user, group) => answerRequest(command.type, user, group, command.user));
    case 'ShareFile':
      return withMember(state, command.auth, command.group, (user, group) =>
        shareFile(group, user, command.auth.sessionId, command.file, command.anew === true),
      );
    case 'HoldPartial':
      return withFile(state, command.auth, command.group, command.fileId, (user, group, file) =>
        file.holders.has(command.auth.sessionId)
          ? []
          : [{ type: 'HolderAdded', group: group.group, fileId: file.fileId, sessionId: command.auth.sessionId, user, complete: false }],
      );
    case 'DropHolding':
      return withFile(state, command.auth, command.group, command.fileId, (user, group, file) =>
        file.holders.has(command.auth.sessionId)
          ? [{ type: 'HolderRemoved', group: group.group, fileId: file.fileId, sessionId: command.auth.sessionId, user }]
          : [],
      );
    case 'StopShare':
      return withMember(state, command.auth, command.group, (user, group) => stopShare(user, group, command.name));
    case 'ReportHolder':
      return withFile(state, command.auth, command.group, command.fileId, (user, group, file) => reportHolder(state, pieces, user, group, file, command));
  }
}

function createUser(state: TrackerState, user: string, command: Extract<Command, { type: 'CreateUser' }>): Decision {
  const bad = checkId('user', user);
  if (bad) return bad;
  if (state.users.has(user)) return domainError('USER_EXISTS', `user ${user} already exists`);
  return [{ type: 'UserRegistered', user, password: command.password }];
}

function openSession(state: TrackerState, command: Extract<Command, { type: 'OpenSession' }>): Decision {
  const record = state.users.get(command.user);
  // The receiving node checked the password against this very credential index; if it moved,
  // the password it checked may no longer be the user's.
  if (!record || record.credentialsIndex !== command.credentialsIndex) {
    return domainError('BAD_CREDENTIALS', 'wrong user id or password');
  }
  const badSession = checkNewSession(state, command);
  if (badSession) return badSession;
  const { sessionId, user, tokenHash } = command;
  const address = formatNetAddress(command.observed);
  const unreachable = command.reachable ? {} : { reachable: false as const };
  const key = keyOf(command);
  if (command.refreshHash !== undefined) {
    const badRefresh = checkNewRefresh(state, command.refreshHash);
    if (badRefresh) return badRefresh;
    return [{ type: 'SessionOpened', sessionId, user, tokenHash, address, ...unreachable, refreshHash: command.refreshHash, ...key }];
  }
  return [{ type: 'SessionOpened', sessionId, user, tokenHash, address, ...unreachable, ...key }];
}

/** The peer's key fingerprint, when the login names one. */
function keyOf(command: { keyFingerprint?: string }): { keyFingerprint?: string } {
  return command.keyFingerprint === undefined ? {} : { keyFingerprint: command.keyFingerprint };
}

/** A new session's id, token hash and address are well formed and the id is free. */
function checkNewSession(state: TrackerState, session: { sessionId: string; tokenHash: string; observed: NetAddress; keyFingerprint?: string }): DomainError | null {
  if (!SESSION_ID.test(session.sessionId)) return domainError('BAD_COMMAND', 'session id is not 8–64 URL-safe characters');
  if (!isHex(session.tokenHash, 32)) return domainError('BAD_COMMAND', 'token hash is not 32 bytes of hex');
  if (session.keyFingerprint !== undefined && !isHex(session.keyFingerprint, 32)) return domainError('BAD_COMMAND', 'key fingerprint is not 32 bytes of hex');
  const badAddress = checkPeerAddress(session.observed);
  if (badAddress) return badAddress;
  if (state.sessions.has(session.sessionId)) return domainError('SESSION_EXISTS', `session ${session.sessionId} exists`);
  return null;
}

function checkNewRefresh(state: TrackerState, refreshHash: string): DomainError | null {
  if (!isHex(refreshHash, 32)) return domainError('BAD_COMMAND', 'refresh hash is not 32 bytes of hex');
  if (state.refreshes.has(refreshHash)) return domainError('BAD_COMMAND', 'that refresh credential is in use');
  return null;
}

/** The user's refresh credentials issued with `sessionId`, in the map's order. */
function refreshesOf(state: TrackerState, user: string, sessionId: string): string[] {
  return [...state.refreshes.ofUser(user)].filter((hash) => state.refreshes.get(hash)!.sessionId === sessionId);
}

/**
 * A refresh credential opens a new session for its user (after the old one expired, or while
 * it is still open: then it is closed first) and is used up; the new session gets a new one.
 */
function renewSession(state: TrackerState, command: Extract<Command, { type: 'RenewSession' }>): Decision {
  const refresh = state.refreshes.get(command.refreshHash);
  if (!refresh || refresh.user !== command.user || !state.users.has(command.user)) {
    return domainError('BAD_REFRESH', 'that refresh credential is unknown or used up');
  }
  const badSession = checkNewSession(state, command);
  if (badSession) return badSession;
  if (command.newRefreshHash === command.refreshHash) return domainError('BAD_COMMAND', 'the new refresh credential must differ');
  const badRefresh = checkNewRefresh(state, command.newRefreshHash);
  if (badRefresh) return badRefresh;
  const { user, sessionId, tokenHash } = command;
  const address = formatNetAddress(command.observed);
  const old = state.sessions.get(refresh.sessionId);
  return [
    ...(old ? (endSession(state, old.sessionId, user, 'SessionClosed') as Event[]) : []),
    { type: 'RefreshRevoked', refreshHash: command.refreshHash, user },
    { type: 'SessionOpened', sessionId, user, tokenHash, address, ...(command.reachable ? {} : { reachable: false as const }), refreshHash: command.newRefreshHash, ...keyOf(command) },
  ];
}

/** A session ends: it stops holding anything, then it is gone. */
function endSession(state: TrackerState, sessionId: string, user: string, type: 'SessionClosed' | 'SessionExpired'): Decision {
  const session = state.sessions.get(sessionId);
  const events: Event[] = [];
  for (const key of session?.holdings ?? []) {
    const { group, fileId } = splitHoldingKey(key);
    events.push({ type: 'HolderRemoved', group, fileId, sessionId, user });
  }
  events.push({ type, sessionId, user });
  return events;
}

function createGroup(state: TrackerState, user: string, group: string): Decision {
  const bad = checkId('group', group);
  if (bad) return bad;
  if (state.groups.has(group)) return domainError('GROUP_EXISTS', `group ${group} already exists`);
  return [{ type: 'GroupCreated', group, owner: user }];
}

function requestJoin(user: string, group: GroupRecord): Decision {
  if (group.members.has(user)) return domainError('ALREADY_MEMBER', `${user} is already a member of ${group.group}`);
  if (group.requests.has(user)) return domainError('REQUEST_PENDING', `${user} already asked to join ${group.group}`);
  return [{ type: 'JoinRequested', group: group.group, user }];
}

function answerRequest(type: 'AcceptRequest' | 'RejectRequest', by: string, group: GroupRecord, user: string): Decision {
  const bad = checkId('user', user);
  if (bad) return bad;
  if (group.owner !== by) return domainError('NOT_OWNER', `only ${group.group}'s owner answers join requests`);
  if (!group.requests.has(user)) return domainError('NO_SUCH_REQUEST', `${user} has no pending request to join ${group.group}`);
  const eventType = type === 'AcceptRequest' ? 'JoinAccepted' : 'JoinRejected';
  return [{ type: eventType, group: group.group, user, by }];
}

/** Everything the user held or shared in the group goes, then the user; the group passes on or ends. */
function leaveGroup(user: string, group: GroupRecord): Decision {
  const events: Event[] = [];
  for (const file of group.files.values()) events.push(...withdrawFromFile(user, group, file));
  events.push({ type: 'MemberLeft', group: group.group, user });
  if (group.members.size === 1) {
    events.push({ type: 'GroupDeleted', group: group.group });
  } else if (group.owner === user) {
    events.push({ type: 'OwnershipTransferred', group: group.group, from: user, to: earliestMemberOtherThan(group, user) });
  }
  return events;
}

/**
 * The owner takes a member out: like a leave, everything the member held or shared in the group
 * goes first; the owner cannot remove themself (leave_group passes the group on instead).
 */
function removeMember(by: string, group: GroupRecord, user: string): Decision {
  const bad = checkId('user', user);
  if (bad) return bad;
  if (group.owner !== by) return domainError('NOT_OWNER', `only ${group.group}'s owner removes members`);
  if (user === by) return domainError('CANNOT_REMOVE_SELF', `the owner cannot remove themself from ${group.group}; leave_group passes it on`);
  if (!group.members.has(user)) return domainError('NOT_A_MEMBER', `${user} is not a member of ${group.group}`);
  const events: Event[] = [];
  for (const file of group.files.values()) events.push(...withdrawFromFile(user, group, file));
  events.push({ type: 'MemberRemoved', group: group.group, user, by });
  return events;
}

function earliestMemberOtherThan(group: GroupRecord, user: string): string {
  let best: string | null = null;
  let bestIndex = Infinity;
  for (const [member, joinedIndex] of group.members) {
    if (member !== user && joinedIndex < bestIndex) {
      best = member;
      bestIndex = joinedIndex;
    }
  }
  if (best === null) throw new Error(`invariant: ${group.group} has a member other than ${user}`);
  return best;
}

/** The user's sessions stop holding the file and the user stops sharing it; the last sharer takes the file with them. */
function withdrawFromFile(user: string, group: GroupRecord, file: FileRecord): Event[] {
  const events: Event[] = [];
  for (const [sessionId, holder] of file.holders) {
    if (holder.user === user) events.push({ type: 'HolderRemoved', group: group.group, fileId: file.fileId, sessionId, user });
  }
  if (file.sharers.has(user)) {
    events.push({ type: 'SharerRemoved', group: group.group, fileId: file.fileId, user });
    if (file.sharers.size === 1) events.push({ type: 'FileUnshared', group: group.group, fileId: file.fileId, name: file.name });
  }
  return events;
}

function stopShare(user: string, group: GroupRecord, name: string): Decision {
  const bad = checkFileName(name);
  if (bad) return bad;
  const fileId = group.fileNames.get(name);
  const file = fileId === undefined ? undefined : group.files.get(fileId);
  if (!file) return domainError('NO_SUCH_FILE', `no file ${name} in ${group.group}`);
  const events = withdrawFromFile(user, group, file);
  if (events.length === 0) return domainError('NOT_SHARING', `${user} does not share ${name} in ${group.group}`);
  return events;
}

function shareFile(group: GroupRecord, user: string, sessionId: string, meta: FileMeta, anew: boolean): Decision {
  const bad = checkFile(meta);
  if (bad) return bad;
  const takenBy = group.fileNames.get(meta.name);
  if (takenBy !== undefined && takenBy !== meta.fileId) {
    return domainError('FILE_NAME_TAKEN', `${group.group} already has another file named ${meta.name}`);
  }
  const existing = group.files.get(meta.fileId);
  const events: Event[] = [];
  if (!existing) {
    const { fileId, name, sizeBytes, pieceLengthBytes, pieces } = meta;
    events.push({ type: 'FileShared', group: group.group, fileId, name, sizeBytes, pieceLengthBytes, pieces, user });
  } else if (!existing.sharers.has(user)) {
    events.push({ type: 'SharerAdded', group: group.group, fileId: meta.fileId, user });
  }
  // Sharing anew by hand is the holder's word that its copy is sound again: its delisting and
  // the reports against it go. A login's re-announce of the same copy is not.
  if (existing && anew && (existing.delisted.has(user) || existing.reports.has(user))) {
    events.push({ type: 'HolderReinstated', group: group.group, fileId: meta.fileId, user });
  }
  if (existing?.holders.get(sessionId)?.complete !== true) {
    events.push({ type: 'HolderAdded', group: group.group, fileId: meta.fileId, sessionId, user, complete: true });
  }
  return events;
}

/** The piece list must describe the size, and the file id must be its info-hash. */
function checkFile(meta: FileMeta): DomainError | null {
  const badName = checkFileName(meta.name);
  if (badName) return badName;
  if (meta.pieceLengthBytes !== PIECE_LENGTH_BYTES) {
    return domainError('BAD_FILE', `piece length is ${meta.pieceLengthBytes}, not ${PIECE_LENGTH_BYTES}`);
  }
  const pieces = pieceCount(meta.sizeBytes, meta.pieceLengthBytes);
  if (pieces > MAX_FILE_PIECES) {
    return domainError('FILE_TOO_LARGE', `${meta.name} has ${pieces} pieces; at most ${MAX_FILE_PIECES} fit in one entry`);
  }
  const hashes = fromBase64(meta.pieces);
  if (!hashes || hashes.length !== pieces * PIECE_HASH_BYTES) {
    return domainError('BAD_FILE', `the piece list does not hold ${pieces} SHA1 hashes`);
  }
  if (!isHex(meta.fileId, 20)) return domainError('BAD_FILE', 'file id is not a 20-byte hex info-hash');
  const expected = infoHash({ name: meta.name, sizeBytes: meta.sizeBytes, pieceLengthBytes: meta.pieceLengthBytes, pieces: hashes });
  if (expected !== meta.fileId) return domainError('BAD_FILE', `file id ${meta.fileId} is not the info-hash of its piece list`);
  return null;
}

// ---- reports against holders ----------------------------------------------------------------

/**
 * How many distinct members must report a holder of a file before the tracker stops listing it:
 * 3, or in a group of fewer than 6 members more than half of all its members (the accused
 * included), whichever is smaller. So two members alone never delist anyone in a group of 4 or
 * more (an honest owner of a group of 4 or 5 included); in a group of 3 the two others agree; in
 * a group of 2 nobody can be delisted (the one other member simply bans it).
 */
export function delistingThreshold(memberCount: number): number {
  return Math.min(3, Math.floor(memberCount / 2) + 1);
}

/**
 * A member reports a holder that sent a piece failing its SHA1. The evidence must fit the file:
 * a piece index in range, the expected SHA1 the file's own, the received one different. The
 * report is recorded; when distinct members' reports of the last 24 h reach the threshold, the
 * holder is delisted for the file (unless it is already).
 */
function reportHolder(state: TrackerState, lists: PieceLists, reporter: string, group: GroupRecord, file: FileRecord, command: Extract<Command, { type: 'ReportHolder' }>): Decision {
  const { holder, pieceIndex, expectedSha1, receivedSha1 } = command;
  const bad = checkId('user', holder);
  if (bad) return bad;
  if (holder === reporter) return domainError('CANNOT_REPORT_SELF', `${reporter} cannot report themself`);
  const holds = file.sharers.has(holder) || [...file.holders.values()].some((h) => h.user === holder);
  if (!group.members.has(holder) || !holds) return domainError('NOT_A_HOLDER', `${holder} does not hold ${file.name} in ${group.group}`);
  const pieces = pieceCount(file.sizeBytes, file.pieceLengthBytes);
  if (pieceIndex >= pieces) return domainError('BAD_EVIDENCE', `${file.name} has no piece ${pieceIndex} (it has ${pieces})`);
  if (!isHex(expectedSha1, PIECE_HASH_BYTES) || !isHex(receivedSha1, PIECE_HASH_BYTES)) return domainError('BAD_EVIDENCE', 'the SHA1s are not 20 bytes of lowercase hex');
  const list = lists.get(file.fileId);
  // The store fetches a report's list before deciding it: without it, nodes could decide apart.
  if (list === undefined) throw new InvariantError(`the piece list of ${file.fileId} is not at hand to decide a report`);
  const hashes = fromBase64(list);
  const stored = hashes === null ? null : toHex(hashes.subarray(pieceIndex * PIECE_HASH_BYTES, (pieceIndex + 1) * PIECE_HASH_BYTES));
  if (expectedSha1 !== stored) return domainError('BAD_EVIDENCE', `piece ${pieceIndex} of ${file.name} does not have SHA1 ${expectedSha1}`);
  if (receivedSha1 === expectedSha1) return domainError('BAD_EVIDENCE', `the received SHA1 of piece ${pieceIndex} is the expected one`);
  const events: Event[] = [{ type: 'HolderReported', group: group.group, fileId: file.fileId, user: holder, reporter, pieceIndex, expectedSha1, receivedSha1 }];
  if (isDelisted(file, holder, state.lastTimeMs)) return events;
  const reporters = [...(file.reports.get(holder) ?? [])]
    .filter(([who, atMs]) => who !== reporter && atMs + REPORT_VALID_MS > state.lastTimeMs && group.members.has(who))
    .map(([who]) => who);
  reporters.push(reporter);
  if (reporters.length >= delistingThreshold(group.members.size)) {
    events.push({ type: 'HolderDelisted', group: group.group, fileId: file.fileId, user: holder, reporters });
  }
  return events;
}

// ---- guards: who is asking, and may they? ------------------------------------------------------

function withUser(state: TrackerState, auth: Auth, then: (user: string) => Decision): Decision {
  const user = authenticate(state, auth);
  return typeof user === 'string' ? then(user) : user;
}

function withGroup(state: TrackerState, auth: Auth, groupId: string, then: (user: string, group: GroupRecord) => Decision): Decision {
  return withUser(state, auth, (user) => {
    const bad = checkId('group', groupId);
    if (bad) return bad;
    const group = state.groups.get(groupId);
    if (!group) return domainError('NO_SUCH_GROUP', `no group ${groupId}`);
    return then(user, group);
  });
}

function withMember(state: TrackerState, auth: Auth, groupId: string, then: (user: string, group: GroupRecord) => Decision): Decision {
  return withGroup(state, auth, groupId, (user, group) =>
    group.members.has(user) ? then(user, group) : domainError('NOT_A_MEMBER', `${user} is not a member of ${groupId}`),
  );
}

function withFile(
  state: TrackerState,
  auth: Auth,
  groupId: string,
  fileId: string,
  then: (user: string, group: GroupRecord, file: FileRecord) => Decision,
): Decision {
  return withMember(state, auth, groupId, (user, group) => {
    const file = group.files.get(fileId);
    if (!file) return domainError('NO_SUCH_FILE', `no file ${fileId.slice(0, 40)} in ${groupId}`);
    return then(user, group, file);
  });
}
