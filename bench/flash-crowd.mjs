// bench/flash-crowd: 1 seeder and 8 leechers that all start at once on a 256 MiB random file,
// every leecher serving the pieces it has verified to the others. Reports the time until all
// finish, each leecher's time, and the share of the bytes the leechers got from each other (from
// their "complete" events). For comparison, the same crowd of aria2 (1 seeder + 8 leechers via
// opentracker, leechers seed on after completing); its share comes from the bytes the seeder
// wrote (/proc/PID/io wchar).
//
//   node bench/flash-crowd.mjs [--size-mib 256] [--leechers 8] [--no-aria2]
// SIZE_MIB and LEECHERS in the environment work too.

import { mkdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { ANCHOR_TOOLS, anchorSwarm } from './lib/anchors.mjs';
import { cliqueSwarm } from './lib/clique-peer.mjs';
import { MiB, ensureTools, flag, freePort, makeWorkDir, option, randomFile, sameFile, stop, withTimeout } from './lib/harness.mjs';

const SIZE_MIB = Number(option('--size-mib', 'SIZE_MIB', '256'));
const LEECHERS = Number(option('--leechers', 'LEECHERS', '8'));
const WITH_ARIA2 = !flag('--no-aria2');
const TIMEOUT_MS = 600_000;

const dir = makeWorkDir('clique-bench-flash-');
const file = join(dir, 'f.bin');
let failures = 0;

async function distinctFreePorts(n) {
  const ports = new Set();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

function report(client, allSeconds, perLeecher, share, shareSource) {
  const delivered = LEECHERS * SIZE_MIB;
  console.log(`flash-crowd: ${client.padEnd(6)} all ${LEECHERS} finished in ${allSeconds.toFixed(2)} s ` +
    `(${delivered} MiB delivered, ${(delivered / allSeconds).toFixed(1)} MiB/s aggregate)`);
  console.log(`flash-crowd: ${client.padEnd(6)} per leecher ${perLeecher.map((s) => s.toFixed(2)).join(', ')} s`);
  console.log(`flash-crowd: ${client.padEnd(6)} share of bytes leechers served each other ${(100 * share).toFixed(1)} % (${shareSource})`);
}

/** Share of the bytes received by all leechers that came from other leechers, from their complete events. */
function leecherShare(events, leecherAddresses) {
  let total = 0;
  let fromLeechers = 0;
  for (const event of events) {
    if (!event.bytesFromPeer) throw new Error(`a complete event has no bytesFromPeer: ${Object.keys(event).join(', ')}`);
    for (const [address, bytes] of Object.entries(event.bytesFromPeer)) {
      total += bytes;
      if (leecherAddresses.includes(address)) fromLeechers += bytes;
    }
  }
  return fromLeechers / total;
}

/** Ours: leechers listen on ports picked beforehand, so each one's --from lists the seeder and all the others. */
async function runClique() {
  const swarm = cliqueSwarm(join(dir, 'clique'), file);
  const { seeders, addresses: [seederAddress] } = await swarm.startSeeders(1);
  const listens = (await distinctFreePorts(LEECHERS)).map((port) => `127.0.0.1:${port}`);
  const credentials = listens.map((_, i) => swarm.mintTicket(`leecher${i + 1}`));
  const startedAt = performance.now();
  const leechers = listens.map((listen, i) =>
    swarm.startLeecher({ credentials: credentials[i], listen, from: [seederAddress, ...listens.flatMap((a, j) => (a === listen ? [] : [`${credentials[j].keyFingerprint}@${a}`]))] }));
  try {
    const events = await withTimeout(Promise.all(leechers.map((l) => l.completed)), TIMEOUT_MS, 'the clique crowd');
    const allSeconds = (Math.max(...events.map((e) => e.at)) - startedAt) / 1000;
    for (const l of leechers) if (!sameFile(l.dest, file)) throw new Error(`${l.dest} differs from the original`);
    report('clique', allSeconds, events.map((e, i) => (e.at - leechers[i].startedAt) / 1000), leecherShare(events, listens), 'from the leechers\' complete events');
  } finally {
    await Promise.all([...leechers.map((l) => l.stop()), ...seeders.map((s) => stop(s))]);
  }
}

const bytesWritten = (pid) => Number(/wchar: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))[1]);

/** aria2: the same crowd through opentracker; leechers keep seeding until all are done. */
async function runAria2() {
  const anchors = await anchorSwarm(join(dir, 'aria2'), file);
  const [seeder] = await anchors.startSeeders('aria2', 1);
  const wroteBefore = bytesWritten(seeder.pid);
  const startedAt = Date.now() / 1000;
  const leechers = await Promise.all(Array.from({ length: LEECHERS }, () => anchors.startLeecher('aria2', { timed: false, keepSeeding: true })));
  try {
    const doneAts = await Promise.all(leechers.map((l) => anchors.completedAt(l, TIMEOUT_MS)));
    if (doneAts.includes(null)) throw new Error('an aria2 leecher did not complete');
    const seederShare = (bytesWritten(seeder.pid) - wroteBefore) / (LEECHERS * SIZE_MIB * MiB);
    for (const l of leechers) if (!sameFile(l.path, file)) throw new Error(`${l.path} differs from the original`);
    report('aria2', Math.max(...doneAts) - startedAt, doneAts.map((t, i) => t - leechers[i].startedAt), 1 - seederShare,
      'from the bytes the seeder wrote');
  } finally {
    await Promise.all([...leechers.map((l) => stop(l.child)), stop(seeder)]);
    await anchors.stopTracker();
  }
}

async function attempt(client, run) {
  try {
    await run();
  } catch (error) {
    console.log(`flash-crowd: ${client} FAILED: ${error.message}`);
    failures++;
  }
}

async function main() {
  const missing = WITH_ARIA2 ? ensureTools(ANCHOR_TOOLS) : [];
  console.log(`flash-crowd: ${SIZE_MIB} MiB random file, 512 KiB pieces, 1 seeder + ${LEECHERS} leechers started at once on loopback; ${cpus().length} cores`);
  randomFile(file, SIZE_MIB);
  mkdirSync(join(dir, 'clique'));
  await attempt('clique', runClique);
  if (!WITH_ARIA2) return;
  if (missing.length > 0) console.log(`flash-crowd: aria2 skipped, missing ${missing.join(', ')}`);
  else await attempt('aria2', runAria2);
}

await main();
process.exitCode = failures === 0 ? 0 : 1;
