// Model-based test of the tracker domain (fast-check `commands`): after any sequence of commands
// the projection answers every query as a deliberately naive model does, and the invariants hold.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/torrent/canonical.js';
import type { Command } from '../../src/log/domain/commands.js';
import type { FileMeta } from '../../src/torrent/file-meta.js';
import { isDomainError } from '../../src/log/domain/errors.js';
import { listFiles, listGroups, listRequests } from '../../src/log/domain/queries.js';
import { encodeState } from '../../src/log/domain/snapshot.js';
import { authFor, Driver, fileBytes, fileMeta, tokenHashOf } from '../helpers/domain-fixtures.js';

const USERS = ['alice', 'bob', 'carol', 'dave'] as const;
const GROUPS = ['g1', 'g2'] as const;
// Two files, and a third with the first one's name but other bytes (FILE_NAME_TAKEN).
const FILES: FileMeta[] = [fileMeta('a.txt', fileBytes(1000, 1)), fileMeta('b.bin', fileBytes(600_000, 2)), fileMeta('a.txt', fileBytes(1000, 3))];

interface ModelSession {
  id: string;
  user: string;
  token: string;
  alive: boolean;
}
interface ModelFile {
  meta: FileMeta;
  sharers: Set<string>;
  holders: Map<string, boolean>;
}
interface ModelGroup {
  owner: string;
  members: string[]; // join order
  pending: Set<string>;
  files: ModelFile[];
}
interface Model {
  users: Set<string>;
  sessions: ModelSession[];
  groups: Map<string, ModelGroup>;
  secrets: string[];
}

type Step =
  | { kind: 'createUser'; user: string }
  | { kind: 'login'; user: string }
  | { kind: 'logout' | 'expire'; session: number }
  | { kind: 'createGroup' | 'join' | 'leave'; session: number; group: string }
  | { kind: 'accept' | 'reject'; session: number; group: string; user: string }
  | { kind: 'share' | 'hold' | 'drop' | 'stopShare'; session: number; group: string; file: number };

/** Session picks 0–5 name a live session, 6–7 any session, live or dead (NOT_LOGGED_IN paths). */
function sessionOf(model: Model, index: number): ModelSession {
  const alive = model.sessions.filter((s) => s.alive);
  if (index < 6 && alive.length > 0) return alive[index % alive.length]!;
  return model.sessions[index % Math.max(1, model.sessions.length)] ?? { id: 'no-such-session', user: '?', token: 'none', alive: false };
}

function removeUserFromFile(group: ModelGroup, file: ModelFile, user: string, model: Model): boolean {
  let changed = false;
  for (const [sessionId] of file.holders) {
    if (model.sessions.find((s) => s.id === sessionId)?.user === user) {
      file.holders.delete(sessionId);
      changed = true;
    }
  }
  if (file.sharers.delete(user)) changed = true;
  if (file.sharers.size === 0) group.files.splice(group.files.indexOf(file), 1);
  return changed;
}

