// The multi-host harness itself (spec/helpers/netns.ts), before any suite trusts it: hosts in
// their own namespaces reach each other over IPv4 and IPv6 and not over the family they lack,
// partitions drop both ways and heal exactly, link limits hold their rate, and destroy() leaves
// no namespace, link or process behind, even when the test body throws.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { describeMultiHost, multiHostPlan } from '../helpers/multihost-suite.js';
import { Lab, netnsAvailable, processAlive, tbfBurstBytes, type Host } from '../helpers/netns.js';

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

/** Ignores SIGTERM; says so once the handler is in place. */
const STUBBORN = `process.on('SIGTERM', () => {}); setInterval(() => {}, 1000); console.log('ready');`;

/** How long a connection attempt that must succeed gets. */
const CONNECT_TIMEOUT_MS = 5_000;
/** How long a connection attempt that must fail gets: a partition drops silently, so it times out. */
const BLOCKED_TIMEOUT_MS = 800;

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

/** Nothing of the lab in `ip netns list`, in `ip -o link` and among running processes. */
async function expectGone(lab: Lab, pids: readonly number[]): Promise<void> {
  const namespaces = (await ipOutput('netns', 'list')).split('\n').map((line) => line.split(' ')[0] ?? '');
  const prefix = `clq${process.pid}x${lab.labNo}-`;
  expect(namespaces.filter((name) => name.startsWith(prefix))).toEqual([]);
  for (const namespace of lab.namespaces) expect(namespaces).not.toContain(namespace);
  const links = await ipOutput('-o', 'link');
  for (const link of lab.links) expect(links).not.toMatch(new RegExp(`: ${link}[@:]`));
  const deadline = Date.now() + 5_000;
  while (pids.some(processAlive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(pids.filter(processAlive)).toEqual([]);
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
