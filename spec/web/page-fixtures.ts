// Why this file exists: the fixture data the page's browser tests serve — a peer logged in as
// alice with three groups, a group's files, members and timeline (`--after` answered as the
// shell does), four downloads in every state, and a three-node cluster. Typed with the page's
// contract (and the domain's GroupMembers), so a change of either shows here.

import type { GroupMembers } from '../../src/log/domain/queries.js';
import type { ClusterView, FileSummary, GroupSummary, GroupTimeline, PeerStatus, WebDownload, WebState } from '../../src/peer/web/web-api.js';
import type { CommandHandler } from './fixture-peer.js';

export const TOKEN = 'fixture-token-0123456789';
const PIECE_BYTES = 256 * 1024;

export const STATUS: PeerStatus = {
  user: 'alice',
  listening: '127.0.0.1:7001',
  address: '127.0.0.1:7001',
  reachable: true,
  pushChannel: '127.0.0.1:7100',
  keyFingerprint: 'ab12cd34',
  rates: { up: null, down: null },
};

export const GROUPS: GroupSummary[] = [
  { group: 'friends', owner: 'alice', memberCount: 2, relation: 'owner' },
  { group: 'work', owner: 'bob', memberCount: 3, relation: 'member' },
  { group: 'chess', owner: 'dave', memberCount: 1, relation: 'none' },
  { group: 'books', owner: 'erin', memberCount: 4, relation: 'pending' },
];

export const FILES: FileSummary[] = [
  { fileId: 'f1'.padEnd(40, '0'), name: 'notes.txt', sizeBytes: 1536, sharers: ['alice', 'bob'], completeHolders: 2, partialHolders: 1 },
  { fileId: 'f2'.padEnd(40, '0'), name: 'a-rather-long-file-name-for-a-phone-screen-holiday-video-2026.mkv', sizeBytes: 734_003_200, sharers: ['bob'], completeHolders: 0, partialHolders: 0 },
];

/** friends' history: alice made it at 3; bob asked (5) and was let in (6); carol asked (8) and was turned down (11); alice shared notes.txt (9), bob too (12), and alice stopped (14). */
export const TIMELINE: GroupTimeline = {
  group: 'friends',
  entries: [
    { index: 3, timeMs: Date.UTC(2026, 10, 1, 9, 0, 0), event: { type: 'GroupCreated', group: 'friends', owner: 'alice' } },
    { index: 5, timeMs: Date.UTC(2026, 10, 1, 9, 5, 0), event: { type: 'JoinRequested', group: 'friends', user: 'bob' } },
    { index: 6, timeMs: Date.UTC(2026, 10, 1, 9, 6, 0), event: { type: 'JoinAccepted', group: 'friends', user: 'bob', by: 'alice' } },
    { index: 8, timeMs: Date.UTC(2026, 10, 1, 9, 8, 0), event: { type: 'JoinRequested', group: 'friends', user: 'carol' } },
    { index: 9, timeMs: Date.UTC(2026, 10, 1, 9, 9, 0), event: { type: 'FileShared', group: 'friends', fileId: FILES[0]!.fileId, name: 'notes.txt', sizeBytes: 1536, user: 'alice' } },
    { index: 11, timeMs: Date.UTC(2026, 10, 1, 9, 11, 0), event: { type: 'JoinRejected', group: 'friends', user: 'carol', by: 'alice' } },
    { index: 12, timeMs: Date.UTC(2026, 10, 1, 9, 12, 0), event: { type: 'SharerAdded', group: 'friends', fileId: FILES[0]!.fileId, user: 'bob' } },
    { index: 14, timeMs: Date.UTC(2026, 10, 1, 9, 14, 0), event: { type: 'SharerRemoved', group: 'friends', fileId: FILES[0]!.fileId, user: 'alice' } },
  ],
};

/** The members of the groups alice is in (list_members answers only for those). */
export const MEMBERS: Readonly<Record<string, GroupMembers>> = {
  friends: { group: 'friends', owner: 'alice', members: [{ user: 'alice', joinedIndex: 3 }, { user: 'bob', joinedIndex: 6 }] },
  work: { group: 'work', owner: 'bob', members: [{ user: 'bob', joinedIndex: 1 }, { user: 'carol', joinedIndex: 2 }, { user: 'alice', joinedIndex: 4 }] },
};

const notAMember = (group: string | undefined) => ({ error: { code: 'NOT_A_MEMBER', message: `you are not a member of ${group}` }, httpStatus: 409 });

