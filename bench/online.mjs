// bench/online: 10,000 peers held online against a fresh three-node cluster of real `clique
// tracker` processes (TLS on every link, LevelDB, as shipped), issue 20. A few load processes
// (bench/lib/online-worker.mjs) hold the peers as real shells do, each peer over its own TLS
// connections (a TrackerClient and a TrackerSubscription) from its own loopback address,
// 127.0.0.2-127.0.0.41, so the per-address caps stay as shipped: a heartbeat every 5 s (the
// shell's default), 20 announced files (groups of 10, every member holding the group's 20
// files), one access ticket renewed at half its life. On top, in a measured window: 1,000
// logins and 5,000 ticket requests a minute. Then the same load while the leader is killed
// with -9.
//
// Scrypt: the peers' accounts are made cheap (the tracker's --scrypt-cost 16) so the setup
// measures the log, not the KDF. The logins measured in the windows are of other accounts,
// made before, at the real cost (N=16384, r=8, p=1, the default): the cluster first runs at the
// shipped cost to make them, then is restarted with --scrypt-cost 16 on the same data (a login
// derives with the parameters its account records). The scrypt time beside the login goal is
// those parameters timed with node:crypto in this process before the cluster starts.
//
// Prints, each beside its goal: login p50/p99 (goal p99 <= scrypt + 15 ms), ticket p50/p99
// (goal p99 < 20 ms), heartbeats/s handled, each node's CPU and RSS, the Raft commit index
// before and after the window and what the bench itself wrote in it (heartbeats must not be Raft
// writes); then, under the same load, kill -9 of the leader: time to a new leader, sessions
// expired (goal 0: none in the nodes' logs, no heartbeat answered NOT_LOGGED_IN), login and ticket
// errors during the failover.
//
//   node bench/online.mjs [--peers 10000] [--workers 4] [--seconds 60] [--failover-seconds 45]
//                         [--logins-per-minute 1000] [--tickets-per-minute 5000] [--login-accounts 200]
//                         [--group-size 10] [--files-per-peer 20] [--concurrency 32] [--seed 1] [--no-failover] [--keep-logs DIR]
//                         [--tracker-node-flags "FLAGS"] [--load-node-flags "FLAGS"]

import { fork, spawnSync } from 'node:child_process';
import { scrypt } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import { flag, freeClusterBase, launch, makeWorkDir, option, sleep, stop } from './lib/harness.mjs';
import { SOURCES, FIRST_SOURCE, loginName, loginPassword, plannedWrites } from './lib/online-plan.mjs';

const dist = new URL('../dist/', import.meta.url);
const { clusterTrust, makeCluster, writeCluster } = await import(new URL('tracker/cluster-config.js', dist));
const { TrackerClient } = await import(new URL('tracker/tracker-client.js', dist));
const { createRealWorld } = await import(new URL('world/real/real-world.js', dist));
const { REAL_KDF_PARAMS } = await import(new URL('world/kdf.js', dist));
const CLI = fileURLToPath(new URL('cli/clique.cjs', dist));
const WORKER = fileURLToPath(new URL('lib/online-worker.mjs', import.meta.url));

const PEERS = Number(option('--peers', 'ONLINE_PEERS', '10000'));
const WORKERS = Number(option('--workers', 'ONLINE_WORKERS', '4'));
const SECONDS = Number(option('--seconds', 'ONLINE_SECONDS', '60'));
const FAILOVER_SECONDS = Number(option('--failover-seconds', 'ONLINE_FAILOVER_SECONDS', '45'));
const KILL_AFTER_SECONDS = 5;
const QUIET_SECONDS = Number(option('--quiet-seconds', 'ONLINE_QUIET_SECONDS', '15'));
const SETTLE_SECONDS = Number(option('--settle-seconds', 'ONLINE_SETTLE_SECONDS', '10'));
const LOGINS_PER_MINUTE = Number(option('--logins-per-minute', 'ONLINE_LOGINS', '1000'));
const TICKETS_PER_MINUTE = Number(option('--tickets-per-minute', 'ONLINE_TICKETS', '5000'));
const LOGIN_ACCOUNTS = Number(option('--login-accounts', 'ONLINE_LOGIN_ACCOUNTS', '200'));
const GROUP_SIZE = Number(option('--group-size', 'ONLINE_GROUP_SIZE', '10'));
const FILES_PER_PEER = Number(option('--files-per-peer', 'ONLINE_FILES', '20'));
const CONCURRENCY = Number(option('--concurrency', 'ONLINE_CONCURRENCY', '32'));
const SEED = option('--seed', 'ONLINE_SEED', '1');
const FAILOVER = !flag('--no-failover');
/** Where to copy the nodes' logs at the end (the work dir is removed). */
const KEEP_LOGS = option('--keep-logs', 'ONLINE_KEEP_LOGS', null);
/** Node flags for the tracker processes (e.g. `--cpu-prof --cpu-prof-dir=DIR` to see where a node's time goes). */
const TRACKER_NODE_FLAGS = (option('--tracker-node-flags', 'ONLINE_TRACKER_NODE_FLAGS', '') ?? '').split(' ').filter((f) => f !== '');
/** Node flags for the load processes (e.g. `--cpu-prof --cpu-prof-dir=DIR`: a load process whose own loop stalls delays what it measures). */
const LOAD_NODE_FLAGS = (option('--load-node-flags', 'ONLINE_LOAD_NODE_FLAGS', '') ?? '').split(' ').filter((f) => f !== '');
/** The shell's default (PeerNode heartbeatMs) and the tracker's default ticket lifetime (5 min, notBefore 10 s back): renewed every 155 s. */
const HEARTBEAT_MS = 5_000;
const TICKET_HALF_LIFE_MS = (5 * 60_000 + 10_000) / 2;
const CHEAP_SCRYPT_COST = 16;
const SCRYPT_SAMPLES = 20;
const GOAL_LOGIN_OVER_SCRYPT_MS = 15;
const GOAL_TICKET_P99_MS = 20;
const MiB = 1024 * 1024;

