// `clique audit` on a store written by the real apply path on a real LevelDB: history in text
// and JSON, a group's state as of an index, --verify, --against, a locked store, bad usage.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RULES_VERSION } from '../../src/log/domain/rules.js';
import type { AuditRecord } from '../../src/log/store/audit.js';
import { TrackerStore, type TermEntry } from '../../src/log/store/tracker-store.js';
import { createRealWorld } from '../../src/world/real/real-world.js';
import type { KvStore } from '../../src/world/world.js';
import { authFor, fileBytes, fileMeta, passwordRecord, tokenHashOf } from '../helpers/domain-fixtures.js';
import { makeWorkload } from '../helpers/workload.js';

const CLI = new URL('../../dist/cli/clique.cjs', import.meta.url).pathname;
const world = createRealWorld();
const root = mkdtempSync(join(tmpdir(), 'clique-audit-'));

function clique(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The story of the original assignment, as entries: a group, requests, a refusal, a share. */
function story(): TermEntry[] {
  const alice = authFor('session-alice', 'token-alice');
  const bob = authFor('session-bob', 'token-bob');
  const commands: unknown[] = [
    { type: 'CreateUser', user: 'alice', password: passwordRecord('a') },
    { type: 'CreateUser', user: 'bob', password: passwordRecord('b') },
    { type: 'OpenSession', user: 'alice', sessionId: 'session-alice', tokenHash: tokenHashOf('token-alice'), observed: { host: '127.0.0.1', port: 7001 }, reachable: true, credentialsIndex: 1 },
    { type: 'OpenSession', user: 'bob', sessionId: 'session-bob', tokenHash: tokenHashOf('token-bob'), observed: { host: '127.0.0.1', port: 7002 }, reachable: true, credentialsIndex: 2 },
    { type: 'CreateGroup', auth: alice, group: 'g1' },
    { type: 'RequestJoin', auth: bob, group: 'g1' },
    { type: 'AcceptRequest', auth: bob, group: 'g1', user: 'bob' }, // #7: denied, bob is not the owner
    { type: 'AcceptRequest', auth: alice, group: 'g1', user: 'bob' },
    { type: 'ShareFile', auth: alice, group: 'g1', file: fileMeta('notes.txt', fileBytes(1234)) },
    null, // a leader's no-op
    { type: 'LeaveGroup', auth: alice, group: 'g1' }, // #11: bob becomes the owner
  ];
  return commands.map((command, i) => ({
    index: i + 1,
    term: 1,
    timeMs: 1_700_000_000_000 + i * 1000,
    clientId: command === null ? null : 'cli-test',
    requestId: command === null ? null : i + 1,
    rulesVersion: RULES_VERSION,
    command,
  }));
}

async function writeStore(dir: string, entries: TermEntry[]): Promise<void> {
  const kv = await world.kv.open(dir, { createIfMissing: true });
  const store = await TrackerStore.open(kv, { snapshotEveryEntries: 100 });
  for (let at = 0; at < entries.length; at += 3) await store.apply(entries.slice(at, at + 3), { sync: true });
  await kv.close();
}

const storyDir = join(root, 'story');
const copyDir = join(root, 'copy');
const bigDir = join(root, 'big');
const otherDir = join(root, 'other');
const workload = makeWorkload(99, 500);
const offsetEntries = (entries: TermEntry[], by: number): TermEntry[] => entries.map((e) => ({ ...e, index: e.index + by }));

beforeAll(async () => {
  await writeStore(storyDir, story());
  await writeStore(copyDir, story());
  await writeStore(otherDir, workload.entries);
  await writeStore(bigDir, [...story(), ...offsetEntries(workload.entries, story().length)].map((e) => ({ ...e })));
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('clique audit', () => {
  it('prints the history in text: who, what, when, at which index, denied attempts included', () => {
    const { status, stdout } = clique('audit', '--data', storyDir);
    expect(status).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(12);
    expect(lines[4]).toMatch(/^#5 t1 2023-11-14 22:13:24\.000 alice CreateGroup g1 -> GroupCreated\(group=g1 owner=alice\)$/);
    expect(lines[6]).toMatch(/^#7 .* bob AcceptRequest g1 bob -> DENIED NOT_OWNER: only g1's owner answers join requests$/);
    expect(lines[9]).toMatch(/^#10 .*\(leader no-op\)$/);
    expect(lines[10]).toContain('OwnershipTransferred(group=g1 from=alice to=bob)');
    expect(lines[11]).toBe('-- 11 of 11 applied entries replayed');
    expect(stdout).not.toContain('token-alice');
    expect(stdout).not.toContain(tokenHashOf('token-alice'));
  });

  it('prints one JSON document with every entry, secrets redacted', () => {
    const { status, stdout } = clique('audit', '--data', storyDir, '--json');
    expect(status).toBe(0);
    const report = JSON.parse(stdout) as { entries: AuditRecord[]; appliedIndex: number; asOfIndex: number };
    expect(report.appliedIndex).toBe(11);
    expect(report.entries.map((e) => e.outcome)).toEqual(['applied', 'applied', 'applied', 'applied', 'applied', 'applied', 'rejected', 'applied', 'applied', 'noop', 'applied']);
    expect(report.entries[6]).toMatchObject({ index: 7, actor: 'bob', command: 'AcceptRequest', error: { code: 'NOT_OWNER' } });
    expect(stdout).not.toContain(tokenHashOf('token-bob'));
    expect(stdout).not.toContain(passwordRecord('a').hash);
  });

  it("tells a group's history and its state as of an index", () => {
    const { status, stdout } = clique('audit', '--data', storyDir, '--group', 'g1', '--as-of', '8');
    expect(status).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines.slice(0, 4).map((l) => l.split(' ')[0])).toEqual(['#5', '#6', '#7', '#8']);
    expect(stdout).toContain('group g1 as of #8 (created at #5)');
    expect(stdout).toContain('  owner: alice');
    expect(stdout).toContain('  members: alice (#5), bob (#8)');
    const json = JSON.parse(clique('audit', '--data', storyDir, '--group', 'g1', '--json').stdout) as { group: { owner: string; members: { user: string }[] } };
    expect(json.group.owner).toBe('bob');
    expect(json.group.members.map((m) => m.user)).toEqual(['bob']);
  });

  it("tells a user's history and state", () => {
    const { stdout } = clique('audit', '--data', storyDir, '--user', 'bob');
    expect(stdout).toContain('user bob as of #11: registered');
    expect(stdout).toContain('  owner of g1');
    expect(stdout).toContain('  session session-bob at 127.0.0.1:7002 since #4');
  });

  it('--verify passes on an intact store and names the first bad entry of a damaged one', async () => {
    expect(clique('audit', '--data', bigDir, '--verify')).toMatchObject({ status: 0, stdout: expect.stringMatching(/^verify ok: 511 entries, chain head [0-9a-f]{64}\n$/) });
    const kv: KvStore = await world.kv.open(bigDir, { createIfMissing: false });
    let target: { key: string; value: Uint8Array } | null = null;
    const entry300 = /(^|\n)([0-9a-f]{64} \[1,300,\d+,)(\d)/;
    for await (const chunk of kv.iterate({ gte: 'seg:', lt: 'seg:~' })) {
      for (const [key, value] of chunk) if (!target && entry300.test(Buffer.from(value).toString())) target = { key, value: Uint8Array.from(value) };
    }
    const text = Buffer.from(target!.value).toString();
    // One digit of entry 300's time, changed.
    const damaged = text.replace(entry300, (_m, start: string, head: string, digit: string) => start + head + String((Number(digit) + 1) % 10));
    expect(damaged).not.toBe(text);
    await kv.batch([{ type: 'put', key: target!.key, value: Buffer.from(damaged) }], { sync: true });
    await kv.close();
    const result = clique('audit', '--data', bigDir, '--verify');
    expect(result.status).toBe(1);
    expect(result.stdout).toMatch(/^verify FAILED at entry #300: hash does not match/);
  });

  it('--against finds no divergence between two nodes with the same history, and names the first one otherwise', () => {
    expect(clique('audit', '--data', storyDir, '--against', copyDir)).toMatchObject({ status: 0, stdout: `against ${copyDir}: no divergence in 11 common entries\n` });
    const ahead = clique('audit', '--data', storyDir, '--against', bigDir);
    expect(ahead.status).toBe(0); // bigDir starts with the same 11 entries: it is ahead, not divergent
    expect(ahead.stdout).toContain('no divergence in 11 common entries');
    const diverged = clique('audit', '--data', storyDir, '--against', otherDir);
    expect(diverged).toMatchObject({ status: 1, stdout: `against ${otherDir}: first divergence at entry #1 (0 entries agree before it)\n` });
  });

  it('refuses a store that a running node holds, with one clear line', async () => {
    const kv = await world.kv.open(storyDir, { createIfMissing: false });
    try {
      const { status, stdout, stderr } = clique('audit', '--data', storyDir);
      expect(status).toBe(1);
      expect(stdout).toBe('');
      expect(stderr).toMatch(/^error STORE_LOCKED: .* is in use by a running tracker; stop that node, or ask the live cluster with --cluster FILE\n$/);
    } finally {
      await kv.close();
    }
  });

  it('exits 1 for a missing store and 2 for bad usage', () => {
    expect(clique('audit', '--data', join(root, 'nothing-here'))).toMatchObject({ status: 1, stderr: expect.stringMatching(/^error STORE_NOT_FOUND: /) });
    expect(clique('audit').status).toBe(2);
    expect(clique('audit', '--data', storyDir, '--as-of', 'soon').status).toBe(2);
    expect(clique('audit', '--data', storyDir, '--frobnicate').status).toBe(2);
    expect(clique('no-such-command').status).toBe(2);
    expect(clique('--help')).toMatchObject({ status: 0, stdout: expect.stringContaining('audit [options]') });
    expect(clique('audit', '--help')).toMatchObject({ status: 0, stdout: expect.stringContaining('--as-of <index>') });
  });
});