/** The naive model: what the reply should be, and the model's new state. */
function expectAndUpdate(model: Model, step: Step): string {
  if (step.kind === 'createUser') {
    if (model.users.has(step.user)) return 'USER_EXISTS';
    model.users.add(step.user);
    return 'OK';
  }
  if (step.kind === 'login') {
    if (!model.users.has(step.user)) return 'BAD_CREDENTIALS';
    model.sessions.push({ id: `session-${model.sessions.length}`, user: step.user, token: `tok-${model.sessions.length}-${step.user}`, alive: true });
    return 'OK';
  }
  const session = sessionOf(model, step.session);
  if (step.kind === 'expire') {
    if (!session.alive) return 'NO_SUCH_SESSION';
  } else if (!session.alive) {
    return 'NOT_LOGGED_IN';
  }
  const user = session.user;
  if (step.kind === 'logout' || step.kind === 'expire') {
    session.alive = false;
    for (const group of model.groups.values()) for (const file of group.files) file.holders.delete(session.id);
    return 'OK';
  }
  if (!('group' in step)) throw new Error('unreachable: every other step names a group');
  if (step.kind === 'createGroup') {
    if (model.groups.has(step.group)) return 'GROUP_EXISTS';
    model.groups.set(step.group, { owner: user, members: [user], pending: new Set(), files: [] });
    return 'OK';
  }
  const group = model.groups.get(step.group);
  if (!group) return 'NO_SUCH_GROUP';
  switch (step.kind) {
    case 'join':
      if (group.members.includes(user)) return 'ALREADY_MEMBER';
      if (group.pending.has(user)) return 'REQUEST_PENDING';
      group.pending.add(user);
      return 'OK';
    case 'accept':
    case 'reject':
      if (group.owner !== user) return 'NOT_OWNER';
      if (!group.pending.has(step.user)) return 'NO_SUCH_REQUEST';
      group.pending.delete(step.user);
      if (step.kind === 'accept') group.members.push(step.user);
      return 'OK';
    case 'leave':
      if (!group.members.includes(user)) return 'NOT_A_MEMBER';
      for (const file of [...group.files]) removeUserFromFile(group, file, user, model);
      group.members.splice(group.members.indexOf(user), 1);
      if (group.members.length === 0) model.groups.delete(step.group);
      else if (group.owner === user) group.owner = group.members[0]!;
      return 'OK';
    default:
      break;
  }
  if (!group.members.includes(user)) return 'NOT_A_MEMBER';
  if (!('file' in step)) throw new Error('unreachable: every other step names a file');
  const meta = FILES[step.file]!;
  const byId = group.files.find((f) => f.meta.fileId === meta.fileId);
  switch (step.kind) {
    case 'share': {
      const byName = group.files.find((f) => f.meta.name === meta.name);
      if (byName && byName.meta.fileId !== meta.fileId) return 'FILE_NAME_TAKEN';
      const file = byId ?? { meta, sharers: new Set<string>(), holders: new Map<string, boolean>() };
      if (!byId) group.files.push(file);
      file.sharers.add(user);
      file.holders.set(session.id, true);
      return 'OK';
    }
    case 'hold':
      if (!byId) return 'NO_SUCH_FILE';
      if (!byId.holders.has(session.id)) byId.holders.set(session.id, false);
      return 'OK';
    case 'drop':
      if (!byId) return 'NO_SUCH_FILE';
      byId.holders.delete(session.id);
      return 'OK';
    case 'stopShare': {
      const byName = group.files.find((f) => f.meta.name === meta.name);
      if (!byName) return 'NO_SUCH_FILE';
      return removeUserFromFile(group, byName, user, model) ? 'OK' : 'NOT_SHARING';
    }
  }
}

function commandOf(model: Model, step: Step): Command {
  if (step.kind === 'createUser') return { type: 'CreateUser', user: step.user, password: passwordFor(step.user) };
  if (step.kind === 'login') {
    throw new Error('login is built by the runner');
  }
  const session = sessionOf(model, step.session);
  const auth = authFor(session.id, session.token);
  switch (step.kind) {
    case 'logout':
      return { type: 'CloseSession', auth };
    case 'expire':
      return { type: 'ExpireSession', sessionId: session.id };
    case 'createGroup':
      return { type: 'CreateGroup', auth, group: step.group };
    case 'join':
      return { type: 'RequestJoin', auth, group: step.group };
    case 'leave':
      return { type: 'LeaveGroup', auth, group: step.group };
    case 'accept':
      return { type: 'AcceptRequest', auth, group: step.group, user: step.user };
    case 'reject':
      return { type: 'RejectRequest', auth, group: step.group, user: step.user };
    case 'share':
      return { type: 'ShareFile', auth, group: step.group, file: FILES[step.file]! };
    case 'hold':
      return { type: 'HoldPartial', auth, group: step.group, fileId: FILES[step.file]!.fileId };
    case 'drop':
      return { type: 'DropHolding', auth, group: step.group, fileId: FILES[step.file]!.fileId };
    case 'stopShare':
      return { type: 'StopShare', auth, group: step.group, name: FILES[step.file]!.name };
  }
}

function passwordFor(user: string): import('../../src/log/domain/commands.js').PasswordRecord {
  return { algorithm: 'scrypt', costN: 16, blockSizeR: 1, parallelP: 1, salt: '00'.repeat(16), hash: tokenHashOf(`hash-of-${user}`) };
}

