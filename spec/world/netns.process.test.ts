// The multi-host harness itself (spec/helpers/netns.ts), before any suite trusts it: hosts in
// their own namespaces reach each other over IPv4 and IPv6 and not over the family they lack,
// partitions drop both ways and heal exactly, link limits hold their rate, home routers NAT the
// hosts behind them as a home router does, and destroy() leaves no namespace, link or process
// behind, even when the test body throws.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeMultiHost, multiHostPlan } from '../helpers/multihost-suite.js';
import { Lab, netnsAvailable, processAlive, tbfBurstBytes, type Host, type Router } from '../helpers/netns.js';

/** Listens on both families; answers each connection with the address it came from, then closes. */
const ECHO_SERVER = `
const server = require('node:net').createServer((socket) => {
  socket.end(JSON.stringify({ from: socket.remoteAddress.replace(/^::ffff:/, '') }) + '\\n');
});
server.listen(0, '::', () => console.log(JSON.stringify({ port: server.address().port })));
`;

/** Connects, reads the answer; prints { ok: true, from } or { ok: false, error }. */
const CLIENT = `
const [host, port, timeoutMs] = process.argv.slice(1);
const done = (result) => { console.log(JSON.stringify(result)); process.exit(0); };
const timer = setTimeout(() => done({ ok: false, error: 'timeout' }), Number(timeoutMs));
const socket = require('node:net').connect({ host, port: Number(port) });
let answer = '';
socket.setEncoding('utf8').on('data', (chunk) => (answer += chunk));
socket.on('end', () => { clearTimeout(timer); done({ ok: true, ...JSON.parse(answer) }); });
socket.on('error', (error) => { clearTimeout(timer); done({ ok: false, error: error.code }); });
`;

/** Counts the bytes of one connection; prints { bytes, ms } from its first byte to its end. */
const SINK = `
const server = require('node:net').createServer((socket) => {
  let bytes = 0;
  let first = 0n;
  socket.on('data', (chunk) => { if (bytes === 0) first = process.hrtime.bigint(); bytes += chunk.length; });
  socket.on('end', () => {
    console.log(JSON.stringify({ bytes, ms: Number(process.hrtime.bigint() - first) / 1e6 }));
    socket.end();
    server.close();
  });
});
server.listen(0, '::', () => console.log(JSON.stringify({ port: server.address().port })));
`;

/** Sends MiB of bytes as fast as the connection takes them. */
const SOURCE = `
const [host, port, mib] = process.argv.slice(1);
const total = Number(mib) * 1048576;
const block = Buffer.alloc(65536, 0x5a);
let sent = 0;
const socket = require('node:net').connect({ host, port: Number(port) }, function pump() {
  while (sent < total) {
    sent += block.length;
    if (!socket.write(block)) return void socket.once('drain', pump);
  }
  socket.end();
});
socket.resume();
socket.on('close', () => process.exit(0));
`;

/** Answers a TCP connection unasked after a pause, then echoes each line as `re <line>`. */
const TALK_SERVER = `
const server = require('node:net').createServer((socket) => {
  setTimeout(() => socket.write('unasked\\n'), 300);
  require('node:readline').createInterface({ input: socket }).on('line', (line) => socket.write('re ' + line + '\\n'));
  socket.on('end', () => socket.end());
});
server.listen(0, '::', () => console.log(JSON.stringify({ port: server.address().port })));
`;

/** Waits for the server's unasked line, then says two lines 300 ms apart; prints { heard } or { heard, error }. */
const TALK_CLIENT = `
const [host, port] = process.argv.slice(1);
const heard = [];
const done = (result) => { console.log(JSON.stringify({ heard, ...result })); process.exit(0); };
const timer = setTimeout(() => done({ error: 'timeout' }), 5000);
const socket = require('node:net').connect({ host, port: Number(port) });
socket.on('error', (error) => done({ error: error.code }));
require('node:readline').createInterface({ input: socket }).on('line', (line) => {
  heard.push(line);
  if (line === 'unasked') socket.write('one\\n');
  if (line === 're one') setTimeout(() => socket.write('two\\n'), 300);
  if (line === 're two') { clearTimeout(timer); done({}); }
});
`;

/** A UDP port that answers each datagram with { seen: "address:port" } at once, and with "late" 300 ms later. */
const UDP_SERVER = `
const socket = require('node:dgram').createSocket('udp4');
socket.on('message', (message, from) => {
  const reply = (text) => socket.send(text, from.port, from.address);
  reply(JSON.stringify({ seen: from.address + ':' + from.port }));
  setTimeout(() => reply('late'), 300);
});
socket.bind(0, () => console.log(JSON.stringify({ port: socket.address().port })));
`;

