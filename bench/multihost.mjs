// bench/multihost: downloads across hosts on limited links. Every peer runs on a host of its own
// (a network namespace of the multi-host lab, spec/helpers/netns.ts, compiled to dist-bench),
// with tbf rate limits on its link, so a client is measured against the physical limit of the
// links rather than against loopback. Three scenarios, one lab each:
//   limited  3 seeders + 1 leecher, every host 200 Mbit/s up and down: ours, then aria2 and
//            qBittorrent in the same topology (3 seeders + 1 leecher of their own kind, opentracker
//            on a host of its own). Per client: seconds, MiB/s, the ratio to the link limit (file
//            size / 200 Mbit/s), leecher CPU and peak RSS (/usr/bin/time -v); ours / qBittorrent.
//            Goals: ours <= 1.1x the link limit, and <= 0.8x qBittorrent's time.
//   uplinks  3 seeders at 50 Mbit/s up each (down unlimited), the leecher at 1 Gbit/s down: the
//            download must add the uplinks together, limit = size / 150 Mbit/s. Ours, aria2 and
//            qBittorrent. Goal: ours <= 1.1x that limit.
//   crowd    1 seeder + 8 leechers, each host 100 Mbit/s up and down, the leechers all started at
//            once, each given the seeder and all the other leechers and serving them: time until
//            all finish (against size / 100 Mbit/s, what every leecher's downlink and the seeder's
//            uplink need at least), and the share of the bytes the leechers got from each other
//            (their complete events' bytesFromPeer). aria2 beside it (1 + 8 via opentracker,
//            leechers seeding on; its share from the bytes the seeder wrote, /proc/PID/io wchar).
// Time to complete: ours, leecher spawn to its `complete` event; aria2 and qBittorrent, spawn to
// their completion hook. Every downloaded file is compared with the original.
//
//   npm run build && npx tsc -p tsconfig.bench.json   (dist/ and dist-bench/, once)
//   node bench/multihost.mjs [--size-mib 256] [--crowd-mib 64] [--leechers 8] [--runs 1] [--quick]
//                            [--scenarios limited,uplinks,crowd] [--clients clique,clique-plain,aria2,qbittorrent]
// clique-plain: ours with TLS turned off by the test-only switch (limited and uplinks), for the
// cost of encryption beside the same run.
// SIZE_MIB, CROWD_MIB, LEECHERS, RUNS, SCENARIOS and CLIENTS in the environment work too. --quick:
// 64 MiB for limited and uplinks, 32 MiB for the crowd. --runs: downloads per client in limited
// and uplinks, each printed, then their median (what the ratios and goals use). Each of those two
// scenarios also times a bare TCP transfer of the file over the same links (one connection from
// each seeder host), the floor TCP/IP headers leave. Needs root (namespaces, tbf); aria2,
// qbittorrent-nox, opentracker and mktorrent are installed with apt-get when missing (an anchor
// that still cannot run is skipped, saying why). Exit 0 when it ran (missed goals are reported,
// not failures), 1 when a download broke (wrong bytes, no completion in time), 2 when the lab
// cannot be built here.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ANCHOR_TOOLS, anchorSwarm } from './lib/anchors.mjs';
import { cliqueSwarm } from './lib/clique-peer.mjs';
import { printTlsCost, withPlaintext } from './lib/tls-cost.mjs';
import { MiB, ensureTools, flag, launch, makeWorkDir, median, metOrMissed, onLines, option, randomFile, readTimeV, sameFile, stop, withTimeout } from './lib/harness.mjs';

const NETNS_JS = new URL('../dist-bench/spec/helpers/netns.js', import.meta.url);
const CLI_JS = new URL('../dist/cli/clique.cjs', import.meta.url);
for (const [url, how] of [[NETNS_JS, 'npm run build && npx tsc -p tsconfig.bench.json'], [CLI_JS, 'npm run build']]) {
  if (!existsSync(fileURLToPath(url))) {
    console.log(`multihost: ${fileURLToPath(url)} is missing (${how}): cannot run`);
    process.exit(2);
  }
}
const { Lab, netnsAvailable, tbfBurstBytes } = await import(NETNS_JS.href);

