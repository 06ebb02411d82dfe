// bench/raft: three tracker processes on loopback with synced writes, beside a three-node etcd
// under the same load in the same run. For C = 1, 16, 64 concurrent clients (one connection
// each), 1 s warm-up then 10 s of small writes that need no key derivation: writes/s, p50, p99,
// and the leader changes during the run. Then failover: kill -9 of the leader under light load,
// the time until the next write succeeds, median of 5, for both.
// Goals (issue 19): >= 1.5x etcd's writes/s at C=64 with p99 no worse; p50 at C=1 no worse than
// etcd's; no leader change during a loaded run; failover <= 0.4 s (issue 5).
//
// Both sides run alike: without --tls, Clique with its test-only plaintext switch
// (CLIQUE_TEST_PLAINTEXT=1) beside etcd over http; with --tls, Clique as it ships (TLS 1.3 on
// every link: clients check the node, nodes check each other) beside etcd alike (server TLS on
// its client port, mutual TLS between members; ECDSA P-256 certificates made
// with openssl, as Clique's are). With --pin, every server process of either side runs on CPU 0
// and the load generator on CPU 1 (taskset), to see how much sharing two cores explains.
//
//   node bench/raft.mjs [--tls] [--pin] [--seconds 10] [--levels 1,16,64] [--failovers 5] [--no-etcd]

import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = new URL('../dist/', import.meta.url);
const { makeCluster, writeCluster } = await import(new URL('tracker/cluster-config.js', dist));
const { TrackerClient } = await import(new URL('tracker/tracker-client.js', dist));
const { createRealWorld } = await import(new URL('world/real/real-world.js', dist));
const CLI = fileURLToPath(new URL('cli/clique.cjs', dist));