/** Sends one datagram from a UDP port of its own, then prints { local }, each datagram that comes back as { from, text }, and { done } after listenMs. */
const UDP_CLIENT = `
const [host, port, listenMs] = process.argv.slice(1);
const socket = require('node:dgram').createSocket('udp4');
socket.on('message', (message, from) => console.log(JSON.stringify({ from: from.address + ':' + from.port, text: message.toString() })));
socket.bind(0, () => {
  console.log(JSON.stringify({ local: socket.address().port }));
  socket.send('hello', Number(port), host);
  setTimeout(() => { console.log(JSON.stringify({ done: true })); process.exit(0); }, Number(listenMs));
});
`;

/** Prints each datagram's text that reaches its UDP port. */
const UDP_LISTEN = `
const socket = require('node:dgram').createSocket('udp4');
socket.on('message', (message) => console.log(message.toString()));
socket.bind(0, () => console.log(JSON.stringify({ port: socket.address().port })));
`;

/** Sends one datagram and exits. */
const UDP_SEND = `
const [host, port, text] = process.argv.slice(1);
const socket = require('node:dgram').createSocket('udp4');
socket.send(text, Number(port), host, () => process.exit(0));
`;

/** A run that builds a router with a host behind it, starts a process in each, prints what it made, and waits to be killed (argv: the harness compiled). */
const CRASHING_RUN = `
const { Lab } = await import(process.argv[1]);
const lab = await Lab.create();
const router = await lab.addRouter('r');
const host = await lab.addHost('h', { behind: router, downMbit: 20 });
const pids = [host.spawn('sleep', ['1000'], { stdio: 'ignore' }).pid, router.spawn('sleep', ['1000'], { stdio: 'ignore' }).pid];
console.log(JSON.stringify({ namespaces: lab.namespaces, links: lab.links, pids }));
setInterval(() => {}, 1000);
`;

/** Ignores SIGTERM; says so once the handler is in place. */
const STUBBORN = `process.on('SIGTERM', () => {}); setInterval(() => {}, 1000); console.log('ready');`;

/** How long a connection attempt that must succeed gets. */
const CONNECT_TIMEOUT_MS = 5_000;
/** How long a connection attempt that must fail gets: a partition drops silently, so it times out. */
const BLOCKED_TIMEOUT_MS = 800;
/** How long a connection a home router must not let in gets: it drops silently too. */
const NAT_BLOCKED_TIMEOUT_MS = 2_000;

type Reach = { ok: true; from: string } | { ok: false; error: string };

/** A reader of a child's stdout, one line per call (fails if the child exits first or 20 s pass). */
function lines(child: ChildProcess): () => Promise<string> {
  const queue: string[] = [];
  const waiting: Array<(line: string) => void> = [];
  let ended = false;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const next = waiting.shift();
    if (next) next(line);
    else queue.push(line);
  });
  child.once('exit', () => (ended = true));
  return () =>
    new Promise((resolve, reject) => {
      const line = queue.shift();
      if (line !== undefined) return resolve(line);
      if (ended) return reject(new Error('process exited'));
      const timer = setTimeout(() => reject(new Error('timed out waiting for a line')), 20_000);
      waiting.push((next) => {
        clearTimeout(timer);
        resolve(next);
      });
    });
}

function pidOf(child: ChildProcess): number {
  if (child.pid === undefined) throw new Error('process did not start');
  return child.pid;
}

async function startServer(host: Host, script: string): Promise<{ port: number; next: () => Promise<string> }> {
  const child = host.spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const next = lines(child);
  const { port } = JSON.parse(await next()) as { port: number };
  return { port, next };
}

async function reach(from: Host, address: string | null, port: number, timeoutMs = CONNECT_TIMEOUT_MS): Promise<Reach> {
  if (address === null) throw new Error('no address');
  const result = await from.run(process.execPath, ['-e', CLIENT, address, String(port), String(timeoutMs)], { timeoutMs: timeoutMs + 10_000 });
  const last = result.stdout.trim().split('\n').pop() ?? '';
  if (!last) throw new Error(`client on ${from.name} printed nothing: ${result.stderr}`);
  return JSON.parse(last) as Reach;
}

/** 'ok', or how each attempt failed. */
async function outcomes(attempts: ReadonlyArray<Promise<Reach>>): Promise<string[]> {
  return (await Promise.all(attempts)).map((result) => (result.ok ? 'ok' : result.error));
}

/** One datagram, one way: what a partition must drop even with no answer to drop. */
async function sendDatagram(from: Host, address: string | null, port: number, text: string): Promise<void> {
  const result = await from.run(process.execPath, ['-e', UDP_SEND, address ?? '', String(port), text], { timeoutMs: 5_000 });
  expect(result.code, result.stderr).toBe(0);
}

async function transfer(from: Host, to: Host, mib: number): Promise<{ seconds: number; mbit: number }> {
  const sink = await startServer(to, SINK);
  await from.run(process.execPath, ['-e', SOURCE, to.ipv4 ?? '', String(sink.port), String(mib)], { timeoutMs: 30_000 });
  const { bytes, ms } = JSON.parse(await sink.next()) as { bytes: number; ms: number };
  expect(bytes).toBe(mib * 1048576);
  return { seconds: ms / 1000, mbit: (bytes * 8) / ms / 1000 };
}

