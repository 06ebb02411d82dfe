// Real sockets on loopback (issue 6): three seeders and one leecher as `clique peer` processes,
// 64 MiB. The leecher is killed with kill -9 once its journal holds half the pieces (it reports
// each journaled piece; the kill follows that observed state), restarted with the same home,
// finishes with the exact bytes and bytes from each of the three seeders, and re-checks only
// the pieces its journal had not recorded.

import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { afterAll, describe, expect, it } from 'vitest';
import { PeerProcess, peerCli, type PeerEvent } from '../helpers/peer-processes.js';

const SIZE_BYTES = 64 * 1024 * 1024;
const PIECES = SIZE_BYTES / (512 * 1024);
/** Slow enough that half the file is a moment, not a race: 3 x 8 MiB/s. */
const SEED_RATE = String(8 * 1024 * 1024);

const dir = mkdtempSync(join(tmpdir(), 'clique-swarm-'));
const processes: PeerProcess[] = [];
afterAll(() => {
  for (const p of processes) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function start(args: string[]): PeerProcess {
  const p = new PeerProcess(args);
  processes.push(p);
  return p;
}

async function journaledPieces(home: string, fileId: string): Promise<number> {
  const db = new ClassicLevel<string, Uint8Array>(join(home, 'db'), { valueEncoding: 'view' });
  let count = 0;
  // The journal of this file's download (whatever its destination): keys piece:<fileId>/<dest>:<index>.
  for await (const key of db.keys({ gte: `piece:${fileId}/`, lt: `piece:${fileId}0` })) if (key) count++;
  await db.close();
  return count;
}

describe('a real swarm on loopback', () => {
  it('3 seeders, 1 leecher killed with kill -9 at half its pieces, resumed, exact bytes from all three', async () => {
    const original = randomBytes(SIZE_BYTES);
    writeFileSync(join(dir, 'movie.mkv'), original);
    const keys = JSON.parse(peerCli(['keygen'])) as { signingKey: string; publicKey: string };
    const meta = peerCli(['meta', join(dir, 'movie.mkv')]);
    writeFileSync(join(dir, 'meta.json'), meta);
    const fileId = (JSON.parse(meta) as { fileId: string }).fileId;

    const seeders = [0, 1, 2].map(() =>
      start(['seed', '--file', join(dir, 'movie.mkv'), '--meta', join(dir, 'meta.json'), '--group', 'film', '--public-key', keys.publicKey, '--listen', '127.0.0.1:0', '--max-upload-rate', SEED_RATE]),
    );
    // Each seeder pinned to the key it announced.
    const addresses = await Promise.all(
      seeders.map(async (s) => {
        const listening = await s.waitFor('listening', (e) => e.event === 'listening');
        return `${listening.keyFingerprint as string}@${listening.address as string}`;
      }),
    );

    const home = join(dir, 'carol');
    const { keyFingerprint } = JSON.parse(peerCli(['identity', '--home', home])) as { keyFingerprint: string };
    const ticket = peerCli(['ticket', '--signing-key', keys.signingKey, '--user', 'carol', '--group', 'film', '--file-id', fileId, '--key', keyFingerprint]);
    const dest = join(dir, 'carol-movie.mkv');
    const get = (verbose: boolean): PeerProcess =>
      start(['get', '--meta', join(dir, 'meta.json'), '--dest', dest, '--home', home, '--ticket', ticket, '--from', addresses.join(','), ...(verbose ? ['--verbose'] : [])]);

    const first = get(true);
    await first.waitFor('half the pieces journaled', (e) => e.event === 'verified' && (e.verifiedPieces as number) >= PIECES / 2);
    first.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    expect(first.events.some((e) => e.event === 'complete')).toBe(false);
    expect(existsSync(dest)).toBe(false); // a partial file never looks complete
    expect(existsSync(`${dest}.part`)).toBe(true);
    const recorded = await journaledPieces(home, fileId);
    expect(recorded).toBeGreaterThanOrEqual(PIECES / 2);
    expect(recorded).toBeLessThan(PIECES);

    const second = get(false);
    const started = await second.waitFor('started', (e) => e.event === 'started');
    expect(started.piecesRechecked).toBe(PIECES - recorded);
    const complete: PeerEvent = await second.waitFor('complete', (e) => e.event === 'complete', 120_000);
    expect((await second.exited).code).toBe(0);
    expect(complete.piecesRechecked).toBe(PIECES - recorded);
    const fromPeers = complete.bytesFromPeer as Record<string, number>;
    const bare = addresses.map((pinned) => pinned.slice(pinned.indexOf('@') + 1));
    expect(Object.keys(fromPeers).sort()).toEqual([...bare].sort());
    for (const address of bare) expect(fromPeers[address]).toBeGreaterThan(0);
    expect(readFileSync(dest).equals(original)).toBe(true);
    expect(existsSync(`${dest}.part`)).toBe(false);

    for (const s of seeders) s.kill('SIGTERM');
    for (const s of seeders) expect((await s.exited).code).toBe(0);
  }, 180_000);
});
