// The mature clients the download benchmarks compare against, on loopback (ported from the
// anchors' swarm.sh): opentracker, aria2c and qbittorrent-nox seeders, and a timed leecher of
// either kind. Private torrent with 512 KiB pieces; no DHT, LSD or PEX, so peers come from the
// tracker only. Time to complete = leecher spawn to its completion hook. On a lab of
// spec/helpers/netns instead of loopback: the tracker on a host of its own and each client on
// the host it is given (bound to that host's IPv4, fixed ports, HTTP to them from inside).

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

const ARIA_OPTIONS = ['--disable-ipv6=true', '--enable-dht=false', '--enable-dht6=false', '--bt-enable-lpd=false',
  '--enable-peer-exchange=false', '--summary-interval=0', '--console-log-level=warn', '--enable-color=false'];
// On a lab host every client has the host to itself: fixed ports.
const LAB_TRACKER_PORT = 6969;
const LAB_PORTS = { aria2: 6882, qbittorrent: 6883 };
const LAB_WEBUI_PORT = 8080;

// aria2 (--on-bt-download-complete: $3 = path) and qBittorrent (AutoRun "hook - - %F") call it on completion.
const HOOK = '#!/bin/sh\ndate +%s.%N > "$(dirname "$3")/done.ts"\n';

export function versions() {
  const first = (cmd, args) => spawnSync(cmd, args, { encoding: 'utf8' }).stdout.split('\n')[0];
  return `${first('aria2c', ['--version'])}, ${first('qbittorrent-nox', ['--version'])}`;
}

/**
 * One torrent of `file` in `dir`, its tracker (whitelisted to that info-hash, restartable), and the
 * seeders and leechers that use them. With `trackerHost` (a lab host), the tracker runs there on
 * its IPv4, and seeders and leechers must each be given a lab host.
 */
export async function anchorSwarm(dir, file, { trackerHost } = {}) {
  const trackerDir = join(dir, 'trk');
  mkdirSync(trackerDir, { recursive: true });
  chmodSync(trackerDir, 0o755);
  const trackerIp = trackerHost ? trackerHost.ipv4 : '127.0.0.1';
  const trackerPort = trackerHost ? LAB_TRACKER_PORT : await freePort();
  const torrent = join(dir, 'f.torrent');
  spawnSync('mktorrent', ['-l', '19', '-p', '-a', `http://${trackerIp}:${trackerPort}/announce`, '-o', torrent, file], { stdio: 'ignore' });
  const infoHash = /Info Hash: ([0-9a-f]{40})/.exec(spawnSync('aria2c', ['-S', torrent], { encoding: 'utf8' }).stdout)[1];
  writeFileSync(join(trackerDir, 'whitelist'), `${infoHash}\n`, { mode: 0o644 });
  const hook = join(dir, 'hook.sh');
  writeFileSync(hook, HOOK, { mode: 0o755 });
  let tracker = null;
  let count = 0;

  async function restartTracker() {
    if (tracker) await stop(tracker);
    const argv = ['-i', trackerIp, '-p', String(trackerPort), '-P', String(trackerPort), '-d', trackerDir, '-w', 'whitelist'];
    tracker = launch('opentracker', argv, { log: join(dir, 'tracker.log'), host: trackerHost });
  }

  /**
   * Starts `n` seeders of `kind`, each from its own hard link of the file (seeder i on hosts[i]
   * of a lab when given); resolves once the tracker counts them all.
   */
  async function startSeeders(kind, n, { hosts } = {}) {
    const seeders = [];
    for (let i = 0; i < n; i++) {
      const home = join(dir, `${kind}.s${count++}`);
      mkdirSync(home);
      linkSync(file, join(home, 'f.bin'));
      seeders.push(await startClient(kind, home, torrent, { seeding: true, host: hosts?.[i] }));
    }
    await waitSeeds({ host: trackerIp, port: trackerPort }, infoHash, n, trackerHost).catch(async (error) => {
      await Promise.all(seeders.map((s) => stop(s)));
      throw error;
    });
    return seeders;
  }

  /**
   * Starts a leecher into a fresh dir, under /usr/bin/time -v when `timed`; an aria2 leecher exits
   * on completion unless `keepSeeding`; on `host` of a lab when given. Resolves to { child,
   * startedAt (epoch s), doneFile, path, home, host }.
   */
  async function startLeecher(kind, { timed = true, keepSeeding = false, host } = {}) {
    const home = join(dir, `${kind}.l${count++}`);
    mkdirSync(join(home, 'dl'), { recursive: true });
    const child = await startClient(kind, home, torrent, { hook, keepSeeding, timeFile: timed ? join(home, 'time') : undefined, host });
    return { child, startedAt: child.startedAt, doneFile: join(home, 'dl', 'done.ts'), path: join(home, 'dl', 'f.bin'), home, host };
  }

  /** Epoch seconds at which the leecher's completion hook ran, or null if it exits or times out first. */
  async function completedAt(leecher, timeoutMs = 600_000) {
    const deadline = Date.now() + timeoutMs;
    while (!existsSync(leecher.doneFile) && leecher.child.exitCode === null && Date.now() < deadline) await sleep(100);
    await sleep(100); // the hook may still be writing
    return existsSync(leecher.doneFile) ? Number(readFileSync(leecher.doneFile, 'utf8')) : null;
  }

  /** One timed download (on `host` of a lab when given): { seconds, cpuSeconds, peakRssMiB, path }. */
  async function leech(kind, { host, timeoutMs } = {}) {
    const leecher = await startLeecher(kind, { host });
    const doneAt = await completedAt(leecher, timeoutMs);
    if (kind === 'qbittorrent') await qbtShutdown(leecher.child.webuiPort, host);
    await Promise.race([leecher.child.exited, sleep(30_000)]); // aria2 exits by itself; a signal would also end /usr/bin/time
    await stop(leecher.child);
    if (doneAt === null) throw new Error(`${kind} leecher did not complete: ${logTail(join(leecher.home, 'log'))}`);
    return { seconds: doneAt - leecher.startedAt, ...readTimeV(join(leecher.home, 'time')), path: leecher.path };
  }

  await restartTracker();
  return { restartTracker, startSeeders, startLeecher, completedAt, leech, stopTracker: () => stop(tracker) };
}

