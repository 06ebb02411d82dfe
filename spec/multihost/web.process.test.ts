// The web page between machines (issue "See it"): a peer that serves its page on its LAN
// address does so only over HTTPS with its home's key, and prints that key's fingerprint; a
// laptop on the LAN that pins the fingerprint uses the API (and a plain-HTTP request gets
// nothing). A peer started with the default --web is bound to loopback: the laptop cannot reach it.

import { afterAll, expect, it } from 'vitest';
import { describeMultiHost } from '../helpers/multihost-suite.js';
import { MultiHostClique } from '../helpers/multihost.js';
import { Lab, type Host } from '../helpers/netns.js';

const CLUSTER = 'cluster/cluster.json';

/** Run on the laptop: one request over HTTPS (the server's key pinned by fingerprint) or plain HTTP; prints what came back. */
const CLIENT = `
const [scheme, host, port, token, pin, method, path, body] = process.argv.slice(1);
const { createHash } = await import('node:crypto');
const lib = await import(scheme === 'https' ? 'node:https' : 'node:http');
const options = { host, port: Number(port), method, path, headers: { host: host + ':' + port, authorization: 'Bearer ' + token, 'content-type': 'application/json' } };
if (scheme === 'https') {
  options.rejectUnauthorized = false; // a self-signed key: judged by its fingerprint below
  options.checkServerIdentity = () => undefined;
}
const req = lib.request(options, (res) => {
  let text = '';
  res.setEncoding('utf8').on('data', (c) => (text += c));
  res.on('end', () => console.log(JSON.stringify({ status: res.statusCode, body: text })));
});
req.on('socket', (socket) => socket.on('secureConnect', () => {
  const key = socket.getPeerX509Certificate().publicKey.export({ type: 'spki', format: 'der' });
  const seen = createHash('sha256').update(key).digest('hex');
  if (seen !== pin) { console.log(JSON.stringify({ error: 'fingerprint ' + seen })); process.exit(0); }
}));
req.on('error', (error) => console.log(JSON.stringify({ error: error.code ?? error.message })));
req.end(body);
`;

describeMultiHost('the web page between machines', () => {
  let lab: Lab | null = null;
  let clique: MultiHostClique | null = null;
  afterAll(async () => {
    clique?.dispose();
    await lab?.destroy();
  });

  it('is served off loopback only over HTTPS with the key whose fingerprint it printed; by default only on loopback', async () => {
    lab = await Lab.create();
    const trackers: Host[] = [];
    for (const name of ['t1', 't2', 't3']) trackers.push(await lab.addHost(name));
    const [alice, bob, laptop] = [await lab.addHost('alice'), await lab.addHost('bob'), await lab.addHost('laptop')];
    clique = new MultiHostClique({ hosts: trackers, addressOf: (host) => host.ipv4! });
    await clique.initCluster([...trackers, alice, bob, laptop]);
    for (const k of [1, 2, 3]) clique.startTracker(k);
    await clique.leader(alice, CLUSTER);

    const shell = clique.shell(alice, ['--web', `${alice.ipv4}:8881`]);
    const [, port, token] = await shell.stderrMatch(/web page: https:\/\/[0-9.]+:(\d+)\/#token=([A-Za-z0-9_-]+)/);
    const [, fingerprint] = await shell.stderrMatch(/fingerprint \(SHA-256\): ([0-9a-f]{64})/);
    expect(port).toBe('8881');
    const ask = async (scheme: 'https' | 'http', method: string, path: string, body = '', pin = fingerprint!): Promise<{ status?: number; body?: string; error?: string }> => {
      const ran = await laptop.run(process.execPath, ['--input-type=module', '-e', CLIENT, scheme, alice.ipv4!, port!, token!, pin, method, path, body], { timeoutMs: 15_000 });
      return JSON.parse(ran.stdout.trim() || JSON.stringify({ error: ran.stderr })) as { status?: number; body?: string; error?: string };
    };

    const made = await ask('https', 'POST', '/api/commands/create_user', JSON.stringify({ args: ['alice', 'pw-alice'] }));
    expect(made.status, JSON.stringify(made)).toBe(200);
    expect(JSON.parse(made.body!)).toMatchObject({ ok: true, result: { user: 'alice' } });
    const state = await ask('https', 'GET', '/api/state');
    expect(JSON.parse(state.body!)).toMatchObject({ ok: true, result: { status: { user: null, listening: expect.any(String) } } });
    // Another key is not ours: the client refuses the connection.
    expect(await ask('https', 'GET', '/api/state', '', '0'.repeat(64))).toMatchObject({ error: expect.stringMatching(/^fingerprint [0-9a-f]{64}$/) });
    // In clear, nothing.
    const clear = await ask('http', 'GET', '/api/state');
    expect(clear.status === undefined || clear.status >= 400, JSON.stringify(clear)).toBe(true);
    expect(clear.body ?? '').not.toContain('"ok":true');

    // bob's page, by default, is on his loopback only.
    const bobShell = clique.shell(bob, ['--web']);
    const [, bobPort] = await bobShell.stderrMatch(/web page: http:\/\/127\.0\.0\.1:(\d+)\//);
    const ran = await laptop.run(process.execPath, ['--input-type=module', '-e', CLIENT, 'http', bob.ipv4!, bobPort!, 'x', '', 'GET', '/', ''], { timeoutMs: 15_000 });
    expect(JSON.parse(ran.stdout.trim())).toEqual({ error: 'ECONNREFUSED' });
    expect(await shell.end()).toBe(0);
    expect(await bobShell.end()).toBe(0);
  }, 180_000);
});
