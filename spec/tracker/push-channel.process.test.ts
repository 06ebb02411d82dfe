// The push channel across a kill -9 of the node that holds it (issue 13): Alice's shell
// subscribes (to the node her session id draws: it stays there, leader or follower, issue 20),
// Bob keeps making things happen in her group, that node is killed while it holds her stream,
// and Bob goes on. Her shell subscribes again elsewhere from the last index it saw: at the end,
// the indices of her news are exactly the entries of the archive whose events concern her —
// none missed, none twice.

import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventsFor } from '../../src/log/domain/queries.js';
import { TrackerStore } from '../../src/log/store/tracker-store.js';
import { ok, ShellProcess } from '../helpers/peer-processes.js';
import { TrackerProcesses, until } from '../helpers/tracker-processes.js';

const cluster = new TrackerProcesses();
const dir = mkdtempSync(join(tmpdir(), 'clique-push-'));
const shells: ShellProcess[] = [];

function shell(name: string): ShellProcess {
  const s = new ShellProcess(['--cluster', cluster.clusterPath, '--home', join(dir, `home-${name}`)]);
  shells.push(s);
  return s;
}

beforeAll(async () => {
  await cluster.init(3);
  cluster.startAll();
  await until('a leader', async () => cluster.leader(), 30_000);
});

afterAll(async () => {
  for (const s of shells) s.kill('SIGKILL');
  await cluster.dispose();
  rmSync(dir, { recursive: true, force: true });
});

interface Status {
  pushChannel: string | null;
}

describe('the push channel', () => {
  it('misses nothing and repeats nothing across the kill -9 of the node that held it', async () => {
    const alice = shell('alice');
    const bob = shell('bob');
    ok(await alice.run('create_user alice pw-a', 'login alice pw-a', 'create_group news'));
    ok(await bob.run('create_user bob pw-b', 'login bob pw-b'));
    const holderClient = await until('her push channel', async () => {
      const [status] = ok(await alice.run('status'));
      return (status as Status).pushChannel;
    });
    const holder = cluster.config.nodes.find((n) => n.client === holderClient)!.id;

    // Things happen in her group, before and after the node holding her stream dies.
    const round = async (i: number): Promise<void> => {
      ok(await bob.run('join_group news'));
      ok(await alice.run(`accept_request news bob`));
      ok(await bob.run('leave_group news', `create_group elsewhere-${i}`));
    };
    for (let i = 0; i < 3; i++) await round(i);
    await cluster.kill9(holder);
    for (let i = 3; i < 6; i++) await round(i);
    await until('the push channel elsewhere', async () => {
      const [status] = ok(await alice.run('status'));
      const at = (status as Status).pushChannel;
      return at !== null && at !== holderClient ? true : null;
    });
    const last = await until('the survivors to apply the same index', async () => {
      const survivors = [...(await cluster.statuses())].filter(([id]) => id !== holder).map(([, status]) => status);
      if (survivors.some((status) => status === null)) return null;
      const applied = new Set(survivors.map((status) => status!.applied));
      return applied.size === 1 && survivors[0]!.applied === survivors[0]!.commit ? survivors[0]!.applied : null;
    });
    const news = await until('her news up to the last entry about her', async () => {
      const [items] = ok(await alice.run('news'));
      const list = items as Array<{ index: number }>;
      return list.length > 0 && list.at(-1)!.index >= last - 2 ? list : null;
    });

    // What the archive says concerns her, from a surviving node's store.
    const survivor = cluster.config.nodes.find((n) => n.id !== holder)!.id;
    await cluster.stopAll();
    const copy = join(dir, 'store');
    cpSync(join(cluster.dataDir(survivor), 'tracker'), copy, { recursive: true });
    const kv = await cluster.world.kv.open(copy, { createIfMissing: false });
    const store = await TrackerStore.open(kv);
    const entries = [];
    for await (const batch of store.archiveFrom(1)) entries.push(...batch);
    // Her channel starts after her login: the last session she opened before her first news.
    const loginIndex = Math.max(...entries.filter((e) => e.index < news[0]!.index && e.events.some((ev) => ev.type === 'SessionOpened' && ev.user === 'alice')).map((e) => e.index));
    const expected = entries.filter((e) => e.index > loginIndex && eventsFor(store.state, 'alice', e.events).length > 0).map((e) => e.index);
    await kv.close();
    const received = news.map((item) => item.index);
    expect(new Set(received).size).toBe(received.length);
    expect(received.filter((index) => index > loginIndex)).toEqual(expected.filter((index) => index <= received.at(-1)!));
    expect(received.length).toBeGreaterThan(12);
  }, 120_000);
});