const args = process.argv.slice(2);
const arg = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const SECONDS = Number(arg('--seconds', '10'));
const LEVELS = arg('--levels', '1,16,64').split(',').map(Number);
const FAILOVERS = Number(arg('--failovers', '5'));
const WITH_ETCD = !args.includes('--no-etcd');
const TLS = args.includes('--tls');
const PIN = args.includes('--pin');
// The switch is read when a world is made, in this process and in the trackers it starts.
if (!TLS) process.env.CLIQUE_TEST_PLAINTEXT = '1';
else delete process.env.CLIQUE_TEST_PLAINTEXT;
const { clusterTrust } = await import(new URL('tracker/cluster-config.js', dist));
const world = createRealWorld();
if (PIN) spawnSync('taskset', ['-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
/** A server process's command line, pinned to CPU 0 with --pin. */
const pinned = (command, argv) => (PIN ? ['taskset', ['-c', '0', command, ...argv]] : [command, argv]);
const root = mkdtempSync(join(tmpdir(), 'clique-bench-raft-'));
const children = new Set();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function portFree(port) {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
async function freeBase(span) {
  for (;;) {
    const base = 21_000 + Math.floor(Math.random() * 30_000);
    if ((await Promise.all(span.map((d) => portFree(base + d)))).every(Boolean)) return base;
  }
}
function quantile(sorted, q) {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
function launch(command, argv, log) {
  const child = spawn(...pinned(command, argv), { stdio: ['ignore', 'ignore', openSync(log, 'a')] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
function kill9(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}
/** Runs C workers for `ms`; each calls write(worker, i); returns latencies (ms) and errors. */
async function load(C, ms, write) {
  const latencies = [];
  let errors = 0;
  const until = Date.now() + ms;
  await Promise.all(
    Array.from({ length: C }, async (_, w) => {
      for (let i = 0; Date.now() < until; i++) {
        const t = process.hrtime.bigint();
        try {
          await write(w, i);
          latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
        } catch {
          errors++;
        }
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return { opsPerSecond: Math.round(latencies.length / (ms / 1000)), p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), errors };
}

// ---- Clique ------------------------------------------------------------------------------------

/** A client with a user and a session, whose writes are group creations (no key derivation). */
async function writer(c, name, options = {}) {
  const client = new TrackerClient(world, { nodes: c.nodes, trust: c.trust, clientId: name, deadlineMs: 30_000, ...options });
  await client.createUser(name, `pw-${name}`);
  const session = await client.login(name, `pw-${name}`, 6881);
  let i = 0;
  return { client, write: () => client.command(session, { type: 'CreateGroup', group: `${name}-${i++}` }) };
}

async function cliqueCluster() {
  const dir = join(root, 'clique');
  mkdirSync(dir, { recursive: true });
  const cluster = await makeCluster(world, { nodes: 3, host: '127.0.0.1', basePort: await freeBase([0, 1, 2, 100, 101, 102]) });
  await writeCluster(world.fs, join(dir, 'cluster.json'), cluster);
  const procs = new Map();
  const start = (id) => procs.set(id, launch(process.execPath, [CLI, 'tracker', '--id', id, '--cluster', join(dir, 'cluster.json'), '--data', join(dir, id)], join(dir, `${id}.log`)));
  for (const n of cluster.config.nodes) start(n.id);
  const nodes = cluster.config.nodes.map((n) => n.client);
  const trust = clusterTrust(cluster.config);
  const probe = new TrackerClient(world, { nodes, trust, clientId: 'probe' });
  const statuses = () => Promise.all(cluster.config.nodes.map((n) => probe.status(n.client)));
  const leader = async () => (await statuses()).find((s) => s?.role === 'leader') ?? null;
  while (!(await leader())) await sleep(20);
  return { cluster, procs, start, nodes, trust, probe, statuses, leader };
}

async function cliqueThroughput(c) {
  const rows = [];
  for (const C of LEVELS) {
    // Accounts are made eight at a time: 64 scrypt derivations at once starve the leader's event
    // loop on two cores (an election can follow), and that is not what is measured here.
    const writers = [];
    for (let w = 0; w < C; w += 8) writers.push(...(await Promise.all(Array.from({ length: Math.min(8, C - w) }, (_, k) => writer(c, `bench-${C}-${w + k}`)))));
    const write = (w) => writers[w].write();
    await load(C, 1000, write); // warm-up (connections, leader found)
    const termBefore = (await c.leader())?.term;
    const result = await load(C, SECONDS * 1000, write);
    const termAfter = (await c.leader())?.term;
    for (const w of writers) w.client.close();
    rows.push({ C, ...result, leaderChanges: termAfter - termBefore });
  }
  return rows;
}

async function cliqueFailover(c) {
  const times = [];
  for (let round = 0; round < FAILOVERS; round++) {
    const { client, write } = await writer(c, `failover-${round}`, { requestTimeoutMs: 300 });
    await write();
    const lead = await c.leader();
    let stop = false;
    let firstAfterKill = null;
    let killedAt = null;
    const running = (async () => {
      while (!stop) {
        await write();
        if (killedAt !== null && firstAfterKill === null) firstAfterKill = performance.now();
      }
    })();
    await sleep(200);
    await kill9(c.procs.get(lead.id));
    killedAt = performance.now();
    while (firstAfterKill === null) await sleep(5);
    stop = true;
    await running;
    client.close();
    times.push((firstAfterKill - killedAt) / 1000);
    c.start(lead.id);
    while ((await c.statuses()).some((s) => s === null)) await sleep(50);
  }
  times.sort((a, b) => a - b);
  return { median: quantile(times, 0.5), all: times };
}

// ---- etcd --------------------------------------------------------------------------------------

function hasEtcd() {
  return spawnSync('sh', ['-c', 'command -v etcd && command -v etcdctl'], { stdio: 'ignore' }).status === 0;
}

/** A CA and one certificate for 127.0.0.1 signed by it (ECDSA P-256, as Clique's), for etcd's client and peer ports. */
function etcdCertificates(dir) {
  const run = (...argv) => {
    const made = spawnSync('openssl', argv, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    if (made.status !== 0) throw new Error(`openssl ${argv[0]}: ${made.stderr}`);
  };
  run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=bench etcd CA');
  run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'node.key', '-out', 'node.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  run('x509', '-req', '-in', 'node.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'node.crt', '-days', '2', '-extfile', 'san.ext');
  return { ca: join(dir, 'ca.crt'), cert: join(dir, 'node.crt'), key: join(dir, 'node.key') };
}

async function etcdCluster() {
  const dir = join(root, 'etcd');
  mkdirSync(dir, { recursive: true });
  const scheme = TLS ? 'https' : 'http';
  const certs = TLS ? etcdCertificates(dir) : null;
  const tlsFlags = certs === null ? [] : ['--cert-file', certs.cert, '--key-file', certs.key, '--peer-cert-file', certs.cert, '--peer-key-file', certs.key, '--peer-trusted-ca-file', certs.ca, '--peer-client-cert-auth'];
  const base = await freeBase([0, 1, 100, 101, 200, 201]);
  const members = [0, 1, 2].map((i) => ({ name: `m${i + 1}`, client: base + 100 * i, peer: base + 100 * i + 1 }));
  const initial = members.map((m) => `${m.name}=${scheme}://127.0.0.1:${m.peer}`).join(',');
  const procs = new Map();
  const start = (m) =>
    procs.set(
      m.name,
      launch('etcd', [
        '--name', m.name, '--data-dir', join(dir, m.name), '--logger=zap', `--log-outputs=${join(dir, m.name + '.log')}`,
        '--listen-client-urls', `${scheme}://127.0.0.1:${m.client}`, '--advertise-client-urls', `${scheme}://127.0.0.1:${m.client}`,
        '--listen-peer-urls', `${scheme}://127.0.0.1:${m.peer}`, '--initial-advertise-peer-urls', `${scheme}://127.0.0.1:${m.peer}`,
        ...tlsFlags,
        '--initial-cluster', initial, '--initial-cluster-token', `bench-${process.pid}`, '--initial-cluster-state', 'new',
      ], join(dir, `${m.name}.out`)),
    );
  for (const m of members) start(m);
  const lib = TLS ? https : http;
  const agent = new lib.Agent({ keepAlive: true, maxSockets: 256, ...(certs === null ? {} : { ca: readFileSync(certs.ca) }) });
  const post = (port, path, body, timeoutMs = 5000) =>
    new Promise((resolve, reject) => {
      const text = JSON.stringify(body);
      const req = lib.request({ host: '127.0.0.1', port, path, method: 'POST', agent, timeout: timeoutMs, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } }, (res) => {
        let data = '';
        res.on('data', (d) => (data += d));
        res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(data)) : reject(new Error(data))));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(text);
    });
  const status = async (m) => {
    try {
      const s = await post(m.client, '/v3/maintenance/status', {}, 1000);
      return { leader: s.header.member_id === s.leader, term: Number(s.raftTerm ?? s.header.raft_term ?? 0) };
    } catch {
      return null;
    }
  };
  const leader = async () => {
    for (const m of members) if ((await status(m))?.leader) return m;
    return null;
  };
  while (!(await leader())) await sleep(100);
  return { members, procs, start, post, status, leader, agent };
}

const b64 = (s) => Buffer.from(s).toString('base64');
const VALUE = b64('x'.repeat(100));

async function etcdThroughput(e) {
  const rows = [];
  for (const C of LEVELS) {
    const lead = await e.leader();
    const write = (w, i) => e.post(lead.client, '/v3/kv/put', { key: b64(`bench/${C}/${w}/${i}`), value: VALUE });
    await load(C, 1000, (w, i) => write(w, -1 - i));
    const before = (await e.status(lead))?.term;
    const result = await load(C, SECONDS * 1000, write);
    const after = (await e.status((await e.leader()) ?? lead))?.term;
    rows.push({ C, ...result, leaderChanges: after - before });
  }
  return rows;
}

async function etcdFailover(e) {
  const times = [];
  for (let round = 0; round < FAILOVERS; round++) {
    const lead = await e.leader();
    let stop = false;
    let killedAt = null;
    let firstAfterKill = null;
    let target = 0;
    const running = (async () => {
      for (let i = 0; !stop; i++) {
        const m = e.members[target % 3];
        try {
          await e.post(m.client, '/v3/kv/put', { key: b64(`failover/${round}/${i}`), value: VALUE }, 300);
          if (killedAt !== null && firstAfterKill === null) firstAfterKill = performance.now();
        } catch {
          target++; // like a client with every endpoint: move on
        }
      }
    })();
    await sleep(200);
    await kill9(e.procs.get(lead.name));
    killedAt = performance.now();
    while (firstAfterKill === null) await sleep(5);
    stop = true;
    await running;
    times.push((firstAfterKill - killedAt) / 1000);
    e.start(lead);
    while ((await Promise.all(e.members.map(e.status))).some((s) => s === null)) await sleep(100);
  }
  times.sort((a, b) => a - b);
  return { median: quantile(times, 0.5), all: times };
}

// ---- run ---------------------------------------------------------------------------------------

const fmt = (n) => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');
function table(label, rows) {
  for (const r of rows) console.log(`raft: ${label.padEnd(6)} C=${String(r.C).padStart(2)}  ${String(r.opsPerSecond).padStart(6)} writes/s  p50 ${fmt(r.p50)} ms  p99 ${fmt(r.p99)} ms  errors ${r.errors}  leader changes ${r.leaderChanges}`);
}

try {
  console.log(`raft: ${SECONDS} s per level after 1 s warm-up; ${LEVELS.join(', ')} clients, one connection each; writes synced on every node; ${TLS ? 'TLS on both sides (Clique as it ships, etcd with client and peer TLS)' : 'no TLS on either side (Clique with CLIQUE_TEST_PLAINTEXT=1, etcd over http)'}${PIN ? '; servers pinned to CPU 0, the load generator to CPU 1' : ''}`);
  const c = await cliqueCluster();
  const ours = await cliqueThroughput(c);
  table('clique', ours);
  const ourFailover = await cliqueFailover(c);
  console.log(`raft: clique failover (kill -9 of the leader to the next acknowledged write): median ${ourFailover.median.toFixed(3)} s of ${ourFailover.all.map((t) => t.toFixed(3)).join(', ')}  goal <= 0.4 s: ${ourFailover.median <= 0.4 ? 'met' : 'MISSED'}`);
  c.probe.close();
  for (const child of c.procs.values()) await kill9(child);
  if (WITH_ETCD && hasEtcd()) {
    const e = await etcdCluster();
    const theirs = await etcdThroughput(e);
    table('etcd', theirs);
    const theirFailover = await etcdFailover(e);
    console.log(`raft: etcd failover (same measure, HTTP gateway client): median ${theirFailover.median.toFixed(3)} s of ${theirFailover.all.map((t) => t.toFixed(3)).join(', ')}`);
    for (const child of e.procs.values()) await kill9(child);
    e.agent.destroy();
    for (const o of ours) {
      const t = theirs.find((r) => r.C === o.C);
      console.log(`raft: ratio clique/etcd C=${o.C}: throughput ${(o.opsPerSecond / t.opsPerSecond).toFixed(2)}x, p50 ${(o.p50 / t.p50).toFixed(2)}x, p99 ${(o.p99 / t.p99).toFixed(2)}x`);
    }
    const at64 = ours.find((r) => r.C === 64);
    const e64 = theirs.find((r) => r.C === 64);
    if (at64 && e64) console.log(`raft: goal >= 1.5x etcd at C=64 with p99 no worse: ${at64.opsPerSecond >= 1.5 * e64.opsPerSecond && at64.p99 <= e64.p99 ? 'met' : 'MISSED'}`);
    const at1 = ours.find((r) => r.C === 1);
    const e1 = theirs.find((r) => r.C === 1);
    if (at1 && e1) console.log(`raft: goal p50 at C=1 no worse than etcd's: ${at1.p50 <= e1.p50 ? 'met' : 'MISSED'} (${fmt(at1.p50)} ms against ${fmt(e1.p50)} ms)`);
    console.log(`raft: failover ratio clique/etcd: ${(ourFailover.median / theirFailover.median).toFixed(2)}x`);
  } else {
    console.log(WITH_ETCD ? 'raft: etcd not installed (apt-get install etcd-server etcd-client): no side-by-side figures' : 'raft: etcd skipped (--no-etcd)');
  }
  console.log(`raft: goal no leader change during a run: ${ours.every((r) => r.leaderChanges === 0) ? 'met' : 'MISSED'}`);
} finally {
  for (const child of children) child.kill('SIGKILL');
  await sleep(200);
  rmSync(root, { recursive: true, force: true });
}
