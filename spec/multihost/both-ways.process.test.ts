// One connection, both directions (issue 12), between real hosts: two peers each hold half of a
// file (as in spec/peer/links.test.ts) and each is told only of the other, so each dials the
// other and each can finish only by fetching the other's half. They end with one TCP connection
// between them, and both ends fetched over it: each counts the other's half from the other.
// (With a seeder as well, nothing made them fetch from each other: the peer that started first
// linked to the seeder first, took most of its uplink, and had often begun every piece the other
// got from the seeder before the other had it, so it counted no bytes from the other.) Dials
// that truly cross (the duplicate link closed at both ends alike) are spec/peer/links.test.ts's:
// `peer get --listen` listens only after it has dialed, so here the later one's dial makes the link.

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

  it('two peers, each told of the other, keep one connection and each fetches the other\'s half over it', async () => {
    lab = await Lab.create();
    // Signs the tickets and makes the meta; serves nothing.
    const issuer = await lab.addHost('issuer');
    const a = await lab.addHost('a');
    const b = await lab.addHost('b');
    dirs = new MultiHostClique({ hosts: [], addressOf: () => '' });
    const run = async (host: Host, args: string[]): Promise<string> => {
      const result = await cliqueOn(host, dirs!.dirOf(host), ['peer', ...args]);
      if (result.code !== 0) throw new Error(`clique peer ${args[0]}: ${result.stderr}`);
      return result.stdout.trim();
    };
    const file = randomBytes(12 * 1024 * 1024 + 5);
    writeFileSync(join(dirs.dirOf(issuer), 'file.bin'), file);
    const keys = JSON.parse(await run(issuer, ['keygen'])) as { signingKey: string; publicKey: string };
    const meta = await run(issuer, ['meta', 'file.bin']);
    const { fileId, pieceLengthBytes } = JSON.parse(meta) as { fileId: string; pieceLengthBytes: number };
    const pieceCount = Math.ceil(file.length / pieceLengthBytes);
    // a holds the even pieces, b the odd ones: a partial file with the other half zeroed, which
    // the download re-checks at start (no journal) and resumes.
    const halves = { a: (i: number) => i % 2 === 0, b: (i: number) => i % 2 === 1 };
    const halfBytes = (has: (i: number) => boolean): number => {
      let bytes = 0;
      for (let i = 0; i < pieceCount; i++) if (has(i)) bytes += Math.min(pieceLengthBytes, file.length - i * pieceLengthBytes);
      return bytes;
    };
    for (const [host, has] of [[a, halves.a], [b, halves.b]] as const) {
      const part = Buffer.alloc(file.length);
      for (let i = 0; i < pieceCount; i++) if (has(i)) file.copy(part, i * pieceLengthBytes, i * pieceLengthBytes, (i + 1) * pieceLengthBytes);
      writeFileSync(join(dirs.dirOf(host), 'file.bin.part'), part);
      writeFileSync(join(dirs.dirOf(host), 'meta.json'), meta);
    }

    const spawnOn = (host: Host) => ({ cwd: dirs!.dirOf(host), spawn: (command: string, args: readonly string[], options: object) => host.spawn(command, args, options) });
    // Each home's key, and a ticket for it; each pins the other to its key.
    const keyOf = async (host: Host): Promise<string> => (JSON.parse(await run(host, ['identity', '--home', 'home'])) as { keyFingerprint: string }).keyFingerprint;
    const keys2 = { a: await keyOf(a), b: await keyOf(b) };
    const get = async (host: Host, self: 'a' | 'b', other: Host, otherKey: string): Promise<PeerProcess> => {
      const ticket = await run(issuer, ['ticket', '--signing-key', keys.signingKey, '--user', self, '--group', 'g', '--file-id', fileId, '--key', keys2[self]]);
      return new PeerProcess(
        ['get', '--meta', 'meta.json', '--dest', 'file.bin', '--home', 'home', '--ticket', ticket, '--from', `${otherKey}@${other.ipv4}:6881`, '--listen', '0.0.0.0:6881', '--public-key', keys.publicKey, '--group', 'g', '--keep-serving'],
        spawnOn(host),
      );
    };
    const [getA, getB] = await Promise.all([get(a, 'a', b, keys2.b), get(b, 'b', a, keys2.a)]);
    const complete = (e: PeerEvent): boolean => e.event === 'complete' || e.event === 'failed';
    const [doneA, doneB] = await Promise.all([getA!.waitFor('A complete', complete, 120_000), getB!.waitFor('B complete', complete, 120_000)]);
    expect(doneA).toMatchObject({ event: 'complete' });
    expect(doneB).toMatchObject({ event: 'complete' });
    for (const host of [a, b]) expect(readFileSync(join(dirs.dirOf(host), 'file.bin')).equals(file)).toBe(true);
    // Both directions on the one link: each fetched the other's half from the other.
    expect(doneA.bytesFromPeer).toEqual({ [`${b.ipv4}:6881`]: halfBytes(halves.b) });
    expect(doneB.bytesFromPeer).toEqual({ [`${a.ipv4}:6881`]: halfBytes(halves.a) });
    // And one TCP connection between them, seen from either end.
    for (const [self, other] of [[a, b], [b, a]] as const) {
      const sockets = await self.run('ss', ['-Htn', 'state', 'established']);
      const between = sockets.stdout.split('\n').filter((line) => line.includes(`${other.ipv4}:`));
      expect(between, sockets.stdout).toHaveLength(1);
    }
    for (const p of [getA!, getB!]) p.kill('SIGTERM');
  }, 180_000);
});
