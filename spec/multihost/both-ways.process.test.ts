// One connection, both directions (issue 12), between real hosts: two peers download the same
// file from a seeder whose uplink is slow, and each is told of the other, so each dials the
// other as the other dials it. They end with one TCP connection between them, and both ends
// fetched over it: each counts bytes from the other.

import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { clique as cliqueOn, MultiHostClique } from '../helpers/multihost.js';
import { describeMultiHost } from '../helpers/multihost-suite.js';
import { Lab, type Host } from '../helpers/netns.js';
import { PeerProcess, type PeerEvent } from '../helpers/peer-processes.js';

describeMultiHost('links between peers', () => {
  let lab: Lab | null = null;
  let dirs: MultiHostClique | null = null;
  afterAll(async () => {
    dirs?.dispose();
    await lab?.destroy();
  });

  it('two peers that dial each other at once keep one connection and fetch from each other over it', async () => {
    lab = await Lab.create();
    const seeder = await lab.addHost('seeder', { upMbit: 24 });
    const a = await lab.addHost('a');
    const b = await lab.addHost('b');
    dirs = new MultiHostClique({ hosts: [], addressOf: () => '' });
    const run = async (host: Host, args: string[]): Promise<string> => {
      const result = await cliqueOn(host, dirs!.dirOf(host), ['peer', ...args]);
      if (result.code !== 0) throw new Error(`clique peer ${args[0]}: ${result.stderr}`);
      return result.stdout.trim();
    };
    const file = randomBytes(12 * 1024 * 1024 + 5);
    writeFileSync(join(dirs.dirOf(seeder), 'file.bin'), file);
    const keys = JSON.parse(await run(seeder, ['keygen'])) as { signingKey: string; publicKey: string };
    const meta = await run(seeder, ['meta', 'file.bin']);
    const fileId = (JSON.parse(meta) as { fileId: string }).fileId;
    writeFileSync(join(dirs.dirOf(seeder), 'meta.json'), meta);
    for (const host of [a, b]) writeFileSync(join(dirs.dirOf(host), 'meta.json'), meta);

    const spawnOn = (host: Host) => ({ cwd: dirs!.dirOf(host), spawn: (command: string, args: readonly string[], options: object) => host.spawn(command, args, options) });
    const seed = new PeerProcess(['seed', '--file', 'file.bin', '--meta', 'meta.json', '--group', 'g', '--public-key', keys.publicKey, '--listen', '0.0.0.0:6881'], spawnOn(seeder));
    await seed.waitFor('listening', (e) => e.event === 'listening');
    const seederKey = (await seed.waitFor('listening', (e) => e.event === 'listening')).keyFingerprint as string;
    // Each home's key, and a ticket for it; each pins the seeder and the other leecher to theirs.
    const keyOf = async (host: Host): Promise<string> => (JSON.parse(await run(host, ['identity', '--home', 'home'])) as { keyFingerprint: string }).keyFingerprint;
    const keys2 = { a: await keyOf(a), b: await keyOf(b) };
    const get = async (host: Host, self: 'a' | 'b', other: Host, otherKey: string): Promise<PeerProcess> => {
      const ticket = await run(seeder, ['ticket', '--signing-key', keys.signingKey, '--user', self, '--group', 'g', '--file-id', fileId, '--key', keys2[self]]);
      return new PeerProcess(
        ['get', '--meta', 'meta.json', '--dest', 'file.bin', '--home', 'home', '--ticket', ticket, '--from', `${seederKey}@${seeder.ipv4}:6881,${otherKey}@${other.ipv4}:6881`, '--listen', '0.0.0.0:6881', '--public-key', keys.publicKey, '--group', 'g', '--keep-serving'],
        spawnOn(host),
      );
    };
    const [getA, getB] = await Promise.all([get(a, 'a', b, keys2.b), get(b, 'b', a, keys2.a)]);
    const complete = (e: PeerEvent): boolean => e.event === 'complete' || e.event === 'failed';
    const [doneA, doneB] = await Promise.all([getA!.waitFor('A complete', complete, 120_000), getB!.waitFor('B complete', complete, 120_000)]);
    expect(doneA).toMatchObject({ event: 'complete' });
    expect(doneB).toMatchObject({ event: 'complete' });
    for (const host of [a, b]) expect(readFileSync(join(dirs.dirOf(host), 'file.bin')).equals(file)).toBe(true);
    // Both directions on the one link: each fetched from the other.
    expect((doneA.bytesFromPeer as Record<string, number>)[`${b.ipv4}:6881`]).toBeGreaterThan(0);
    expect((doneB.bytesFromPeer as Record<string, number>)[`${a.ipv4}:6881`]).toBeGreaterThan(0);
    // And one TCP connection between them, seen from either end.
    for (const [self, other] of [[a, b], [b, a]] as const) {
      const sockets = await self.run('ss', ['-Htn', 'state', 'established']);
      const between = sockets.stdout.split('\n').filter((line) => line.includes(`${other.ipv4}:`));
      expect(between, sockets.stdout).toHaveLength(1);
    }
    for (const p of [seed, getA!, getB!]) p.kill('SIGTERM');
  }, 180_000);
});
