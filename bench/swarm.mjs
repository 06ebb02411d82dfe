// bench/swarm: one leecher downloading a random file from 3 seeders on loopback, ours and, in
// the same run, aria2 and qBittorrent (3 seeders of their own kind each, via opentracker, as the
// anchors' swarm.sh does). Per client: time to complete, MiB/s, leecher CPU seconds and peak RSS
// (/usr/bin/time -v of the leecher); then the ratios. Ours only, the peak RSS at other sizes.
// Goals (issue): <= 0.5x qBittorrent's time in the same run, <= 1.2 leecher CPU s/GiB, peak RSS
// <= 100 MiB for both a 64 MiB and a 2 GiB file. Ours runs twice: as it ships (TLS 1.3 on every
// connection) and as `clique-plain`, with TLS turned off by the test-only switch; the cost of
// TLS (goal: <= 1.1x the time, <= 1.25x the leecher CPU) and the negotiated cipher are printed.
//
//   node bench/swarm.mjs [--size-mib 1024] [--runs 1] [--rss-sizes 64,2048|none] [--quick]
//                        [--clients clique,clique-plain,aria2,qbittorrent]
// SIZE_MIB, RUNS, RSS_SIZES and CLIENTS in the environment work too. --quick: RSS check at 64 MiB
// only. Time to complete: ours, the leecher process from spawn to exit (it exits when complete);
// aria2 and qBittorrent, spawn to their completion hook.

