// Real `clique peer` and `clique shell --json` processes for tests: spawn one, follow its JSON
// lines on stdout, wait for a line that matches (an observed state, never a sleep), feed a shell
// commands and collect their answers, kill it with SIGKILL or stop it.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { CLI } from './tracker-processes.js';

export type PeerEvent = Record<string, unknown> & { event?: string };

/** Waits for a condition on a child process's output: woken by each new line and by the exit. */
class OutputWaiter {
  private waiters: Array<() => void> = [];

  constructor(private readonly child: ChildProcess, private readonly stderr: string[]) {}

  wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  async until(what: string, done: () => boolean, timeoutMs = 60_000): Promise<void> {
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
}

/** Runs `clique peer …` to completion and returns its stdout's first line. */
export function peerCli(args: string[]): string {
  const result = spawnSync(process.execPath, [CLI, 'peer', ...args], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`clique peer ${args[0]} failed: ${result.stderr}`);
  return result.stdout.split('\n')[0]!;
}

export class PeerProcess {
  readonly child: ChildProcess;
  readonly events: PeerEvent[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly waiter: OutputWaiter;

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [CLI, 'peer', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.waiter = new OutputWaiter(this.child, this.stderr);
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.events.push(JSON.parse(line) as PeerEvent);
      this.waiter.wake();
    });
    createInterface({ input: this.child.stderr! }).on('line', (line) => this.stderr.push(line));
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        resolve({ code, signal });
        this.waiter.wake();
      }),
    );
  }

  /** The first event that matches; fails if the process exits first or `timeoutMs` passes. */
  async waitFor(what: string, match: (event: PeerEvent) => boolean, timeoutMs = 60_000): Promise<PeerEvent> {
    await this.waiter.until(what, () => this.events.some(match), timeoutMs);
    return this.events.find(match)!;
  }

  kill(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

export interface ShellAnswer {
  ok: boolean;
  command: string;
  result?: unknown;
  error?: { code: string; message: string };
}

/** A `clique shell --json` process fed line by line: each command is answered by one JSON line. */
export class ShellProcess {
  readonly child: ChildProcess;
  readonly answers: ShellAnswer[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<number | null>;
  private readonly waiter: OutputWaiter;

  constructor(args: string[], options: { cwd?: string } = {}) {
    this.child = spawn(process.execPath, [CLI, 'shell', '--json', ...args], { stdio: ['pipe', 'pipe', 'pipe'], ...options });
    this.waiter = new OutputWaiter(this.child, this.stderr);
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.answers.push(JSON.parse(line) as ShellAnswer);
      this.waiter.wake();
    });
    createInterface({ input: this.child.stderr! }).on('line', (line) => this.stderr.push(line));
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code) => {
        resolve(code);
        this.waiter.wake();
      }),
    );
  }

  /** Sends commands and resolves with their answers (one each, in order). */
  async run(...lines: string[]): Promise<ShellAnswer[]> {
    const first = this.answers.length;
    this.child.stdin!.write(lines.map((l) => `${l}\n`).join(''));
    await this.waiter.until(`${lines.length} answers to ${lines[0]}`, () => this.answers.length >= first + lines.length);
    return this.answers.slice(first, first + lines.length);
  }

  /** Ends the input; resolves with the exit status. */
  async end(): Promise<number | null> {
    this.child.stdin!.end();
    return this.exited;
  }

  kill(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}
