// A local cluster that outlives the first shell (DESIGN.md §1: "no shell's exit stops trackers
// that other shells use"), on real processes, each test in a scratch directory of its own on
// free ports (CLIQUE_LOCAL_BASE_PORT): Ctrl-C of the first `npm start` shell leaves the cluster
// to the others and `clique cluster down` stops it; a second `npm start` reuses it; `cluster up`
// refuses while one runs; a shell with no tracker, or no cluster file, says so at once.

import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ok, ShellProcess } from '../helpers/peer-processes.js';
import { CLI, freeBasePort } from '../helpers/tracker-processes.js';

interface Scratch {
  dir: string;
  env: NodeJS.ProcessEnv;
  /** .clique inside dir: the local cluster's files. */
  local: string;
}

const scratches: Scratch[] = [];
const shells: ShellProcess[] = [];

async function scratch(): Promise<Scratch> {
  const dir = mkdtempSync(join(tmpdir(), 'clique-daemon-'));
  const s = { dir, env: { ...process.env, CLIQUE_LOCAL_BASE_PORT: String(await freeBasePort(3)) }, local: join(dir, '.clique') };
  scratches.push(s);
  return s;
}

/** `clique …` to its end, in the scratch directory. */
function cli(s: Scratch, ...args: string[]): { status: number | null; stdout: string; stderr: string; elapsedMs: number } {
  const startedAt = Date.now();
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd: s.dir, env: s.env, encoding: 'utf8', input: '' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, elapsedMs: Date.now() - startedAt };
}

/** A `clique shell --json` in the scratch directory, in a process group of its own (as a terminal's foreground job is). */
function shell(s: Scratch, args: string[]): ShellProcess {
  const inGroup = (command: string, rest: readonly string[], options: SpawnOptions): ChildProcess => spawn(command, rest, { ...options, env: s.env, detached: true });
  const started = new ShellProcess(args, { cwd: s.dir, spawn: inGroup });
  shells.push(started);
  return started;
}

function clusterPids(s: Scratch): Record<string, number> {
  return (JSON.parse(readFileSync(join(s.local, 'cluster.pid'), 'utf8')) as { pids: Record<string, number> }).pids;
}

