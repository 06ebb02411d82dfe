// A seeded workload of tracker entries — mostly meaningful commands, plus refusals, retries,
// leader no-ops and garbage — generated against a reference state so logins name the right
// credentials. The same seed gives the same entries.

import { applyEntry, type ProposedEntry } from '../../src/log/domain/entry.js';
import { MemoryPieceLists } from '../../src/log/domain/piece-lists.js';
import type { Auth } from '../../src/log/domain/commands.js';
import { fromBase64, toHex } from '../../src/torrent/bytes.js';
import { RULES_VERSION } from '../../src/log/domain/rules.js';
import { initialState, type TrackerState } from '../../src/log/domain/state.js';
import type { TermEntry } from '../../src/log/store/tracker-store.js';
import { authFor, fileBytes, fileMeta, passwordRecord, tokenHashOf } from './domain-fixtures.js';

export const USERS = ['alice', 'bob', 'carol', 'dave', 'erin'];
export const GROUPS = ['g1', 'g2', 'g3'];
export const FILES = [fileMeta('a.txt', fileBytes(10, 1)), fileMeta('b.bin', fileBytes(600_000, 2)), fileMeta('c.iso', fileBytes(3, 3))];

/** mulberry32: small, seeded, good enough to pick test actions. */
function prng(seed: number): (bound: number) => number {
  let a = seed >>> 0;
  return (bound: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % bound) as number;
  };
}

export interface Workload {
  entries: TermEntry[];
  /** The state after applying every entry, computed without any store. */
  reference: TrackerState;
  /** Session tokens used (secrets that must appear nowhere in a store). */
  tokens: string[];
}

export function makeWorkload(seed: number, count: number): Workload {
  const pick = prng(seed);
  const state = initialState();
  const pieces = new MemoryPieceLists();
  const apply = (entry: ProposedEntry): void => pieces.record(applyEntry(state, entry, pieces).entry.events);
  const sessions: { id: string; token: string }[] = [];
  const entries: TermEntry[] = [];
  const tokens: string[] = [];
  let timeMs = 1_700_000_000_000;
  let term = 1;
  const requestIds = new Map<string, number>();
  const choose = <T>(items: readonly T[]): T => items[pick(items.length)]!;

  for (let n = 0; n < count; n++) {
    const index = state.appliedIndex + 1;
    timeMs += pick(3) === 0 ? -500 : 1 + pick(2000); // sometimes a clock that goes back
    if (pick(50) === 0) term++;
    const clientId = `client-${pick(4)}`;
    const requestId = (requestIds.get(clientId) ?? 0) + 1;
    let command: unknown;
    const session = sessions.length > 0 ? choose(sessions) : { id: 'nosession', token: 'none' };
    const auth = authFor(session.id, session.token);
    const r = pick(100);
    if (r < 8) command = { type: 'CreateUser', user: choose(USERS), password: passwordRecord(`pw${n}`) };
    else if (r < 18) {
      const user = choose(USERS);
      const id = `session-${n}-${seed}`;
      const token = `token-${n}-${seed}-${pick(1_000_000)}`;
      tokens.push(token);
      sessions.push({ id, token });
      command = { type: 'OpenSession', user, sessionId: id, tokenHash: tokenHashOf(token), observed: { host: `10.0.0.${pick(250) + 1}`, port: 6881 }, reachable: true, credentialsIndex: state.users.get(user)?.credentialsIndex ?? 0, ...(pick(2) === 0 ? { refreshHash: tokenHashOf(`refresh-${n}-${seed}`) } : {}) };
    } else if (r < 21) command = { type: 'CloseSession', auth };
    else if (r < 23) command = { type: 'ExpireSession', sessionId: session.id };
    else if (r < 30) command = { type: 'CreateGroup', auth, group: choose(GROUPS) };
    else if (r < 42) command = { type: 'RequestJoin', auth, group: choose(GROUPS) };
    else if (r < 54) command = { type: pick(4) === 0 ? 'RejectRequest' : 'AcceptRequest', auth, group: choose(GROUPS), user: choose(USERS) };
    else if (r < 58) command = { type: 'LeaveGroup', auth, group: choose(GROUPS) };
    else if (r < 72) command = { type: 'ShareFile', auth, group: choose(GROUPS), file: choose(FILES) };
    else if (r < 78) command = { type: 'HoldPartial', auth, group: choose(GROUPS), fileId: choose(FILES).fileId };
    else if (r < 81) command = { type: 'DropHolding', auth, group: choose(GROUPS), fileId: choose(FILES).fileId };
    else if (r < 85) command = { type: 'StopShare', auth, group: choose(GROUPS), name: choose(FILES).name };
    else if (r < 89) command = null; // a new leader's no-op
    else if (r < 94 && entries.length > 0) {
      // A retry: the same client and request id again, through "another node".
      const previous = entries[entries.length - 1 - pick(Math.min(3, entries.length))]!;
      entries.push({ ...previous, index, timeMs, term });
      apply({ ...previous, index, timeMs });
      continue;
    } else command = choose([{ type: 'Nonsense' }, { type: 'CreateGroup', auth, group: 'bad/name' }, 'garbage', { type: 'CreateGroup', auth }]);
    const entry: ProposedEntry =
      command === null ? { index, timeMs, clientId: null, requestId: null, rulesVersion: RULES_VERSION, command } : { index, timeMs, clientId, requestId, rulesVersion: RULES_VERSION, command };
    if (command !== null) requestIds.set(clientId, requestId);
    entries.push({ ...entry, term });
    apply(entry);
  }
  return { entries, reference: state, tokens };
}

