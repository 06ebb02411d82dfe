// Our side of the download benchmarks, through the built CLI (`node dist/cli/clique.cjs peer …`):
// keys, the file's metadata, one ticket per leecher, seeders on loopback (or each on a host of a
// lab of spec/helpers/netns), and leechers that print JSON lines (listening, progress, complete
// or failed).

import { spawnSync } from 'node:child_process';
import { linkSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch, logTail, onLines, stop, timed } from './harness.mjs';

const CLI = fileURLToPath(new URL('../../dist/cli/clique.cjs', import.meta.url));
const GROUP = 'bench';
const READY_TIMEOUT_MS = 120_000;

function peerCommand(args) {
  const result = spawnSync(process.execPath, [CLI, 'peer', ...args], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`clique peer ${args[0]} failed (exit ${result.status}): ${(result.stderr || result.stdout).trim().replace(/\s+/g, ' ')}`);
  return result.stdout.trim();
}

/** Parses each JSON line of a peer process; returns waitFor(name), a promise of its listening/complete/failed/exit event. */
function watch(child) {
  const waiters = new Map();
  const seen = new Map();
  const settle = (name, value) => {
    seen.set(name, value);
    for (const resolve of waiters.get(name) ?? []) resolve(value);
  };
  onLines(child, (line) => {
    let event;
    try {
      event = JSON.parse(line);
    } catch {
      return;
    }
    if (event.event !== 'progress') settle(event.event, { ...event, at: performance.now() });
  });
  child.once('close', (code, signal) => settle('exit', { code: code ?? signal, at: performance.now() })); // after the last line
  return (name) => (seen.has(name) ? Promise.resolve(seen.get(name)) : new Promise((resolve) => waiters.set(name, [...(waiters.get(name) ?? []), resolve])));
}

async function waitListening(waitFor, log) {
  const timeout = new Promise((resolve) => setTimeout(resolve, READY_TIMEOUT_MS, { event: 'timeout' }).unref());
  const first = await Promise.race([waitFor('listening'), waitFor('failed'), waitFor('exit'), timeout]);
  if (first.event !== 'listening') throw new Error(`a clique peer did not start listening: ${logTail(log)}`);
  return first;
}

/** Keys, metadata and helpers to seed and download `file` with our CLI, all under `dir`. */
export function cliqueSwarm(dir, file) {
  const keys = JSON.parse(peerCommand(['keygen']));
  const metaPath = join(dir, 'META.json');
  const metaLine = peerCommand(['meta', file]);
  writeFileSync(metaPath, `${metaLine}\n`);
  const meta = JSON.parse(metaLine);
  let count = 0;
  /** A fresh dir for one peer process: its log, and (for a leecher's --home) `home`/home, empty. */
  const freshHome = (label) => {
    const home = join(dir, `clique.${label}${count++}`);
    mkdirSync(join(home, 'home'), { recursive: true });
    return home;
  };

  /**
   * Starts `n` seeders; resolves to { seeders, addresses } once all listen. With `hosts` (lab
   * hosts, one per seeder), seeder i runs on hosts[i], from a hard link of the file in its own
   * dir, listening on 0.0.0.0:`port`; its address is then the host's IPv4:`port`.
   */
  async function startSeeders(n, { hosts, port = 6881 } = {}) {
    const seeders = [];
    for (let i = 0; i < n; i++) {
      const home = freshHome('s');
      const host = hosts?.[i];
      const source = host ? join(home, 'f.bin') : file;
      if (host) linkSync(file, source);
      const argv = [CLI, 'peer', 'seed', '--file', source, '--meta', metaPath, '--group', GROUP, '--public-key', keys.publicKey,
        '--listen', host ? `0.0.0.0:${port}` : '127.0.0.1:0'];
      const child = launch(process.execPath, argv, { log: join(home, 'log'), stdout: 'pipe', host, cwd: home });
      seeders.push({ child, waitFor: watch(child), log: join(home, 'log'), address: host ? `${host.ipv4}:${port}` : null });
    }
    const children = seeders.map((s) => s.child);
    const addresses = await Promise.all(seeders.map(async (s) => {
      // Pinned: a leecher accepts the seeder only with the key it announced (KEY@HOST:PORT).
      const listening = await waitListening(s.waitFor, s.log);
      return `${listening.keyFingerprint}@${s.address ?? listening.address}`;
    })).catch(async (error) => {
      await Promise.all(children.map((child) => stop(child)));
      throw error;
    });
    return { seeders: children, addresses };
  }

  /** A leecher's home (with its TLS key) and the ticket minted for that key (done before timing starts). */
  function mintTicket(user) {
    const dir = freshHome('l');
    const { keyFingerprint } = JSON.parse(peerCommand(['identity', '--home', join(dir, 'home')]));
    const ticket = peerCommand(['ticket', '--signing-key', keys.signingKey, '--user', user, '--group', GROUP, '--file-id', meta.fileId,
      '--key', keyFingerprint, '--ttl-ms', String(3_600_000)]);
    return { dir, keyFingerprint, ticket };
  }

  /**
   * Starts one leecher with `credentials` from mintTicket, downloading from `from`. With `listen` it
   * serves verified pieces on that address and keeps serving after completion; with `timeFile` it
   * runs under /usr/bin/time -v; with `host` (a lab host), on that host, in its own dir.
   */
  function startLeecher({ credentials, from, listen, timeFile, host }) {
    const { dir: home, ticket } = credentials;
    const dest = join(home, 'f.bin');
    const argv = [CLI, 'peer', 'get', '--meta', metaPath, '--dest', dest, '--home', join(home, 'home'),
      '--ticket', ticket, '--from', from.join(',')];
    if (listen) argv.push('--listen', listen, '--public-key', keys.publicKey, '--group', GROUP, '--keep-serving');
    const log = join(home, 'log');
    const startedAt = performance.now();
    const how = { log, stdout: 'pipe', host, cwd: home };
    const child = timeFile ? launch(...timed(timeFile, process.execPath, argv), how) : launch(process.execPath, argv, how);
    const waitFor = watch(child);
    /** Resolves to the complete event (with `at`), or throws with the failure. */
    const completed = Promise.race([waitFor('complete'), waitFor('failed'), waitFor('exit')]).then((event) => {
      if (event.event === 'complete') return event;
      throw new Error(`clique leecher failed: ${event.event === 'failed' ? `${event.code}: ${event.message}` : `exit ${event.code}`}; log: ${logTail(log)}`);
    });
    return { child, startedAt, completed, dest, listen, stop: () => stop(child) };
  }

  return { meta, startSeeders, mintTicket, startLeecher };
}