const QUICK = flag('--quick');
const SIZE_MIB = Number(option('--size-mib', 'SIZE_MIB', QUICK ? '64' : '256'));
const CROWD_MIB = Number(option('--crowd-mib', 'CROWD_MIB', QUICK ? '32' : '64'));
const LEECHERS = Number(option('--leechers', 'LEECHERS', '8'));
const RUNS = Number(option('--runs', 'RUNS', '1'));
const SCENARIOS = option('--scenarios', 'SCENARIOS', 'limited,uplinks,crowd').split(',');
const CLIENTS = option('--clients', 'CLIENTS', 'clique,clique-plain,aria2,qbittorrent').split(',');
const SEEDERS = 3;
const PORT = 6881; // ours, on every host (the anchors use 6882 and 6883)
const LINK_MBIT = 200;
const UPLINK_MBIT = 50;
const FAST_DOWN_MBIT = 1000;
const CROWD_MBIT = 100;
const GOAL_LINK_RATIO = 1.1;
const GOAL_QBT_RATIO = 0.8;
const NAMES = { clique: 'clique', aria2: 'aria2', qbittorrent: 'qBittorrent' };

const dir = makeWorkDir('clique-bench-multihost-');
let failures = 0;
const say = (scenario, text) => console.log(`multihost: ${scenario.padEnd(7)} ${text}`);

/** Seconds to move `sizeMiB` through `mbit` Mbit/s (tc's mbit: 10^6 bit/s), payload only. */
const limitSeconds = (sizeMiB, mbit) => (sizeMiB * MiB * 8) / (mbit * 1e6);
/** How long one download may take before it counts as broken. */
const timeoutMs = (limit) => Math.max(120_000, 8 * limit * 1000);

function checkDownload(path, file) {
  if (!sameFile(path, file)) throw new Error(`the downloaded file differs from the original (${path})`);
  rmSync(path);
}

// ---- calibration and CPU

// A bare TCP transfer between lab hosts: a receiver that counts bytes, senders that write zeros.
const TCP_RECEIVER = `const [port, expected] = process.argv.slice(1).map(Number); let got = 0;
require('node:net').createServer((socket) => socket.on('data', (d) => {
  got += d.length; if (got >= expected) { process.stdout.write('done\\n'); process.exit(0); }
})).listen(port, '0.0.0.0', () => process.stdout.write('ready\\n'));`;
const TCP_SENDER = `const [host, port, bytes] = process.argv.slice(1); let left = Number(bytes); const chunk = Buffer.alloc(1 << 20);
const socket = require('node:net').connect(Number(port), host, function write() {
  while (left > 0) { const n = Math.min(left, chunk.length); left -= n; if (!socket.write(chunk.subarray(0, n))) return socket.once('drain', write); }
  socket.end();
});`;
const TCP_PORT = 5001;

/**
 * Seconds for `bytes` to cross from `senders` (each sending its share, all at once, one TCP
 * connection each) to `receiver`: the floor the links allow with TCP/IP headers and node start-up.
 */
