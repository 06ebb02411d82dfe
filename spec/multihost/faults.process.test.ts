// Faults between machines (issue 12), on network namespaces with limited links: the tracker
// leader's host is cut off from the other two while a download runs — a new leader takes over,
// a write goes through it, the download completes, and after the heal the old leader catches up
// with no divergence (`clique audit --against`); then a holder's host is cut off mid-download and
// the download completes from the other holder. Cuts are triggered by observed progress.

import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { clique as cliqueOn, MultiHostClique } from '../helpers/multihost.js';
import { describeMultiHost } from '../helpers/multihost-suite.js';
import { Lab, type Host } from '../helpers/netns.js';
import { ok, type ShellProcess } from '../helpers/peer-processes.js';

const CLUSTER = 'cluster/cluster.json';

interface DownloadShown {
  name: string;
  state: string;
  verifiedBytes: number;
  sizeBytes: number;
  counters: { bytesFromPeer: Record<string, number> };
}

/** Polls show_downloads until the named download has verified at least `fraction` of the file. */
async function progressed(shell: ShellProcess, name: string, fraction: number): Promise<DownloadShown> {
  for (;;) {
    const [shown] = ok(await shell.run('show_downloads'));
    const download = (shown as DownloadShown[]).filter((d) => d.name === name).at(-1)!;
    if (download.state !== 'running' || download.verifiedBytes >= fraction * download.sizeBytes) return download;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describeMultiHost('faults between machines', () => {
  let lab: Lab;
  let clique: MultiHostClique;
  let trackers: Host[];
  let owner: Host;
  let second: Host;
  let fetcher: Host;
  const nodes: ChildProcess[] = [];
  let shells: Record<'owner' | 'second' | 'fetcher', ShellProcess>;
  const file = randomBytes(16 * 1024 * 1024 + 777);

  beforeAll(async () => {
    lab = await Lab.create();
    trackers = [];
    for (const name of ['t1', 't2', 't3']) trackers.push(await lab.addHost(name));
    owner = await lab.addHost('owner');
    second = await lab.addHost('second');
    fetcher = await lab.addHost('fetcher');
    clique = new MultiHostClique({ hosts: trackers, addressOf: (host) => host.ipv4! });
    await clique.initCluster([...trackers, owner, second, fetcher]);
    for (const k of [1, 2, 3]) nodes.push(clique.startTracker(k));
    await clique.leader(owner, CLUSTER);
    writeFileSync(join(clique.dirOf(owner), 'data.bin'), file);
    shells = { owner: clique.shell(owner), second: clique.shell(second), fetcher: clique.shell(fetcher) };
    ok(await shells.owner.run('create_user owner pw', 'login owner pw', 'create_group lab'));
    ok(await shells.second.run('create_user second pw', 'login second pw', 'join_group lab'));
    ok(await shells.fetcher.run('create_user fetcher pw', 'login fetcher pw', 'join_group lab'));
    ok(await shells.owner.run('accept_request lab second', 'accept_request lab fetcher', 'upload_file data.bin lab'));
    // A download of 16 MiB takes a few seconds on the fetcher's 40 Mbit/s.
    await fetcher.setRate({ downMbit: 40 });
  }, 120_000);

  afterAll(async () => {
    clique?.dispose();
    await lab?.destroy();
  });

  it('goes on through the leader host cut off from the other trackers, and the old leader catches up without divergence', async () => {
    ok(await shells.fetcher.run('download_file lab data.bin first.bin'));
    await progressed(shells.fetcher, 'data.bin', 0.1);
    const leaderId = await clique.leader(fetcher, CLUSTER);
    const leaderHost = trackers[Number(leaderId.slice(1)) - 1]!;
    const others = trackers.filter((t) => t !== leaderHost);
    const partition = await lab.partition([leaderHost], others);

    const newLeader = await (async () => {
      for (;;) {
        const seen = (await clique.statuses(fetcher, CLUSTER)).filter((s) => s.role === 'leader' && s.id !== leaderId);
        if (seen.length > 0) return seen[0]!.id;
      }
    })();
    expect(newLeader).not.toBe(leaderId);
    ok(await shells.fetcher.run('create_group during-the-cut'));
    ok(await shells.fetcher.run('wait'));
    expect(readFileSync(join(clique.dirOf(fetcher), 'first.bin')).equals(file)).toBe(true);

    await partition.heal();
    for (;;) {
      const all = await clique.statuses(fetcher, CLUSTER);
      if (all.every((s) => s.reachable) && new Set(all.map((s) => s.applied)).size === 1 && all[0]!.applied === all[0]!.commit) break;
    }
    await Promise.all(nodes.map((node) => new Promise<void>((resolve) => (node.exitCode !== null ? resolve() : (node.once('exit', () => resolve()), node.kill('SIGTERM'))))));
    const data = (host: Host): string => join(clique.dirOf(host), 'clique-data');
    for (const other of others) {
      const against = await cliqueOn(leaderHost, clique.dirOf(leaderHost), ['audit', '--data', data(leaderHost), '--against', data(other)]);
      expect(against.stdout, against.stderr).toMatch(/no divergence in \d+ common entries/);
    }
    const history = await cliqueOn(leaderHost, clique.dirOf(leaderHost), ['audit', '--data', data(leaderHost)]);
    expect(history.stdout).toContain('CreateGroup during-the-cut');
    nodes.length = 0;
    for (const k of [1, 2, 3]) nodes.push(clique.startTracker(k));
    await clique.leader(fetcher, CLUSTER);
  }, 120_000);

  it('completes from the other holder when a holder host is cut off mid-download', async () => {
    ok(await shells.second.run('download_file lab data.bin copy.bin', 'wait'));
    const [files] = ok(await shells.fetcher.run('list_files lab'));
    expect(files).toEqual([expect.objectContaining({ completeHolders: 3 })]);
    ok(await shells.fetcher.run('download_file lab data.bin second.bin'));
    const early = await progressed(shells.fetcher, 'data.bin', 0.25);
    expect(early.state).toBe('running');
    await lab.isolate(second);
    ok(await shells.fetcher.run('wait'));
    expect(readFileSync(join(clique.dirOf(fetcher), 'second.bin')).equals(file)).toBe(true);
    const [shown] = ok(await shells.fetcher.run('show_downloads'));
    const latest = (shown as DownloadShown[]).at(-1)!;
    // Both holders served before the cut; the owner alone after it.
    expect(early.counters.bytesFromPeer[`${second.ipv4}:6881`]).toBeGreaterThan(0);
    expect(latest.counters.bytesFromPeer[`${owner.ipv4}:6881`]).toBeGreaterThan(early.counters.bytesFromPeer[`${owner.ipv4}:6881`] ?? 0);
  }, 120_000);
});