/**
 * aria2c or qbittorrent-nox, seeding (from `home`) or leeching (into `home`/dl; under /usr/bin/time
 * -v with `timeFile`); on loopback, or on `host` of a lab (bound to its IPv4 on eth0).
 */
async function startClient(kind, home, torrent, { seeding = false, keepSeeding = false, hook, timeFile, host }) {
  const port = host ? LAB_PORTS[kind] : await freePort();
  const ARIA = [`--interface=${host ? host.ipv4 : '127.0.0.1'}`, ...ARIA_OPTIONS];
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
    webuiPort = host ? LAB_WEBUI_PORT : await freePort();
    qbtConfig(join(home, 'profile'), port, webuiPort, hook, host ? { device: 'eth0', address: host.ipv4 } : { device: 'lo', address: '127.0.0.1' });
    command = 'qbittorrent-nox';
    argv = [`--profile=${join(home, 'profile')}`, `--save-path=${seeding ? home : join(home, 'dl')}`, '--skip-dialog=true',
      ...(seeding ? ['--skip-hash-check'] : []), torrent];
  }
  const startedAt = Date.now() / 1000;
  const how = { log, host, cwd: home };
  const child = timeFile ? launch(...timed(timeFile, command, argv), how) : launch(command, argv, how);
  Object.assign(child, { startedAt, webuiPort });
  return child;
}

function qbtConfig(profile, port, webuiPort, hook, { device, address }) {
  mkdirSync(join(profile, 'qBittorrent', 'config'), { recursive: true });
  const lines = ['[LegalNotice]', 'Accepted=true', '[AutoRun]', `enabled=${hook ? 'true' : 'false'}`, `program=${hook ?? ''} - - %F`,
    '[BitTorrent]', `Session\\Interface=${device}`, `Session\\InterfaceName=${device}`, `Session\\InterfaceAddress=${address}`, `Session\\Port=${port}`,
    'Session\\DHTEnabled=false', 'Session\\LSDEnabled=false', 'Session\\PeXEnabled=false', 'Session\\MultiConnectionsPerIp=true',
    'Session\\BTProtocol=TCP', 'Session\\QueueingSystemEnabled=false', '[Preferences]', 'WebUI\\Address=127.0.0.1',
    `WebUI\\Port=${webuiPort}`, 'WebUI\\LocalHostAuth=false', 'WebUI\\CSRFProtection=false', 'Connection\\UPnP=false'];
  writeFileSync(join(profile, 'qBittorrent', 'config', 'qBittorrent.conf'), `${lines.join('\n')}\n`);
}

/** An HTTP request's body ('' on any error); from inside `host` (a lab host) when given. */
async function httpRequest(options, host) {
  if (host) {
    const result = await host.run(process.execPath, ['-e', IN_HOST_REQUEST, JSON.stringify(options)], { timeoutMs: 10_000 });
    return result.code === 0 ? Buffer.from(result.stdout, 'base64').toString('latin1') : '';
  }
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

// The same request, run by a node inside a lab host's namespace; prints the body in base64.
const IN_HOST_REQUEST = `const req = require('node:http').request({ timeout: 2000, ...JSON.parse(process.argv[1]) }, (res) => {
  const chunks = []; res.on('data', (d) => chunks.push(d)); res.on('end', () => process.stdout.write(Buffer.concat(chunks).toString('base64')));
}); req.on('timeout', () => req.destroy()); req.on('error', () => process.exit(1)); req.end();`;

const qbtShutdown = (port, host) => httpRequest({ host: '127.0.0.1', port, path: '/api/v2/app/shutdown', method: 'POST' }, host);

/** Waits until the tracker's scrape counts `n` complete peers (seeders finish their hash check first). */
async function waitSeeds(tracker, infoHash, n, trackerHost) {
  const escaped = infoHash.replace(/../g, '%$&');
  for (let i = 0; i < 240; i++) {
    const body = await httpRequest({ ...tracker, path: `/scrape?info_hash=${escaped}` }, trackerHost);
    if (Number(/8:completei(\d+)e/.exec(body)?.[1]) === n) return;
    await sleep(500);
  }
  throw new Error(`the tracker never saw ${n} seeders`);
}
