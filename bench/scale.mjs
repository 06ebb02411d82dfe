// bench/scale: how big the tracker's state gets and what it costs (issue 20). At each size, a
// fresh three-node cluster of real `clique tracker` processes (TLS, LevelDB, synced writes) is
// filled by load processes (bench/lib/scale-worker.mjs) that write exactly what real clients
// write: accounts, logins, groups, join requests and acceptances, shared files with their piece
// lists (bench/lib/scale-plan.mjs: the full size is 100,000 users, 10,000 groups and 1,000,000
// files; sizes 90 % 1-64 MiB, 9 % 64 MiB-1 GiB, 1 % 1-4 GiB, about 134 pieces a file).
//
// Accounts are made with `clique tracker --scrypt-cost 16` (cheap scrypt, recorded in each
// CreateUser entry), so the build measures the log and not the KDF. Sessions live 24 h
// (`--session-ttl`): the load sends no heartbeats. Every user logs in once; in the last phase
// each user in turn shares its files and, unless it is among a share of them that stay online
// (`--online`, default 0.1: the issue's 10,000 online peers at full size), logs out, so the
// store holds the open sessions and their holders that a tracker of that many online peers
// holds; `--online 1` keeps every session open (100,000 online peers). Each size compacts every
// min(50,000, writes / 3.5) entries (`--compact-every`), so every size takes three snapshots or
// more, the last near the end of the build.
//
// Per size: build time and writes/s; each node's store on disk (raft/ and tracker/) and what it
// wrote to disk meanwhile (/proc/<pid>/io: LevelDB's compactions included); each node's
// RSS after the build and its peak (VmRSS, VmHWM); each node's store snapshots (the
// `store_snapshot` log lines: wall time of the snapshot, other work on the node's event loop
// included); a follower killed with -9 and started again: time to
// `tracker_started` (stores opened: the tracker store's records but the groups' files, which it
// reads when first needed) and until it has applied what the
// leader has. Then, over the sizes, each figure per 1,000 units (users + groups + files).
// Goals: snapshot < 2 s, restart < 5 s, RSS < 1 GiB per node; time and memory linear in units.
//
//   node bench/scale.mjs [--sizes 0.01,0.1,1] [--online 0.1] [--seed 1] [--workers 4] [--concurrency 64] [--compact-every N] [--compact-every-bytes B] [--files-in-memory N]
//
// The nodes run with --expose-gc: after the build (and after the restart) each is asked for its
// memory by SIGUSR2 (its `memory` log line: heap, external, the Raft log, and after a full GC).
//
// Sizes are fractions of the full size; `--sizes 0.001` is a quick try.

import { fork } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeClusterBase, launch, makeWorkDir, option, sleep, stop } from './lib/harness.mjs';
import { onlineUsers, plannedCommands, sizeAt } from './lib/scale-plan.mjs';

const dist = new URL('../dist/', import.meta.url);
const { clusterTrust, makeCluster, writeCluster } = await import(new URL('tracker/cluster-config.js', dist));
const { TrackerClient } = await import(new URL('tracker/tracker-client.js', dist));
const { createRealWorld } = await import(new URL('world/real/real-world.js', dist));
const CLI = fileURLToPath(new URL('cli/clique.cjs', dist));
const WORKER = fileURLToPath(new URL('lib/scale-worker.mjs', import.meta.url));