async function bareTcpSeconds(workDir, senders, receiver, bytes, limit) {
  mkdirSync(workDir, { recursive: true });
  const rx = launch(process.execPath, ['-e', TCP_RECEIVER, String(TCP_PORT), String(bytes)], { log: join(workDir, 'rx.log'), stdout: 'pipe', host: receiver, cwd: workDir });
  const lines = [];
  const waiters = [];
  onLines(rx, (line) => {
    lines.push(line);
    for (const w of waiters.splice(0)) w();
  });
  const waitLine = (text) => new Promise((resolve) => {
    const check = () => (lines.includes(text) ? resolve(performance.now()) : waiters.push(check));
    check();
  });
  const txs = [];
  try {
    await withTimeout(waitLine('ready'), 30_000, 'the bare TCP receiver');
    const startedAt = performance.now();
    const share = Math.floor(bytes / senders.length);
    senders.forEach((host, i) => {
      const part = i === senders.length - 1 ? bytes - share * (senders.length - 1) : share;
      txs.push(launch(process.execPath, ['-e', TCP_SENDER, receiver.ipv4, String(TCP_PORT), String(part)], { log: join(workDir, `tx${i}.log`), host, cwd: workDir }));
    });
    const doneAt = await withTimeout(waitLine('done'), timeoutMs(limit), 'the bare TCP transfer');
    return (doneAt - startedAt) / 1000;
  } finally {
    await Promise.all([stop(rx), ...txs.map((tx) => stop(tx))]);
  }
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/** User + system CPU seconds of a running process (0 once it is gone). */
function cpuSecondsOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** The machine's CPU counters (all cores), to tell how busy it was between two readings. */
function machineTicks() {
  const [, ...counts] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  return { total: counts.slice(0, 8).reduce((a, b) => a + b, 0), idle: counts[3] + counts[4] };
}
const busyShare = (before, after) => 1 - (after.idle - before.idle) / (after.total - before.total);

/** Runs `measure`, printing a failure instead of throwing; returns its result or null. */
async function attempt(scenario, client, measure) {
  try {
    return await measure();
  } catch (error) {
    say(scenario, `${client} FAILED: ${error.message}`);
    failures++;
    return null;
  }
}

// Every anchor needs the tracker, the torrent (mktorrent; its info-hash read with aria2c -S) and /usr/bin/time.
const ANCHOR_NEEDS = { aria2: ['aria2c', 'opentracker', 'mktorrent', '/usr/bin/time'], qbittorrent: ['qbittorrent-nox', 'aria2c', 'opentracker', 'mktorrent', '/usr/bin/time'] };
let missingTools = null;

/** The anchors of `kinds` that can run (what is missing is installed once); says which are skipped and why. */
function anchorsUsable(scenario, kinds) {
  missingTools ??= ensureTools(ANCHOR_TOOLS);
  return kinds.filter((kind) => {
    const missing = (ANCHOR_NEEDS[kind] ?? []).filter((tool) => missingTools.includes(tool));
    if (missing.length > 0) say(scenario, `${NAMES[kind]} skipped: ${missing.join(', ')} still missing after apt-get install`);
    return missing.length === 0;
  });
}

// ---- scenarios 1 and 2: 3 seeders + 1 leecher, each on its own host

/** Ours: 3 seeders on their hosts, one timed leecher on its host. */
async function runClique(workDir, file, { seederHosts, leecherHost, limit }) {
  mkdirSync(workDir);
  const swarm = cliqueSwarm(workDir, file);
  const credentials = swarm.mintTicket('leecher');
  const { seeders, addresses } = await swarm.startSeeders(seederHosts.length, { hosts: seederHosts, port: PORT });
  try {
    const timeFile = join(workDir, 'time');
    const leecher = swarm.startLeecher({ credentials, from: addresses, timeFile, host: leecherHost });
    const event = await withTimeout(leecher.completed, timeoutMs(limit), 'the clique leecher').catch(async (error) => {
      await leecher.stop();
      throw error;
    });
    const seconds = (event.at - leecher.startedAt) / 1000;
    const code = await withTimeout(leecher.child.exited, 30_000, 'the clique leecher\'s exit after completing').catch(async (error) => {
      await leecher.stop();
      throw error;
    });
    if (code !== 0) throw new Error(`clique leecher exited with ${code} after completing`);
    checkDownload(leecher.dest, file);
    return { seconds, ...readTimeV(timeFile), bytesFromPeer: event.bytesFromPeer, addresses };
  } finally {
    await Promise.all(seeders.map((s) => stop(s)));
  }
}

/** aria2 or qBittorrent: a fresh tracker, 3 seeders of the kind on the seeder hosts, one timed leecher. */
async function runAnchor(anchors, kind, file, { seederHosts, leecherHost, limit }) {
  await anchors.restartTracker(); // forgets the seeders of the kind before
  const seeders = await anchors.startSeeders(kind, seederHosts.length, { hosts: seederHosts });
  try {
    const result = await anchors.leech(kind, { host: leecherHost, timeoutMs: timeoutMs(limit) });
    checkDownload(result.path, file);
    return result;
  } finally {
    await Promise.all(seeders.map((s) => stop(s)));
  }
}

function report(scenario, client, sizeMiB, r, limit, label = '') {
  say(scenario, `${client.padEnd(11)} ${String(sizeMiB).padStart(4)} MiB  ${r.seconds.toFixed(2)} s  ${(sizeMiB / r.seconds).toFixed(1)} MiB/s  ` +
    `${(r.seconds / limit).toFixed(2)}x the limit  leecher cpu ${r.cpuSeconds.toFixed(2)} s (user ${r.userSeconds.toFixed(2)} + sys ${r.systemSeconds.toFixed(2)}; ` +
    `${(r.cpuSeconds / (sizeMiB / 1024)).toFixed(2)} s/GiB)  peak rss ${r.peakRssMiB.toFixed(1)} MiB${label}`);
}

/** Runs `once` RUNS times, reporting each; returns the median figures, or null if a run failed. */
async function measured(scenario, client, sizeMiB, limit, once) {
  const runs = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await attempt(scenario, client, () => once(i));
    if (!r) return null;
    report(scenario, client, sizeMiB, r, limit);
    if (client === 'clique') reportSplit(scenario, r);
    runs.push(r);
  }
  if (runs.length === 1) return runs[0];
  const m = (key) => median(runs.map((r) => r[key]));
  const summary = { seconds: m('seconds'), cpuSeconds: m('cpuSeconds'), userSeconds: m('userSeconds'), systemSeconds: m('systemSeconds'), peakRssMiB: m('peakRssMiB') };
  report(scenario, client, sizeMiB, summary, limit, ` (median of ${runs.length})`);
  return summary;
}

