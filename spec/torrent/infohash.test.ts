// The file id is BitTorrent v1's info-hash: it must equal what mktorrent -l 19 (no -p) writes
// and aria2c -S prints. Fixtures were made with those tools; where they are installed (CI
// installs them) the test also makes fresh torrents and compares.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashPieces, infoHash, PIECE_LENGTH_BYTES, pieceCount } from '../../src/torrent/infohash.js';
import { fileBytes } from '../helpers/domain-fixtures.js';

interface Vector {
  name: string;
  size: number;
  pieceLength: number;
  infoHash: string;
}
const vectors = (JSON.parse(readFileSync(new URL('../fixtures/infohash-vectors.json', import.meta.url), 'utf8')) as { vectors: Vector[] }).vectors;

function ourInfoHash(name: string, bytes: Uint8Array): string {
  return infoHash({ name, sizeBytes: bytes.length, pieceLengthBytes: PIECE_LENGTH_BYTES, pieces: hashPieces(bytes) });
}

function hasTool(tool: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('info-hash', () => {
  it('equals the mktorrent/aria2c fixtures', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(6);
    for (const vector of vectors) {
      expect(vector.pieceLength).toBe(PIECE_LENGTH_BYTES);
      expect(ourInfoHash(vector.name, fileBytes(vector.size, 7))).toBe(vector.infoHash);
    }
  });

  it('counts pieces at the boundaries', () => {
    expect(pieceCount(0)).toBe(0);
    expect(pieceCount(1)).toBe(1);
    expect(pieceCount(PIECE_LENGTH_BYTES)).toBe(1);
    expect(pieceCount(PIECE_LENGTH_BYTES + 1)).toBe(2);
  });

  it('changes with the name, the size and any byte', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 4096 }), fc.nat(), (bytes, at) => {
        const flipped = bytes.slice();
        const i = at % bytes.length;
        flipped[i] = flipped[i]! ^ 1;
        const base = ourInfoHash('f', bytes);
        expect(ourInfoHash('g', bytes)).not.toBe(base);
        expect(ourInfoHash('f', flipped)).not.toBe(base);
        expect(ourInfoHash('f', bytes.subarray(1))).not.toBe(base);
      }),
    );
  });

  // Under CI the tools are installed by .ci/run; a missing tool there is a failure, not a skip.
  const tools = hasTool('mktorrent') && hasTool('aria2c');
  it.skipIf(!tools && process.env.CI !== 'true')('equals what mktorrent -l 19 writes and aria2c -S prints, for fresh files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'clique-infohash-'));
    for (const [size, seed] of [
      [3, 1],
      [524_288 * 2 + 17, 9],
      [1_000_000, 200],
    ] as const) {
      const name = `fresh-${size}.bin`;
      const bytes = fileBytes(size, seed);
      writeFileSync(join(dir, name), bytes);
      execFileSync('mktorrent', ['-l', '19', '-a', 'http://127.0.0.1:1/announce', '-o', join(dir, `${name}.torrent`), join(dir, name)], { stdio: 'ignore' });
      const shown = execFileSync('aria2c', ['-S', join(dir, `${name}.torrent`)], { encoding: 'utf8' });
      const match = /Info Hash: ([0-9a-f]{40})/.exec(shown);
      expect(match?.[1]).toBe(ourInfoHash(name, bytes));
    }
  });
});
