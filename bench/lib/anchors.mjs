// The mature clients the download benchmarks compare against, on loopback (ported from the
// anchors' swarm.sh): opentracker, aria2c and qbittorrent-nox seeders, and a timed leecher of
// either kind. Private torrent with 512 KiB pieces; no DHT, LSD or PEX, so peers come from the
// tracker only. Time to complete = leecher spawn to its completion hook.

import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { freePort, launch, logTail, readTimeV, sleep, stop, timed } from './harness.mjs';

export const ANCHOR_TOOLS = {
  aria2c: 'aria2',
  'qbittorrent-nox': 'qbittorrent-nox',
  opentracker: 'opentracker',
  mktorrent: 'mktorrent',
  '/usr/bin/time': 'time',
};

const ARIA = ['--interface=127.0.0.1', '--disable-ipv6=true', '--enable-dht=false', '--enable-dht6=false', '--bt-enable-lpd=false',
  '--enable-peer-exchange=false', '--summary-interval=0', '--console-log-level=warn', '--enable-color=false'];

// aria2 (--on-bt-download-complete: $3 = path) and qBittorrent (AutoRun "hook - - %F") call it on completion.
const HOOK = '#!/bin/sh\ndate +%s.%N > "$(dirname "$3")/done.ts"\n';

export function versions() {
  const first = (cmd, args) => spawnSync(cmd, args, { encoding: 'utf8' }).stdout.split('\n')[0];
  return `${first('aria2c', ['--version'])}, ${first('qbittorrent-nox', ['--version'])}`;
}

/**
 * One torrent of `file` in `dir`, its tracker (whitelisted to that info-hash, restartable), and the
 * seeders and leechers that use them.
 */
export async function anchorSwarm(dir, file) {
  const trackerDir = join(dir, 'trk');
  mkdirSync(trackerDir, { recursive: true });
  chmodSync(trackerDir, 0o755);
  const trackerPort = await freePort();
  const torrent = join(dir, 'f.torrent');
  spawnSync('mktorrent', ['-l', '19', '-p', '-a', `http://127.0.0.1:${trackerPort}/announce`, '-o', torrent, file], { stdio: 'ignore' });
  const infoHash = /Info Hash: ([0-9a-f]{40})/.exec(spawnSync('aria2c', ['-S', torrent], { encoding: 'utf8' }).stdout)[1];
  writeFileSync(join(trackerDir, 'whitelist'), `${infoHash}\n`, { mode: 0o644 });
  const hook = join(dir, 'hook.sh');
  writeFileSync(hook, HOOK, { mode: 0o755 });
  let tracker = null;
  let count = 0;

  async function restartTracker() {
    if (tracker) await stop(tracker);
    const argv = ['-i', '127.0.0.1', '-p', String(trackerPort), '-P', String(trackerPort), '-d', trackerDir, '-w', 'whitelist'];
    tracker = launch('opentracker', argv, { log: join(dir, 'tracker.log') });
  }

  /** Starts `n` seeders of `kind`, each from its own hard link of the file; resolves once the tracker counts them all. */
  async function startSeeders(kind, n) {
    const seeders = [];
    for (let i = 0; i < n; i++) {
      const home = join(dir, `${kind}.s${count++}`);
      mkdirSync(home);
      linkSync(file, join(home, 'f.bin'));
      seeders.push(await startClient(kind, home, torrent, { seeding: true }));
    }
    await waitSeeds(trackerPort, infoHash, n).catch(async (error) => {
      await Promise.all(seeders.map((s) => stop(s)));
      throw error;
    });
    return seeders;
  }

  /**
   * Starts a leecher into a fresh dir, under /usr/bin/time -v when `timed`; an aria2 leecher exits
   * on completion unless `keepSeeding`. Resolves to { child, startedAt (epoch s), doneFile, path, home }.
   */
  async function startLeecher(kind, { timed = true, keepSeeding = false } = {}) {
    const home = join(dir, `${kind}.l${count++}`);
    mkdirSync(join(home, 'dl'), { recursive: true });
    const child = await startClient(kind, home, torrent, { hook, keepSeeding, timeFile: timed ? join(home, 'time') : undefined });
    return { child, startedAt: child.startedAt, doneFile: join(home, 'dl', 'done.ts'), path: join(home, 'dl', 'f.bin'), home };
  }

  /** Epoch seconds at which the leecher's completion hook ran, or null if it exits or times out first. */
  async function completedAt(leecher, timeoutMs = 600_000) {
    const deadline = Date.now() + timeoutMs;
    while (!existsSync(leecher.doneFile) && leecher.child.exitCode === null && Date.now() < deadline) await sleep(100);
    await sleep(100); // the hook may still be writing
    return existsSync(leecher.doneFile) ? Number(readFileSync(leecher.doneFile, 'utf8')) : null;
  }

  /** One timed download: { seconds, cpuSeconds, peakRssMiB, path }. */
  async function leech(kind) {
    const leecher = await startLeecher(kind);
    const doneAt = await completedAt(leecher);
    if (kind === 'qbittorrent') await qbtShutdown(leecher.child.webuiPort);
    await Promise.race([leecher.child.exited, sleep(30_000)]); // aria2 exits by itself; a signal would also end /usr/bin/time
    await stop(leecher.child);
    if (doneAt === null) throw new Error(`${kind} leecher did not complete: ${logTail(join(leecher.home, 'log'))}`);
    return { seconds: doneAt - leecher.startedAt, ...readTimeV(join(leecher.home, 'time')), path: leecher.path };
  }

  await restartTracker();
  return { restartTracker, startSeeders, startLeecher, completedAt, leech, stopTracker: () => stop(tracker) };
}