/** Our leecher's bytes per seeder, as shares of the file. */
function reportSplit(scenario, r) {
  const total = Object.values(r.bytesFromPeer).reduce((a, b) => a + b, 0);
  const bare = r.addresses.map((pinned) => pinned.slice(pinned.indexOf('@') + 1)); // KEY@HOST:PORT
  const parts = bare.map((address) => `${address} ${((100 * (r.bytesFromPeer[address] ?? 0)) / total).toFixed(1)} %`);
  say(scenario, `clique      bytes from each seeder: ${parts.join(', ')}`);
}

/**
 * One lab: a tracker host, 3 seeder hosts and a leecher host with the given rates; ours and each
 * anchor in turn. Returns { clique, aria2, qbittorrent } (null for a client that failed).
 */
async function seedersAndLeecher(scenario, sizeMiB, file, { seederRates, leecherRates, trackerRates, limit, anchorKinds }) {
  const results = {};
  const lab = await Lab.create();
  try {
    const trackerHost = await lab.addHost('tracker', trackerRates);
    const seederHosts = [];
    for (let i = 1; i <= SEEDERS; i++) seederHosts.push(await lab.addHost(`seeder${i}`, seederRates));
    const leecherHost = await lab.addHost('leecher', leecherRates);
    const topology = { seederHosts, leecherHost, limit };
    const tcp = await attempt(scenario, 'bare TCP', () => bareTcpSeconds(join(dir, `${scenario}-tcp`), seederHosts, leecherHost, sizeMiB * MiB, limit));
    if (tcp !== null) {
      say(scenario, `${'bare TCP'.padEnd(11)} ${String(sizeMiB).padStart(4)} MiB  ${tcp.toFixed(2)} s  ${(sizeMiB / tcp).toFixed(1)} MiB/s  ` +
        `${(tcp / limit).toFixed(2)}x the limit  (one connection from each seeder host at once, no BitTorrent: the floor with TCP/IP headers)`);
    }
    if (CLIENTS.includes('clique')) {
      results.clique = await measured(scenario, 'clique', sizeMiB, limit, (i) => runClique(join(dir, `${scenario}-clique${i}`), file, topology));
    }
    if (CLIENTS.includes('clique-plain')) {
      results.plain = await measured(scenario, 'clique-plain', sizeMiB, limit, (i) => withPlaintext(() => runClique(join(dir, `${scenario}-plain${i}`), file, topology)));
    }
    if (anchorKinds.length > 0) {
      const anchorDir = join(dir, `${scenario}-anchors`);
      mkdirSync(anchorDir);
      const anchors = await anchorSwarm(anchorDir, file, { trackerHost });
      try {
        for (const kind of anchorKinds) {
          results[kind] = await measured(scenario, kind, sizeMiB, limit, () => runAnchor(anchors, kind, file, topology));
        }
      } finally {
        await anchors.stopTracker();
      }
    }
  } finally {
    await lab.destroy();
  }
  return results;
}

