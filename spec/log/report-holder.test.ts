// ReportHolder (issue 15, "holders the tracker can vouch for"): downloaders that banned a holder
// for pieces failing their SHA1 report it with the evidence; decide checks the evidence against
// the file; enough distinct members' reports delist the holder for that file (fileDetail stops
// listing it) for 24 h of entry time or until it shares the file anew; two colluders alone never
// delist anyone in a group of 4 or more.

import { describe, expect, it } from 'vitest';
import { formatRecord } from '../../src/cli/audit-format.js';
import type { Auth } from '../../src/log/domain/commands.js';
import { delistingThreshold } from '../../src/log/domain/decide.js';
import { fileDetail, listFiles } from '../../src/log/domain/queries.js';
import { RULES_VERSION } from '../../src/log/domain/rules.js';
import { encodeState } from '../../src/log/domain/snapshot.js';
import { allRecords, stateFromRecords } from '../../src/log/domain/records.js';
import { DELISTING_MS } from '../../src/log/domain/state.js';
import { fromBase64, toHex } from '../../src/torrent/bytes.js';
import { authFor, Driver, fileBytes, fileMeta } from '../helpers/domain-fixtures.js';

const FILE = fileMeta('movie.bin', fileBytes(1_300_000, 5));
const EXPECTED_1 = toHex(fromBase64(FILE.pieces)!.subarray(20, 40));
const GARBAGE = 'ab'.repeat(20);

/** `owner` creates g; `members` join; `liar` (one of them, or the owner) shares FILE. */
function group(members: string[], liar: string, owner = 'alice'): { d: Driver; auth: Record<string, Auth> } {
  const d = new Driver();
  const auth: Record<string, Auth> = {};
  for (const u of [owner, ...members]) {
    d.createUser(u);
    d.login(u, `session-${u}`, `t-${u}`);
    auth[u] = authFor(`session-${u}`, `t-${u}`);
  }
  d.run({ type: 'CreateGroup', auth: auth[owner]!, group: 'g' });
  for (const u of members) {
    d.run({ type: 'RequestJoin', auth: auth[u]!, group: 'g' });
    d.run({ type: 'AcceptRequest', auth: auth[owner]!, group: 'g', user: u });
  }
  expect(d.code(d.run({ type: 'ShareFile', auth: auth[liar]!, group: 'g', file: FILE }))).toBe('OK');
  return { d, auth };
}

function report(d: Driver, by: Auth, holder: string, evidence: Partial<{ pieceIndex: number; expectedSha1: string; receivedSha1: string; fileId: string }> = {}) {
  return d.run({ type: 'ReportHolder', auth: by, group: 'g', fileId: FILE.fileId, holder, pieceIndex: 1, expectedSha1: EXPECTED_1, receivedSha1: GARBAGE, ...evidence });
}

function listedUsers(d: Driver, viewer: string): string[] {
  const detail = fileDetail(d.state, viewer, 'g', { fileId: FILE.fileId });
  if ('code' in detail) throw new Error(detail.code);
  return detail.holders.map((h) => h.user);
}

const SIX = ['bob', 'carol', 'dave', 'erin', 'frank'];