/** group_timeline as the shell answers it: `<group>` for the whole history, `<group> --after INDEX` for the entries after INDEX. */
export function timelineCommand(timeline: GroupTimeline): CommandHandler {
  return ([group, flag, after, ...more]) => {
    if (group !== timeline.group) return notAMember(group);
    if (flag === undefined) return { result: timeline };
    if (flag !== '--after' || !/^(0|[1-9][0-9]*)$/.test(after ?? '') || more.length > 0) {
      return { error: { code: 'BAD_ARGUMENTS', message: 'usage: group_timeline <group_id> [--after INDEX]' }, httpStatus: 400 };
    }
    return { result: { group, entries: timeline.entries.filter((entry) => entry.index > Number(after)) } };
  };
}

function download(id: number, name: string, state: WebDownload['state'], pieces: string, extra: Partial<WebDownload> = {}): WebDownload {
  const verified = [...pieces].filter((mark) => mark === 'v').length;
  return {
    id,
    group: 'friends',
    name,
    fileId: `${id}`.padEnd(40, '0'),
    destination: `/home/alice/downloads/${name}`,
    partPath: state === 'complete' ? null : `/home/alice/downloads/${name}.part`,
    state,
    sizeBytes: pieces.length * PIECE_BYTES,
    verifiedBytes: verified * PIECE_BYTES,
    bytesPerSecond: 0,
    peers: 0,
    bytesFromPeer: {},
    bytesFromUser: {},
    counters: null,
    pieces,
    etaSeconds: null,
    ...extra,
  };
}

/** 40 pieces: 12 verified, 4 in flight, 24 missing — 30 %. */
export const RUNNING_PIECES = `${'v'.repeat(12)}${'f'.repeat(4)}${'-'.repeat(24)}`;

export const DOWNLOADS: WebDownload[] = [
  download(1, 'big.iso', 'running', RUNNING_PIECES, {
    bytesPerSecond: 1024 * 1024,
    etaSeconds: 28,
    peers: 2,
    bytesFromUser: { bob: 2 * 1024 * 1024, carol: 1024 * 1024 },
    bytesFromPeer: { '10.0.0.2:7001': 2 * 1024 * 1024, '10.0.0.3:7001': 1024 * 1024 },
  }),
  download(2, 'notes.txt', 'waiting', '----', { waiting: { code: 'WAITING_FOR_HOLDERS', message: 'nobody holding notes.txt is online', holders: [] } }),
  download(3, 'photo.jpg', 'failed', 'vv--', { failure: { code: 'PIECE_HASH_MISMATCH', message: 'piece 2 failed its hash three times' } }),
  download(4, 'done.pdf', 'complete', 'vvvv'),
];

export const CLUSTER: ClusterView = {
  leader: 'n1',
  nodes: [
    { address: '127.0.0.1:6001', id: 'n1', role: 'leader', term: 4, leader: 'n1', commit: 14, applied: 14, failure: null },
    { address: '127.0.0.1:6002', id: 'n2', role: 'follower', term: 4, leader: 'n1', commit: 14, applied: 13, failure: null },
    { address: '127.0.0.1:6003', id: null, role: null, term: null, leader: null, commit: null, applied: null, failure: 'unreachable' },
  ],
};

export function webState(): WebState {
  return { status: STATUS, downloads: DOWNLOADS, cluster: CLUSTER, news: [{ index: 8, line: 'carol asked to join friends' }], webRoots: ['/home/alice'] };
}

const ok =
  (result: unknown): CommandHandler =>
  () => ({ result });

/** The commands the page runs, answered from the fixtures above. */
export function fixtureCommands(): Record<string, CommandHandler> {
  return {
    list_groups: ok(GROUPS),
    list_requests: ([group]) => ({ result: group === 'friends' ? [{ user: 'carol', requestedIndex: 8 }] : [] }),
    list_files: ok(FILES),
    group_timeline: timelineCommand(TIMELINE),
    list_members: ([group]) => (group !== undefined && MEMBERS[group] !== undefined ? { result: MEMBERS[group] } : notAMember(group)),
    join_group: ([group]) => (group === 'chess' ? { error: { code: 'ALREADY_REQUESTED', message: `you asked to join ${group} already` }, httpStatus: 409 } : { result: 20 }),
    accept_request: ok(21),
    reject_request: ok(22),
    pause_download: ([id]) => ({ result: DOWNLOADS.find((d) => String(d.id) === id) }),
    resume_download: ([id]) => ({ result: DOWNLOADS.find((d) => String(d.id) === id) }),
    cancel_download: ([id]) => ({ result: { id: Number(id), name: 'x', removed: null } }),
    stop_share: ([group, name]) => ({ result: { group, name } }),
    upload_file: ([path, group]) => ({ result: { group, name: path!.split('/').pop(), fileId: 'f9'.padEnd(40, '0'), sizeBytes: 10 } }),
    download_file: ([group, name, destination]) => ({ result: { download: 5, group, name, destination: `${destination}/${name}`, state: 'running' } }),
    login: ([user]) => ({ result: { user, resumed: [], downloads: { resumed: [], paused: [] }, news: [] } }),
    logout: ok({ user: 'alice' }),
  };
}
