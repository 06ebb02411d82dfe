// Real `clique peer` and `clique shell --json` processes for tests: spawn one, follow its JSON
// lines on stdout, wait for a line that matches (an observed state, never a sleep), feed a shell
// commands and collect their answers, kill it with SIGKILL or stop it.

import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { CLI, TrackerProcesses, until } from './tracker-processes.js';

export type PeerEvent = Record<string, unknown> & { event?: string };

/** How a process is started: here by default, or inside a test host's network namespace. */
export type Spawner = (command: string, args: readonly string[], options: SpawnOptions) => ChildProcess;

export interface ProcessOptions {
  cwd?: string;
  spawn?: Spawner;
}

/** A `clique` child process whose stdout is JSON lines: collected, and waited on line by line. */
class JsonLinesProcess<T> {
  readonly child: ChildProcess;
  readonly lines: T[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: Array<() => void> = [];

  constructor(args: string[], options: ProcessOptions & { stdin: 'pipe' | 'ignore' }) {
    const start: Spawner = options.spawn ?? ((command, rest, spawnOptions) => spawn(command, rest, spawnOptions));
    this.child = start(process.execPath, [CLI, ...args], { stdio: [options.stdin, 'pipe', 'pipe'], ...(options.cwd ? { cwd: options.cwd } : {}) });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.lines.push(JSON.parse(line) as T);
      this.wake();
    });
    createInterface({ input: this.child.stderr! }).on('line', (line) => {
      this.stderr.push(line);
      this.wake();
    });
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        resolve({ code, signal });
        this.wake();
      }),
    );
  }

  kill(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  /** The first line of standard error that matches `pattern` (waiting for it), as matched. */
  async stderrMatch(pattern: RegExp, timeoutMs = 60_000): Promise<RegExpExecArray> {
    let found: RegExpExecArray | null = null;
    await this.until(`a line matching ${pattern}`, () => this.stderr.some((line) => (found = pattern.exec(line)) !== null), timeoutMs);
    return found!;
  }

  /** Resolves once `done()` holds; fails if the process exits first or `timeoutMs` passes. */
  protected async until(what: string, done: () => boolean, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`process exited before ${what}: ${this.stderr.slice(-5).join(' | ')}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/** Runs `clique peer …` to completion and returns its stdout's first line. */
export function peerCli(args: string[]): string {
  const result = spawnSync(process.execPath, [CLI, 'peer', ...args], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`clique peer ${args[0]} failed: ${result.stderr}`);
  return result.stdout.split('\n')[0]!;
}

/** `clique peer …`, its JSON events collected. */
export class PeerProcess extends JsonLinesProcess<PeerEvent> {
  constructor(args: string[], options: ProcessOptions = {}) {
    super(['peer', ...args], { stdin: 'ignore', ...options });
  }

  get events(): PeerEvent[] {
    return this.lines;
  }

  /** The first event that matches; fails if the process exits first or `timeoutMs` passes. */
  async waitFor(what: string, match: (event: PeerEvent) => boolean, timeoutMs = 60_000): Promise<PeerEvent> {
    await this.until(what, () => this.lines.some(match), timeoutMs);
    return this.lines.find(match)!;
  }
}

export interface ShellAnswer {
  ok: boolean;
  command: string;
  result?: unknown;
  error?: { code: string; message: string };
}

/** Every answer succeeded (each named in the failure); their results. */
export function ok(answers: ShellAnswer[]): unknown[] {
  for (const a of answers) expect(a, JSON.stringify(a)).toMatchObject({ ok: true });
  return answers.map((a) => a.result);
}

/** A `clique shell --json` process fed line by line: each command is answered by one JSON line. */
export class ShellProcess extends JsonLinesProcess<ShellAnswer> {
  constructor(args: string[], options: ProcessOptions = {}) {
    super(['shell', '--json', ...args], { stdin: 'pipe', ...options });
  }

  get answers(): ShellAnswer[] {
    return this.lines;
  }

  /** Sends commands and resolves with their answers (one each, in order). */
  async run(...lines: string[]): Promise<ShellAnswer[]> {
    const first = this.lines.length;
    this.child.stdin!.write(lines.map((l) => `${l}\n`).join(''));
    await this.until(`${lines.length} answers to ${lines[0]}`, () => this.lines.length >= first + lines.length);
    return this.lines.slice(first, first + lines.length);
  }

  /** Ends the input; resolves with the exit status. */
  async end(): Promise<number | null> {
    this.child.stdin!.end();
    return (await this.exited).code;
  }
}

/**
 * A suite's three tracker processes, started before its tests and removed after them with the
 * scratch directory and every shell made by `shell` (each on its own home under the directory).
 */
export function suiteCluster(prefix: string): { cluster: TrackerProcesses; dir: string; shell(home: string, extra?: string[]): ShellProcess } {
  const cluster = new TrackerProcesses();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const shells: ShellProcess[] = [];
  beforeAll(async () => {
    await cluster.init(3);
    cluster.startAll();
    await until('a leader', async () => cluster.leader(), 30_000);
  }, 60_000);
  afterAll(async () => {
    for (const s of shells) s.kill('SIGKILL');
    await cluster.dispose();
    rmSync(dir, { recursive: true, force: true });
  });
  const shell = (home: string, extra: string[] = []): ShellProcess => {
    const s = new ShellProcess(['--cluster', cluster.clusterPath, '--home', join(dir, home), ...extra]);
    shells.push(s);
    return s;
  };
  return { cluster, dir, shell };
}