function checkQueries(model: Model, driver: Driver): void {
  const state = driver.state;
  for (const user of USERS) {
    const expected = [...model.groups]
      .map(([name, g]) => ({
        group: name,
        owner: g.owner,
        memberCount: g.members.length,
        relation: g.owner === user ? 'owner' : g.members.includes(user) ? 'member' : g.pending.has(user) ? 'pending' : 'none',
      }))
      .sort((a, b) => (a.group < b.group ? -1 : 1));
    expect(listGroups(state, user)).toEqual(expected);
    for (const groupName of GROUPS) {
      const group = model.groups.get(groupName);
      const files = listFiles(state, user, groupName);
      const requests = listRequests(state, user, groupName);
      if (!group) {
        expect(isDomainError(files) && files.code).toBe('NO_SUCH_GROUP');
        continue;
      }
      if (!group.members.includes(user)) {
        expect(isDomainError(files) && files.code).toBe('NOT_A_MEMBER'); // files visible only to members
      } else {
        const expectedFiles = group.files
          .map((f) => ({
            fileId: f.meta.fileId,
            name: f.meta.name,
            sizeBytes: f.meta.sizeBytes,
            sharers: [...f.sharers].sort(),
            completeHolders: [...f.holders.values()].filter(Boolean).length,
            partialHolders: [...f.holders.values()].filter((c) => !c).length,
          }))
          .sort((a, b) => (a.name < b.name ? -1 : 1));
        expect(files).toEqual(expectedFiles);
      }
      if (group.owner === user) expect(isDomainError(requests) ? requests.code : requests.map((r) => r.user).sort()).toEqual([...group.pending].sort());
      else expect(isDomainError(requests) && requests.code).toBe('NOT_OWNER');
    }
  }
  // Invariants straight on the projection.
  for (const group of state.groups.values()) {
    expect(group.members.has(group.owner)).toBe(true);
    for (const pending of group.requests.keys()) expect(group.members.has(pending)).toBe(false);
    for (const file of group.files.values()) for (const sharer of file.sharers) expect(group.members.has(sharer)).toBe(true);
  }
  for (const session of state.sessions.values()) {
    for (const key of session.holdings) {
      const [groupName, fileId] = key.split('\u0000') as [string, string];
      expect(state.groups.get(groupName)?.files.get(fileId)?.holders.has(session.sessionId)).toBe(true);
    }
  }
}

class StepCommand implements fc.Command<Model, Driver> {
  constructor(readonly step: Step) {}
  check(): boolean {
    return true;
  }
  run(model: Model, driver: Driver): void {
    const before = canonicalJson(encodeState(driver.state).groups) + canonicalJson(encodeState(driver.state).sessions);
    let applied;
    if (this.step.kind === 'login') {
      const id = `session-${model.sessions.length}`;
      const token = `tok-${model.sessions.length}-${this.step.user}`;
      model.secrets.push(token);
      applied = driver.login(this.step.user, id, token);
    } else {
      applied = driver.run(commandOf(model, this.step));
    }
    const expected = expectAndUpdate(model, this.step);
    expect(driver.code(applied)).toBe(expected);
    if (expected !== 'OK') {
      // A refusal is recorded as one CommandRejected event and changes nothing else.
      expect(applied.entry.events.map((e) => e.type)).toEqual(['CommandRejected']);
      const after = canonicalJson(encodeState(driver.state).groups) + canonicalJson(encodeState(driver.state).sessions);
      expect(after).toBe(before);
    }
    checkQueries(model, driver);
    // No secret (session token) in any entry, event or snapshot.
    const bytes = canonicalJson(applied.entry) + canonicalJson(encodeState(driver.state));
    for (const secret of model.secrets) expect(bytes.includes(secret)).toBe(false);
  }
  toString(): string {
    return JSON.stringify(this.step);
  }
}

const user = fc.constantFrom(...USERS);
const group = fc.constantFrom(...GROUPS);
const session = fc.nat({ max: 7 });
const file = fc.nat({ max: FILES.length - 1 });
const steps = [
  user.map((u) => new StepCommand({ kind: 'createUser', user: u })),
  user.map((u) => new StepCommand({ kind: 'login', user: u })),
  fc.tuple(fc.constantFrom('logout' as const, 'expire' as const), session).map(([kind, s]) => new StepCommand({ kind, session: s })),
  fc
    .tuple(fc.constantFrom('createGroup' as const, 'join' as const, 'join' as const, 'leave' as const), session, group)
    .map(([kind, s, g]) => new StepCommand({ kind, session: s, group: g })),
  fc.tuple(fc.constantFrom('accept' as const, 'accept' as const, 'reject' as const), session, group, user).map(
    ([kind, s, g, u]) => new StepCommand({ kind, session: s, group: g, user: u }),
  ),
  fc
    .tuple(fc.constantFrom('share' as const, 'share' as const, 'hold' as const, 'drop' as const, 'stopShare' as const), session, group, file)
    .map(([kind, s, g, f]) => new StepCommand({ kind, session: s, group: g, file: f })),
];