async function limitedLinks(file) {
  const scenario = 'limited';
  const limit = limitSeconds(SIZE_MIB, LINK_MBIT);
  const rates = { upMbit: LINK_MBIT, downMbit: LINK_MBIT };
  say(scenario, `${SEEDERS} seeders + 1 leecher, each host ${LINK_MBIT} Mbit/s up and down; ${SIZE_MIB} MiB; ` +
    `link limit ${SIZE_MIB} MiB / ${LINK_MBIT} Mbit/s = ${limit.toFixed(2)} s`);
  const anchorKinds = anchorsUsable(scenario, CLIENTS.filter((c) => !c.startsWith('clique')));
  const r = await seedersAndLeecher(scenario, SIZE_MIB, file, { seederRates: rates, leecherRates: rates, trackerRates: rates, limit, anchorKinds });
  for (const kind of ['qbittorrent', 'aria2']) {
    if (r.clique && r[kind]) say(scenario, `ratio clique/${kind} ${(r.clique.seconds / r[kind].seconds).toFixed(2)}x`);
  }
  printTlsCost(`multihost: ${scenario.padEnd(7)}`, r.clique, r.plain, metOrMissed);
  if (r.clique) {
    const ratio = r.clique.seconds / limit;
    say(scenario, `goal clique <= ${GOAL_LINK_RATIO}x the link limit: ${metOrMissed(ratio <= GOAL_LINK_RATIO)} (${ratio.toFixed(2)}x)`);
  }
  if (r.clique && r.qbittorrent) {
    const ratio = r.clique.seconds / r.qbittorrent.seconds;
    say(scenario, `goal clique <= ${GOAL_QBT_RATIO}x qBittorrent's time: ${metOrMissed(ratio <= GOAL_QBT_RATIO)} (${ratio.toFixed(2)}x)`);
  }
}

async function slowUplinks(file) {
  const scenario = 'uplinks';
  const total = SEEDERS * UPLINK_MBIT;
  const limit = limitSeconds(SIZE_MIB, total);
  say(scenario, `${SEEDERS} seeders at ${UPLINK_MBIT} Mbit/s up each (down unlimited), the leecher at ${FAST_DOWN_MBIT} Mbit/s down; ` +
    `${SIZE_MIB} MiB; limit ${SIZE_MIB} MiB / ${total} Mbit/s = ${limit.toFixed(2)} s`);
  const anchorKinds = anchorsUsable(scenario, CLIENTS.filter((c) => !c.startsWith('clique')));
  const r = await seedersAndLeecher(scenario, SIZE_MIB, file, { seederRates: { upMbit: UPLINK_MBIT }, leecherRates: { downMbit: FAST_DOWN_MBIT }, trackerRates: {}, limit, anchorKinds });
  for (const kind of ['qbittorrent', 'aria2']) {
    if (r.clique && r[kind]) say(scenario, `ratio clique/${kind} ${(r.clique.seconds / r[kind].seconds).toFixed(2)}x`);
  }
  printTlsCost(`multihost: ${scenario.padEnd(7)}`, r.clique, r.plain, metOrMissed);
  if (r.clique) {
    const ratio = r.clique.seconds / limit;
    say(scenario, `goal clique <= ${GOAL_LINK_RATIO}x the summed uplinks' limit: ${metOrMissed(ratio <= GOAL_LINK_RATIO)} (${ratio.toFixed(2)}x)`);
  }
}

// ---- scenario 3: a flash crowd across hosts

function reportCrowd(client, allSeconds, perLeecher, share, shareSource, limit, cpu, busy) {
  const delivered = LEECHERS * CROWD_MIB;
  say('crowd', `${client.padEnd(6)} all ${LEECHERS} finished in ${allSeconds.toFixed(2)} s (${(allSeconds / limit).toFixed(2)}x the link limit; ` +
    `${delivered} MiB delivered, ${(delivered / allSeconds).toFixed(1)} MiB/s aggregate)`);
  say('crowd', `${client.padEnd(6)} per leecher ${perLeecher.map((s) => s.toFixed(2)).join(', ')} s`);
  say('crowd', `${client.padEnd(6)} share of bytes leechers got from each other ${(100 * share).toFixed(1)} % (${shareSource})`);
  say('crowd', `${client.padEnd(6)} cpu seeder ${cpu.seeder.toFixed(2)} s, leechers ${cpu.leechers.toFixed(2)} s together ` +
    `(${((cpu.seeder + cpu.leechers) / allSeconds).toFixed(2)} cores on average); machine busy ${(100 * busy).toFixed(0)} % of its ${cpus().length} cores until the last finished`);
}