const SIZES = option('--sizes', 'SCALE_SIZES', '0.01,0.1,1').split(',').map(Number);
const ONLINE = Number(option('--online', 'SCALE_ONLINE', '0.1'));
const SEED = option('--seed', 'SCALE_SEED', '1');
const WORKERS = Number(option('--workers', 'SCALE_WORKERS', '4'));
const CONCURRENCY = Number(option('--concurrency', 'SCALE_CONCURRENCY', '64'));
const COMPACT_EVERY = option('--compact-every', 'SCALE_COMPACT_EVERY', null);
const COMPACT_EVERY_BYTES = option('--compact-every-bytes', 'SCALE_COMPACT_EVERY_BYTES', null);
/** The nodes' --files-in-memory (default: theirs). */
const FILES_IN_MEMORY = option('--files-in-memory', 'SCALE_FILES_IN_MEMORY', null);
/** Extra flags for the nodes' node (e.g. `--cpu-prof --cpu-prof-dir=DIR` to profile a build). */
const NODE_FLAGS = (process.env.SCALE_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
const SCRYPT_COST = 16;
const SESSION_TTL_MS = 86_400_000;
const DEFAULT_COMPACT_EVERY_ENTRIES = 50_000;
const GOAL_SNAPSHOT_MS = 2_000;
const GOAL_RESTART_MS = 5_000;
const GOAL_RSS_BYTES = 1024 ** 3;
const MiB = 1024 * 1024;
const PROGRESS_EVERY_MS = 10_000;

if (SIZES.some((s) => !(s > 0 && s <= 10))) throw new Error(`--sizes: fractions of the full size, e.g. 0.01,0.1,1 (got ${SIZES.join(',')})`);

const world = createRealWorld();
const root = makeWorkDir('clique-bench-scale-');
const workers = new Set();
process.on('exit', () => {
  for (const w of workers) w.kill('SIGKILL');
});

const int = (n) => Math.round(n).toLocaleString('en-US');
const mib = (bytes) => `${(bytes / MiB).toFixed(1)} MiB`;
const seconds = (ms) => `${(ms / 1000).toFixed(2)} s`;
const verdict = (ok) => (ok ? 'met' : 'MISSED');
const goals = [];
function goal(what, ok) {
  goals.push({ what, ok });
  return verdict(ok);
}

// ---- measuring a node ------------------------------------------------------------------------

/** VmRSS and VmHWM of a process, and RSS's anonymous and file-backed parts (mapped files: LevelDB's tables), in bytes. */
function memoryOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rssBytes: kib('VmRSS'), peakBytes: kib('VmHWM'), anonBytes: kib('RssAnon'), fileBytes: kib('RssFile') };
}

/** Bytes the process has caused to be written to storage so far (/proc/<pid>/io write_bytes: its LevelDB writes and compactions). */
function diskWrittenBy(pid) {
  return Number(/^write_bytes:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? NaN);
}

/**
 * The node's own account of its memory (SIGUSR2 makes it log `memory`: process.memoryUsage, the
 * Raft log it holds, and the same after a full GC, the nodes running with --expose-gc), as a line.
 */
async function memoryBreakdown(c, id) {
  const from = statSync(c.logPath(id)).size;
  const { anonBytes, fileBytes } = memoryOf(c.procs.get(id).pid);
  c.procs.get(id).kill('SIGUSR2');
  const deadline = Date.now() + 30_000;
  let m;
  while ((m = logEvents(c.logPath(id), 'memory', from)[0]) === undefined) {
    if (Date.now() > deadline) return 'no memory line in 30 s';
    await sleep(20);
  }
  const gc = m.heapUsedAfterGc === undefined ? '' : `; after a full GC: RSS ${mib(m.rssAfterGc)}, heap used ${mib(m.heapUsedAfterGc)} of ${mib(m.heapTotalAfterGc)}, external ${mib(m.externalAfterGc)} (ArrayBuffers ${mib(m.arrayBuffersAfterGc)})`;
  return `RSS ${mib(m.rss)} (anonymous ${mib(anonBytes)}, mapped files ${mib(fileBytes)}): heap used ${mib(m.heapUsed)} of ${mib(m.heapTotal)}, external ${mib(m.external)} (ArrayBuffers ${mib(m.arrayBuffers)}), the rest ${mib(m.rss - m.heapTotal - m.external)}; Raft log ${int(m.raftEntries)} entries, ${mib(m.raftBytes)}${m.filesInMemory === undefined ? '' : `; files in memory ${int(m.filesInMemory)} (groups read from disk ${int(m.groupsLoaded)} times, sent back ${int(m.groupsEvicted)})`}${gc}`;
}

