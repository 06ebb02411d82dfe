// Addresses between machines (issue 12): two peers that speak only IPv6 share a file through
// trackers named by their IPv6 addresses; and a member who claims, in a crafted login, an
// address that is not hers (a tracker host's port) cannot make anyone connect there — the
// tracker records the address it saw her come from, so the downloader dials her own host.

import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { clique as cliqueOn, MultiHostClique } from '../helpers/multihost.js';
import { describeMultiHost } from '../helpers/multihost-suite.js';
import { Lab, type Host } from '../helpers/netns.js';
import { ok } from '../helpers/peer-processes.js';

const CLUSTER = 'cluster/cluster.json';
const DIST = new URL('../../dist/', import.meta.url).pathname;

/** Listens on a port of every interface of a host; prints one line per connection, with where it came from. */
const CANARY = `
const server = require('node:net').createServer((socket) => {
  console.log(JSON.stringify({ from: socket.remoteAddress.replace(/^::ffff:/, '') }));
  socket.destroy();
});
server.listen(Number(process.argv[1]), '::', () => console.log(JSON.stringify({ listening: true })));
`;

/**
 * A member's crafted client (not a shell): logs in naming an address of her choice beside her
 * port, the way the protocol once let a client say where it was, then shares a file. It names
 * a peer key (any: nobody will get far enough to check it), so downloaders will dial it.
 */
const CRAFTED = `
const [dist, nodesText, user, password, claimed, port, group, fileJson] = process.argv.slice(1);
const { encodeFrame, FrameDecoder } = await import(dist + 'tracker/frame-codec.js');
const tls = await import('node:tls');
const nodes = nodesText.split(',');
const session = { sessionId: 'crafted-' + Date.now(), token: 'crafted-token-' + Math.random() };
let id = 0;
async function ask(node, body) {
  const [host, p] = node.startsWith('[') ? [node.slice(1, node.indexOf(']')), node.slice(node.indexOf(']') + 2)] : node.split(':');
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port: Number(p), rejectUnauthorized: false }, () => socket.write(encodeFrame({ id: ++id, ...body })));
    const decoder = new FrameDecoder(1 << 20);
    socket.on('data', (bytes) => { for (const m of decoder.tryPush(bytes)) { socket.destroy(); resolve(m); } });
    socket.on('error', reject);
  });
}
async function anyNode(body) {
  for (let round = 0; round < 50; round++) for (const node of nodes) {
    const answer = await ask(node, body).catch(() => null);
    if (answer?.ok) return answer;
    if (answer && answer.error.code !== 'NOT_LEADER' && answer.error.code !== 'RETRY') return answer;
  }
  throw new Error('no node answered');
}
const write = { clientId: 'crafted', requestId: 0 };
const keyFingerprint = (await import('node:crypto')).randomBytes(32).toString('hex');
const login = await anyNode({ type: 'login', user, password, port: Number(port), address: claimed, session, keyFingerprint, ...write, requestId: 1 });
const share = await anyNode({ type: 'command', session, command: { type: 'ShareFile', group, file: JSON.parse(fileJson) }, ...write, requestId: 2 });
console.log(JSON.stringify({ login, share }));
`;

