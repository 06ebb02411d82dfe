// A man in the middle (issue 14): Mallory's relay sits on the path — nft DNAT on the victim's
// own machine sends its connections to the relay, which answers with a certificate of its own
// and would pass everything on to the real server with another. A shell whose tracker
// connections are diverted is refused with TRACKER_NOT_TRUSTED before it sends a word; a node
// whose Raft link to n1 is diverted refuses the relay (peer_auth_failed) and the cluster goes
// on; a downloader diverted from one holder refuses it (PEER_KEY_MISMATCH) and completes the
// file from the honest holder. The relay never gets one byte of application data.

import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { MultiHostClique, clique as cliqueOn } from '../helpers/multihost.js';
import { describeMultiHost } from '../helpers/multihost-suite.js';
import { Lab, type Host } from '../helpers/netns.js';
import { ok } from '../helpers/peer-processes.js';

/**
 * The relay: TLS with its own key and certificate (a JSON file {certificate, key}) on a port,
 * TLS to the real server behind it, bytes passed both ways. One line per event on stdout.
 */
const RELAY = `
const [listenPort, target, identityFile] = process.argv.slice(1);
const tls = await import('node:tls');
const { readFileSync } = await import('node:fs');
const { certificate, key } = JSON.parse(readFileSync(identityFile, 'utf8'));
const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
const server = tls.createServer({ cert: certificate, key, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3' }, (victim) => {
  console.log('handshake ' + victim.remoteAddress);
  const real = tls.connect({ host, port, cert: certificate, key, rejectUnauthorized: false, checkServerIdentity: () => undefined });
  victim.on('data', (bytes) => { console.log('data ' + bytes.length); real.write(bytes); });
  real.on('data', (bytes) => victim.write(bytes));
  victim.on('error', () => {}); real.on('error', () => {});
  victim.on('close', () => real.destroy()); real.on('close', () => victim.destroy());
});
server.on('connection', (socket) => console.log('connection ' + socket.remoteAddress));
server.on('tlsClientError', () => {});
server.listen(Number(listenPort), '0.0.0.0', () => console.log('listening'));
`;