/**
 * The workload's entries with reports mixed in (about every fourth entry), renumbered. Most name
 * a member's session, a file of the group and a user who holds it, as the state stands then (so
 * the evidence is what decides them); the evidence is the piece's real SHA1 or a wrong one.
 */
export function withReports(entries: readonly TermEntry[], seed: number): TermEntry[] {
  let random = seed >>> 0;
  const pick = (bound: number): number => {
    random = (Math.imul(random, 1_103_515_245) + 12_345) >>> 0;
    return (random >>> 8) % bound;
  };
  const state = initialState();
  const lists = new MemoryPieceLists();
  const tokenHashes = new Map<string, string>();
  const out: TermEntry[] = [];
  let requestId = 0;
  const append = (entry: TermEntry): void => {
    out.push(entry);
    lists.record(applyEntry(state, entry, lists).entry.events);
  };
  for (const entry of entries) {
    const command = entry.command as { type?: string; sessionId?: string; tokenHash?: string } | null;
    if (command?.type === 'OpenSession') tokenHashes.set(command.sessionId!, command.tokenHash!);
    append({ ...entry, index: out.length + 1 });
    if (pick(4) !== 0) continue;
    const sessions = [...state.sessions.values()];
    const groups = [...state.groups.values()].filter((g) => g.files.size > 0);
    if (sessions.length === 0 || groups.length === 0) continue;
    const group = groups[pick(groups.length)]!;
    const file = [...group.files.values()][pick(group.files.size)]!;
    const members = sessions.filter((s) => group.members.has(s.user));
    const session = members.length > 0 && pick(5) !== 0 ? members[pick(members.length)]! : sessions[pick(sessions.length)]!;
    const holders = [...file.sharers, ...[...file.holders.values()].map((h) => h.user)].filter((u) => u !== session.user);
    const holder = holders.length > 0 && pick(5) !== 0 ? holders[pick(holders.length)]! : USERS[pick(USERS.length)]!;
    const hashes = fromBase64(lists.get(file.fileId)!)!;
    const pieceIndex = pick(hashes.length / 20 + 1); // sometimes one past the end
    const real = toHex(hashes.subarray(pieceIndex * 20, pieceIndex * 20 + 20));
    const expectedSha1 = pick(4) === 0 || real === '' ? 'ee'.repeat(20) : real;
    const auth: Auth = { sessionId: session.sessionId, tokenHash: tokenHashes.get(session.sessionId)! };
    append({
      index: out.length + 1,
      term: entry.term,
      timeMs: entry.timeMs,
      clientId: 'reporter',
      requestId: ++requestId,
      rulesVersion: RULES_VERSION,
      command: { type: 'ReportHolder', auth, group: group.group, fileId: file.fileId, holder, pieceIndex, expectedSha1, receivedSha1: '0f'.repeat(20) },
    });
  }
  return out;
}
