// Holders the tracker can vouch for (issue 15), between real hosts: three tracker hosts, and a
// group of six members each on a host of their own. Lee shares a file from a shell that serves
// garbage (CLIQUE_TEST_SERVE_GARBAGE=1). Bob, Carol and Dave download it one after the other;
// each bans Lee for pieces failing their SHA1 and reports it to the tracker with the evidence.
// After two reports Lee is still listed; the third delists it, and Lee's peer logs the push.
// Alice then shares the same file; Erin's download completes from Alice alone and never
// connects to Lee.

import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { disposeLab, startLabCluster, type LabMade } from '../helpers/multihost.js';
import { until } from '../helpers/tracker-processes.js';
import { describeMultiHost } from '../helpers/multihost-suite.js';
import type { Host } from '../helpers/netns.js';
import { ok, type ShellProcess } from '../helpers/peer-processes.js';
import { TAMPER_SWITCH } from '../../src/world/real/real-tamper.js';

/** Four pieces: every one Lee sends fails, and two strikes ban it. */
const FILE_BYTES = 2 * 1024 * 1024 + 77;

interface DownloadShown {
  state: string;
  counters: { bytesFromPeer: Record<string, number>; bans: Record<string, string>; connectAttempts: number };
}

/** The number of complete holders the tracker lists for the file, as a member's shell sees it. */
async function completeHolders(shell: ShellProcess): Promise<number> {
  const [files] = ok(await shell.run('list_files club'));
  return (files as Array<{ name: string; completeHolders: number }>).find((f) => f.name === 'song.bin')!.completeHolders;
}

describeMultiHost('a liar delisted by the tracker', () => {
  const made: LabMade = { lab: null, clique: null };
  afterAll(() => disposeLab(made));

  it('A liar: three members download from a garbage-serving holder, and the tracker delists it. A fourth download never connects to it. Two reports alone do not delist.', async () => {
    const names = ['alice', 'lee', 'bob', 'carol', 'dave', 'erin'] as const;
    const { clique, hosts } = await startLabCluster(made, names);
    const hostOf = (name: (typeof names)[number]): Host => hosts[name];

    const bytes = randomBytes(FILE_BYTES);
    for (const name of ['alice', 'lee'] as const) writeFileSync(join(clique.dirOf(hostOf(name)), 'song.bin'), bytes);
    const shells = new Map<string, ShellProcess>();
    for (const name of names) shells.set(name, clique.shell(hostOf(name), [], name === 'lee' ? { [TAMPER_SWITCH]: '1' } : {}));
    const sh = (name: (typeof names)[number]): ShellProcess => shells.get(name)!;

    ok(await sh('alice').run('create_user alice pw-alice', 'login alice pw-alice', 'create_group club'));
    for (const name of names.slice(1)) ok(await sh(name).run(`create_user ${name} pw-${name}`, `login ${name} pw-${name}`, 'join_group club'));
    ok(await sh('alice').run(...names.slice(1).map((name) => `accept_request club ${name}`)));
    ok(await sh('lee').run('upload_file song.bin club'));
    expect(await completeHolders(sh('alice'))).toBe(1);

    /** A member downloads from Lee alone until its peer has banned and reported Lee (its log says so). */
    const downloadAndReport = async (name: 'bob' | 'carol' | 'dave'): Promise<void> => {
      const shell = sh(name);
      ok(await shell.run(`download_file club song.bin ${name}.bin`));
      await until(
        `${name} reports lee`,
        async () => {
          const [shown] = ok(await shell.run('show_downloads'));
          const download = (shown as DownloadShown[])[0]!;
          const reported = shell.stderr.some((l) => /^reported lee to the tracker: piece \d+ of song\.bin came with SHA1 [0-9a-f]{40}, not [0-9a-f]{40}$/.test(l));
          return reported && Object.keys(download.counters.bans).length === 1 ? download : null;
        },
        60_000,
      );
    };

    await downloadAndReport('bob');
    await downloadAndReport('carol');
    // Two reports in a group of six: Lee is still listed, for everyone.
    for (const name of ['alice', 'erin'] as const) expect(await completeHolders(sh(name))).toBe(1);
    expect(sh('lee').stderr.some((l) => l.startsWith('delisted:'))).toBe(false);

    await downloadAndReport('dave');
    await until('the tracker delists lee', async () => ((await completeHolders(sh('erin'))) === 0 ? true : null), 15_000);
    // Lee's peer heard it over its push channel, with the reporters named.
    await until(
      "lee's log of the delisting",
      async () => {
        if (sh('lee').stderr.some((l) => /^delisted: .* \(reported by bob, carol, dave\)/.test(l))) return true;
        await sh('lee').run('whoami');
        return null;
      },
      10_000,
    );

    // Lee logs out and in: its shell offers its remembered share again, which is no word that the
    // copy is sound, so Lee stays unlisted (only upload_file would reinstate it).
    ok(await sh('lee').run('logout', 'login lee pw-lee'));
    expect(await completeHolders(sh('erin'))).toBe(0);

    // Alice, honest, shares the same file: the only holder the tracker lists.
    ok(await sh('alice').run('upload_file song.bin club'));
    expect(await completeHolders(sh('erin'))).toBe(1);
    ok(await sh('erin').run('download_file club song.bin erin.bin', 'wait'));
    const [shown] = ok(await sh('erin').run('show_downloads'));
    const erin = (shown as DownloadShown[])[0]!;
    expect(erin.state).toBe('complete');
    const lee = hostOf('lee').ipv4!;
    const alice = hostOf('alice').ipv4!;
    // Bob, Carol and Dave were waiting (their only holder banned, never asked again): Alice's
    // share let them go on, so Erin may fetch from them too — from honest peers only, never Lee.
    const honest = (['alice', 'bob', 'carol', 'dave'] as const).map((name) => hostOf(name).ipv4!);
    expect(Object.keys(erin.counters.bytesFromPeer).length).toBeGreaterThan(0);
    for (const peer of Object.keys(erin.counters.bytesFromPeer)) expect(honest.some((ip) => peer.startsWith(`${ip}:`)), peer).toBe(true);
    expect(Object.keys(erin.counters.bytesFromPeer).some((peer) => peer.includes(lee))).toBe(false);
    expect(erin.counters.bans).toEqual({});
    expect(alice).toBe(honest[0]);
    for (const name of ['bob', 'carol', 'dave'] as const) {
      ok(await sh(name).run('wait'));
      const [theirs] = ok(await sh(name).run('show_downloads'));
      const download = (theirs as DownloadShown[])[0]!;
      expect(download.state).toBe('complete');
      expect(Object.keys(download.counters.bans)).toHaveLength(1);
      // After the ban, nothing more came from Lee: their bytes from Lee are only the first attempt's.
      expect(sh(name).stderr.filter((l) => l.startsWith('reported lee'))).toHaveLength(1);
    }
  }, 300_000);
});
