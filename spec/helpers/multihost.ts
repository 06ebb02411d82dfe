// Clique on test hosts (spec/helpers/netns.ts): the README's commands for several machines,
// read from its ```sh cluster|tracker|peer``` blocks and run as written inside the hosts' own
// network namespaces, each host with a working directory of its own (its disk), the
// tracker machines' addresses put in place of 10.0.0.k. Probes (status, audit) run inside a host
// too: the machine running the test is on none of the lab's networks.

import type { ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, type Host, type RunResult } from './netns.js';
import { ShellProcess, type ProcessOptions } from './peer-processes.js';
import { CLI } from './tracker-processes.js';

const README = new URL('../../README.md', import.meta.url).pathname;

/** The arguments after `npx clique` of the README's one-line block ```sh <name>```. */
export function readmeCommand(name: 'cluster' | 'tracker' | 'peer'): string[] {
  const block = new RegExp('```sh ' + name + '\\n([\\s\\S]*?)```').exec(readFileSync(README, 'utf8'));
  if (!block) throw new Error(`the README has no \`\`\`sh ${name} block`);
  const line = block[1]!.trim();
  if (!line.startsWith('npx clique ')) throw new Error(`the README's ${name} block is not one \`npx clique\` line: ${line}`);
  return line.slice('npx clique '.length).split(/\s+/);
}

export interface TrackerHosts {
  /** The three tracker machines, in node order (n1 on the first). */
  hosts: readonly Host[];
  /** Each tracker host's address as the cluster file names it (IPv4 unless asked otherwise). */
  addressOf: (host: Host) => string;
}

/** Runs the clique CLI inside a host, in its directory. */
export function clique(host: Host, dir: string, args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
  return host.run(process.execPath, [CLI, ...args], { cwd: dir, timeoutMs });
}

export class MultiHostClique {
  readonly root = mkdtempSync(join(tmpdir(), 'clique-multihost-'));
  private readonly dirs = new Map<Host, string>();
  private readonly shells: ShellProcess[] = [];

  constructor(private readonly trackers: TrackerHosts) {}

  /** A host's own directory: its disk. */
  dirOf(host: Host): string {
    let dir = this.dirs.get(host);
    if (!dir) {
      dir = join(this.root, host.name);
      mkdirSync(dir, { recursive: true });
      this.dirs.set(host, dir);
    }
    return dir;
  }

  /** The README's `cluster init` on the first tracker machine, then its folder copied to every host given. */
  async initCluster(copyTo: readonly Host[]): Promise<void> {
    const first = this.trackers.hosts[0]!;
    const args = readmeCommand('cluster').map((arg) => arg.replace(/10\.0\.0\.(\d)/g, (_m, k: string) => this.trackers.addressOf(this.trackers.hosts[Number(k) - 1]!)));
    const made = await clique(first, this.dirOf(first), args);
    if (made.code !== 0) throw new Error(`cluster init: ${made.stderr}`);
    this.clusterDir = args[args.indexOf('--dir') + 1]!;
    for (const host of copyTo) this.copyCluster(host);
  }

  private clusterDir = 'cluster';

  /**
   * What the README says goes where, copied from the first tracker machine (scp, in the README):
   * cluster.json to every host, and to tracker machine k its own `n<k>.secret` and nothing else.
   */
  copyCluster(host: Host): void {
    const first = this.trackers.hosts[0]!;
    if (host === first) return;
    const from = join(this.dirOf(first), this.clusterDir);
    const to = join(this.dirOf(host), this.clusterDir);
    mkdirSync(to, { recursive: true });
    cpSync(join(from, 'cluster.json'), join(to, 'cluster.json'));
    const k = this.trackers.hosts.indexOf(host);
    if (k >= 0) cpSync(join(from, `n${k + 1}.secret`), join(to, `n${k + 1}.secret`));
  }