describeMultiHost('addresses between machines', () => {
  let lab: Lab | null = null;
  let clique: MultiHostClique | null = null;
  afterAll(async () => {
    clique?.dispose();
    await lab?.destroy();
  });

  it('a download between two IPv6-only peers works, and a claimed address draws nobody there', async () => {
    lab = await Lab.create();
    const trackers: Host[] = [];
    for (const name of ['t1', 't2', 't3']) trackers.push(await lab.addHost(name));
    const sixA = await lab.addHost('six-a', { ipv4: false });
    const sixB = await lab.addHost('six-b', { ipv4: false });
    const mallory = await lab.addHost('mallory');
    const victim = await lab.addHost('victim');
    clique = new MultiHostClique({ hosts: trackers, addressOf: (host) => host.ipv6! });
    await clique.initCluster([...trackers, sixA, sixB, mallory, victim]);
    for (const k of [1, 2, 3]) clique.startTracker(k);
    await clique.leader(sixA, CLUSTER);

    // IPv6 only: the tracker sees six-a come from its IPv6 address, and six-b fetches there.
    const file = randomBytes(2 * 1024 * 1024 + 99);
    writeFileSync(join(clique.dirOf(sixA), 'v6.bin'), file);
    const [a, b, m, v] = [sixA, sixB, mallory, victim].map((host) => clique!.shell(host));
    ok(await a!.run('create_user ada pw', 'login ada pw', 'create_group six', 'upload_file v6.bin six'));
    ok(await b!.run('create_user bea pw', 'login bea pw', 'join_group six'));
    ok(await m!.run('create_user mallory pw-m'));
    ok(await a!.run('accept_request six bea'));
    ok(await b!.run('download_file six v6.bin v6.bin', 'wait'));
    expect(readFileSync(join(clique.dirOf(sixB), 'v6.bin')).equals(file)).toBe(true);
    const [shown] = ok(await b!.run('show_downloads'));
    expect((shown as Array<{ counters: { bytesFromPeer: Record<string, number> } }>)[0]!.counters.bytesFromPeer).toEqual({ [`[${sixA.ipv6}]:6881`]: file.length });

    // Mallory, a member, claims t1's address in a crafted login; the victim is sent to her own host.
    const canaries = await Promise.all(
      [trackers[0]!, mallory].map(async (host) => {
        const lines: string[] = [];
        const child = host.spawn(process.execPath, ['-e', CANARY, '7777'], { stdio: ['ignore', 'pipe', 'inherit'] });
        child.stdout!.setEncoding('utf8').on('data', (chunk: string) => lines.push(...chunk.split('\n').filter((l) => l.length > 0)));
        while (!lines.some((l) => l.includes('listening'))) await new Promise((resolve) => setTimeout(resolve, 20));
        return { host, lines };
      }),
    );
    ok(await m!.run('login mallory pw-m', 'join_group six'));
    ok(await a!.run('accept_request six mallory'));
    ok(await m!.run('logout'));
    const decoy = randomBytes(100_000);
    writeFileSync(join(clique.dirOf(mallory), 'decoy.bin'), decoy);
    const meta = (await cliqueOn(mallory, clique.dirOf(mallory), ['peer', 'meta', 'decoy.bin'])).stdout;
    const nodes = trackers.map((t) => `[${t.ipv6}]:7200`).join(',');
    const crafted = await mallory.run(process.execPath, ['--input-type=module', '-e', CRAFTED, DIST, nodes, 'mallory', 'pw-m', `${trackers[0]!.ipv4}:7777`, '7777', 'six', meta.trim()], {
      cwd: clique.dirOf(mallory),
      timeoutMs: 30_000,
    });
    expect(crafted.stdout, crafted.stderr).toMatch(/"share":\{"id":\d+,"ok":true/);
    ok(await v!.run('create_user vic pw', 'login vic pw', 'join_group six'));
    ok(await a!.run('accept_request six vic'));
    ok(await v!.run('download_file six decoy.bin decoy.bin'));
    const [tracker, home] = canaries;
    // The tracker recorded where Mallory's connection came from (her IPv6 address: the trackers
    // are named by theirs), so the victim dials her host, over IPv6 too. (The tracker itself
    // dialed there once, at her login, to learn whether she can be reached.)
    const fromVictim = JSON.stringify({ from: victim.ipv6 });
    while (!home!.lines.includes(fromVictim)) await new Promise((resolve) => setTimeout(resolve, 20));
    const trackerIps = new Set(trackers.map((t) => t.ipv6));
    for (const line of home!.lines.slice(1)) expect(line === fromVictim || trackerIps.has((JSON.parse(line) as { from: string }).from), line).toBe(true);
    expect(tracker!.lines).toEqual(['{"listening":true}']);
  }, 180_000);
});