/** The bytes of every file under `path`. */
function bytesUnder(path) {
  if (!existsSync(path)) return 0;
  let total = 0;
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const full = join(path, entry.name);
    // LevelDB deletes a table it has compacted away at any moment: one gone since readdir counts 0.
    total += entry.isDirectory() ? bytesUnder(full) : (statSync(full, { throwIfNoEntry: false })?.size ?? 0);
  }
  return total;
}

/** The node's JSON log lines of one event, from byte `fromByte` of its log on. */
function logEvents(logPath, event, fromByte = 0) {
  if (!existsSync(logPath)) return [];
  return readFileSync(logPath)
    .subarray(fromByte)
    .toString('utf8')
    .split('\n')
    .filter((line) => line.includes(`"event":"${event}"`))
    .map((line) => JSON.parse(line));
}

// ---- one cluster -----------------------------------------------------------------------------

async function startCluster(dir, compactEvery) {
  mkdirSync(dir, { recursive: true });
  const cluster = await makeCluster(world, { nodes: 3, host: '127.0.0.1', basePort: await freeClusterBase() });
  const clusterPath = join(dir, 'cluster.json');
  await writeCluster(world.fs, clusterPath, cluster);
  const ids = cluster.config.nodes.map((n) => n.id);
  const clientOf = new Map(cluster.config.nodes.map((n) => [n.id, n.client]));
  const procs = new Map();
  const logPath = (id) => join(dir, `${id}.log`);
  const args = (id) => ['--expose-gc', ...NODE_FLAGS, CLI, 'tracker', '--id', id, '--cluster', clusterPath, '--data', join(dir, id), '--scrypt-cost', String(SCRYPT_COST), '--compact-every', String(compactEvery), ...(COMPACT_EVERY_BYTES === null ? [] : ['--compact-every-bytes', COMPACT_EVERY_BYTES]), ...(FILES_IN_MEMORY === null ? [] : ['--files-in-memory', FILES_IN_MEMORY]), '--session-ttl', String(SESSION_TTL_MS)];
  const start = (id) => procs.set(id, launch(process.execPath, args(id), { log: logPath(id) }));
  for (const id of ids) start(id);
  const probe = new TrackerClient(world, { nodes: [...clientOf.values()], trust: clusterTrust(cluster.config), clientId: 'scale-probe' });
  const statuses = async () => new Map(await Promise.all(ids.map(async (id) => [id, await probe.status(clientOf.get(id))])));
  const leader = async () => [...(await statuses())].find(([, s]) => s?.role === 'leader')?.[0] ?? null;
  const deadline = Date.now() + 30_000;
  while (!(await leader())) {
    if (Date.now() > deadline) throw new Error(`no leader after 30 s (logs in ${dir})`);
    await sleep(50);
  }
  return { dir, clusterPath, ids, clientOf, procs, logPath, start, probe, statuses, leader };
}

/** Every node up, and all at the leader's applied index; resolves to the statuses. */
async function caughtUp(c, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = await c.statuses();
    const lead = [...all.values()].find((s) => s?.role === 'leader');
    if (lead && [...all.values()].every((s) => s !== null && s.applied === lead.applied && s.commit === lead.commit)) return all;
    if (Date.now() > deadline) throw new Error('the nodes did not catch up');
    await sleep(50);
  }
}

async function kill9(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await child.exited;
}

// ---- the build -------------------------------------------------------------------------------

