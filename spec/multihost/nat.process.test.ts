// Peers behind home routers (issue 13), on network namespaces with NAT routers: the tracker
// learns at login that they cannot be dialed; one behind a router downloads from public holders
// and a public peer fetches its verified pieces over the link it dialed; a public peer downloads
// a file whose only holder is behind a router (the tracker asks the holder to dial back); and
// two peers behind two different routers are told NO_REACHABLE_SOURCES, naming the holder,
// within 10 s.

import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MultiHostClique } from '../helpers/multihost.js';
import { describeMultiHost } from '../helpers/multihost-suite.js';
import { Lab, type Host, type Router } from '../helpers/netns.js';
import { ok, type ShellProcess } from '../helpers/peer-processes.js';

const CLUSTER = 'cluster/cluster.json';

interface DownloadShown {
  name: string;
  state: string;
  verifiedBytes: number;
  sizeBytes: number;
  failure?: { code: string; message: string };
  counters: { bytesFromPeer: Record<string, number> };
  /** Over all attempts. */
  bytesFromPeer: Record<string, number>;
}

async function shown(shell: ShellProcess, name: string): Promise<DownloadShown> {
  const [list] = ok(await shell.run('show_downloads'));
  return (list as DownloadShown[]).filter((d) => d.name === name).at(-1)!;
}