const world = createRealWorld();
const root = makeWorkDir('clique-bench-online-');
const workers = new Set();
process.on('exit', () => {
  for (const w of workers) w.kill('SIGKILL');
});

const int = (n) => Math.round(n).toLocaleString('en-US');
const ms = (n) => (Number.isFinite(n) ? `${n.toFixed(1)} ms` : 'n/a');
const seconds = (n) => `${(n / 1000).toFixed(2)} s`;
const quantile = (sorted, q) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);
const goals = [];
function goal(what, ok) {
  goals.push({ what, ok });
  return ok ? 'met' : 'MISSED';
}
const say = (line) => console.log(`online: ${line}`);

// ---- scrypt ----------------------------------------------------------------------------------

/** The real parameters' derivation time in this process, one at a time: median and slowest of SCRYPT_SAMPLES. */
function deriveOnceMs(i) {
  const { costN: N, blockSizeR: r, parallelP: p, keyLengthBytes } = REAL_KDF_PARAMS;
  const maxmem = 2 * 128 * N * r * p + MiB;
  const startedMs = performance.now();
  return new Promise((resolve, reject) => scrypt(`password ${i}`, Buffer.alloc(16, i % 256), keyLengthBytes, { N, r, p, maxmem }, (error) => (error ? reject(error) : resolve(performance.now() - startedMs))));
}

async function scryptTime() {
  const { costN: N, blockSizeR: r, parallelP: p } = REAL_KDF_PARAMS;
  const times = [];
  for (let i = 0; i < SCRYPT_SAMPLES + 2; i++) {
    const tookMs = await deriveOnceMs(i);
    if (i >= 2) times.push(tookMs); // the first two warm the thread pool
  }
  times.sort((a, b) => a - b);
  return { N, r, p, medianMs: quantile(times, 0.5), maxMs: times[times.length - 1] };
}

/** The same derivation timed every 2 s while `until()` is false: what scrypt costs on this machine under the load. */
async function scryptUnderLoad(until) {
  const times = [];
  for (let i = 0; !until(); i++) {
    times.push(await deriveOnceMs(i));
    await sleep(2_000);
  }
  return times.sort((a, b) => a - b);
}

// ---- the cluster -----------------------------------------------------------------------------

const CLOCK_TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU seconds (user + system) a process has used, and its RSS and peak RSS in bytes. */
/** The machine's CPU time so far, busy and in all, in clock ticks (/proc/stat's first line). */
function machineTicks() {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const idle = fields[3] + fields[4]; // idle, iowait
  const all = fields.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: all - idle, all };
}

function processFigures(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { cpuSeconds, rssBytes: kib('VmRSS'), peakBytes: kib('VmHWM') };
  } catch {
    return { cpuSeconds: NaN, rssBytes: NaN, peakBytes: NaN };
  }
}

async function makeClusterFiles(dir) {
  mkdirSync(dir, { recursive: true });
  const cluster = await makeCluster(world, { nodes: 3, host: '127.0.0.1', basePort: await freeClusterBase() });
  const clusterPath = join(dir, 'cluster.json');
  await writeCluster(world.fs, clusterPath, cluster);
  const ids = cluster.config.nodes.map((n) => n.id);
  const clientOf = new Map(cluster.config.nodes.map((n) => [n.id, n.client]));
  const procs = new Map();
  const logPath = (id) => join(dir, `${id}.log`);
  let extra = [];
  const start = (id) => procs.set(id, launch(process.execPath, [...TRACKER_NODE_FLAGS, CLI, 'tracker', '--id', id, '--cluster', clusterPath, '--data', join(dir, id), ...extra], { log: logPath(id) }));
  const probe = new TrackerClient(world, { nodes: [...clientOf.values()], trust: clusterTrust(cluster.config), clientId: 'online-probe' });
  const statuses = async () => new Map(await Promise.all(ids.map(async (id) => [id, await probe.status(clientOf.get(id))])));
  const leader = async () => {
    const all = [...(await statuses())].filter(([, s]) => s?.role === 'leader').sort(([, a], [, b]) => b.term - a.term);
    return all[0] ?? null;
  };
  const c = {
    dir, clusterPath, config: cluster.config, ids, clientOf, procs, logPath, probe, statuses, leader, start,
    /** Starts every node with `args` after the shipped ones, and waits for a leader. */
    async startAll(args) {
      extra = args;
      for (const id of ids) start(id);
      const deadline = Date.now() + 60_000;
      while ((await leader()) === null) {
        if (Date.now() > deadline) throw new Error(`no leader after 60 s (logs in ${dir})`);
        await sleep(50);
      }
    },
    async stopAll() {
      await Promise.all([...procs.values()].map((child) => stop(child)));
      procs.clear();
    },
  };
  return c;
}