/** aria2c or qbittorrent-nox, seeding (from `home`) or leeching (into `home`/dl; under /usr/bin/time -v with `timeFile`). */
async function startClient(kind, home, torrent, { seeding = false, keepSeeding = false, hook, timeFile }) {
  const port = await freePort();
  const log = join(home, 'log');
  let command;
  let argv;
  let webuiPort;
  if (kind === 'aria2') {
    command = 'aria2c';
    argv = seeding
      ? [...ARIA, `--dir=${home}`, `--listen-port=${port}`, '--seed-ratio=0.0', '--check-integrity=true', torrent]
      : [...ARIA, `--dir=${join(home, 'dl')}`, `--listen-port=${port}`, keepSeeding ? '--seed-ratio=0.0' : '--seed-time=0', '--file-allocation=falloc',
          '--bt-stop-timeout=120', `--on-bt-download-complete=${hook}`, torrent];
  } else {
    webuiPort = await freePort();
    qbtConfig(join(home, 'profile'), port, webuiPort, hook);
    command = 'qbittorrent-nox';
    argv = [`--profile=${join(home, 'profile')}`, `--save-path=${seeding ? home : join(home, 'dl')}`, '--skip-dialog=true',
      ...(seeding ? ['--skip-hash-check'] : []), torrent];
  }
  const startedAt = Date.now() / 1000;
  const child = timeFile ? launch(...timed(timeFile, command, argv), { log }) : launch(command, argv, { log });
  Object.assign(child, { startedAt, webuiPort });
  return child;
}

function qbtConfig(profile, port, webuiPort, hook) {
  mkdirSync(join(profile, 'qBittorrent', 'config'), { recursive: true });
  const lines = ['[LegalNotice]', 'Accepted=true', '[AutoRun]', `enabled=${hook ? 'true' : 'false'}`, `program=${hook ?? ''} - - %F`,
    '[BitTorrent]', 'Session\\Interface=lo', 'Session\\InterfaceName=lo', 'Session\\InterfaceAddress=127.0.0.1', `Session\\Port=${port}`,
    'Session\\DHTEnabled=false', 'Session\\LSDEnabled=false', 'Session\\PeXEnabled=false', 'Session\\MultiConnectionsPerIp=true',
    'Session\\BTProtocol=TCP', 'Session\\QueueingSystemEnabled=false', '[Preferences]', 'WebUI\\Address=127.0.0.1',
    `WebUI\\Port=${webuiPort}`, 'WebUI\\LocalHostAuth=false', 'WebUI\\CSRFProtection=false', 'Connection\\UPnP=false'];
  writeFileSync(join(profile, 'qBittorrent', 'config', 'qBittorrent.conf'), `${lines.join('\n')}\n`);
}

function httpRequest(options) {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', timeout: 2000, ...options }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(''));
    req.end();
  });
}

const qbtShutdown = (port) => httpRequest({ port, path: '/api/v2/app/shutdown', method: 'POST' });

/** Waits until the tracker's scrape counts `n` complete peers (seeders finish their hash check first). */
async function waitSeeds(trackerPort, infoHash, n) {
  const escaped = infoHash.replace(/../g, '%$&');
  for (let i = 0; i < 240; i++) {
    const body = await httpRequest({ port: trackerPort, path: `/scrape?info_hash=${escaped}` });
    if (Number(/8:completei(\d+)e/.exec(body)?.[1]) === n) return;
    await sleep(500);
  }
  throw new Error(`the tracker never saw ${n} seeders`);
}