/** Ours: each leecher listens on its host's 0.0.0.0:6881 and is given the seeder and all the others. */
async function crowdClique(file, seederHost, leecherHosts, limit) {
  const workDir = join(dir, 'crowd-clique');
  mkdirSync(workDir);
  const swarm = cliqueSwarm(workDir, file);
  const { seeders, addresses: [seederAddress] } = await swarm.startSeeders(1, { hosts: [seederHost], port: PORT });
  const addresses = leecherHosts.map((host) => `${host.ipv4}:${PORT}`);
  const credentials = leecherHosts.map((_, i) => swarm.mintTicket(`leecher${i + 1}`));
  const ticksBefore = machineTicks();
  const seederCpuBefore = cpuSecondsOf(seeders[0].pid);
  const startedAt = performance.now();
  const leechers = leecherHosts.map((host, i) => swarm.startLeecher({ credentials: credentials[i], host, listen: `0.0.0.0:${PORT}`,
    from: [seederAddress, ...addresses.flatMap((a, j) => (j === i ? [] : [`${credentials[j].keyFingerprint}@${a}`]))] }));
  try {
    const events = await withTimeout(Promise.all(leechers.map((l) => l.completed)), timeoutMs(limit), 'the clique crowd');
    const allSeconds = (Math.max(...events.map((e) => e.at)) - startedAt) / 1000;
    const busy = busyShare(ticksBefore, machineTicks());
    const cpu = { seeder: cpuSecondsOf(seeders[0].pid) - seederCpuBefore, leechers: leechers.reduce((sum, l) => sum + cpuSecondsOf(l.child.pid), 0) };
    for (const l of leechers) if (!sameFile(l.dest, file)) throw new Error(`${l.dest} differs from the original`);
    const seederIp = seederHost.ipv4;
    let total = 0;
    let fromLeechers = 0;
    for (const event of events) {
      if (!event.bytesFromPeer) throw new Error(`a complete event has no bytesFromPeer: ${Object.keys(event).join(', ')}`);
      for (const [address, bytes] of Object.entries(event.bytesFromPeer)) {
        total += bytes;
        if (address.slice(0, address.lastIndexOf(':')) !== seederIp) fromLeechers += bytes;
      }
    }
    if (total !== LEECHERS * CROWD_MIB * MiB) say('crowd', `clique  note: bytesFromPeer sums to ${total} B, not ${LEECHERS} x the file`);
    reportCrowd('clique', allSeconds, events.map((e, i) => (e.at - leechers[i].startedAt) / 1000), fromLeechers / total,
      'bytesFromPeer of the complete events, from addresses other than the seeder\'s', limit, cpu, busy);
  } finally {
    await Promise.all([...leechers.map((l) => l.stop()), ...seeders.map((s) => stop(s))]);
  }
}

const bytesWritten = (pid) => Number(/wchar: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))[1]);

/** aria2: the same crowd through opentracker on its own host; leechers keep seeding until all are done. */
async function crowdAria2(file, trackerHost, seederHost, leecherHosts, limit) {
  const workDir = join(dir, 'crowd-aria2');
  mkdirSync(workDir);
  const anchors = await anchorSwarm(workDir, file, { trackerHost });
  try {
    const [seeder] = await anchors.startSeeders('aria2', 1, { hosts: [seederHost] });
    const wroteBefore = bytesWritten(seeder.pid);
    const ticksBefore = machineTicks();
    const seederCpuBefore = cpuSecondsOf(seeder.pid);
    const startedAt = Date.now() / 1000;
    const leechers = await Promise.all(leecherHosts.map((host) => anchors.startLeecher('aria2', { timed: false, keepSeeding: true, host })));
    try {
      const doneAts = await Promise.all(leechers.map((l) => anchors.completedAt(l, timeoutMs(limit))));
      if (doneAts.includes(null)) throw new Error('an aria2 leecher did not complete');
      const busy = busyShare(ticksBefore, machineTicks());
      const cpu = { seeder: cpuSecondsOf(seeder.pid) - seederCpuBefore, leechers: leechers.reduce((sum, l) => sum + cpuSecondsOf(l.child.pid), 0) };
      const seederShare = (bytesWritten(seeder.pid) - wroteBefore) / (LEECHERS * CROWD_MIB * MiB);
      for (const l of leechers) if (!sameFile(l.path, file)) throw new Error(`${l.path} differs from the original`);
      reportCrowd('aria2', Math.max(...doneAts) - startedAt, doneAts.map((t, i) => t - leechers[i].startedAt), 1 - seederShare,
        '1 - the bytes the seeder wrote / the bytes delivered', limit, cpu, busy);
    } finally {
      await Promise.all([...leechers.map((l) => stop(l.child)), stop(seeder)]);
    }
  } finally {
    await anchors.stopTracker();
  }
}