/** Every run starts with the four users registered and logged in once, so sequences go deep. */
function setup(): { model: Model; real: Driver } {
  const model: Model = { users: new Set(), sessions: [], groups: new Map(), secrets: [] };
  const real = new Driver();
  for (const u of USERS) {
    new StepCommand({ kind: 'createUser', user: u }).run(model, real);
    new StepCommand({ kind: 'login', user: u }).run(model, real);
  }
  return { model, real };
}

const weighted = [steps[0]!, steps[1]!, steps[2]!, steps[3]!, steps[3]!, steps[3]!, steps[4]!, steps[4]!, steps[5]!, steps[5]!, steps[5]!];

describe('the tracker domain against a naive model', () => {
  it('answers every query as the model does after any command sequence', () => {
    fc.assert(
      fc.property(fc.commands(weighted, { maxCommands: 120, size: 'max' }), (commands) => {
        fc.modelRun(setup, commands);
      }),
      { numRuns: 300 },
    );
  });

  it('passes ownership to the member who joined earliest by log index, and deletes an empty group', () => {
    const d = new Driver();
    for (const u of ['alice', 'bob', 'carol']) d.createUser(u);
    d.login('alice', 'session-a', 'ta');
    d.login('bob', 'session-b', 'tb');
    d.login('carol', 'session-c', 'tc');
    d.run({ type: 'CreateGroup', auth: authFor('session-a', 'ta'), group: 'g' });
    d.run({ type: 'RequestJoin', auth: authFor('session-c', 'tc'), group: 'g' });
    d.run({ type: 'RequestJoin', auth: authFor('session-b', 'tb'), group: 'g' });
    d.run({ type: 'AcceptRequest', auth: authFor('session-a', 'ta'), group: 'g', user: 'carol' }); // carol joins first
    d.run({ type: 'AcceptRequest', auth: authFor('session-a', 'ta'), group: 'g', user: 'bob' });
    const left = d.run({ type: 'LeaveGroup', auth: authFor('session-a', 'ta'), group: 'g' });
    expect(left.entry.events).toContainEqual({ type: 'OwnershipTransferred', group: 'g', from: 'alice', to: 'carol' });
    expect(d.state.groups.get('g')?.owner).toBe('carol');
    d.run({ type: 'LeaveGroup', auth: authFor('session-c', 'tc'), group: 'g' });
    const last = d.run({ type: 'LeaveGroup', auth: authFor('session-b', 'tb'), group: 'g' });
    expect(last.entry.events.map((e) => e.type)).toEqual(['MemberLeft', 'GroupDeleted']);
    expect(d.state.groups.has('g')).toBe(false);
  });

  it('makes re-sharing the same file idempotent, and a rejected user is not a member', () => {
    const d = new Driver();
    d.createUser('alice');
    d.createUser('bob');
    d.login('alice', 'session-a', 'ta');
    d.login('bob', 'session-b', 'tb');
    const alice = authFor('session-a', 'ta');
    d.run({ type: 'CreateGroup', auth: alice, group: 'g' });
    expect(d.run({ type: 'ShareFile', auth: alice, group: 'g', file: FILES[0]! }).entry.events.map((e) => e.type)).toEqual(['FileShared', 'HolderAdded']);
    const again = d.run({ type: 'ShareFile', auth: alice, group: 'g', file: FILES[0]! });
    expect(again.reply?.error).toBeNull();
    expect(again.entry.events).toEqual([]);
    d.run({ type: 'RequestJoin', auth: authFor('session-b', 'tb'), group: 'g' });
    d.run({ type: 'RejectRequest', auth: alice, group: 'g', user: 'bob' });
    const files = listFiles(d.state, 'bob', 'g');
    expect(isDomainError(files) && files.code).toBe('NOT_A_MEMBER');
  });
});
