// Real processes on 127.0.0.1, run serially: three `clique tracker` processes under a client
// load; the leader killed with kill -9 (when a number of writes have been acknowledged, not on a
// timer); a new leader; the dead node restarted; every acknowledged write present on every node;
// then all three killed at once under load and restarted: nothing acknowledged lost. Finally the
// audit verifies all three stores and finds them identical.

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrackerClient } from '../../src/tracker/tracker-client.js';
import { TrackerProcesses, until } from '../helpers/tracker-processes.js';

const cluster = new TrackerProcesses();

/** Creates groups one after another until stopped (a small write, no key derivation); records every acknowledged one. */
class Load {
  readonly acknowledged: string[] = [];
  private stopped = false;
  private readonly done: Promise<void>;
  private readonly client: TrackerClient;

  constructor(prefix: string) {
    const client = cluster.client(`load-${prefix}`, { requestTimeoutMs: 1_000, deadlineMs: 30_000 });
    this.client = client;
    this.done = (async () => {
      await client.createUser(`user-${prefix}`, `pw-${prefix}`);
      const session = await client.login(`user-${prefix}`, `pw-${prefix}`, 6881);
      for (let i = 0; !this.stopped; i++) {
        const group = `${prefix}${i}`;
        await client.command(session, { type: 'CreateGroup', group }); // throws on a refusal
        this.acknowledged.push(group);
      }
    })();
  }

  async waitFor(count: number): Promise<void> {
    await until(`${count} acknowledged writes`, async () => (this.acknowledged.length >= count ? true : null));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
    this.client.close();
  }
}

function audit(...args: string[]): { status: number | null; stdout: string } {
  return cluster.cli('audit', ...args);
}

/** Groups whose CreateGroup applied, as the node's audit tells it. */
function groupsIn(id: string): Set<string> {
  const { stdout } = audit('--data', join(cluster.dataDir(id), 'tracker'), '--json');
  const report = JSON.parse(stdout) as { entries: { command: string; outcome: string; request: { group?: string } }[] };
  return new Set(report.entries.filter((e) => e.command === 'CreateGroup' && e.outcome === 'applied').map((e) => e.request.group!));
}

beforeAll(async () => {
  await cluster.init(3);
  cluster.startAll();
  await until('a leader', () => cluster.leader());
});

afterAll(() => cluster.dispose());

describe.sequential('three tracker processes', () => {
  it('survive kill -9 of the leader under load: a new leader, the node restarts and catches up, nothing acknowledged is lost', async () => {
    const load = new Load('a');
    await load.waitFor(100);
    const old = (await cluster.leader())!;
    await cluster.kill9(old);
    const killedAt = Date.now();
    const next = await until('a new leader', async () => {
      const id = await cluster.leader();
      return id !== null && id !== old ? id : null;
    });
    const electedInMs = Date.now() - killedAt;
    expect(next).not.toBe(old);
    expect(electedInMs).toBeLessThan(3_000); // election timeout is 200–400 ms; generous for a loaded CI machine
    const before = load.acknowledged.length;
    await load.waitFor(before + 100); // writes carry on under the new leader
    cluster.start(old);
    await load.stop();
    await cluster.allCaughtUp();
    await cluster.stopAll();
    for (const node of cluster.config.nodes) {
      const groups = groupsIn(node.id);
      for (const group of load.acknowledged) expect(groups.has(group), `${group} on ${node.id}`).toBe(true);
    }
  });

  it('survive kill -9 of all three at once under load: nothing acknowledged is lost', async () => {
    cluster.startAll();
    await until('a leader', () => cluster.leader());
    const load = new Load('b');
    await load.waitFor(50);
    await Promise.all(cluster.config.nodes.map((n) => cluster.kill9(n.id)));
    const acknowledged = load.acknowledged.slice();
    cluster.startAll();
    await load.stop();
    await cluster.allCaughtUp();
    await cluster.stopAll();
    for (const node of cluster.config.nodes) {
      const groups = groupsIn(node.id);
      for (const group of acknowledged) expect(groups.has(group), `${group} on ${node.id}`).toBe(true);
    }
  });

  it('leaves three stores that verify and are identical', () => {
    const verdicts = cluster.config.nodes.map((n) => audit('--data', join(cluster.dataDir(n.id), 'tracker'), '--verify'));
    for (const verdict of verdicts) expect(verdict).toMatchObject({ status: 0, stdout: expect.stringMatching(/^verify ok: \d+ entries, chain head [0-9a-f]{64}\n$/) });
    expect(new Set(verdicts.map((v) => v.stdout)).size).toBe(1);
    const [a, b, c] = cluster.config.nodes.map((n) => join(cluster.dataDir(n.id), 'tracker'));
    expect(audit('--data', a!, '--against', b!)).toMatchObject({ status: 0, stdout: expect.stringMatching(/no divergence/) });
    expect(audit('--data', a!, '--against', c!)).toMatchObject({ status: 0, stdout: expect.stringMatching(/no divergence/) });
    expect(audit('--data', a!).stdout).toBe(audit('--data', b!).stdout);
  });
});