function expectWithin(measured: number, expected: number, tolerance: number): void {
  expect(Math.abs(measured / expected - 1), `${measured.toFixed(3)} vs ${expected.toFixed(3)}`).toBeLessThanOrEqual(tolerance);
}

async function ipOutput(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.once('error', reject);
    child.once('close', () => resolve(out));
  });
}

/** None of these namespaces (nor any named with the prefix), of these links (in the machine's namespace or any other named one), of these processes. */
async function expectNoneLeft(prefix: string, made: { namespaces: readonly string[]; links: readonly string[]; pids: readonly number[] }): Promise<void> {
  const namespaces = (await ipOutput('netns', 'list')).split('\n').map((line) => line.split(' ')[0] ?? '');
  expect(namespaces.filter((name) => name.startsWith(prefix))).toEqual([]);
  for (const namespace of made.namespaces) expect(namespaces).not.toContain(namespace);
  const links = (await ipOutput('-o', 'link')) + (await ipOutput('-all', 'netns', 'exec', 'ip', '-o', 'link'));
  for (const link of made.links) expect(links).not.toMatch(new RegExp(`: ${link}[@:]`));
  const deadline = Date.now() + 5_000;
  while (made.pids.some(processAlive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(made.pids.filter(processAlive)).toEqual([]);
}

/** Nothing of the lab in `ip netns list`, in any namespace's `ip -o link` and among running processes. */
async function expectGone(lab: Lab, pids: readonly number[]): Promise<void> {
  await expectNoneLeft(`clq${process.pid}x${lab.labNo}-`, { namespaces: lab.namespaces, links: lab.links, pids });
  expect(lab.pids).toEqual([]);
}

describe('multiHostPlan', () => {
  it('runs where the harness works, skips where it does not, and fails on CI instead of skipping', () => {
    expect(multiHostPlan({ ok: true }, { CI: 'true' })).toBe('run');
    expect(multiHostPlan({ ok: false, reason: 'not root' }, {})).toBe('skip');
    expect(multiHostPlan({ ok: false, reason: 'not root' }, { CI: 'true' })).toBe('fail');
  });
});

describeMultiHost('netns lab', () => {
  it('is available on this machine', () => {
    expect(netnsAvailable()).toEqual({ ok: true });
  });

  describe('addresses', () => {
    let lab: Lab;
    afterAll(() => lab?.destroy());

    it('two hosts speak TCP over IPv4 and IPv6; an IPv6-only host cannot reach IPv4, an IPv4-only host cannot reach IPv6', async () => {
      lab = await Lab.create();
      const a = await lab.addHost('a');
      const b = await lab.addHost('b');
      const v6 = await lab.addHost('v6', { ipv4: false });
      const v4 = await lab.addHost('v4', { ipv6: false });
      expect(a.ipv4).toBe(`10.${lab.net}.0.1`);
      expect(a.ipv6).toBe(`fd${lab.net}::1`);
      expect([v6.ipv4, v4.ipv6]).toEqual([null, null]);
      expect([...lab.hosts.keys()]).toEqual(['a', 'b', 'v6', 'v4']);

      const server = await startServer(b, ECHO_SERVER);
      const [overV4, overV6, v6ToV6, v6ToV4, v4ToV4, v4ToV6] = await Promise.all([
        reach(a, b.ipv4, server.port),
        reach(a, b.ipv6, server.port),
        reach(v6, b.ipv6, server.port),
        reach(v6, b.ipv4, server.port),
        reach(v4, b.ipv4, server.port),
        reach(v4, b.ipv6, server.port),
      ]);
      // The server saw each client's own address: a real network between distinct hosts.
      expect(overV4).toEqual({ ok: true, from: a.ipv4 });
      expect(overV6).toEqual({ ok: true, from: a.ipv6 });
      expect(v6ToV6).toEqual({ ok: true, from: v6.ipv6 });
      expect(v4ToV4).toEqual({ ok: true, from: v4.ipv4 });
      expect(v6ToV4).toEqual({ ok: false, error: 'ENETUNREACH' });
      expect(v4ToV6).toEqual({ ok: false, error: 'ENETUNREACH' });

      // The machine's own namespace got no address of the lab.
      const rootAddresses = await ipOutput('-o', 'addr');
      expect(rootAddresses).not.toContain(`10.${lab.net}.0.`);
      expect(rootAddresses).not.toContain(`fd${lab.net}::`);
    });
  });

  describe('partitions', () => {
    let lab: Lab;
    afterAll(() => lab?.destroy());

    it('a partition drops traffic both ways, leaves other pairs alone, and heal() restores it exactly', async () => {
      lab = await Lab.create();
      const [a, b, c] = await Promise.all([lab.addHost('a'), lab.addHost('b'), lab.addHost('c')]);
      const [atA, atB, atC] = await Promise.all([startServer(a, ECHO_SERVER), startServer(b, ECHO_SERVER), startServer(c, ECHO_SERVER)]);
      const pair = (x: Host, y: Host, port: number, timeoutMs = BLOCKED_TIMEOUT_MS): Promise<string[]> =>
        Promise.all([reach(x, y.ipv4, port, timeoutMs), reach(x, y.ipv6, port, timeoutMs)]).then((rs) => rs.map((r) => (r.ok ? 'ok' : r.error)));

      const ab = await lab.partition([a], [b]);
      const [aToB, bToA, aToC, cToA, cToB] = await Promise.all([
        pair(a, b, atB.port),
        pair(b, a, atA.port),
        pair(a, c, atC.port, CONNECT_TIMEOUT_MS),
        pair(c, a, atA.port, CONNECT_TIMEOUT_MS),
        pair(c, b, atB.port, CONNECT_TIMEOUT_MS),
      ]);
      // Dropped silently, over either family: the sender waits, as across a real partition.
      expect({ aToB, bToA }).toEqual({ aToB: ['timeout', 'timeout'], bToA: ['timeout', 'timeout'] });
      expect({ aToC, cToA, cToB }).toEqual({ aToC: ['ok', 'ok'], cToA: ['ok', 'ok'], cToB: ['ok', 'ok'] });

      // A second, overlapping partition: healing the first leaves the second's rules in place.
      const aBC = await lab.partition([a], [b, c]);
      await ab.heal();
      await ab.heal(); // idempotent
      expect(await Promise.all([pair(a, b, atB.port), pair(a, c, atC.port), pair(b, c, atC.port, CONNECT_TIMEOUT_MS)])).toEqual([
        ['timeout', 'timeout'],
        ['timeout', 'timeout'],
        ['ok', 'ok'],
      ]);
      await aBC.heal();
      expect(await Promise.all([pair(a, b, atB.port, CONNECT_TIMEOUT_MS), pair(b, a, atA.port, CONNECT_TIMEOUT_MS), pair(a, c, atC.port, CONNECT_TIMEOUT_MS)])).toEqual([
        ['ok', 'ok'],
        ['ok', 'ok'],
        ['ok', 'ok'],
      ]);
    });

    it('isolate() cuts a host off from every other host, one added later included, until heal()', async () => {
      const a = lab.hosts.get('a')!;
      const c = lab.hosts.get('c')!;
      const [atA, atC] = await Promise.all([startServer(a, ECHO_SERVER), startServer(c, ECHO_SERVER)]);
      const isolated = await lab.isolate(c);
      const d = await lab.addHost('d');
      const atD = await startServer(d, ECHO_SERVER);
      const results = await Promise.all([
        reach(a, c.ipv4, atC.port, BLOCKED_TIMEOUT_MS),
        reach(c, a.ipv6, atA.port, BLOCKED_TIMEOUT_MS),
        reach(d, c.ipv6, atC.port, BLOCKED_TIMEOUT_MS),
        reach(c, d.ipv4, atD.port, BLOCKED_TIMEOUT_MS),
        reach(a, d.ipv4, atD.port),
      ]);
      expect(results.map((r) => (r.ok ? 'ok' : r.error))).toEqual(['timeout', 'timeout', 'timeout', 'timeout', 'ok']);
      await isolated.heal();
      const healed = await Promise.all([reach(a, c.ipv4, atC.port), reach(d, c.ipv6, atC.port), reach(c, d.ipv4, atD.port)]);
      expect(healed.map((r) => (r.ok ? 'ok' : r.error))).toEqual(['ok', 'ok', 'ok']);
    });
  });

  describe('link rates', () => {
    let lab: Lab;
    afterAll(() => lab?.destroy());
    const MIB = 32;
    const expectedSeconds = (rateMbit: number): number => (MIB * 1048576 * 8) / (rateMbit * 1e6);

    it('a download limit on B and an upload limit on A each hold a TCP transfer within 15% of its rate', async () => {
      lab = await Lab.create();
      const a = await lab.addHost('a');
      const b = await lab.addHost('b', { downMbit: 100 });

      const down100 = await transfer(a, b, MIB);
      await b.setRate({});
      await a.setRate({ upMbit: 100 });
      const up100 = await transfer(a, b, MIB);
      await a.setRate({ upMbit: 200 }); // replaces the 100
      const up200 = await transfer(a, b, MIB);
      console.info(
        `netns rates (${MIB} MiB): down 100 Mbit/s: ${down100.seconds.toFixed(2)} s, ${down100.mbit.toFixed(1)} Mbit/s; ` +
          `up 100 Mbit/s: ${up100.seconds.toFixed(2)} s, ${up100.mbit.toFixed(1)} Mbit/s; ` +
          `up 200 Mbit/s: ${up200.seconds.toFixed(2)} s, ${up200.mbit.toFixed(1)} Mbit/s (tbf burst ${tbfBurstBytes(100)} / ${tbfBurstBytes(200)} bytes)`,
      );
      expectWithin(down100.seconds, expectedSeconds(100), 0.15);
      expectWithin(up100.seconds, expectedSeconds(100), 0.15);
      expectWithin(up200.seconds, expectedSeconds(200), 0.15);
    });
  });

  describe('home routers (NAT)', () => {
    let lab: Lab;
    let pub: Host;
    let pub2: Host;
    let r1: Router;
    let r2: Router;
    let h1: Host;
    let h1b: Host;
    let h2: Host;
    /** The echo server's port on each host, by name. */
    const at = new Map<string, number>();
    const port = (host: Host): number => at.get(host.name) ?? 0;
    afterAll(() => lab?.destroy());

    beforeAll(async () => {
      lab = await Lab.create();
      pub = await lab.addHost('pub');
      r1 = await lab.addRouter('r1');
      h1 = await lab.addHost('h1', { behind: r1 });
      h1b = await lab.addHost('h1b', { behind: r1 });
      r2 = await lab.addRouter('r2');
      h2 = await lab.addHost('h2', { behind: r2 });
      pub2 = await lab.addHost('pub2');
      const hosts = [pub, pub2, r1, r2, h1, h1b, h2];
      const servers = await Promise.all(hosts.map((host) => startServer(host, ECHO_SERVER)));
      hosts.forEach((host, i) => at.set(host.name, servers[i]?.port ?? 0));
    });

    it("a host behind a router is IPv4-only on 192.168.<lanNet>, and reaches a public host, which sees the router's WAN address", async () => {
      expect([r1.ipv4, r1.ipv6, r1.lanIpv4, r1.lanNet, r1.publicIpv4]).toEqual([`10.${lab.net}.0.2`, `fd${lab.net}::2`, '192.168.1.1', 1, r1.ipv4]);
      expect([h1.ipv4, h1b.ipv4, h1.ipv6, h1.publicIpv4]).toEqual(['192.168.1.2', '192.168.1.3', null, r1.ipv4]);
      expect([r2.lanIpv4, h2.ipv4, h2.publicIpv4, pub.publicIpv4]).toEqual(['192.168.2.1', '192.168.2.2', r2.ipv4, pub.ipv4]);
      expect(h1.router).toBe(r1);
      expect(h2.router).toBe(r2);
      expect([r1.router, pub.router]).toEqual([null, null]);
      // Numbers count every host: h1 and h1b (3 and 4) leave a gap in the public addresses.
      expect([r2.ipv4, pub2.ipv4]).toEqual([`10.${lab.net}.0.5`, `10.${lab.net}.0.7`]);

      const [overV4, overV6, h2ToPub] = await Promise.all([reach(h1, pub.ipv4, port(pub)), reach(h1, pub.ipv6, port(pub)), reach(h2, pub2.ipv4, port(pub2))]);
      expect(overV4).toEqual({ ok: true, from: r1.ipv4 });
      expect(h2ToPub).toEqual({ ok: true, from: r2.ipv4 });
      expect(overV6).toEqual({ ok: false, error: 'ENETUNREACH' });
    });

    it('hosts behind one router reach each other, and the router, on their LAN by their own addresses', async () => {
      // With br_netfilter loaded, frames bridged on the LAN would meet the router's forward policy (drop).
      const results = await Promise.all([reach(h1b, h1.ipv4, port(h1)), reach(h1, h1b.ipv4, port(h1b)), reach(h1, r1.lanIpv4, port(r1)), reach(h1, r1.ipv4, port(r1))]);
      expect(results).toEqual([
        { ok: true, from: h1b.ipv4 },
        { ok: true, from: h1.ipv4 },
        { ok: true, from: h1.ipv4 },
        { ok: true, from: h1.ipv4 },
      ]);
    });

    it("a public host cannot open a connection to a host behind a router: not at its 192.168 address, routed through the router or not, nor at the router's WAN address", async () => {
      expect(await reach(pub2, h1.ipv4, port(h1))).toEqual({ ok: false, error: 'ENETUNREACH' }); // no route to a private LAN
      const route = await pub2.run('ip', ['route', 'add', '192.168.1.0/24', 'via', r1.ipv4]);
      expect(route.code, route.stderr).toBe(0);
      const blocked = await outcomes([
        reach(pub2, h1.ipv4, port(h1), NAT_BLOCKED_TIMEOUT_MS), // routed into the LAN: the router drops it
        reach(pub, r1.ipv4, port(h1), NAT_BLOCKED_TIMEOUT_MS), // the inner host's port at the router: nothing forwarded
        reach(pub, r1.ipv4, port(r1), NAT_BLOCKED_TIMEOUT_MS), // the router's own server: not open to the WAN
        reach(pub, r2.ipv4, port(h2), NAT_BLOCKED_TIMEOUT_MS),
      ]);
      // Dropped, not refused: a home router answers nothing it was not asked for.
      expect(blocked).toEqual(['timeout', 'timeout', 'timeout', 'timeout']);
      await pub2.run('ip', ['route', 'del', '192.168.1.0/24']);
    });

    it('two hosts behind different routers cannot connect to each other either way, even on equal LANs, yet each reaches a public host', async () => {
      const r3 = await lab.addRouter('r3', { lanNet: 1 });
      const h3 = await lab.addHost('h3', { behind: r3 });
      const atH3 = await startServer(h3, ECHO_SERVER);
      expect([r3.lanIpv4, h3.ipv4]).toEqual([r1.lanIpv4, h1.ipv4]); // two homes on 192.168.1.0/24
      const [blocked, open] = await Promise.all([
        outcomes([
          reach(h1, h2.ipv4, port(h2), NAT_BLOCKED_TIMEOUT_MS), // r1 has no route to r2's LAN
          reach(h1, r2.ipv4, port(h2), NAT_BLOCKED_TIMEOUT_MS),
          reach(h2, h1.ipv4, port(h1), NAT_BLOCKED_TIMEOUT_MS),
          reach(h2, r1.ipv4, port(h1), NAT_BLOCKED_TIMEOUT_MS),
          reach(h3, r1.ipv4, port(h1), NAT_BLOCKED_TIMEOUT_MS),
          reach(h1, r3.ipv4, atH3.port, NAT_BLOCKED_TIMEOUT_MS),
        ]),
        Promise.all([reach(h1, pub.ipv4, port(pub)), reach(h2, pub.ipv4, port(pub)), reach(h3, pub.ipv4, port(pub))]),
      ]);
      expect(blocked).toEqual(['ENETUNREACH', 'timeout', 'ENETUNREACH', 'timeout', 'timeout', 'timeout']);
      expect(open).toEqual([
        { ok: true, from: r1.ipv4 },
        { ok: true, from: r2.ipv4 },
        { ok: true, from: r3.ipv4 },
      ]);
    });

    it('what a host behind a router opened stays open both ways: TCP over time, UDP from the address and port it sent to only', async () => {
      const talk = await startServer(pub, TALK_SERVER);
      const udp = await startServer(pub, UDP_SERVER);
      const client = h1.spawn(process.execPath, ['-e', UDP_CLIENT, pub.ipv4 ?? '', String(udp.port), '1500'], { stdio: ['ignore', 'pipe', 'inherit'] });
      const next = lines(client);
      const { local } = JSON.parse(await next()) as { local: number };
      const first = JSON.parse(await next()) as { from: string; text: string };
      expect(first.from).toBe(`${pub.ipv4}:${udp.port}`);
      const { seen } = JSON.parse(first.text) as { seen: string };
      // The router's address, and the host's own port: Linux keeps a source port that is free.
      expect(seen).toBe(`${r1.ipv4}:${local}`);
      const [mappedAddress, mappedPort] = seen.split(':');
      const strangers = await Promise.all([
        pub2.run(process.execPath, ['-e', UDP_SEND, mappedAddress ?? '', mappedPort ?? '', 'from another host'], { timeoutMs: 5_000 }),
        pub.run(process.execPath, ['-e', UDP_SEND, mappedAddress ?? '', mappedPort ?? '', 'from another port'], { timeoutMs: 5_000 }),
      ]);
      expect(strangers.map((result) => result.code)).toEqual([0, 0]);
      const heard: string[] = [];
      for (let line = await next(); !line.includes('"done"'); line = await next()) heard.push((JSON.parse(line) as { from: string; text: string }).text);
      expect(heard).toEqual(['late']);

      const tcp = await h1.run(process.execPath, ['-e', TALK_CLIENT, pub.ipv4 ?? '', String(talk.port)], { timeoutMs: 10_000 });
      expect(JSON.parse(tcp.stdout.trim())).toEqual({ heard: ['unasked', 're one', 're two'] });
    });

    it("forwardPort() makes a host behind a router reachable at the router's WAN address, from a public host and from behind another router", async () => {
      await r1.forwardPort(40_000, h1, port(h1));
      const results = await Promise.all([
        reach(pub, r1.ipv4, 40_000),
        reach(h2, r1.ipv4, 40_000),
        reach(pub, r1.ipv4, port(h1b), BLOCKED_TIMEOUT_MS), // not forwarded (dropped, as the test before shows)
      ]);
      // The forwarded host sees who connects: the router translates the destination only.
      expect(results).toEqual([
        { ok: true, from: pub.ipv4 },
        { ok: true, from: r2.ipv4 },
        { ok: false, error: 'timeout' },
      ]);
      await expect(r1.forwardPort(40_000, h1b)).rejects.toThrow('router r1 forwards port 40000 already');
      await expect(r1.forwardPort(40_001, h2)).rejects.toThrow('host h2 is not behind router r1');
      await expect(r1.forwardPort(70_000, h1)).rejects.toThrow(/port number/);
    });

    it('partitions reach behind routers: a host behind one is cut alone, a router with its LAN; two homes are cut only through a router', async () => {
      // Datagrams one way, in and out, alongside the connections: each side's drop must hold without the other's.
      const [udpAtH1, udpAtPub] = await Promise.all([startServer(h1, UDP_LISTEN), startServer(pub, UDP_LISTEN)]);
      const datagrams = (label: string): Promise<void[]> =>
        Promise.all([sendDatagram(pub, r1.ipv4, 41_001, `${label} in`), sendDatagram(h1, pub.ipv4, udpAtPub.port, `${label} out`)]);
      await Promise.all([r1.forwardPort(41_000, h1, port(h1)), r1.forwardPort(41_001, h1, udpAtH1.port), r2.forwardPort(41_000, h2, port(h2))]);

      const alone = await lab.partition([h1], [pub]);
      await datagrams('alone');
      expect(
        await outcomes([
          reach(h1, pub.ipv4, port(pub), BLOCKED_TIMEOUT_MS),
          reach(pub, r1.ipv4, 41_000, BLOCKED_TIMEOUT_MS),
          reach(h1b, pub.ipv4, port(pub)),
          reach(h1, pub2.ipv4, port(pub2)),
          reach(pub2, r1.ipv4, 41_000),
        ]),
      ).toEqual(['timeout', 'timeout', 'ok', 'ok', 'ok']);
      await alone.heal();

      await expect(lab.partition([h1], [h2])).rejects.toThrow('hosts h1 and h2 are behind different routers, each a single address from outside: put r1 or r2 in the partition too');
      const homes = await lab.partition([h1], [r2]); // r2 stands for its home: h2 too
      expect(
        await outcomes([
          reach(h1, r2.ipv4, 41_000, BLOCKED_TIMEOUT_MS),
          reach(h2, r1.ipv4, 41_000, BLOCKED_TIMEOUT_MS),
          reach(h1b, r2.ipv4, 41_000),
          reach(h2, pub.ipv4, port(pub)),
          reach(h1, pub.ipv4, port(pub)),
        ]),
      ).toEqual(['timeout', 'timeout', 'ok', 'ok', 'ok']);
      await homes.heal();

      const isolated = await lab.isolate(r1);
      await datagrams('isolated');
      expect(
        await outcomes([
          reach(h1, pub.ipv4, port(pub), BLOCKED_TIMEOUT_MS),
          reach(h1b, pub2.ipv4, port(pub2), BLOCKED_TIMEOUT_MS),
          reach(pub, r1.ipv4, 41_000, BLOCKED_TIMEOUT_MS),
          reach(h2, r1.ipv4, 41_000, BLOCKED_TIMEOUT_MS),
          reach(h1, r1.lanIpv4, port(r1), BLOCKED_TIMEOUT_MS), // the router itself is cut from its LAN
          reach(h1, h1b.ipv4, port(h1b)), // which stays a LAN
          reach(h2, pub.ipv4, port(pub)),
        ]),
      ).toEqual(['timeout', 'timeout', 'timeout', 'timeout', 'timeout', 'ok', 'ok']);
      await isolated.heal();
      expect(await outcomes([reach(h1, pub.ipv4, port(pub)), reach(pub, r1.ipv4, 41_000), reach(h1, r1.lanIpv4, port(r1)), reach(h1, r2.ipv4, 41_000)])).toEqual([
        'ok',
        'ok',
        'ok',
        'ok',
      ]);
      await datagrams('healed');
      expect(await Promise.all([udpAtH1.next(), udpAtPub.next()])).toEqual(['healed in', 'healed out']);
    });
  });

  describe('cleanup', () => {
    it('destroy() leaves nothing behind after a test body throws, a process ignores SIGTERM and another forked', async () => {
      const lab = await Lab.create();
      const pids: number[] = [];
      const body = async (): Promise<void> => {
        try {
          const a = await lab.addHost('a', { upMbit: 50, downMbit: 50 });
          const b = await lab.addHost('b');
          await lab.partition([a], [b]);
          pids.push(pidOf(a.spawn('sleep', ['1000'], { stdio: 'ignore' })));
          const stubborn = b.spawn(process.execPath, ['-e', STUBBORN], { stdio: ['ignore', 'pipe', 'inherit'] });
          pids.push(pidOf(stubborn));
          expect(await lines(stubborn)()).toBe('ready');
          const forker = a.spawn('sh', ['-c', 'sleep 1000 & echo $!; wait'], { stdio: ['ignore', 'pipe', 'inherit'] });
          pids.push(pidOf(forker), Number(await lines(forker)()));
          expect(pids.every(processAlive)).toBe(true);
          throw new Error('the test body failed');
        } finally {
          await lab.destroy();
        }
      };
      await expect(body()).rejects.toThrow('the test body failed');
      await lab.destroy(); // again: nothing to do
      await expectGone(lab, pids);
      expect(lab.namespaces).toHaveLength(3);
      expect(() => lab.hosts.get('a')!.spawn('true', [])).toThrow(/destroyed/);
    });

    it('destroySync(), the exit hook, leaves nothing behind either', async () => {
      const lab = await Lab.create();
      const a = await lab.addHost('a');
      const stubborn = a.spawn(process.execPath, ['-e', STUBBORN], { stdio: ['ignore', 'pipe', 'inherit'] });
      expect(await lines(stubborn)()).toBe('ready');
      const pids = [pidOf(stubborn), pidOf(a.spawn('sleep', ['1000'], { stdio: 'ignore' }))];
      lab.destroySync();
      await expectGone(lab, pids);
    });

    it('a SIGTERM while a lab lives destroys it first (vitest ends its workers so, and no exit event follows)', async () => {
      const lab = await Lab.create();
      const a = await lab.addHost('a');
      const pids = [pidOf(a.spawn('sleep', ['1000'], { stdio: 'ignore' }))];
      // A second listener, so the harness does not pass the signal on to this worker after cleaning up.
      const stayAlive = (): void => undefined;
      process.on('SIGTERM', stayAlive);
      try {
        process.emit('SIGTERM', 'SIGTERM');
      } finally {
        process.off('SIGTERM', stayAlive);
      }
      await expectGone(lab, pids);
    });

    it('destroy() removes routers too: their LAN bridges and veths, and the processes of hosts behind them', async () => {
      const lab = await Lab.create();
      const pids: number[] = [];
      try {
        const router = await lab.addRouter('r', { upMbit: 50, downMbit: 50 });
        const inner = await lab.addHost('h', { behind: router, upMbit: 20, downMbit: 20 });
        const outside = await lab.addHost('p');
        await router.forwardPort(4_000, inner);
        await lab.partition([inner], [outside]);
        await lab.isolate(router);
        expect(inner.switchNamespace).toBe(router.namespace);
        expect(lab.links).toEqual(expect.arrayContaining([router.switchPort, router.lanBridge, inner.switchPort]));
        pids.push(pidOf(inner.spawn('sleep', ['1000'], { stdio: 'ignore' })), pidOf(router.spawn('sleep', ['1000'], { stdio: 'ignore' })));
        const stubborn = inner.spawn(process.execPath, ['-e', STUBBORN], { stdio: ['ignore', 'pipe', 'inherit'] });
        pids.push(pidOf(stubborn));
        expect(await lines(stubborn)()).toBe('ready');
        const forker = inner.spawn('sh', ['-c', 'sleep 1000 & echo $!; wait'], { stdio: ['ignore', 'pipe', 'inherit'] });
        pids.push(pidOf(forker), Number(await lines(forker)()));
        expect(pids.every(processAlive)).toBe(true);
      } finally {
        await lab.destroy();
      }
      await expectGone(lab, pids);
      expect(lab.namespaces).toHaveLength(4);
    });

    it('Lab.create() removes what a crashed run with a router left: the router, its LAN, and the processes behind it', async () => {
      // The harness compiled as benchmarks use it, in a process of its own that is killed without cleaning up.
      const root = fileURLToPath(new URL('../..', import.meta.url));
      const dir = await mkdtemp(join(tmpdir(), 'clq-netns-'));
      let crashed: ChildProcess | null = null;
      try {
        await promisify(execFile)(join(root, 'node_modules/.bin/tsc'), ['-p', join(root, 'tsconfig.bench.json'), '--outDir', dir]);
        await writeFile(join(dir, 'package.json'), '{ "type": "module" }\n');
        const harness = pathToFileURL(join(dir, 'spec/helpers/netns.js')).href;
        crashed = spawn(process.execPath, ['--input-type=module', '-e', CRASHING_RUN, harness], { stdio: ['ignore', 'pipe', 'inherit'] });
        const made = JSON.parse(await lines(crashed)()) as { namespaces: string[]; links: string[]; pids: number[] };
        expect(made.namespaces).toHaveLength(3);
        expect(made.links).toHaveLength(4); // the switch's bridge, the router's port on it, its LAN bridge, the host's port on that
        const exited = new Promise((resolve) => crashed?.once('exit', resolve));
        crashed.kill('SIGKILL');
        await exited;
        expect(made.pids.every(processAlive)).toBe(true);
        const lab = await Lab.create();
        await lab.destroy();
        await expectNoneLeft(`clq${crashed.pid}x`, made);
      } finally {
        crashed?.kill('SIGKILL');
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('Lab.create() removes what a crashed run left: its namespaces and the processes in them', async () => {
      const gone = spawn('true');
      const deadPid = pidOf(gone);
      await new Promise((resolve) => gone.once('exit', resolve));
      const stale = `clq${deadPid}x1-switch`;
      await ipOutput('netns', 'add', stale);
      const orphan = spawn('ip', ['netns', 'exec', stale, 'sleep', '1000'], { stdio: 'ignore' });
      const orphanPid = pidOf(orphan);
      try {
        while (!(await ipOutput('netns', 'pids', stale)).includes(String(orphanPid))) await new Promise((resolve) => setTimeout(resolve, 10));
        const lab = await Lab.create();
        await lab.destroy();
        expect(await ipOutput('netns', 'list')).not.toContain(stale);
        await new Promise((resolve) => (orphan.exitCode !== null || orphan.signalCode !== null ? resolve(null) : orphan.once('exit', resolve)));
        expect(processAlive(orphanPid)).toBe(false);
      } finally {
        orphan.kill('SIGKILL');
        await ipOutput('netns', 'del', stale);
      }
    });
  });
});