describeMultiHost('peers behind home routers', () => {
  let lab: Lab;
  let clique: MultiHostClique;
  let alice: Host;
  let pub: Host;
  let homeOne: Router;
  let homeTwo: Router;
  let inside: Host;
  let insideTwo: Host;
  const shells = {} as Record<'alice' | 'pub' | 'inside' | 'insideTwo', ShellProcess>;

  beforeAll(async () => {
    lab = await Lab.create();
    const trackers: Host[] = [];
    for (const name of ['t1', 't2', 't3']) trackers.push(await lab.addHost(name));
    alice = await lab.addHost('alice', { upMbit: 16 });
    pub = await lab.addHost('pub');
    homeOne = await lab.addRouter('home-one');
    homeTwo = await lab.addRouter('home-two');
    inside = await lab.addHost('inside', { behind: homeOne });
    insideTwo = await lab.addHost('inside-two', { behind: homeTwo });
    clique = new MultiHostClique({ hosts: trackers, addressOf: (host) => host.ipv4! });
    await clique.initCluster([...trackers, alice, pub, inside, insideTwo]);
    for (const k of [1, 2, 3]) clique.startTracker(k);
    await clique.leader(alice, CLUSTER);
    shells.alice = clique.shell(alice);
    shells.pub = clique.shell(pub);
    shells.inside = clique.shell(inside);
    shells.insideTwo = clique.shell(insideTwo);
    ok(await shells.alice.run('create_user alice pw', 'login alice pw', 'create_group home'));
    for (const [shell, name] of [[shells.pub, 'pub'], [shells.inside, 'ina'], [shells.insideTwo, 'inb']] as const) {
      ok(await shell.run(`create_user ${name} pw`, `login ${name} pw`, 'join_group home'));
    }
    ok(await shells.alice.run('accept_request home pub', 'accept_request home ina', 'accept_request home inb'));
  }, 120_000);

  afterAll(async () => {
    clique?.dispose();
    await lab?.destroy();
  });

  it('knows who can be dialed: the tracker tried each login', async () => {
    const status = async (shell: ShellProcess) => (ok(await shell.run('status'))[0] as { address: string; reachable: boolean });
    expect(await status(shells.alice)).toMatchObject({ address: `${alice.ipv4}:6881`, reachable: true });
    expect(await status(shells.inside)).toMatchObject({ address: `${homeOne.ipv4}:6881`, reachable: false });
    expect(await status(shells.insideTwo)).toMatchObject({ address: `${homeTwo.ipv4}:6881`, reachable: false });
  });

  it('a peer behind a router downloads from public holders, and a public peer fetches from it over the link it dialed', async () => {
    const film = randomBytes(12 * 1024 * 1024 + 17);
    writeFileSync(join(clique.dirOf(alice), 'film.bin'), film);
    ok(await shells.alice.run('upload_file film.bin home'));
    // Alice's uplink is slow: pub is still downloading when the peer behind the router joins.
    ok(await shells.pub.run('download_file home film.bin film.bin'));
    for (;;) {
      const d = await shown(shells.pub, 'film.bin');
      if (d.state !== 'running' || d.verifiedBytes >= 0.15 * d.sizeBytes) break;
    }
    // Pub is held back while the peer behind the router fetches: that peer soon has pieces pub
    // lacks, and pub must fetch them over the link it dialed (not by a race with Alice's uplink).
    ok(await shells.pub.run('set_rate down 131072'));
    ok(await shells.inside.run('download_file home film.bin film.bin', 'wait'));
    ok(await shells.pub.run('set_rate down unlimited', 'wait'));
    expect(readFileSync(join(clique.dirOf(inside), 'film.bin')).equals(film)).toBe(true);
    expect(readFileSync(join(clique.dirOf(pub), 'film.bin')).equals(film)).toBe(true);
    // The tracker never listed the peer behind the router to pub (it cannot be dialed): pub got
    // its pieces over the link that peer dialed, known by the router's address.
    const fromInside = (await shown(shells.pub, 'film.bin')).bytesFromPeer[`${homeOne.ipv4}:6881`] ?? 0;
    expect(fromInside).toBeGreaterThan(0);
    const insideGot = (await shown(shells.inside, 'film.bin')).bytesFromPeer;
    expect(Object.keys(insideGot).sort()).toEqual([`${alice.ipv4}:6881`, `${pub.ipv4}:6881`].sort());
  }, 120_000);

  it('a public peer downloads a file whose only holder is behind a router: the holder dials back', async () => {
    const notes = randomBytes(3 * 1024 * 1024 + 5);
    writeFileSync(join(clique.dirOf(inside), 'notes.bin'), notes);
    ok(await shells.inside.run('upload_file notes.bin home'));
    const started = Date.now();
    ok(await shells.pub.run('download_file home notes.bin notes.bin', 'wait'));
    expect(readFileSync(join(clique.dirOf(pub), 'notes.bin')).equals(notes)).toBe(true);
    expect((await shown(shells.pub, 'notes.bin')).counters.bytesFromPeer).toEqual({ [`${homeOne.ipv4}:6881`]: notes.length });
    expect(Date.now() - started).toBeLessThan(30_000);
  }, 60_000);

  it('a peer that could not be dialed is dialed again when its heartbeats come from another address', async () => {
    const roamer = await lab.addHost('roamer');
    clique.copyCluster(roamer);
    // Its own firewall drops connections to its peer port: the tracker cannot dial it at login.
    const firewall = await roamer.run('nft', ['-f', '-'], { input: 'table inet roam {\n  chain input {\n    type filter hook input priority 0;\n    tcp dport 6881 drop\n  }\n}\n' });
    expect(firewall.code, firewall.stderr).toBe(0);
    const shell = clique.shell(roamer);
    ok(await shell.run('create_user roamer pw', 'login roamer pw'));
    const status = async () => ok(await shell.run('status'))[0] as { address: string; reachable: boolean };
    expect(await status()).toMatchObject({ address: `${roamer.ipv4}:6881`, reachable: false });
    // It moves: the firewall goes, a new address comes and the old one goes.
    const moved = roamer.ipv4!.replace(/\.\d+$/, '.250');
    for (const args of [['nft', 'delete', 'table', 'inet', 'roam'], ['sysctl', '-q', '-w', 'net.ipv4.conf.eth0.promote_secondaries=1'], ['ip', 'addr', 'add', `${moved}/16`, 'dev', 'eth0'], ['ip', 'addr', 'del', `${roamer.ipv4}/16`, 'dev', 'eth0']]) {
      const done = await roamer.run(args[0]!, args.slice(1));
      expect(done.code, `${args.join(' ')}: ${done.stderr}`).toBe(0);
    }
    const deadline = Date.now() + 40_000;
    let now = await status();
    while (now.address !== `${moved}:6881` && Date.now() < deadline) now = await status();
    expect(now).toMatchObject({ address: `${moved}:6881`, reachable: true });
    const [news] = ok(await shell.run('news'));
    expect(JSON.stringify(news)).toContain(`"type":"SessionMoved"`);
  }, 60_000);

  it('two peers behind two different routers are told NO_REACHABLE_SOURCES, naming the holder, within 10 s', async () => {
    const diary = randomBytes(1024 * 1024);
    writeFileSync(join(clique.dirOf(inside), 'diary.bin'), diary);
    ok(await shells.inside.run('upload_file diary.bin home'));
    const started = Date.now();
    ok(await shells.insideTwo.run('download_file home diary.bin diary.bin'));
    let download = await shown(shells.insideTwo, 'diary.bin');
    while (download.state === 'running') download = await shown(shells.insideTwo, 'diary.bin');
    expect(Date.now() - started).toBeLessThan(10_000);
    // Not failed: it waits (a holder may move somewhere reachable), saying why.
    expect(download).toMatchObject({ state: 'waiting', waiting: { code: 'NO_REACHABLE_SOURCES', holders: ['ina'], message: expect.stringMatching(/^ina cannot be dialed \(behind a router\), and neither can this peer/) } });
    const [answer] = await shells.insideTwo.run('wait --timeout 1');
    expect(answer).toMatchObject({ ok: false, error: { code: 'WAITING_FOR_HOLDERS', message: expect.stringContaining('NO_REACHABLE_SOURCES') } });
  }, 60_000);
});