async function flashCrowd(file) {
  const scenario = 'crowd';
  const limit = limitSeconds(CROWD_MIB, CROWD_MBIT);
  say(scenario, `1 seeder + ${LEECHERS} leechers started at once, each host ${CROWD_MBIT} Mbit/s up and down; ${CROWD_MIB} MiB; ` +
    `link limit ${CROWD_MIB} MiB / ${CROWD_MBIT} Mbit/s = ${limit.toFixed(2)} s`);
  const withAria2 = CLIENTS.includes('aria2') && anchorsUsable(scenario, ['aria2']).length > 0;
  const rates = { upMbit: CROWD_MBIT, downMbit: CROWD_MBIT };
  const lab = await Lab.create();
  try {
    const trackerHost = withAria2 ? await lab.addHost('tracker', rates) : null;
    const seederHost = await lab.addHost('seeder', rates);
    const leecherHosts = [];
    for (let i = 1; i <= LEECHERS; i++) leecherHosts.push(await lab.addHost(`leecher${i}`, rates));
    if (CLIENTS.includes('clique')) await attempt(scenario, 'clique', () => crowdClique(file, seederHost, leecherHosts, limit));
    if (withAria2) await attempt(scenario, 'aria2', () => crowdAria2(file, trackerHost, seederHost, leecherHosts, limit));
  } finally {
    await lab.destroy();
  }
}

// ---- main

/** Namespaces of this process's labs still listed after the run (there should be none). */
function leftovers() {
  const listed = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  return listed.split('\n').map((line) => line.trim().split(' ')[0]).filter((name) => name.startsWith(`clq${process.pid}x`));
}

async function main() {
  const available = netnsAvailable();
  if (!available.ok) {
    console.log(`multihost: cannot build a lab here: ${available.reason}`);
    return 2;
  }
  const missingTime = ensureTools({ '/usr/bin/time': 'time' });
  if (missingTime.length > 0) {
    console.log('multihost: /usr/bin/time is missing (apt-get install time): cannot run');
    return 2;
  }
  const wantAnchors = CLIENTS.some((c) => !c.startsWith('clique'));
  if (wantAnchors) missingTools = ensureTools(ANCHOR_TOOLS);
  const cpu = cpus();
  console.log(`multihost: machine ${cpu.length} cores (${cpu[0]?.model.trim()}), Linux ${release()}, node ${process.version}`);
  if (wantAnchors) {
    const first = (command, args) => (missingTools.includes(command) ? `${command} missing` : spawnSync(command, args, { encoding: 'utf8' }).stdout?.split('\n')[0]);
    const opentracker = spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'opentracker'], { encoding: 'utf8' }).stdout || 'unknown';
    console.log(`multihost: tools ${first('aria2c', ['--version'])}, ${first('qbittorrent-nox', ['--version'])}, opentracker ${opentracker}`);
  }
  const rates = [...new Set([LINK_MBIT, UPLINK_MBIT, FAST_DOWN_MBIT, CROWD_MBIT])].sort((a, b) => a - b);
  console.log(`multihost: tbf on each host's link (up: eth0 in the host; down: its port on the switch), latency 50 ms, burst ` +
    `${rates.map((r) => `${tbfBurstBytes(r)} B at ${r} Mbit/s`).join(', ')}`);
  console.log(`multihost: scenarios ${SCENARIOS.join(', ')}; clients ${CLIENTS.join(', ')}; ${RUNS} run(s); 512 KiB pieces; ours tracker-less (--from), ` +
    'the anchors through opentracker on a host of its own');

  if (SCENARIOS.includes('limited') || SCENARIOS.includes('uplinks')) {
    const file = join(dir, 'f.bin');
    randomFile(file, SIZE_MIB);
    if (SCENARIOS.includes('limited')) await limitedLinks(file);
    if (SCENARIOS.includes('uplinks')) await slowUplinks(file);
    rmSync(file);
  }
  if (SCENARIOS.includes('crowd')) {
    mkdirSync(join(dir, 'crowd')); // the anchors' torrent names the file f.bin, so it lives in a dir of its own
    const file = join(dir, 'crowd', 'f.bin');
    randomFile(file, CROWD_MIB);
    await flashCrowd(file);
  }

  const left = leftovers();
  if (left.length > 0) {
    console.log(`multihost: LEFT BEHIND namespaces ${left.join(', ')}`);
    failures++;
  }
  return failures === 0 ? 0 : 1;
}

process.exitCode = await main();
