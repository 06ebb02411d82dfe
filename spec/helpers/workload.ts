// A seeded workload of tracker entries — mostly meaningful commands, plus refusals, retries,
// leader no-ops and garbage — generated against a reference state so logins name the right
// credentials. The same seed gives the same entries.

import { applyEntry, type ProposedEntry } from '../../src/log/domain/entry.js';
import { MemoryPieceLists } from '../../src/log/domain/piece-lists.js';
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
      command = { type: 'OpenSession', user, sessionId: id, tokenHash: tokenHashOf(token), observed: { host: `10.0.0.${pick(250) + 1}`, port: 6881 }, reachable: true, credentialsIndex: state.users.get(user)?.credentialsIndex ?? 0 };
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
