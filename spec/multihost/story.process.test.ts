// The seed's story between machines (issue 12), as the README's section on several machines
// tells it: three tracker hosts and four peer hosts, each in its own network namespace, every
// command with its default flags and no address typed anywhere but the cluster file; Carol sits
// behind a home router (NAT). Alice owns a group, Bob and Carol join, Dave is turned down; Alice
// shares a file; Bob downloads it from Alice, Carol from Alice and Bob at once, each peer known
// by the address the tracker saw; the tracker knows Carol cannot be dialed.

import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { MultiHostClique } from '../helpers/multihost.js';
import { describeMultiHost } from '../helpers/multihost-suite.js';
import { Lab, type Host } from '../helpers/netns.js';
import { ok } from '../helpers/peer-processes.js';

describeMultiHost('Clique on several machines', () => {
  let lab: Lab | null = null;
  let clique: MultiHostClique | null = null;
  afterAll(async () => {
    clique?.dispose();
    await lab?.destroy();
  });

  it('runs the story with the README commands, every peer reached at the address the tracker saw', async () => {
    lab = await Lab.create();
    const trackers: Host[] = [];
    for (const name of ['t1', 't2', 't3']) trackers.push(await lab.addHost(name));
    const [alice, bob, dave] = await Promise.all(['alice', 'bob', 'dave'].map((name) => lab!.addHost(name)));
    const carolsRouter = await lab.addRouter('carol-home');
    const carol = await lab.addHost('carol', { behind: carolsRouter });
    clique = new MultiHostClique({ hosts: trackers, addressOf: (host) => host.ipv4! });
    await clique.initCluster([...trackers, alice!, bob!, carol!, dave!]);
    for (const k of [1, 2, 3]) clique.startTracker(k);
    await clique.leader(alice!, 'cluster/cluster.json');

    const movie = randomBytes(3 * 1024 * 1024 + 4321);
    writeFileSync(join(clique.dirOf(alice!), 'movie.bin'), movie);
    const [a, b, c, d] = [alice!, bob!, carol!, dave!].map((host) => clique!.shell(host));
    ok(await a!.run('create_user alice pw-a', 'login alice pw-a', 'create_group film'));
    for (const [shell, name] of [[b!, 'bob'], [c!, 'carol'], [d!, 'dave']] as const) {
      ok(await shell.run(`create_user ${name} pw-${name}`, `login ${name} pw-${name}`, 'join_group film'));
    }
    ok(await a!.run('accept_request film bob', 'accept_request film carol', 'reject_request film dave', 'upload_file movie.bin film'));

    ok(await b!.run('download_file film movie.bin bob-movie.bin', 'wait'));
    expect(readFileSync(join(clique.dirOf(bob!), 'bob-movie.bin')).equals(movie)).toBe(true);
    const [bobShown] = ok(await b!.run('show_downloads'));
    const fromAlice = `${alice!.ipv4}:6881`;
    expect((bobShown as Array<{ counters: { bytesFromPeer: Record<string, number> } }>)[0]!.counters.bytesFromPeer).toEqual({ [fromAlice]: movie.length });

    const [files] = ok(await c!.run('list_files film'));
    expect(files).toEqual([expect.objectContaining({ name: 'movie.bin', sharers: ['alice', 'bob'], completeHolders: 2 })]);
    ok(await c!.run('download_file film movie.bin carol-movie.bin', 'wait'));
    expect(readFileSync(join(clique.dirOf(carol!), 'carol-movie.bin')).equals(movie)).toBe(true);
    const [carolShown] = ok(await c!.run('show_downloads'));
    const fromPeers = (carolShown as Array<{ counters: { bytesFromPeer: Record<string, number> } }>)[0]!.counters.bytesFromPeer;
    expect(Object.keys(fromPeers).sort()).toEqual([fromAlice, `${bob!.ipv4}:6881`].sort());
    expect(Object.values(fromPeers).reduce((sum, n) => sum + n, 0)).toBe(movie.length);

    const [carolStatus] = ok(await c!.run('status'));
    expect(carolStatus).toMatchObject({ address: `${carolsRouter.ipv4}:6881`, reachable: false });

    const [refused] = await d!.run('download_file film movie.bin dave-movie.bin');
    expect(refused).toMatchObject({ ok: false, error: { code: 'NOT_A_MEMBER' } });
    const daveDir = clique.dirOf(dave!);
    expect(() => readFileSync(join(daveDir, 'dave-movie.bin'))).toThrow();
    expect(await d!.end()).toBe(1);
    expect(await c!.end()).toBe(0);
    expect(await b!.end()).toBe(0);
  }, 180_000);
});