/** The real-cost accounts the measured logins use, made while the cluster runs at the shipped cost. */
async function makeLoginAccounts(c) {
  const clients = Array.from({ length: 4 }, (_, i) => new TrackerClient(world, { nodes: c.config.nodes.map((n) => n.client), trust: clusterTrust(c.config), clientId: `accounts-${i}`, deadlineMs: 60_000 }));
  let next = 0;
  await Promise.all(
    clients.map(async (client) => {
      while (next < LOGIN_ACCOUNTS) {
        const i = next++;
        await client.createUser(loginName(i), loginPassword(i));
      }
    }),
  );
  for (const client of clients) client.close();
}

// ---- load processes --------------------------------------------------------------------------

function forkWorkers(c) {
  const progress = new Array(WORKERS).fill(null);
  const listeners = new Set();
  const children = Array.from({ length: WORKERS }, (_, index) => {
    const job = { index, workers: WORKERS, seed: SEED, peers: PEERS, groupSize: GROUP_SIZE, filesPerPeer: FILES_PER_PEER, cluster: c.clusterPath, heartbeatMs: HEARTBEAT_MS, concurrency: CONCURRENCY, ticketHalfLifeMs: TICKET_HALF_LIFE_MS };
    const child = fork(WORKER, [JSON.stringify(job)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [...process.execArgv, ...LOAD_NODE_FLAGS] });
    workers.add(child);
    child.on('error', (error) => say(`load process ${index}: ${error.message}`)); // a send to one that is gone
    child.on('message', (m) => {
      if (m.type === 'progress') progress[index] = m;
      for (const listener of listeners) listener(index, m);
    });
    child.once('exit', (code, signal) => {
      workers.delete(child);
      for (const listener of listeners) listener(index, { type: 'exited', code, signal });
    });
    return child;
  });
  /** Resolves with each worker's first message of `type` (rejects if one fails or exits first). */
  const all = (type) =>
    new Promise((resolve, reject) => {
      const got = new Array(WORKERS).fill(undefined);
      const listener = (index, m) => {
        if (m.type === 'failed') return reject(new Error(`load process ${index} failed in its ${m.phase} phase after ${m.done} writes: ${m.code} ${m.message}`));
        if (m.type === 'exited' && got[index] === undefined) return reject(new Error(`load process ${index} exited (${m.code}${m.signal ? `, ${m.signal}` : ''}) before '${type}'`));
        if (m.type !== type || got[index] !== undefined) return;
        got[index] = m;
        if (got.every((x) => x !== undefined)) {
          listeners.delete(listener);
          resolve(got);
        }
      };
      listeners.add(listener);
    });
  const send = (message) => children.forEach((child) => child.connected && child.send(message));
  return { children, progress, all, send };
}

// ---- reading the figures ---------------------------------------------------------------------

function latencies(stats, kind) {
  const rows = stats.flatMap((s) => s[kind]);
  const ok = rows.filter(([, , code]) => code === null).map(([, latency]) => latency).sort((a, b) => a - b);
  const errors = {};
  for (const [, , code] of rows) if (code !== null) errors[code] = (errors[code] ?? 0) + 1;
  return { rows, ok, errors, errorCount: rows.length - ok.length };
}
const errorText = (errors) => (Object.keys(errors).length === 0 ? 'no errors' : Object.entries(errors).map(([code, n]) => `${n} ${code}`).join(', '));

function nodeFigures(c) {
  return new Map(c.ids.map((id) => [id, c.procs.has(id) ? processFigures(c.procs.get(id).pid) : null]));
}

function printNodes(c, label, before, after, statusesAfter, windowMs, statusesBefore = new Map()) {
  for (const id of c.ids) {
    const a = before.get(id);
    const b = after.get(id);
    const s = statusesAfter.get(id);
    const admittedBefore = statusesBefore.get(id)?.clients?.admitted;
    const admittedAfter = s?.clients?.admitted;
    const newConnections = admittedBefore === undefined || admittedAfter === undefined ? '' : `, new connections ${int((1000 * (admittedAfter - admittedBefore)) / windowMs)}/s (each a TLS handshake)`;
    if (a === null || b === null) {
      say(`  ${label} ${id}: not running`);
      continue;
    }
    const cpu = (100 * (b.cpuSeconds - a.cpuSeconds)) / (windowMs / 1000);
    say(`  ${label} ${id} (${s?.role ?? 'no answer'}): CPU ${cpu.toFixed(0)} % of a core, RSS ${(b.rssBytes / MiB).toFixed(1)} MiB (peak ${(b.peakBytes / MiB).toFixed(1)} MiB), client connections ${s?.clients?.connections ?? '?'}${newConnections}, sessions ${s?.sessions ?? '?'}`);
  }
}

