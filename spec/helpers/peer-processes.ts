// Real `clique peer` processes for tests: spawn one, follow its JSON-line events on stdout, wait
// for an event that matches (an observed state, never a sleep), kill it with SIGKILL or stop it.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { CLI } from './tracker-processes.js';

export type PeerEvent = Record<string, unknown> & { event?: string };

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
  private waiters: Array<() => void> = [];

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [CLI, 'peer', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.events.push(JSON.parse(line) as PeerEvent);
      this.wake();
    });
    createInterface({ input: this.child.stderr! }).on('line', (line) => this.stderr.push(line));
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        resolve({ code, signal });
        this.wake();
      }),
    );
  }

  /** The first event that matches; fails if the process exits first or `timeoutMs` passes. */
  async waitFor(what: string, match: (event: PeerEvent) => boolean, timeoutMs = 60_000): Promise<PeerEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(match);
      if (found) return found;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`peer exited before ${what}: ${this.stderr.slice(-5).join(' | ')}`);
      }
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

  kill(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
