// Strangers against the client port, and a guesser (issue 15), between machines: from one
// host, 4,000 idle sockets, then 1,000 senders that announce a 2 MiB frame and never finish it;
// from another host, a new user still logs in within a second, and the leader's memory grows
// by less than 150 MiB. The log shows each limit triggering: connections not logged in capped
// per source address, and bytes of unfinished frames bounded in all. Then 50 wrong passwords
// for one user from one host are slowed and refused with the retry time — the right one from
// that host too — while the right password from another host logs in at once.

import { readFileSync } from 'node:fs';
import { afterAll, expect, it } from 'vitest';
import { disposeLab, startLabCluster, type LabMade } from '../helpers/multihost.js';
import { describeMultiHost } from '../helpers/multihost-suite.js';
import type { Host } from '../helpers/netns.js';
import { ok } from '../helpers/peer-processes.js';
import { until } from '../helpers/tracker-processes.js';
import { FREE_FAILURES } from '../../src/tracker/login-guard.js';
import { MAX_BUFFERED_BYTES, MAX_UNAUTHENTICATED_PER_SOURCE } from '../../src/tracker/client-door.js';

const CLUSTER = 'cluster/cluster.json';
const CLIENT_PORT = 7200;

/**
 * Opens `count` connections to host:port and holds them: `idle` ones send nothing (plain TCP);
 * `slow` ones speak TLS, announce a frame of 2 MiB - 16 bytes and send 1.5 MiB of it. Prints a
 * line once every connect has been started. (What it counts as connected says little: past the
 * listen backlog the kernel completes handshakes the server never accepts. The server's own
 * count, in its status, is what the test reads.)
 */
const ATTACKER = `
const [mode, host, port, count] = process.argv.slice(1);
const net = require('node:net'), tls = require('node:tls');
const held = [];
for (let i = 0; i < Number(count); i++) {
  const socket = mode === 'idle'
    ? net.connect({ host, port: Number(port) })
    : tls.connect({ host, port: Number(port), rejectUnauthorized: false });
  socket.once('secureConnect', () => {
    const header = Buffer.alloc(4); header.writeUInt32BE(2 * 1024 * 1024 - 16);
    socket.write(Buffer.concat([header, Buffer.alloc(1536 * 1024, 0x20)]));
  });
  socket.on('error', () => {});
  socket.resume();
  held.push(socket);
}
console.log('started');
setInterval(() => {}, 1 << 30);
`;

function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(/(\d+)/.exec(line)![1]) * 1024;
}

function logLines(path: string): Array<{ event?: string; reason?: string }> {
  return readFileSync(path, 'utf8')
    .split('\n')
    .slice(0, -1) // the last is empty, or a line still being written
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { event?: string; reason?: string });
}