// ---- the run ---------------------------------------------------------------------------------

async function measuredWindow(c, load, name, windowSeconds, duringWindow = async () => {}, rates = { logins: LOGINS_PER_MINUTE, tickets: TICKETS_PER_MINUTE }) {
  const statusesBefore = await c.statuses();
  const before = nodeFigures(c);
  const leaderBefore = [...statusesBefore].filter(([, s]) => s?.role === 'leader').sort(([, a], [, b]) => b.term - a.term)[0];
  const cpuBefore = load.children.map((child) => processFigures(child.pid).cpuSeconds);
  const machineBefore = machineTicks();
  const startedMs = performance.now();
  const wallFromMs = Date.now();
  const monotonicFromUs = process.hrtime.bigint() / 1000n;
  const share = (total) => total / WORKERS;
  const statsPromise = load.all('stats');
  const accounts = (index) => Array.from({ length: LOGIN_ACCOUNTS }, (_, i) => i).filter((i) => i % WORKERS === index);
  load.children.forEach((child, index) => child.send({ type: 'window', name, seconds: windowSeconds, loginsPerMinute: share(rates.logins), ticketsPerMinute: share(rates.tickets), accounts: accounts(index) }));
  let over = false;
  const scryptTimes = scryptUnderLoad(() => over);
  const during = await duringWindow(startedMs);
  const stats = await statsPromise;
  over = true;
  const scryptLoadedMs = await scryptTimes;
  const windowMs = performance.now() - startedMs;
  const wallToMs = Date.now();
  const monotonicToUs = process.hrtime.bigint() / 1000n;
  const after = nodeFigures(c);
  const statusesAfter = await c.statuses();
  const cpuAfter = load.children.map((child) => processFigures(child.pid).cpuSeconds);
  const machineAfter = machineTicks();
  const machineBusy = (machineAfter.busy - machineBefore.busy) / (machineAfter.all - machineBefore.all);
  return { name, scryptLoadedMs, stats, windowMs, before, after, statusesBefore, statusesAfter, leaderBefore, during, machineBusy, wallFromMs, wallToMs, monotonicFromUs, monotonicToUs, generatorCpu: cpuAfter.map((cpu, i) => (100 * (cpu - cpuBefore[i])) / (windowMs / 1000)) };
}

function printWindow(c, w, scrypt) {
  const logins = latencies(w.stats, 'logins');
  const tickets = latencies(w.stats, 'tickets');
  const renewals = latencies(w.stats, 'renewals');
  const allTickets = [...tickets.ok, ...renewals.ok].sort((a, b) => a - b);
  const heartbeatsOk = w.stats.reduce((sum, s) => sum + s.windowHeartbeatsOk, 0);
  const heartbeatLatencies = w.stats.flatMap((s) => s.heartbeatLatencies).sort((a, b) => a - b);
  const heartbeatErrors = {};
  for (const s of w.stats) for (const [, , code] of s.heartbeatErrors) heartbeatErrors[code] = (heartbeatErrors[code] ?? 0) + 1;
  const windowS = w.windowMs / 1000;
  const loginGoalMs = scrypt.medianMs + GOAL_LOGIN_OVER_SCRYPT_MS;
  say(`  scrypt (N=${scrypt.N}, r=${scrypt.r}, p=${scrypt.p}) timed in the bench process during the window, every 2 s: median ${ms(quantile(w.scryptLoadedMs, 0.5))}, slowest ${ms(w.scryptLoadedMs[w.scryptLoadedMs.length - 1])} of ${w.scryptLoadedMs.length}`);
  say(`  logins: ${int(logins.ok.length)} in ${windowS.toFixed(1)} s (${int((60 * logins.ok.length) / windowS)}/min, ${errorText(logins.errors)}), p50 ${ms(quantile(logins.ok, 0.5))}, p99 ${ms(quantile(logins.ok, 0.99))}; scrypt (N=${scrypt.N}, r=${scrypt.r}, p=${scrypt.p}, the cost these accounts record) ${ms(scrypt.medianMs)} before the load  goal p99 <= scrypt + ${GOAL_LOGIN_OVER_SCRYPT_MS} ms = ${ms(loginGoalMs)}: ${goal(`${w.name} login p99`, quantile(logins.ok, 0.99) <= loginGoalMs)}`);
  say(`  ticket requests: ${int(tickets.ok.length)} (${int((60 * tickets.ok.length) / windowS)}/min, ${errorText(tickets.errors)}), p50 ${ms(quantile(tickets.ok, 0.5))}, p99 ${ms(quantile(tickets.ok, 0.99))}; the peers' renewals: ${int(renewals.ok.length)} (${int((60 * renewals.ok.length) / windowS)}/min, ${errorText(renewals.errors)}), p50 ${ms(quantile(renewals.ok, 0.5))}, p99 ${ms(quantile(renewals.ok, 0.99))}; all tickets p99 ${ms(quantile(allTickets, 0.99))}  goal p99 < ${GOAL_TICKET_P99_MS} ms: ${goal(`${w.name} ticket p99`, quantile(allTickets, 0.99) < GOAL_TICKET_P99_MS)}`);
  say(`  heartbeats: ${int(heartbeatsOk / windowS)}/s answered (${int(heartbeatsOk)} in the window; ${int(PEERS / (HEARTBEAT_MS / 1000))}/s if every peer beat every ${HEARTBEAT_MS / 1000} s), p50 ${ms(quantile(heartbeatLatencies, 0.5))}, p99 ${ms(quantile(heartbeatLatencies, 0.99))}, ${errorText(heartbeatErrors)}`);
  const online = w.stats.reduce((sum, s) => sum + s.online, 0);
  const streams = w.stats.reduce((sum, s) => sum + s.streams, 0);
  const expired = w.stats.reduce((sum, s) => sum + s.totals.expired, 0);
  say(`  peers: ${int(online)} with a session, ${int(streams)} push streams open at the end; sessions the tracker expired so far: ${int(expired)}; load processes' CPU ${w.generatorCpu.map((p) => `${p.toFixed(0)} %`).join(', ')}, their event loops' delay p99 ${w.stats.map((s) => ms(s.loopDelayP99Ms)).join(', ')}, longest ${w.stats.map((s) => ms(s.loopDelayMaxMs)).join(', ')}`);
  printNodes(c, 'node', w.before, w.after, w.statusesAfter, w.windowMs, w.statusesBefore);
  printEventLoops(c, w.wallFromMs, w.wallToMs);
  say(`  machine: ${(100 * w.machineBusy).toFixed(0)} % of its ${availableParallelism()} cores busy over the window`);
  // A --cpu-prof profile's timestamps are this machine's monotonic clock in µs: the window in it.
  if (TRACKER_NODE_FLAGS.some((f) => f.startsWith('--cpu-prof'))) say(`  profile window (monotonic µs): ${w.monotonicFromUs}-${w.monotonicToUs} (node bench/profile-window.mjs PROFILE ${w.monotonicFromUs} ${w.monotonicToUs})`);
  return { logins, tickets, renewals, heartbeatsOk, online, expired };
}

