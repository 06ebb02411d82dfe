// Shared by the download benchmarks (bench/swarm.mjs, bench/flash-crowd.mjs): a temp dir that
// is removed on exit, child processes in their own process groups that are ended on exit (also
// on Ctrl-C), free loopback ports, random data files, and leechers timed under /usr/bin/time -v.

import { spawn, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { chmodSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const MiB = 1 << 20;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- arguments: `--name value` or the environment variable, then the default

export function option(name, envName, fallback) {
  const args = process.argv.slice(2);
  const at = args.indexOf(name);
  if (at !== -1) return args[at + 1];
  return process.env[envName] ?? fallback;
}
export const flag = (name) => process.argv.slice(2).includes(name);

// ---- work dir and child processes, cleaned up on every way out

const children = new Set();
let workDir = null;

export function makeWorkDir(prefix) {
  workDir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(workDir, 0o755); // opentracker drops to nobody and must read its whitelist in here
  return workDir;
}

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

function cleanupNow() {
  for (const child of children) killGroup(child, 'SIGKILL');
  children.clear();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
  workDir = null;
}
process.on('exit', cleanupNow);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    console.log(`interrupted (${signal}): stopping children, removing the temp dir`);
    process.exit(130);
  });
}

/**
 * Starts a process in its own process group (so wrappers and their children end together); with
 * `host` (a Host of spec/helpers/netns), inside that host's network namespace, in `cwd` if given.
 */
export function launch(command, argv, { log, stdout = 'log', host, cwd }) {
  const logFd = openSync(log, 'a');
  const options = { detached: true, stdio: ['ignore', stdout === 'pipe' ? 'pipe' : logFd, logFd], ...(cwd ? { cwd } : {}) };
  const child = host ? host.spawn(command, argv, options) : spawn(command, argv, options);
  closeSync(logFd);
  child.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  children.add(child);
  child.exited.then(() => children.delete(child));
  return child;
}

/** SIGTERM to the process group, up to 10 s of grace, then SIGKILL; resolves to the exit code or signal. */
export async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return child.exited;
  killGroup(child, 'SIGTERM');
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 10_000);
  const result = await child.exited;
  clearTimeout(timer);
  return result;
}

/** `promise`, or a rejection naming `what` after `ms`. */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} not done after ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Calls `onLine` with each line the child prints on stdout (it must be launched with stdout: 'pipe'). */
export function onLines(child, onLine) {
  let rest = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop();
    for (const line of lines) if (line.trim()) onLine(line);
  });
}

// ---- ports, data, tools

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export function randomFile(path, sizeMiB) {
  const fd = openSync(path, 'w');
  const chunk = Buffer.allocUnsafe(16 * MiB);
  for (let left = sizeMiB * MiB; left > 0; left -= chunk.length) {
    const part = chunk.subarray(0, Math.min(chunk.length, left));
    writeSync(fd, randomFillSync(part));
  }
  closeSync(fd);
}

/** The last lines of a log, for error messages (the temp dir is gone after the run). */
export function logTail(log, lines = 3) {
  try {
    return readFileSync(log, 'utf8').trim().split('\n').slice(-lines).join(' | ');
  } catch {
    return '(no log)';
  }
}

export const sameFile = (a, b) => spawnSync('cmp', ['-s', a, b]).status === 0;

const onPath = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;

/** Missing tools ({ binary: debianPackage }) are installed with apt-get when we are root. Returns what is still missing. */
export function ensureTools(tools) {
  const missing = () => Object.keys(tools).filter((bin) => !onPath(bin));
  const packages = [...new Set(missing().map((bin) => tools[bin]))];
  if (packages.length > 0 && process.getuid?.() === 0 && onPath('apt-get')) {
    console.log(`installing ${packages.join(' ')} with apt-get`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('apt-get', ['update', '-qq'], { env, stdio: 'ignore', timeout: 600_000 });
    spawnSync('apt-get', ['install', '-y', '-qq', ...packages], { env, stdio: 'ignore', timeout: 600_000 });
  }
  return missing();
}

// ---- timing a leecher: /usr/bin/time -v gives its CPU seconds and peak RSS

export const timed = (timeFile, command, argv) => ['/usr/bin/time', ['-v', '-o', timeFile, command, ...argv]];

export function readTimeV(timeFile) {
  const text = readFileSync(timeFile, 'utf8');
  const field = (label) => Number(new RegExp(`${label}[^:]*: ([\\d.]+)`).exec(text)?.[1]);
  return {
    cpuSeconds: field('User time') + field('System time'),
    userSeconds: field('User time'),
    systemSeconds: field('System time'),
    peakRssMiB: field('Maximum resident set size') / 1024,
  };
}

// ---- printing

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
export const metOrMissed = (ok) => (ok ? 'met' : 'MISSED');

/**
 * A base port for a local three-node cluster (makeCluster's layout: node links at base+0..2,
 * clients at base+100..102) whose six ports are free now.
 */
export async function freeClusterBase() {
  const { createServer } = await import('node:net');
  const free = (port) =>
    new Promise((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
  for (;;) {
    const base = 21_000 + Math.floor(Math.random() * 30_000);
    if ((await Promise.all([0, 1, 2, 100, 101, 102].map((d) => free(base + d)))).every(Boolean)) return base;
  }
}