describeMultiHost('a man in the middle', () => {
  let lab: Lab | null = null;
  let clique: MultiHostClique | null = null;
  afterAll(async () => {
    clique?.dispose();
    await lab?.destroy();
  });

  it('is refused by a shell, a node and a downloader with clear codes; the download completes from the honest holder', async () => {
    lab = await Lab.create();
    const trackers: Host[] = [];
    for (const name of ['t1', 't2', 't3']) trackers.push(await lab.addHost(name));
    const [alice, bob, carol, mallory] = await Promise.all(['alice', 'bob', 'carol', 'mallory'].map((name) => lab!.addHost(name)));
    clique = new MultiHostClique({ hosts: trackers, addressOf: (host) => host.ipv4! });
    await clique.initCluster([...trackers, alice!, bob!, carol!, mallory!]);

    // Mallory's certificates: node certificates of a CA of her own, and a peer key of her own.
    const malloryDir = clique.dirOf(mallory!);
    expect((await cliqueOn(mallory!, malloryDir, ['cluster', 'init', '--nodes', '3', '--dir', 'forged'])).code).toBe(0);
    expect((await cliqueOn(mallory!, malloryDir, ['peer', 'identity', '--home', 'relay'])).code).toBe(0);
    const relays: Array<{ lines: string[] }> = [];
    const relay = async (port: number, target: string, identity: string): Promise<{ lines: string[] }> => {
      const lines: string[] = [];
      const child = mallory!.spawn(process.execPath, ['--input-type=module', '-e', RELAY, String(port), target, identity], { cwd: malloryDir, stdio: ['ignore', 'pipe', 'inherit'] });
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => lines.push(...chunk.split('\n').filter((l) => l.length > 0)));
      while (!lines.includes('listening')) await new Promise((resolve) => setTimeout(resolve, 20));
      relays.push({ lines });
      return { lines };
    };
    const [t1, t2] = trackers as [Host, Host, Host];
    const nodeRelay = await relay(8100, `${t1.ipv4}:7100`, 'forged/n1.secret');
    const clientRelays = await Promise.all(trackers.map((t, i) => relay(8201 + i, `${t.ipv4}:7200`, `forged/n${i + 1}.secret`)));
    const peerRelay = await relay(6881, `${alice!.ipv4}:6881`, 'relay/peer-key.json');

    // n2's Raft link to n1 goes through the relay.
    await t2.redirect({ host: t1.ipv4!, port: 7100 }, { host: mallory!.ipv4!, port: 8100 });
    const logOf = (k: number): string => join(clique!.root, `t${k}.log`);
    for (const k of [1, 2, 3]) clique.startTracker(k, logOf(k));
    await clique.leader(alice!, 'cluster/cluster.json');

    // A shell whose every tracker connection is diverted: refused at once, not a word sent.
    const undo = await Promise.all(trackers.map((t, i) => carol!.redirect({ host: t.ipv4!, port: 7200 }, { host: mallory!.ipv4!, port: 8201 + i })));
    const diverted = clique.shell(carol!);
    const [refused] = await diverted.run('create_user carol pw-carol');
    expect(refused).toMatchObject({ ok: false, error: { code: 'TRACKER_NOT_TRUSTED', message: expect.stringContaining("not of this cluster's CA") } });
    expect(await diverted.end()).toBe(1);
    for (const undoing of undo) await undoing();
    expect(clientRelays.some((r) => r.lines.some((l) => l.startsWith('connection')))).toBe(true); // it did reach the relay

    // The story, with Carol's connections to Alice's peer port diverted.
    const file = randomBytes(6 * 1024 * 1024 + 77);
    writeFileSync(join(clique.dirOf(alice!), 'film.bin'), file);
    const [a, b, c] = [alice!, bob!, carol!].map((host) => clique!.shell(host));
    ok(await a!.run('create_user alice pw-alice', 'login alice pw-alice', 'create_group film', 'upload_file film.bin film'));
    ok(await b!.run('create_user bob pw-bob', 'login bob pw-bob', 'join_group film'));
    ok(await c!.run('create_user carol pw-carol', 'login carol pw-carol', 'join_group film'));
    ok(await a!.run('accept_request film bob', 'accept_request film carol'));
    ok(await b!.run('download_file film film.bin film.bin', 'wait'));
    await carol!.redirect({ host: alice!.ipv4!, port: 6881 }, { host: mallory!.ipv4!, port: 6881 });
    ok(await c!.run('download_file film film.bin film.bin', 'wait'));
    expect(readFileSync(join(clique.dirOf(carol!), 'film.bin')).equals(file)).toBe(true);
    const [shown] = ok(await c!.run('show_downloads'));
    expect((shown as Array<{ counters: { bytesFromPeer: Record<string, number> } }>)[0]!.counters.bytesFromPeer).toEqual({ [`${bob!.ipv4}:6881`]: file.length });
    expect(peerRelay.lines.some((l) => l.startsWith('connection'))).toBe(true);
    expect(c!.stderr.join('\n')).toMatch(new RegExp(`refused ${alice!.ipv4!.replace(/\./g, '\\.')}:6881 PEER_KEY_MISMATCH: `));
    for (const shell of [a!, b!, c!]) expect(await shell.end()).toBe(0);

    // The node refused the relay and the cluster went on (every command above was committed).
    expect(nodeRelay.lines.some((l) => l.startsWith('connection'))).toBe(true);
    expect(readFileSync(logOf(2), 'utf8')).toMatch(/"event":"peer_auth_failed".*the listener is not clique:node\/n1 of this cluster/);
    // Not one byte of application data reached any relay.
    for (const r of relays) expect(r.lines.filter((l) => l.startsWith('data'))).toEqual([]);
  }, 240_000);
});