/**
 * Each node's event loop over the window, from its `event_loop` log lines (every 10 s: how late
 * a 10 ms timer ran, and the collector's pauses): a stalled loop holds Raft's heartbeats and
 * every answer back alike.
 */
function printEventLoops(c, fromWallMs, toWallMs) {
  for (const id of c.ids) {
    if (!existsSync(c.logPath(id))) continue;
    const rows = loggedEvents(c, id, 'event_loop').filter((entry) => entry.timeMs > fromWallMs && entry.timeMs - entry.intervalMs < toWallMs);
    if (rows.length === 0) {
      say(`  event loop ${id}: no report in the window`);
      continue;
    }
    const worst = (key) => Math.max(...rows.map((r) => r[key]));
    const sum = (key) => rows.reduce((total, r) => total + r[key], 0);
    const spanS = sum('intervalMs') / 1000;
    say(`  event loop ${id} (${rows.length} reports of 10 s): delay p50 ${ms(quantile(rows.map((r) => r.delayP50Ms).sort((a, b) => a - b), 0.5))} (median of the reports), p99 up to ${ms(worst('delayP99Ms'))}, longest ${ms(worst('delayMaxMs'))}; GC ${ms(sum('gcPauseMs'))} in ${int(sum('gcCount'))} pauses (${((100 * sum('gcPauseMs')) / 1000 / spanS).toFixed(1)} % of the time), longest ${ms(worst('gcMaxPauseMs'))}${longestKind(rows)}`);
  }
}

/** The kind of the window's longest collection pause (real-loop-watch.ts), if the reports say. */
function longestKind(rows) {
  const longest = rows.reduce((a, b) => (b.gcMaxPauseMs > a.gcMaxPauseMs ? b : a));
  return longest.gcMaxPauseKind ? ` (${longest.gcMaxPauseKind})` : '';
}

/** Commit index at the leader before and after, and the entries the bench itself caused. */
function printCommits(w) {
  const leaderAfter = [...w.statusesAfter].filter(([, s]) => s?.role === 'leader').sort(([, a], [, b]) => b.term - a.term)[0];
  if (!w.leaderBefore || !leaderAfter) return say('  raft: no leader to ask');
  say(`  raft: term ${w.leaderBefore[1].term} before, ${leaderAfter[1].term} after (${leaderAfter[1].term - w.leaderBefore[1].term} elections in the window)`);
  const entries = leaderAfter[1].commit - w.leaderBefore[1].commit;
  const logins = w.stats.reduce((sum, s) => sum + s.logins.filter(([, , code]) => code === null).length, 0);
  const closes = w.stats.reduce((sum, s) => sum + s.sessionsClosed, 0);
  const ours = logins + closes;
  const heartbeats = w.stats.reduce((sum, s) => sum + s.windowHeartbeatsOk, 0);
  say(`  raft: commit index ${int(w.leaderBefore[1].commit)} (${w.leaderBefore[0]}) before, ${int(leaderAfter[1].commit)} (${leaderAfter[0]}) after: ${int(entries)} entries, of which the window's logins and logouts answered ${int(ours)}; the rest, ${int(entries - ours)} (logins whose answer was lost, their sessions left open; expiries), against ${int(heartbeats)} heartbeats answered`);
}