/** Forks the load processes and waits for all; prints progress every ~10 s. */
async function build(c, size) {
  const planned = plannedCommands(size);
  const done = new Array(WORKERS).fill(0);
  const refused = new Array(WORKERS).fill(0);
  const phaseTimes = [];
  const phaseOf = new Array(WORKERS).fill('start');
  const startedMs = performance.now();
  let lastMs = startedMs;
  let lastDone = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    const total = done.reduce((a, b) => a + b, 0);
    console.log(`scale:   ... ${seconds(now - startedMs)}: ${int(total)} of ${int(planned)} writes, ${int(((total - lastDone) * 1000) / (now - lastMs))} writes/s now (phases ${phaseOf.join(', ')})`);
    lastMs = now;
    lastDone = total;
  }, PROGRESS_EVERY_MS);
  try {
    await Promise.all(
      Array.from({ length: WORKERS }, (_, index) => {
        const job = { index, workers: WORKERS, seed: SEED, ...size, cluster: c.clusterPath, concurrency: CONCURRENCY };
        const child = fork(WORKER, [JSON.stringify(job)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        workers.add(child);
        return new Promise((resolve, reject) => {
          let finished = false;
          child.on('message', (m) => {
            if (m.type === 'progress' || m.type === 'done') {
              done[index] = m.done;
              refused[index] = m.refusedRetries;
              phaseOf[index] = m.phase ?? 'done';
            }
            if (m.type === 'done') {
              finished = true;
              phaseTimes.push(m.phaseTimes);
            }
            if (m.type === 'failed') reject(new Error(`load process ${index} failed in its ${m.phase} phase after ${m.done} writes: ${m.code} ${m.message}`));
          });
          child.once('exit', (code) => {
            workers.delete(child);
            if (finished) resolve();
            else reject(new Error(`load process ${index} exited with ${code} before it was done`));
          });
        });
      }),
    );
  } finally {
    clearInterval(ticker);
    for (const w of workers) w.kill('SIGKILL');
  }
  // Phases are not in step across load processes: each phase's longest, and its writes in all.
  const phases = phaseTimes[0].map(({ name }, i) => {
    const ms = Math.max(...phaseTimes.map((p) => p[i].ms));
    const writes = phaseTimes.reduce((sum, p) => sum + p[i].writes, 0);
    return `${name} ${seconds(ms)} (${int(writes)}, ${int((writes * 1000) / ms)}/s)`;
  });
  return { ms: performance.now() - startedMs, writes: done.reduce((a, b) => a + b, 0), refusedRetries: refused.reduce((a, b) => a + b, 0), phases };
}

// ---- one size --------------------------------------------------------------------------------

async function measureSize(fraction) {
  const size = sizeAt(fraction, ONLINE);
  const units = size.users + size.groups + size.files;
  const planned = plannedCommands(size);
  const compactEvery = COMPACT_EVERY === null ? Math.min(DEFAULT_COMPACT_EVERY_ENTRIES, Math.ceil(planned / 3.5)) : Number(COMPACT_EVERY);
  console.log(
    `scale: size ${fraction}: ${int(size.users)} users, ${int(size.groups)} groups, ${int(size.files)} files (${int(units)} units), ${int(onlineUsers(size))} sessions left open; ` +
      `${int(planned)} writes; --compact-every ${int(compactEvery)}${COMPACT_EVERY_BYTES === null ? '' : ` --compact-every-bytes ${int(Number(COMPACT_EVERY_BYTES))}`}; ${WORKERS} load processes x ${CONCURRENCY} in flight; seed ${SEED}`,
  );
  const c = await startCluster(join(root, `size-${fraction}`), compactEvery);
  try {
    const built = await build(c, size);
    const after = await caughtUp(c);
    const leaderId = [...after].find(([, s]) => s.role === 'leader')[0];
    const applied = after.get(leaderId).applied;
    console.log(`scale:   build: ${seconds(built.ms)}, ${int((built.writes * 1000) / built.ms)} writes/s (${int(built.writes)} writes; ${int(applied)} entries applied on every node; ${int(built.refusedRetries)} writes tried again after a refused connection)`);
    console.log(`scale:   build phases (the longest load process's time, all their writes): ${built.phases.join('; ')}`);

    const row = { fraction, units, buildMs: built.ms, writesPerSecond: (built.writes * 1000) / built.ms, storeBytes: 0, rssBytes: 0, peakBytes: 0, snapshotMs: 0, startedMs: NaN, caughtUpMs: NaN };
    for (const id of c.ids) {
      const raftBytes = bytesUnder(join(c.dir, id, 'raft'));
      const trackerBytes = bytesUnder(join(c.dir, id, 'tracker'));
      const { rssBytes, peakBytes } = memoryOf(c.procs.get(id).pid);
      const role = id === leaderId ? 'leader' : 'follower';
      row.storeBytes = Math.max(row.storeBytes, raftBytes + trackerBytes);
      row.rssBytes = Math.max(row.rssBytes, rssBytes);
      row.peakBytes = Math.max(row.peakBytes, peakBytes);
      console.log(`scale:   ${id} (${role}) store: raft/ ${mib(raftBytes)} (${int(raftBytes)} B), tracker/ ${mib(trackerBytes)} (${int(trackerBytes)} B), together ${mib(raftBytes + trackerBytes)}`);
      const writtenBytes = diskWrittenBy(c.procs.get(id).pid);
      console.log(`scale:   ${id} (${role}) disk written during the build: ${mib(writtenBytes)}, ${int(writtenBytes / built.writes)} B a write, ${((writtenBytes / (raftBytes + trackerBytes)) || 0).toFixed(1)}x what it keeps`);
      console.log(`scale:   ${id} (${role}) RSS after the build ${mib(rssBytes)}, peak ${mib(peakBytes)}  goal < 1024 MiB: ${goal(`size ${fraction} ${id} RSS`, peakBytes < GOAL_RSS_BYTES)}`);
      console.log(`scale:   ${id} (${role}) memory: ${await memoryBreakdown(c, id)}`);
      const snapshots = logEvents(c.logPath(id), 'store_snapshot');
      const streamed = logEvents(c.logPath(id), 'snapshot_sent');
      if (snapshots.length === 0) {
        console.log(`scale:   ${id} snapshots: none  goal < 2 s: ${goal(`size ${fraction} ${id} snapshot`, false)}`);
        continue;
      }
      const maxMs = Math.max(...snapshots.map((s) => s.ms));
      const last = snapshots[snapshots.length - 1];
      row.snapshotMs = Math.max(row.snapshotMs, maxMs);
      console.log(
        `scale:   ${id} snapshots: ${snapshots.length}, longest ${maxMs.toFixed(1)} ms, last ${last.ms.toFixed(1)} ms at index ${int(last.index)} (${Math.round((100 * last.index) / applied)} % of the log)` +
          `${streamed.length > 0 ? `; ${streamed.length} streamed to a follower, longest ${Math.max(...streamed.map((e) => e.ms)).toFixed(0)} ms, largest ${mib(Math.max(...streamed.map((e) => e.bytes)))}` : ''}  goal < 2 s: ${goal(`size ${fraction} ${id} snapshot`, maxMs < GOAL_SNAPSHOT_MS)}`,
      );
    }

    // Restart: kill -9 a follower, start it again; its stores open (snapshot plus tail), then it catches up.
    const victim = c.ids.find((id) => id !== leaderId);
    const before = after.get(victim);
    await kill9(c.procs.get(victim));
    const logFrom = statSync(c.logPath(victim)).size;
    const spawnedWallMs = Date.now();
    const spawnedMs = performance.now();
    c.start(victim);
    let started = null;
    while (started === null) {
      if (c.procs.get(victim).exitCode !== null) throw new Error(`${victim} exited on restart (see ${c.logPath(victim)})`);
      started = logEvents(c.logPath(victim), 'tracker_started', logFrom)[0] ?? null;
      if (started === null) await sleep(10);
    }
    const opened = logEvents(c.logPath(victim), 'node_opened', logFrom)[0];
    const openedAtMs = opened === undefined ? NaN : opened.timeMs - spawnedWallMs - Math.max(opened.raftMs, opened.storeMs);
    for (;;) {
      const s = await c.probe.status(c.clientOf.get(victim));
      const lead = await c.probe.status(c.clientOf.get(leaderId));
      if (s !== null && lead !== null && s.applied >= lead.applied) break;
      await sleep(10);
    }
    row.caughtUpMs = performance.now() - spawnedMs;
    row.startedMs = started.timeMs - spawnedWallMs;
    const memory = memoryOf(c.procs.get(victim).pid);
    console.log(
      `scale:   restart ${victim} (kill -9; snapshot at ${int(before.snapshotIndex)}, tail ${int(before.applied - before.snapshotIndex)} entries): tracker_started after ${seconds(row.startedMs)}` +
        `${opened ? ` (Node, modules, cluster files and both LevelDB opens ${seconds(openedAtMs)}; then, at once, Raft log read in ${seconds(opened.raftMs)}, ${int(opened.raftEntries)} entries, and tracker store in ${seconds(opened.storeMs)}${opened.groupsWithFilesOnDisk > 0 ? `, the files of its ${int(opened.groupsWithFilesOnDisk)} groups left on disk until first needed` : ''})` : ''}, caught up after ${seconds(row.caughtUpMs)}, ` +
        `RSS then ${mib(memory.rssBytes)}  goal < 5 s: ${goal(`size ${fraction} restart`, row.caughtUpMs < GOAL_RESTART_MS)}`,
    );
    console.log(`scale:   ${victim} after the restart, memory: ${await memoryBreakdown(c, victim)}`);
    return row;
  } catch (error) {
    for (const id of c.ids) {
      const lines = existsSync(c.logPath(id)) ? readFileSync(c.logPath(id), 'utf8').trim().split('\n') : [];
      console.log(`scale:   ${id}'s log ends:\n${lines.slice(-8).join('\n')}`);
    }
    throw error;
  } finally {
    c.probe.close();
    await Promise.all([...c.procs.values()].map((child) => stop(child)));
    // The stores go (gigabytes); the nodes' logs stay, for what a run left unexplained.
    const kept = `${root}-logs/size-${fraction}`; // beside the work dir, which goes at exit
    mkdirSync(kept, { recursive: true });
    for (const id of c.ids) if (existsSync(c.logPath(id))) copyFileSync(c.logPath(id), join(kept, `${id}.log`));
    console.log(`scale:   the nodes' logs are kept in ${kept}`);
    rmSync(c.dir, { recursive: true, force: true });
  }
}

// ---- linearity -------------------------------------------------------------------------------

const FIGURES = [
  ['build time (s)', (r) => r.buildMs / 1000],
  ['store on disk, largest node (MiB)', (r) => r.storeBytes / MiB],
  ['RSS after the build, largest node (MiB)', (r) => r.rssBytes / MiB],
  ['peak RSS, largest node (MiB)', (r) => r.peakBytes / MiB],
  ['longest snapshot (ms)', (r) => r.snapshotMs],
  ['restart to tracker_started (s)', (r) => r.startedMs / 1000],
  ['restart to caught up (s)', (r) => r.caughtUpMs / 1000],
];

function linearity(rows) {
  const fmt = (n) => (Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 1 ? n.toFixed(2) : n.toPrecision(3));
  console.log(`scale: linearity: each figure per 1,000 units (users + groups + files) at sizes ${rows.map((r) => `${r.fraction} (${int(r.units)})`).join(', ')}; ratio largest/smallest; and the growth between sizes per 1,000 units (which leaves out what a node costs at no size)`);
  for (const [name, value] of FIGURES) {
    const per = rows.map((r) => (1000 * value(r)) / r.units);
    const ratio = Math.max(...per) / Math.min(...per);
    const growth = rows.slice(1).map((r, i) => (1000 * (value(r) - value(rows[i]))) / (r.units - rows[i].units));
    console.log(`scale:   ${name.padEnd(40)} per 1,000: ${per.map(fmt).join(', ').padEnd(30)} ratio ${fmt(ratio).padStart(6)}   growth per 1,000: ${growth.map(fmt).join(', ') || '-'}`);
  }
}

// ---- run -------------------------------------------------------------------------------------

const rows = [];
for (const fraction of SIZES) rows.push(await measureSize(fraction));
if (rows.length > 1) linearity(rows);
const missed = goals.filter((g) => !g.ok);
console.log(`scale: goals: ${goals.length - missed.length} of ${goals.length} met${missed.length > 0 ? `; MISSED: ${missed.map((g) => g.what).join('; ')}` : ''}`);