/** A process that runs (not gone, not a zombie waiting to be reaped). */
function running(pid: number): boolean {
  if (existsSync('/proc')) return existsSync(`/proc/${pid}/cmdline`) && readFileSync(`/proc/${pid}/cmdline`).length > 0;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The processes running `clique tracker --cluster <this cluster.json>` (Linux: from /proc; elsewhere null). */
function trackerProcesses(s: Scratch): number[] | null {
  if (!existsSync('/proc')) return null;
  const clusterPath = join(s.local, 'cluster.json');
  return readdirSync('/proc')
    .filter((name) => /^[0-9]+$/.test(name))
    .filter((pid) => {
      try {
        const words = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return words.includes('tracker') && words[words.indexOf('--cluster') + 1] === clusterPath;
      } catch {
        return false;
      }
    })
    .map(Number)
    .sort((a, b) => a - b);
}

function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

function logs(s: Scratch): string {
  return ['n1', 'n2', 'n3'].map((id) => readFileSync(join(s.local, `${id}.log`), 'utf8')).join('\n');
}

function clientPorts(s: Scratch): number[] {
  const config = JSON.parse(readFileSync(join(s.local, 'cluster.json'), 'utf8')) as { nodes: Array<{ client: string }> };
  return config.nodes.map((n) => Number(n.client.split(':').at(-1)));
}

afterAll(() => {
  for (const s of shells) s.kill('SIGKILL');
  for (const s of scratches) {
    if (existsSync(s.local)) cli(s, 'cluster', 'down', '--dir', s.local);
    // The last resort: nothing of ours outlives the suite.
    if (existsSync(join(s.local, 'cluster.pid'))) for (const pid of Object.values(clusterPids(s))) if (running(pid)) process.kill(pid, 'SIGKILL');
    rmSync(s.dir, { recursive: true, force: true });
  }
});

describe('the local cluster in the background', () => {
  it("outlives the first shell's Ctrl-C: a second shell works on it, and cluster down stops it", async () => {
    const s = await scratch();
    const first = shell(s, ['--local']);
    ok(await first.run('create_user alice pw-a', 'login alice pw-a', 'create_group film'));
    expect(first.stderr.join('\n')).toMatch(/started the cluster in \.clique in the background \(n1 pid [0-9]+, n2 pid [0-9]+, n3 pid [0-9]+\); leader n[1-3]/);
    const pids = clusterPids(s);
    expect(Object.keys(pids).sort()).toEqual(['n1', 'n2', 'n3']);
    expect(statSync(join(s.local, 'cluster.pid')).mode & 0o777).toBe(0o644);

    // Ctrl-C at a terminal: SIGINT to the shell's whole process group.
    process.kill(-first.child.pid!, 'SIGINT');
    expect((await first.exited).signal).toBe('SIGINT');
    for (const pid of Object.values(pids)) expect(running(pid)).toBe(true);

    const second = shell(s, ['--cluster', join(s.local, 'cluster.json'), '--homes', join(s.dir, 'homes-2')]);
    const [, , groups] = ok(await second.run('create_user bob pw-b', 'login bob pw-b', 'list_groups'));
    expect((groups as Array<{ group: string }>).map((g) => g.group)).toContain('film');
    expect(await second.end()).toBe(0);

    const down = cli(s, 'cluster', 'down');
    expect(down.status).toBe(0);
    expect(down.stdout).toMatch(new RegExp(`^stopped the cluster in \\.clique: n1 \\(pid ${pids.n1}\\), n2 \\(pid ${pids.n2}\\), n3 \\(pid ${pids.n3}\\)$`, 'm'));
    for (const pid of Object.values(pids)) expect(running(pid)).toBe(false);
    expect(existsSync(join(s.local, 'cluster.pid'))).toBe(false);
    for (const port of clientPorts(s)) expect(await refuses(port)).toBe(true);
    expect(logs(s)).not.toMatch(/LOCKED/);
  }, 120_000);

  it('is reused by a second npm start: the same pids, no new node processes, nothing LOCKED', async () => {
    const s = await scratch();
    const first = shell(s, ['--local']);
    ok(await first.run('create_user carol pw-c', 'login carol pw-c', 'create_group lab'));
    expect(await first.end()).toBe(0);
    const pids = clusterPids(s);
    const trackers = trackerProcesses(s);
    if (trackers !== null) expect(trackers).toEqual(Object.values(pids).sort((a, b) => a - b));

    const second = shell(s, ['--local']);
    const [, groups] = ok(await second.run('login carol pw-c', 'list_groups'));
    expect((groups as Array<{ group: string }>).map((g) => g.group)).toContain('lab');
    expect(await second.end()).toBe(0);
    expect(second.stderr.join('\n')).toContain(`the cluster in .clique runs already (n1 pid ${pids.n1}, n2 pid ${pids.n2}, n3 pid ${pids.n3})`);
    expect(clusterPids(s)).toEqual(pids);
    if (trackers !== null) expect(trackerProcesses(s)).toEqual(trackers);
    expect(logs(s).match(/"tracker_started"/g)).toHaveLength(3);
    expect(logs(s)).not.toMatch(/LOCKED/);
    expect(cli(s, 'cluster', 'down').status).toBe(0);
  }, 120_000);

  it('cluster up says CLUSTER_RUNNING (exit 1) while one runs; up --background reuses it; down twice says there is nothing left', async () => {
    const s = await scratch();
    const up = cli(s, 'cluster', 'up', '--background');
    expect(up.status).toBe(0);
    expect(up.stdout).toMatch(/^started the cluster in \.clique in the background/m);
    const pids = clusterPids(s);
    const logged = logs(s);

    const again = cli(s, 'cluster', 'up');
    expect(again.status).toBe(1);
    expect(again.stderr.trim()).toBe(`error CLUSTER_RUNNING: a cluster already runs in .clique (n1 pid ${pids.n1}, n2 pid ${pids.n2}, n3 pid ${pids.n3}); stop it with clique cluster down`);
    expect(logs(s)).toBe(logged);

    const reused = cli(s, 'cluster', 'up', '--background');
    expect(reused.status).toBe(0);
    expect(reused.stdout).toMatch(/^the cluster in \.clique runs already/m);
    expect(clusterPids(s)).toEqual(pids);

    expect(cli(s, 'cluster', 'down').status).toBe(0);
    const none = cli(s, 'cluster', 'down');
    expect(none.status).toBe(0);
    expect(none.stdout.trim()).toBe('no cluster runs in .clique (no cluster.pid); nothing to stop');
    expect(logs(s)).not.toMatch(/LOCKED/);
  }, 120_000);

  it('two starts at once start one cluster: the second waits for the first and reuses it', async () => {
    const s = await scratch();
    const both = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<{ code: number | null; stdout: string }>((resolve) => {
            const child = spawn(process.execPath, [CLI, 'cluster', 'up', '--background'], { cwd: s.dir, env: s.env, stdio: ['ignore', 'pipe', 'inherit'] });
            let stdout = '';
            child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
            child.once('exit', (code) => resolve({ code, stdout }));
          }),
      ),
    );
    expect(both.map((b) => b.code)).toEqual([0, 0]);
    expect(both.filter((b) => /^started the cluster/m.test(b.stdout))).toHaveLength(1);
    expect(both.filter((b) => /^the cluster in \.clique runs already/m.test(b.stdout))).toHaveLength(1);
    const trackers = trackerProcesses(s);
    if (trackers !== null) expect(trackers).toEqual(Object.values(clusterPids(s)).sort((a, b) => a - b));
    expect(logs(s)).not.toMatch(/LOCKED/);
    expect(cli(s, 'cluster', 'down').status).toBe(0);
  }, 120_000);

  it('a shell says NO_TRACKER within seconds when no tracker answers, NO_CLUSTER_FILE without one, BAD_CLUSTER_FILE for a broken one', async () => {
    const s = await scratch();
    const missing = cli(s, 'shell');
    expect(missing.status).toBe(1);
    expect(missing.stderr.trim()).toMatch(/^error NO_CLUSTER_FILE: no \.clique\/cluster\.json here \(in .*\); run this where npm start \(or clique cluster up\) made one, or give --cluster FILE$/);

    expect(cli(s, 'cluster', 'init', '--base-port', s.env.CLIQUE_LOCAL_BASE_PORT!).status).toBe(0);
    const silent = cli(s, 'shell');
    expect(silent.status).toBe(1);
    expect(silent.stderr.trim()).toMatch(/^error NO_TRACKER: no tracker of \.clique\/cluster\.json answers \(127\.0\.0\.1:[0-9]+, 127\.0\.0\.1:[0-9]+, 127\.0\.0\.1:[0-9]+\); start the local one with: npm start \(or clique cluster up\)$/);
    expect(silent.elapsedMs).toBeLessThan(5_000);

    const broken = join(s.dir, 'broken');
    mkdirSync(broken);
    writeFileSync(join(broken, 'cluster.json'), '{"nodes": [');
    const bad = cli(s, 'shell', '--cluster', join(broken, 'cluster.json'));
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim()).toMatch(/^error BAD_CLUSTER_FILE: cannot read .*broken\/cluster\.json: /);
  }, 60_000);
});