let c = null;
let load = null;
try {
  say(`${int(PEERS)} peers in ${WORKERS} load processes from ${SOURCES} addresses (127.0.0.${FIRST_SOURCE}-127.0.0.${FIRST_SOURCE + SOURCES - 1}), groups of ${GROUP_SIZE}, ${FILES_PER_PEER} files a peer, a heartbeat every ${HEARTBEAT_MS / 1000} s, a ticket renewed every ${TICKET_HALF_LIFE_MS / 1000} s; window ${SECONDS} s with ${int(LOGINS_PER_MINUTE)} logins/min (${LOGIN_ACCOUNTS} accounts at the real scrypt cost) and ${int(TICKETS_PER_MINUTE)} tickets/min; seed ${SEED}`);
  const scrypt = await scryptTime();
  say(`scrypt N=${scrypt.N}, r=${scrypt.r}, p=${scrypt.p} in this process before the cluster starts: median ${ms(scrypt.medianMs)}, slowest ${ms(scrypt.maxMs)} of ${SCRYPT_SAMPLES}`);
  c = await makeClusterFiles(join(root, 'cluster'));
  let t = performance.now();
  await c.startAll([]);
  await makeLoginAccounts(c);
  await c.stopAll();
  await c.startAll(['--scrypt-cost', String(CHEAP_SCRYPT_COST)]);
  say(`${LOGIN_ACCOUNTS} login accounts made at the shipped scrypt cost, the cluster restarted with --scrypt-cost ${CHEAP_SCRYPT_COST} for the peers' accounts: ${seconds(performance.now() - t)}`);

  // Setup: accounts, logins (each peer online from then on), groups, joins, accepts, announces.
  t = performance.now();
  load = forkWorkers(c);
  const planned = plannedWrites({ peers: PEERS, groupSize: GROUP_SIZE, filesPerPeer: FILES_PER_PEER });
  const ticker = setInterval(() => {
    const p = load.progress.filter((x) => x !== null);
    const sum = (field) => p.reduce((s, x) => s + (x[field] ?? 0), 0);
    say(`  ... ${seconds(performance.now() - t)}: ${int(sum('done'))} of ${int(planned)} setup writes (phases ${p.map((x) => x.phase).join(', ')}); ${int(sum('online'))} peers online, ${int(sum('streams'))} push streams, heartbeats ${int(sum('heartbeatsOk'))} answered and ${int(sum('heartbeatsFailed'))} failed so far, ${int(sum('expired'))} sessions expired, ${int(sum('retried'))} writes retried`);
  }, 10_000);
  let ready;
  try {
    ready = await load.all('ready');
  } finally {
    clearInterval(ticker);
  }
  const setupMs = performance.now() - t;
  const writes = ready.reduce((s, r) => s + r.done, 0);
  const phases = ready[0].phaseTimes.map(({ name }, i) => {
    const longest = Math.max(...ready.map((r) => r.phaseTimes[i].ms));
    const count = ready.reduce((s, r) => s + r.phaseTimes[i].writes, 0);
    return `${name} ${seconds(longest)} (${int(count)}, ${int((count * 1000) / longest)}/s)`;
  });
  say(`setup: ${seconds(setupMs)}, ${int(writes)} writes (${int((writes * 1000) / setupMs)}/s; ${int(ready.reduce((s, r) => s + r.retried, 0))} retried): ${phases.join('; ')}`);

  // Login clients warmed (each has found the leader), then the load settles (tickets spread).
  load.children.forEach((child, index) => child.send({ type: 'warm', accounts: Array.from({ length: 8 }, (_, k) => (index + k * WORKERS) % LOGIN_ACCOUNTS) }));
  await load.all('warmed');
  await sleep(SETTLE_SECONDS * 1000);

  // Heartbeats alone (and the peers' own ticket renewals, which are reads): nothing in this
  // window asks for a write, so every entry committed in it is one the tracker made itself.
  say(`quiet window: ${QUIET_SECONDS} s of heartbeats and the peers' renewals alone`);
  const quiet = await measuredWindow(c, load, 'quiet', QUIET_SECONDS, async () => {}, { logins: 0, tickets: 0 });
  {
    const leaderAfter = [...quiet.statusesAfter].filter(([, s]) => s?.role === 'leader').sort(([, a], [, b]) => b.term - a.term)[0];
    const heartbeats = quiet.stats.reduce((sum, s) => sum + s.windowHeartbeatsOk, 0);
    const entries = leaderAfter && quiet.leaderBefore ? leaderAfter[1].commit - quiet.leaderBefore[1].commit : NaN;
    say(`  heartbeats: ${int(heartbeats / (quiet.windowMs / 1000))}/s answered (${int(heartbeats)} in ${(quiet.windowMs / 1000).toFixed(1)} s); raft: commit index ${int(quiet.leaderBefore?.[1].commit ?? NaN)} before, ${int(leaderAfter?.[1].commit ?? NaN)} after: ${int(entries)} entries, term ${quiet.leaderBefore?.[1].term} to ${leaderAfter?.[1].term}  goal heartbeats are no Raft writes (no entry): ${goal('heartbeats are no Raft writes', entries === 0)}`);
    printNodes(c, 'node', quiet.before, quiet.after, quiet.statusesAfter, quiet.windowMs, quiet.statusesBefore);
  }

  say(`steady window: ${SECONDS} s`);
  const steady = await measuredWindow(c, load, 'steady', SECONDS);
  printWindow(c, steady, scrypt);
  keepWindow(steady);
  printCommits(steady);

  if (FAILOVER) {
    say(`failover window: ${FAILOVER_SECONDS} s of the same load; kill -9 of the leader ${KILL_AFTER_SECONDS} s in`);
    const failover = await measuredWindow(c, load, 'failover', FAILOVER_SECONDS, async (startedMs) => {
      const windowWallMs = Date.now() - (performance.now() - startedMs);
      await sleep(KILL_AFTER_SECONDS * 1000);
      // A node in a long pause (a full collection) may miss the status probe's 1 s: ask again.
      let found = await c.leader();
      for (let tries = 0; found === null && tries < 50; tries++) {
        await sleep(100);
        found = await c.leader();
      }
      if (found === null) throw new Error('no leader answered within the probes before the kill');
      const [leaderId, leaderStatus] = found;
      const sessionsBefore = leaderStatus.sessions;
      const child = c.procs.get(leaderId);
      child.kill('SIGKILL');
      const killedMs = performance.now();
      const killedWallMs = Date.now();
      await child.exited;
      c.procs.delete(leaderId);
      let elected = null;
      while (elected === null && performance.now() - killedMs < 30_000) {
        const next = await c.leader();
        if (next !== null && next[0] !== leaderId && next[1].term > leaderStatus.term) elected = { id: next[0], ms: performance.now() - killedMs, term: next[1].term };
        else await sleep(10);
      }
      return { leaderId, killedAtMs: killedMs - startedMs, killedWallMs, elected, sessionsBefore, termBefore: leaderStatus.term, windowWallMs };
    });
    const d = failover.during;
    // The probe opens a TLS connection to each node, and a survivor queues it behind the dead
    // node's clients' handshakes: it can reach the new leader long after the election. The
    // nodes' own logs say when one won.
    const won = electedByLogs(c, d.killedWallMs, d.termBefore);
    const byLogs = won === null ? 'none in the nodes\' logs' : `${won.id} (term ${won.term}) ${seconds(won.ms)} after the kill by its log (role_changed)`;
    say(`  killed ${d.leaderId} (term ${d.termBefore}) ${seconds(d.killedAtMs)} into the window; new leader: ${byLogs}; the bench's status probe first reached ${d.elected === null ? 'none within 30 s' : `${d.elected.id} (term ${d.elected.term}) as leader after ${seconds(d.elected.ms)}`}`);
    const f = printWindow(c, failover, scrypt);
    keepWindow(failover);
    const after = [...failover.statusesAfter].find(([, s]) => s?.role === 'leader')?.[1];
    const expiredInWindow = f.expired - steady.stats.reduce((sum, s) => sum + s.totals.expired, 0);
    // What the peers saw can miss expiries (a heartbeat that found no node to answer it): the
    // nodes' own logs say which sessions they expired.
    const expiredLogged = expiriesLogged(c, d.windowWallMs);
    say(`  sessions: ${int(d.sessionsBefore)} in the state at the kill, ${after?.sessions === undefined ? '?' : int(after.sessions)} ${FAILOVER_SECONDS - KILL_AFTER_SECONDS} s later (the window's logins close theirs); the online peers' sessions the tracker expired in the window: ${int(expiredLogged.peers)} by the nodes' logs (session_expired), ${int(expiredInWindow)} heartbeats answered NOT_LOGGED_IN  goal 0: ${goal('no session expired across the failover', expiredInWindow === 0 && expiredLogged.peers === 0)}; besides, ${int(expiredLogged.visits)} sessions of the window's logins whose answer was lost (nobody holds them)`);
    const afterKill = (rows) => rows.filter(([at]) => at >= d.killedAtMs);
    const errorsAfterKill = (kind) => {
      const rows = afterKill(failover.stats.flatMap((s) => s[kind]));
      const failed = rows.filter(([, , code]) => code !== null);
      const slowest = Math.max(0, ...rows.map(([, latency]) => latency));
      return `${int(failed.length)} of ${int(rows.length)} failed, the slowest took ${ms(slowest)}`;
    };
    say(`  after the kill: logins ${errorsAfterKill('logins')}; ticket requests ${errorsAfterKill('tickets')}; renewals ${errorsAfterKill('renewals')}`);
    // What the clients saw, 5 s at a time from the kill: requests started in each span, answered/failed.
    const spans = [];
    for (let fromMs = Math.floor(d.killedAtMs / 1000) * 1000 - 5_000; fromMs < FAILOVER_SECONDS * 1000; fromMs += 5_000) {
      const inSpan = (kind) => failover.stats.flatMap((s) => s[kind]).filter(([at]) => at >= fromMs && at < fromMs + 5_000);
      const okFailed = (rows) => `${rows.filter(([, , code]) => code === null).length}/${rows.filter(([, , code]) => code !== null).length}`;
      const beats = [0, 0];
      for (const s of failover.stats) for (let second = fromMs / 1000; second < fromMs / 1000 + 5; second++) {
        const counts = s.heartbeatsPerSecond[second];
        if (counts) {
          beats[0] += counts[0];
          beats[1] += counts[1];
        }
      }
      spans.push(`${((fromMs - d.killedAtMs) / 1000).toFixed(0).padStart(3)} s: logins ${okFailed(inSpan('logins'))}, tickets ${okFailed(inSpan('tickets'))}, renewals ${okFailed(inSpan('renewals'))}, heartbeats ${beats[0]}/${beats[1]}`);
    }
    say(`  answered/failed by when they started, 5 s spans from the kill:\n${spans.map((line) => `online:     ${line}`).join('\n')}`);
    printCommits(failover);
  }
} catch (error) {
  say(`failed: ${error instanceof Error ? error.stack : String(error)}`);
  if (c !== null) {
    for (const id of c.ids) {
      const lines = existsSync(c.logPath(id)) ? readFileSync(c.logPath(id), 'utf8').trim().split('\n') : [];
      say(`${id}'s log ends:\n${lines.slice(-8).join('\n')}`);
    }
  }
  throw error;
} finally {
  if (load !== null) {
    const stopped = load.all('stopped').catch(() => undefined);
    load.send({ type: 'stop' });
    await Promise.race([stopped, sleep(5_000)]);
    // A load process writes its profile (--load-node-flags --cpu-prof) as it exits: let it.
    const exitDeadline = performance.now() + (LOAD_NODE_FLAGS.length > 0 ? 60_000 : 1_000);
    while (workers.size > 0 && performance.now() < exitDeadline) await sleep(100);
    for (const w of workers) w.kill('SIGKILL');
  }
  if (c !== null) {
    c.probe.close();
    await c.stopAll();
    if (KEEP_LOGS !== null) {
      mkdirSync(KEEP_LOGS, { recursive: true });
      for (const id of c.ids) if (existsSync(c.logPath(id))) cpSync(c.logPath(id), join(KEEP_LOGS, `${id}.log`));
      say(`the nodes' logs are in ${KEEP_LOGS}`);
    }
  }
  const missed = goals.filter((g) => !g.ok);
  say(`goals: ${goals.length - missed.length} of ${goals.length} met${missed.length > 0 ? `; MISSED: ${missed.map((g) => g.what).join('; ')}` : ''}`);
}