describe('ReportHolder', () => {
  it('records a report with its evidence; three distinct members delist the holder in a group of 6', () => {
    const { d, auth } = group(SIX, 'bob');
    const first = report(d, auth.carol!, 'bob');
    expect(first.entry.events).toEqual([{ type: 'HolderReported', group: 'g', fileId: FILE.fileId, user: 'bob', reporter: 'carol', pieceIndex: 1, expectedSha1: EXPECTED_1, receivedSha1: GARBAGE }]);
    report(d, auth.dave!, 'bob');
    expect(listedUsers(d, 'alice')).toEqual(['bob']);
    const third = report(d, auth.erin!, 'bob');
    expect(third.entry.events.map((e) => e.type)).toEqual(['HolderReported', 'HolderDelisted']);
    expect(third.entry.events[1]).toEqual({ type: 'HolderDelisted', group: 'g', fileId: FILE.fileId, user: 'bob', reporters: ['carol', 'dave', 'erin'] });
    // For everyone, reporters or not; the holder's session stays a holder in the state.
    for (const viewer of ['alice', 'carol', 'frank']) expect(listedUsers(d, viewer)).toEqual([]);
    const files = listFiles(d.state, 'frank', 'g');
    expect('code' in files ? files : files[0]!.completeHolders).toBe(0);
    expect(d.state.groups.get('g')!.files.get(FILE.fileId)!.holders.size).toBe(1);
  });

  it('counts distinct reporters only: one member reporting many times delists nobody', () => {
    const { d, auth } = group(SIX, 'bob');
    for (let i = 0; i < 5; i++) expect(d.code(report(d, auth.carol!, 'bob', { pieceIndex: i % 3, expectedSha1: toHex(fromBase64(FILE.pieces)!.subarray((i % 3) * 20, (i % 3) * 20 + 20)) }))).toBe('OK');
    report(d, auth.dave!, 'bob');
    expect(d.applied.flatMap((a) => a.entry.events).some((e) => e.type === 'HolderDelisted')).toBe(false);
    expect(listedUsers(d, 'alice')).toEqual(['bob']);
  });

  it('refuses evidence that does not fit the file, and non-members, self-reports and non-holders', () => {
    const { d, auth } = group(['bob', 'carol', 'dave'], 'bob');
    d.createUser('mallory');
    d.login('mallory', 'session-mallory', 't-mallory');
    const mallory = authFor('session-mallory', 't-mallory');
    const cases: Array<[ReturnType<typeof report>, string]> = [
      [report(d, auth.carol!, 'bob', { pieceIndex: 3 }), 'BAD_EVIDENCE'], // 1.3 MB: pieces 0..2
      [report(d, auth.carol!, 'bob', { expectedSha1: GARBAGE }), 'BAD_EVIDENCE'], // not the file's hash of piece 1
      [report(d, auth.carol!, 'bob', { receivedSha1: EXPECTED_1 }), 'BAD_EVIDENCE'], // nothing wrong was received
      [report(d, auth.carol!, 'bob', { receivedSha1: 'AB'.repeat(20) }), 'BAD_EVIDENCE'],
      [report(d, auth.carol!, 'bob', { fileId: 'cd'.repeat(20) }), 'NO_SUCH_FILE'],
      [report(d, mallory, 'bob'), 'NOT_A_MEMBER'],
      [report(d, auth.bob!, 'bob'), 'CANNOT_REPORT_SELF'],
      [report(d, auth.carol!, 'dave'), 'NOT_A_HOLDER'],
    ];
    for (const [applied, code] of cases) {
      expect(d.code(applied)).toBe(code);
      expect(applied.entry.events).toEqual([expect.objectContaining({ type: 'CommandRejected', command: 'ReportHolder', code })]);
    }
    expect(d.state.groups.get('g')!.files.get(FILE.fileId)!.reports.size).toBe(0);
    expect(d.code(d.run({ type: 'ReportHolder', auth: auth.carol!, group: 'g', fileId: FILE.fileId, holder: 'bob', pieceIndex: -1, expectedSha1: EXPECTED_1, receivedSha1: GARBAGE }))).toBe('BAD_COMMAND');
  });

  it('does not exist under rules before version 6', () => {
    const { d, auth } = group(SIX, 'bob');
    const command = { type: 'ReportHolder', auth: auth.carol!, group: 'g', fileId: FILE.fileId, holder: 'bob', pieceIndex: 1, expectedSha1: EXPECTED_1, receivedSha1: GARBAGE };
    for (const version of [1, 2, 3, 4, 5]) expect(d.code(d.run(command, version))).toBe('BAD_COMMAND');
    expect(RULES_VERSION).toBeGreaterThanOrEqual(6);
    expect(d.code(d.run(command, RULES_VERSION))).toBe('OK');
  });

  it('two colluders cannot delist an honest owner in a group of 4 or 5; a small group needs more than half of all members', () => {
    expect([2, 3, 4, 5, 6, 7, 20].map(delistingThreshold)).toEqual([2, 2, 3, 3, 3, 3, 3]);
    for (const members of [['bob', 'carol', 'dave'], ['bob', 'carol', 'dave', 'erin']]) {
      const { d, auth } = group(members, 'alice');
      report(d, auth.bob!, 'alice');
      report(d, auth.carol!, 'alice');
      expect(listedUsers(d, 'dave')).toEqual(['alice']);
      // The owner is counted like anyone: a third member's report delists it.
      expect(report(d, auth.dave!, 'alice').entry.events.map((e) => e.type)).toEqual(['HolderReported', 'HolderDelisted']);
      expect(listedUsers(d, 'bob')).toEqual([]);
    }
    // In a group of 3 the two others agreeing is more than half.
    const { d, auth } = group(['bob', 'carol'], 'bob');
    report(d, auth.carol!, 'bob');
    expect(listedUsers(d, 'alice')).toEqual(['bob']);
    expect(report(d, auth.alice!, 'bob').entry.events.map((e) => e.type)).toEqual(['HolderReported', 'HolderDelisted']);
  });

  it('lists the holder again at the first entry 24 h after the delisting; reports older than 24 h do not count', () => {
    const { d, auth } = group(SIX, 'bob');
    report(d, auth.carol!, 'bob');
    report(d, auth.dave!, 'bob');
    const delisted = report(d, auth.erin!, 'bob');
    expect(listedUsers(d, 'alice')).toEqual([]);
    d.advanceMs(DELISTING_MS - 10_000);
    d.run({ type: 'CreateGroup', auth: auth.frank!, group: 'h' }); // any entry moves entry time on
    expect(d.applied.at(-1)!.entry.timeMs - delisted.entry.timeMs).toBeLessThan(DELISTING_MS);
    expect(listedUsers(d, 'alice')).toEqual([]);
    d.advanceMs(10_000);
    d.run({ type: 'CreateGroup', auth: auth.frank!, group: 'h2' });
    expect(d.applied.at(-1)!.entry.timeMs - delisted.entry.timeMs).toBeGreaterThanOrEqual(DELISTING_MS);
    expect(listedUsers(d, 'alice')).toEqual(['bob']);
    // The old reporters' reports went with the delisting: two new ones are not enough.
    report(d, auth.carol!, 'bob');
    report(d, auth.dave!, 'bob');
    expect(listedUsers(d, 'alice')).toEqual(['bob']);
    // And reports 24 h old have expired: a third member now does not reach three.
    d.advanceMs(DELISTING_MS);
    expect(report(d, auth.frank!, 'bob').entry.events.map((e) => e.type)).toEqual(['HolderReported']);
    expect(listedUsers(d, 'alice')).toEqual(['bob']);
  });

  it('sharing the file anew by hand clears the delisting and the reports against the holder; a login re-announce does not', () => {
    const { d, auth } = group(SIX, 'bob');
    report(d, auth.carol!, 'bob');
    report(d, auth.dave!, 'bob');
    report(d, auth.erin!, 'bob');
    report(d, auth.frank!, 'bob'); // recorded while delisted
    expect(listedUsers(d, 'alice')).toEqual([]);
    // What a shell sends for its remembered shares when it logs in again: the same copy, no word on it.
    expect(d.run({ type: 'ShareFile', auth: auth.bob!, group: 'g', file: FILE }).entry.events).toEqual([]);
    expect(listedUsers(d, 'alice')).toEqual([]);
    const shared = d.run({ type: 'ShareFile', auth: auth.bob!, group: 'g', file: FILE, anew: true });
    expect(shared.entry.events).toEqual([{ type: 'HolderReinstated', group: 'g', fileId: FILE.fileId, user: 'bob' }]);
    expect(listedUsers(d, 'alice')).toEqual(['bob']);
    const file = d.state.groups.get('g')!.files.get(FILE.fileId)!;
    expect([file.reports.size, file.delisted.size]).toEqual([0, 0]);
    // A re-share with nothing to clear changes nothing.
    expect(d.run({ type: 'ShareFile', auth: auth.bob!, group: 'g', file: FILE, anew: true }).entry.events).toEqual([]);
  });

  it('keeps reports and delistings through its records; a state without them encodes as before', () => {
    const { d, auth } = group(SIX, 'bob');
    expect(JSON.stringify(encodeState(d.state))).not.toMatch(/reports|delisted/);
    report(d, auth.carol!, 'bob');
    report(d, auth.dave!, 'bob');
    report(d, auth.erin!, 'bob');
    report(d, auth.frank!, 'bob');
    const copy = stateFromRecords(allRecords(d.state), d.state.appliedIndex, d.state.lastTimeMs);
    expect(copy).toEqual(d.state);
    expect(copy.groups.get('g')!.files.get(FILE.fileId)!.delisted.get('bob')!.reporters).toEqual(['carol', 'dave', 'erin']);
  });

  it('shows in the audit: the report with its evidence, and the delisting naming the reporters', () => {
    const { d, auth } = group(SIX, 'bob');
    report(d, auth.carol!, 'bob');
    report(d, auth.dave!, 'bob');
    const third = report(d, auth.erin!, 'bob');
    const line = formatRecord({
      index: third.entry.index,
      term: 1,
      timeMs: third.entry.timeMs,
      actor: 'erin',
      command: 'ReportHolder',
      outcome: 'applied',
      error: null,
      request: { type: 'ReportHolder', group: 'g', fileId: FILE.fileId, holder: 'bob', pieceIndex: 1 },
      events: third.entry.events,
    });
    expect(line).toContain(`erin ReportHolder g bob ${FILE.fileId} piece 1 -> HolderReported(group=g user=bob reporter=erin`);
    expect(line).toContain(`expectedSha1=${EXPECTED_1} receivedSha1=${GARBAGE}`);
    expect(line).toMatch(/HolderDelisted\(group=g user=bob reporters=carol,dave,erin fileId=[0-9a-f]{40}\)$/);
  });
});