import { mkdirSync, rmSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { ANCHOR_TOOLS, anchorSwarm, versions } from './lib/anchors.mjs';
import { cliqueSwarm } from './lib/clique-peer.mjs';
import { aesInstructions, negotiatedCipher, printTlsCost, withPlaintext } from './lib/tls-cost.mjs';
import { ensureTools, flag, makeWorkDir, median, metOrMissed, option, randomFile, readTimeV, sameFile, stop, withTimeout } from './lib/harness.mjs';

const SIZE_MIB = Number(option('--size-mib', 'SIZE_MIB', '1024'));
const RUNS = Number(option('--runs', 'RUNS', '1'));
const rssOption = option('--rss-sizes', 'RSS_SIZES', flag('--quick') ? '64' : '64,2048');
const RSS_SIZES = rssOption === 'none' ? [] : rssOption.split(',').map(Number);
const CLIENTS = option('--clients', 'CLIENTS', 'clique,clique-plain,aria2,qbittorrent').split(',');
const SEEDERS = 3;
const GOAL_TIME_RATIO = 0.5;
const GOAL_CPU_PER_GIB = 1.2;
const GOAL_RSS_MIB = 100;
const TIMEOUT_MS = 600_000;

const dir = makeWorkDir('clique-bench-swarm-');
let failures = 0;

function report(client, sizeMiB, r, label = '') {
  const cpuPerGiB = r.cpuSeconds / (sizeMiB / 1024);
  console.log(`swarm: ${client.padEnd(11)} ${String(sizeMiB).padStart(4)} MiB  ${r.seconds.toFixed(2)} s  ${(sizeMiB / r.seconds).toFixed(1)} MiB/s  ` +
    `leecher cpu ${r.cpuSeconds.toFixed(2)} s (${cpuPerGiB.toFixed(2)} s/GiB)  peak rss ${r.peakRssMiB.toFixed(1)} MiB${label}`);
}

function summary(runs) {
  return { seconds: median(runs.map((r) => r.seconds)), cpuSeconds: median(runs.map((r) => r.cpuSeconds)), peakRssMiB: median(runs.map((r) => r.peakRssMiB)) };
}

function checkDownload(path, file) {
  if (!sameFile(path, file)) throw new Error(`the downloaded file differs from the original (${path})`);
  rmSync(path);
}

/** Ours: 3 seeders, then `runs` timed leechers one after the other (`label` clique-plain: TLS off). */
async function runClique(workDir, file, sizeMiB, runs, label = 'clique') {
  const swarm = cliqueSwarm(workDir, file);
  const { seeders, addresses } = await swarm.startSeeders(SEEDERS);
  const results = [];
  try {
    for (let i = 0; i < runs; i++) {
      const timeFile = join(workDir, `time.${i}`);
      const credentials = swarm.mintTicket(`leecher${i + 1}`);
      if (i === 0 && label === 'clique') console.log(`swarm: clique negotiates ${await negotiatedCipher(addresses[0], join(credentials.dir, 'home', 'peer-key.json'))}; AES instructions: ${aesInstructions()}`);
      const leecher = swarm.startLeecher({ credentials, from: addresses, timeFile });
      await withTimeout(leecher.completed, TIMEOUT_MS, 'the clique leecher').catch(async (error) => {
        await leecher.stop();
        throw error;
      });
      const code = await leecher.child.exited;
      const seconds = (performance.now() - leecher.startedAt) / 1000;
      if (code !== 0) throw new Error(`clique leecher exited with ${code} after completing`);
      const result = { seconds, ...readTimeV(timeFile) };
      checkDownload(leecher.dest, file);
      report(label, sizeMiB, result);
      results.push(result);
    }
  } finally {
    await Promise.all(seeders.map((s) => stop(s)));
  }
  return results;
}

/** aria2 or qBittorrent: a fresh tracker, 3 seeders of the same kind, then `runs` timed leechers. */
async function runAnchor(anchors, kind, file, sizeMiB, runs) {
  await anchors.restartTracker(); // forgets the seeders of the kind before
  const seeders = await anchors.startSeeders(kind, SEEDERS);
  const results = [];
  try {
    for (let i = 0; i < runs; i++) {
      const result = await anchors.leech(kind);
      checkDownload(result.path, file);
      report(kind, sizeMiB, result);
      results.push(result);
    }
  } finally {
    await Promise.all(seeders.map((s) => stop(s)));
  }
  return results;
}

/** Runs `measure`, printing a failure instead of throwing; returns the median result or null. */
async function attempt(client, measure) {
  try {
    const runs = await measure();
    if (runs.length > 1) report(client, SIZE_MIB, summary(runs), ` (median of ${runs.length})`);
    return summary(runs);
  } catch (error) {
    console.log(`swarm: ${client} FAILED: ${error.message}`);
    failures++;
    return null;
  }
}

function printRatios(ours, theirs) {
  for (const [kind, r] of Object.entries(theirs)) {
    if (!r) continue;
    const goal = kind === 'qbittorrent' ? ` (goal <= ${GOAL_TIME_RATIO}x)` : '';
    console.log(`swarm: ratio clique/${kind} ${(ours.seconds / r.seconds).toFixed(2)}x${goal}, leecher cpu ${(ours.cpuSeconds / r.cpuSeconds).toFixed(2)}x, ` +
      `peak rss ${(ours.peakRssMiB / r.peakRssMiB).toFixed(2)}x`);
  }
}

function printGoals(ours, qbt, rssBySize) {
  if (ours && qbt) {
    const ratio = ours.seconds / qbt.seconds;
    console.log(`swarm: goal time <= ${GOAL_TIME_RATIO}x qBittorrent's: ${metOrMissed(ratio <= GOAL_TIME_RATIO)} (${ratio.toFixed(2)}x)`);
  }
  if (ours) {
    const perGiB = ours.cpuSeconds / (SIZE_MIB / 1024);
    console.log(`swarm: goal leecher cpu <= ${GOAL_CPU_PER_GIB} s/GiB: ${metOrMissed(perGiB <= GOAL_CPU_PER_GIB)} (${perGiB.toFixed(2)} s/GiB)`);
  }
  const sizes = [...rssBySize.keys()];
  if (sizes.length > 0) {
    const ok = [...rssBySize.values()].every((r) => r && r.peakRssMiB <= GOAL_RSS_MIB);
    const figures = sizes.map((s) => `${s} MiB: ${rssBySize.get(s) ? `${rssBySize.get(s).peakRssMiB.toFixed(1)} MiB` : 'failed'}`).join(', ');
    console.log(`swarm: goal peak rss <= ${GOAL_RSS_MIB} MiB at ${sizes.join(' and ')} MiB: ${metOrMissed(ok)} (${figures})`);
  }
}

async function main() {
  const anchorKinds = CLIENTS.filter((c) => !c.startsWith('clique'));
  const missing = ensureTools(anchorKinds.length > 0 ? ANCHOR_TOOLS : { '/usr/bin/time': 'time' });
  if (missing.length > 0) {
    console.log(`swarm: missing ${missing.join(', ')} (apt-get install aria2 qbittorrent-nox opentracker mktorrent time): cannot run`);
    return 1;
  }
  console.log(`swarm: ${SIZE_MIB} MiB random file, 512 KiB pieces, ${SEEDERS} seeders + 1 leecher per client on loopback, ${RUNS} run(s); ` +
    `${cpus().length} cores${anchorKinds.length > 0 ? `; ${versions()}` : ''}`);
  mkdirSync(join(dir, 'main'));
  const file = join(dir, 'main', 'f.bin');
  randomFile(file, SIZE_MIB);

  const results = {};
  if (CLIENTS.includes('clique')) results.clique = await attempt('clique', () => runClique(join(dir, 'main'), file, SIZE_MIB, RUNS));
  if (CLIENTS.includes('clique-plain')) {
    mkdirSync(join(dir, 'main', 'plain')); // homes of their own: nothing to resume from the run with TLS
    results.plain = await attempt('clique-plain', () => withPlaintext(() => runClique(join(dir, 'main', 'plain'), file, SIZE_MIB, RUNS, 'clique-plain')));
  }
  if (anchorKinds.length > 0) {
    const anchors = await anchorSwarm(join(dir, 'main'), file);
    for (const kind of anchorKinds) results[kind] = await attempt(kind, () => runAnchor(anchors, kind, file, SIZE_MIB, RUNS));
    await anchors.stopTracker();
  }
  rmSync(join(dir, 'main'), { recursive: true });

  const rssBySize = new Map();
  if (CLIENTS.includes('clique') && RSS_SIZES.length > 0 && !results.clique) console.log('swarm: rss sizes skipped (clique failed above)');
  if (results.clique) {
    for (const size of RSS_SIZES) {
      const sub = join(dir, `rss-${size}`);
      mkdirSync(sub);
      randomFile(join(sub, 'f.bin'), size);
      rssBySize.set(size, await attempt('clique', () => runClique(sub, join(sub, 'f.bin'), size, 1)));
      rmSync(sub, { recursive: true });
    }
  }

  if (results.clique) printRatios(results.clique, { qbittorrent: results.qbittorrent, aria2: results.aria2 });
  printTlsCost('swarm:', results.clique, results.plain, metOrMissed);
  printGoals(results.clique, results.qbittorrent, rssBySize);
  return failures === 0 ? 0 : 1;
}

process.exitCode = await main();