/**
 * With --keep-logs, a window's every login, ticket and renewal as the load processes measured it
 * ([ms into the window it started, ms it took, error code or null]), beside the window's start
 * on the wall clock, to set against the nodes' logs.
 */
function keepWindow(w) {
  if (KEEP_LOGS === null) return;
  mkdirSync(KEEP_LOGS, { recursive: true });
  const requests = (kind) => w.stats.flatMap((s) => s[kind]);
  writeFileSync(join(KEEP_LOGS, `window-${w.name}.json`), JSON.stringify({ wallFromMs: w.wallFromMs, logins: requests('logins'), tickets: requests('tickets'), renewals: requests('renewals') }));
}

/** The first node that logged itself leader in a term after `termBefore`, and how long after the kill. */
function electedByLogs(c, killedWallMs, termBefore) {
  let first = null;
  for (const id of c.ids) {
    for (const entry of loggedEvents(c, id, 'role_changed')) {
      if (entry.role !== 'leader' || entry.term <= termBefore || entry.timeMs < killedWallMs) continue;
      if (first === null || entry.timeMs < first.timeMs) first = { id: entry.node, term: entry.term, timeMs: entry.timeMs };
    }
  }
  return first === null ? null : { id: first.id, term: first.term, ms: first.timeMs - killedWallMs };
}

/** A node's log lines of one event, parsed (none when it has no log). */
function loggedEvents(c, id, event) {
  if (!existsSync(c.logPath(id))) return [];
  const marker = `"event":"${event}"`;
  return readFileSync(c.logPath(id), 'utf8')
    .split('\n')
    .filter((line) => line.includes(marker))
    .map((line) => JSON.parse(line));
}

/**
 * Sessions the nodes logged as expired (`session_expired`) at or after `sinceWallMs`, each counted
 * once: the online peers' (`peers`), and the window's visiting logins' (`visits`: a login whose
 * answer the failover lost is a session nobody holds, so it expires as it should).
 */
function expiriesLogged(c, sinceWallMs) {
  const peers = new Set();
  const visits = new Set();
  for (const id of c.ids) {
    for (const entry of loggedEvents(c, id, 'session_expired')) {
      if (entry.timeMs >= sinceWallMs) (entry.user.startsWith(loginName('')) ? visits : peers).add(entry.sessionId);
    }
  }
  return { peers: peers.size, visits: visits.size };
}