describeMultiHost('strangers and guessers at the client port', () => {
  const made: LabMade = { lab: null, clique: null };
  afterAll(() => disposeLab(made));

  it('holds idle sockets and slow senders within bounds, and users still log in from elsewhere; guessing is slowed per user and address', async () => {
    const { clique, trackers, hosts, nodes: processes, logs, leader: leaderId } = await startLabCluster(made, ['user', 'stranger', 'guesser']);
    const { user, stranger, guesser } = hosts;
    const k = Number(leaderId.replace(/^n/, ''));
    const [leaderHost, leaderLog, leaderPid] = [trackers[k - 1]!, logs[k - 1]!, processes[k - 1]!.pid!];
    const u = clique.shell(user);
    ok(await u.run('create_user una pw-una-1', 'create_user ada pw-ada-1'));
    const baselineRss = rssBytes(leaderPid);
    const leaderClients = async (): Promise<{ connections: number; bufferedBytes: number }> => {
      const nodes = await clique.statuses(user, CLUSTER);
      return (nodes.find((n) => n.id === leaderId) as { clients?: { connections: number; bufferedBytes: number } } | undefined)?.clients ?? { connections: Infinity, bufferedBytes: Infinity };
    };
    const refusals = (pattern: string): number => logLines(leaderLog).filter((l) => l.event === 'client_refused' && (l.reason ?? '').includes(pattern)).length;
    const timedLogin = async (shell: typeof u, line: string): Promise<number> => {
      const startedMs = Date.now();
      ok(await shell.run(line));
      return Date.now() - startedMs;
    };

    // 4,000 idle sockets from one host: a few held, the rest refused at the door.
    const attack = async (mode: 'idle' | 'slow', count: number): Promise<ReturnType<Host['spawn']>> => {
      const child = stranger.spawn(process.execPath, ['-e', ATTACKER, mode, leaderHost.ipv4!, String(CLIENT_PORT), String(count)], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<string>((resolve) => child.stdout!.setEncoding('utf8').once('data', resolve));
      return child;
    };
    // Besides the strangers', the leader holds at most the user's shell and the status probe.
    const OURS = 4;
    const idle = await attack('idle', 4000);
    await until('the door refuses most idle sockets', async () => (refusals(`not logged in from ${stranger.ipv4}`) >= 1000 ? true : null), 60_000);
    expect((await leaderClients()).connections).toBeLessThanOrEqual(MAX_UNAUTHENTICATED_PER_SOURCE + OURS);
    expect(await timedLogin(u, 'login una pw-una-1')).toBeLessThan(1000);
    ok(await u.run('logout'));
    idle.kill('SIGKILL');
    await until('the leader holds none of the idle sockets', async () => ((await leaderClients()).connections <= OURS ? true : null), 60_000);

    // 1,000 slow senders from the same host: those let in fill the buffer bound, and the biggest are cut.
    const slow = await attack('slow', 1000);
    await until('the buffer bound cuts a slow sender', async () => (refusals(`over ${MAX_BUFFERED_BYTES} in all`) > 0 ? true : null), 60_000);
    const held = await leaderClients();
    expect(held.connections).toBeLessThanOrEqual(MAX_UNAUTHENTICATED_PER_SOURCE + OURS);
    expect(held.bufferedBytes).toBeLessThanOrEqual(MAX_BUFFERED_BYTES);
    expect(await timedLogin(u, 'login una pw-una-1')).toBeLessThan(1000);
    const grownBytes = rssBytes(leaderPid) - baselineRss;
    console.log(`abuse: leader RSS ${(baselineRss / 2 ** 20).toFixed(1)} MiB idle, +${(grownBytes / 2 ** 20).toFixed(1)} MiB under slow senders; holds ${held.connections} connections, ${held.bufferedBytes} bytes buffered`);
    expect(grownBytes).toBeLessThan(150 * 1024 * 1024);
    ok(await u.run('logout'));
    slow.kill('SIGKILL');

    // 50 wrong passwords for ada from the guesser's host: the free ones refused as wrong, then held back.
    const g = clique.shell(guesser);
    const answers = await g.run(...Array.from({ length: 50 }, (_, i) => `login ada wrong-${i}`));
    const codes = answers.map((a) => a.error?.code ?? 'OK');
    expect(codes.slice(0, FREE_FAILURES)).toEqual(Array<string>(FREE_FAILURES).fill('BAD_CREDENTIALS'));
    expect(codes.slice(FREE_FAILURES).every((c) => c === 'LOGIN_BACKOFF' || c === 'BAD_CREDENTIALS')).toBe(true);
    expect(codes.filter((c) => c === 'LOGIN_BACKOFF').length).toBeGreaterThan(40);
    expect(answers.at(-1)!.error?.message).toMatch(/retry in \d+ s/);
    // The right password from the guesser's host waits too; from the user's host it gets in at once.
    const [right] = await g.run('login ada pw-ada-1');
    expect(right).toMatchObject({ ok: false, error: { code: 'LOGIN_BACKOFF' } });
    expect(await timedLogin(u, 'login ada pw-ada-1')).toBeLessThan(1000);
  }, 300_000);
});
