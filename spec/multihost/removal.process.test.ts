// Removal that takes effect at once (issue 15), between real hosts: three tracker hosts, and
// Alice, Bob and Carol each on a host of their own. Alice owns a group and shares a large file
// from a shell whose uploads are rate-limited, so Bob's and Carol's downloads are still running
// when Carol leaves the group and Alice removes Bob. The tracker pushes a kick for each to the
// group's online members; Alice's peer ends the connections serving them within 5 s — her log
// says so, by the kick — and neither download grows after that, nor completes.

import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { disposeLab, startLabCluster, type LabMade } from '../helpers/multihost.js';
import { until } from '../helpers/tracker-processes.js';
import { describeMultiHost } from '../helpers/multihost-suite.js';
import { ok, type ShellProcess } from '../helpers/peer-processes.js';

/** Alice's upload limit over all connections: the 48 MiB file would take minutes. */
const UPLOAD_BYTES_PER_SECOND = 256 * 1024;
const FILE_BYTES = 48 * 1024 * 1024 + 123;
/** What the issue allows the serving peer to stop sending. */
const STOP_WITHIN_MS = 5_000;
/** How long after that the downloads are watched for growth. */
const WATCH_MS = 6_000;

interface DownloadShown {
  state: string;
  verifiedBytes: number;
  failure?: { code: string };
  counters: { bytesFromPeer: Record<string, number> };
}

async function received(shell: ShellProcess): Promise<{ state: string; failure: string | null; bytes: number; verifiedBytes: number }> {
  const [shown] = ok(await shell.run('show_downloads'));
  const download = (shown as DownloadShown[])[0]!;
  const bytes = Object.values(download.counters.bytesFromPeer).reduce((sum, n) => sum + n, 0);
  return { state: download.state, failure: download.failure?.code ?? null, bytes, verifiedBytes: download.verifiedBytes };
}

describeMultiHost('removal that takes effect at once', () => {
  const made: LabMade = { lab: null, clique: null };
  afterAll(() => disposeLab(made));

  it('a leaver and a removed member each lose their running download from the holder within 5 s', async () => {
    const { clique, hosts } = await startLabCluster(made, ['alice', 'bob', 'carol']);
    const { alice, bob, carol } = hosts;

    writeFileSync(join(clique.dirOf(alice), 'big.bin'), randomBytes(FILE_BYTES));
    const a = clique.shell(alice, ['--max-upload-rate', String(UPLOAD_BYTES_PER_SECOND)]);
    const [b, c] = [bob, carol].map((host) => clique.shell(host));
    ok(await a.run('create_user alice pw-a', 'login alice pw-a', 'create_group film'));
    for (const [shell, name] of [[b!, 'bob'], [c!, 'carol']] as const) ok(await shell.run(`create_user ${name} pw-${name}`, `login ${name} pw-${name}`, 'join_group film'));
    ok(await a.run('accept_request film bob', 'accept_request film carol', 'upload_file big.bin film'));

    ok(await b!.run('download_file film big.bin bob.bin'));
    ok(await c!.run('download_file film big.bin carol.bin'));
    // Both downloads are running and receiving (an observed state, not a wait).
    for (const shell of [b!, c!]) await until('bytes received', async () => ((await received(shell)).bytes > 0 ? true : null), 60_000);

    const stderrBefore = a.stderr.length;
    ok(await c!.run('leave_group film'));
    ok(await a.run('remove_member film bob'));
    const removedAt = Date.now();

    // Alice's peer says, by the kick, that it ended the connection serving each of them.
    const kickLines = await until(
      "Alice's log of both kicks",
      async () => {
        const lines = a.stderr.slice(stderrBefore);
        const ended = (user: string) => lines.some((l) => new RegExp(`^kick: ${user} left or was removed from film: ended [1-9]\\d* connection`).test(l));
        // Each prompt to the shell lets its stderr lines arrive; `whoami` is a cheap probe.
        if (!(ended('bob') && ended('carol'))) {
          await a.run('whoami');
          return null;
        }
        return lines;
      },
      STOP_WITHIN_MS,
    );
    expect(kickLines.filter((l) => / KICKED: /.test(l) && l.startsWith('refused ')).length).toBeGreaterThanOrEqual(2);

    // Within 5 s of the removal nothing more arrives: the bytes seen then are the bytes seen after.
    const settledAt = removedAt + STOP_WITHIN_MS;
    while (Date.now() < settledAt) await received(b!);
    const atStop = { bob: await received(b!), carol: await received(c!) };
    while (Date.now() < settledAt + WATCH_MS) {
      const now = { bob: await received(b!), carol: await received(c!) };
      expect(now.bob.bytes).toBe(atStop.bob.bytes);
      expect(now.carol.bytes).toBe(atStop.carol.bytes);
    }
    // Out of the group is nothing waiting can fix: each download has failed, saying so.
    for (const who of ['bob', 'carol'] as const) {
      expect(atStop[who]).toMatchObject({ state: 'failed', failure: 'NOT_A_MEMBER' });
      expect(atStop[who].verifiedBytes).toBeLessThan(FILE_BYTES);
    }
    // And the tracker no longer lets either fetch it.
    const [refused] = await b!.run('download_file film big.bin again.bin');
    expect(refused).toMatchObject({ ok: false, error: { code: 'NOT_A_MEMBER' } });
  }, 240_000);
});