  /** The README's `clique tracker` on machine k (1-based), in the background; its JSON-lines log to `logPath` if given. */
  startTracker(k: number, logPath?: string): ChildProcess {
    const host = this.trackers.hosts[k - 1]!;
    const args = readmeCommand('tracker').map((arg) => (arg === 'k' ? String(k) : arg));
    const stderr = logPath === undefined ? 'ignore' : openSync(logPath, 'a');
    return host.spawn(process.execPath, [CLI, ...args], { cwd: this.dirOf(host), stdio: ['ignore', 'ignore', stderr] });
  }

  /** Each tracker node's status as seen from inside `from` (null for one that does not answer). */
  async statuses(from: Host, clusterFile: string): Promise<Array<{ id: string; reachable: boolean; role?: string; term?: number; applied?: number; commit?: number }>> {
    const status = await clique(from, this.dirOf(from), ['status', '--cluster', clusterFile, '--json'], 15_000);
    return (JSON.parse(status.stdout || '{"nodes":[]}') as { nodes: Array<{ id: string; reachable: boolean; role?: string; term?: number; applied?: number; commit?: number }> }).nodes;
  }

  /** `clique status --json` from inside `from`, until a leader answers (an observed state). */
  async leader(from: Host, clusterFile: string, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await clique(from, this.dirOf(from), ['status', '--cluster', clusterFile, '--json'], 10_000);
      const leader = status.code === null ? null : (JSON.parse(status.stdout || '{}') as { leader?: string | null }).leader;
      if (typeof leader === 'string') return leader;
      if (Date.now() > deadline) throw new Error(`no leader within ${timeoutMs} ms: ${status.stdout} ${status.stderr}`);
    }
  }

  /** The README's `clique shell` (with --json, the scripting form) on a host, in its directory; `env` adds to its environment. */
  shell(host: Host, extra: readonly string[] = [], env: Readonly<Record<string, string>> = {}): ShellProcess {
    const options: ProcessOptions = { cwd: this.dirOf(host), spawn: (command, args, spawnOptions) => host.spawn(command, args, { ...spawnOptions, env: { ...process.env, ...spawnOptions.env, ...env } }) };
    const shell = new ShellProcess([...readmeCommand('peer').slice(1), ...extra], options);
    this.shells.push(shell);
    return shell;
  }

  dispose(): void {
    for (const shell of this.shells) shell.kill('SIGKILL');
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** What a multi-host test made, for its afterAll to take down (set as soon as each exists). */
export interface LabMade {
  lab: Lab | null;
  clique: MultiHostClique | null;
}

export async function disposeLab(made: LabMade): Promise<void> {
  made.clique?.dispose();
  await made.lab?.destroy();
  made.clique = null;
  made.lab = null;
}

/**
 * The usual start of a multi-host test: a lab with tracker hosts t1..t3 (named by their IPv4
 * addresses) and a host per name, the README's cluster on them, the three nodes started (each
 * logging to `logs[k-1]`), and a leader elected, asked from the first named host.
 */
export async function startLabCluster<const N extends string>(
  made: LabMade,
  names: readonly N[],
): Promise<{ lab: Lab; clique: MultiHostClique; trackers: Host[]; hosts: Record<N, Host>; nodes: ChildProcess[]; logs: string[]; leader: string }> {
  const lab = await Lab.create();
  made.lab = lab;
  const trackers: Host[] = [];
  for (const name of ['t1', 't2', 't3']) trackers.push(await lab.addHost(name));
  const peerHosts = await Promise.all(names.map((name) => lab.addHost(name)));
  const hosts = Object.fromEntries(names.map((name, i) => [name, peerHosts[i]!])) as Record<N, Host>;
  const clique = new MultiHostClique({ hosts: trackers, addressOf: (host) => host.ipv4! });
  made.clique = clique;
  await clique.initCluster([...trackers, ...peerHosts]);
  const logs = [1, 2, 3].map((k) => join(clique.root, `t${k}.log`));
  const nodes = [1, 2, 3].map((k) => clique.startTracker(k, logs[k - 1]));
  const leader = await clique.leader(peerHosts[0]!, 'cluster/cluster.json');
  return { lab, clique, trackers, hosts, nodes, logs, leader };
}
