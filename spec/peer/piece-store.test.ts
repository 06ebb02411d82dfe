// The piece store on the simulated World: blocks in any order give the exact file; corrupt
// pieces are refetched; only verified pieces are served; bad piece lists and path-like names
// are refused; after kill -9 only unjournaled pieces are re-hashed; a partial file never sits
// at the destination path.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FileMeta } from '../../src/torrent/file-meta.js';
import { PIECE_LENGTH_BYTES } from '../../src/torrent/infohash.js';
import { utf8 } from '../../src/torrent/bytes.js';
import { PieceStore, PieceStoreError } from '../../src/peer/piece-store.js';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import type { KvStore, World } from '../../src/world/world.js';
import { fileBytes, fileMeta } from '../helpers/domain-fixtures.js';

const BLOCK_BYTES = 16_384;
const DIR = '/home/p/downloads';

interface Block {
  pieceIndex: number;
  beginBytes: number;
  bytes: Uint8Array;
}

/** Byte-exact equality; vitest's toEqual is very slow on megabyte arrays. */
function sameBytes(actual: Uint8Array, expected: Uint8Array): boolean {
  return Buffer.from(actual).equals(Buffer.from(expected));
}

function blocksOf(file: Uint8Array): Block[] {
  const blocks: Block[] = [];
  for (let offset = 0; offset < file.length; offset += BLOCK_BYTES) {
    const pieceIndex = Math.floor(offset / PIECE_LENGTH_BYTES);
    const end = Math.min(offset + BLOCK_BYTES, file.length, (pieceIndex + 1) * PIECE_LENGTH_BYTES);
    blocks.push({ pieceIndex, beginBytes: offset - pieceIndex * PIECE_LENGTH_BYTES, bytes: file.slice(offset, end) });
  }
  return blocks;
}

interface Peer {
  world: World;
  kv: KvStore;
}

async function startPeer(sim: SimWorld): Promise<Peer> {
  const world = sim.forHost('p');
  await world.fs.mkdir(DIR, { recursive: true });
  return { world, kv: await world.kv.open('/home/p/db', { createIfMissing: true }) };
}

async function openStore(peer: Peer, meta: FileMeta): Promise<PieceStore> {
  const store = await PieceStore.open(peer.world, { meta, destinationPath: `${DIR}/${meta.name}`, journal: peer.kv });
  if (store instanceof PieceStoreError) throw store;
  return store;
}

async function writePiece(store: PieceStore, file: Uint8Array, pieceIndex: number): Promise<void> {
  for (const block of blocksOf(file).filter((b) => b.pieceIndex === pieceIndex)) {
    await store.writeBlock(block.pieceIndex, block.beginBytes, block.bytes);
  }
}

const SIZES = [0, 1, PIECE_LENGTH_BYTES, PIECE_LENGTH_BYTES + 1, 3 * PIECE_LENGTH_BYTES + 100_000];

describe('piece store', () => {
  it.each(SIZES)('%i B: blocks written in any order, verified and finished give exactly the original file', async (sizeBytes) => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 1_000_000 }), async (seed) => {
        const file = fileBytes(sizeBytes, seed % 251);
        const meta = fileMeta('movie.mkv', file);
        const sim = new SimWorld({ seed });
        const peer = await startPeer(sim);
        const store = await openStore(peer, meta);
        const blocks = blocksOf(file);
        const order = fc.sample(fc.shuffledSubarray(blocks, { minLength: blocks.length, maxLength: blocks.length }), { seed, numRuns: 1 })[0] ?? [];
        expect(order).toHaveLength(blocks.length);

        for (const block of order) {
          await store.writeBlock(block.pieceIndex, block.beginBytes, block.bytes);
          if (store.pieceComplete(block.pieceIndex)) expect(await store.verifyPiece(block.pieceIndex)).toBe('verified');
        }
        expect(store.missing()).toEqual([]);
        expect(store.verifiedBytes()).toBe(sizeBytes);
        expect(await peer.world.fs.stat(`${DIR}/movie.mkv`)).toBeNull();
        expect((await peer.world.fs.stat(`${DIR}/movie.mkv.part`))?.sizeBytes).toBe(sizeBytes);

        expect(await store.finish()).toBe('complete');
        expect(await peer.world.fs.stat(`${DIR}/movie.mkv.part`)).toBeNull();
        expect(sameBytes(await peer.world.fs.readFile(`${DIR}/movie.mkv`), file)).toBe(true);
        const journalLeft: string[] = [];
        for await (const chunk of peer.kv.iterate({})) journalLeft.push(...chunk.map(([key]) => key));
        expect(journalLeft).toEqual([]);
        // A finished store goes on serving the finished file, and takes no more writes.
        if (sizeBytes > 0) expect(await store.readBlock(0, 0, 1)).toEqual(file.subarray(0, 1));
        expect(() => store.writeBlock(0, 0, new Uint8Array(1))).toThrow(expect.objectContaining({ code: 'CLOSED' }));
        await store.close();
        expect(await store.readBlock(0, 0, 1)).toBeNull();
      }),
      { numRuns: 4 },
    );
  });

  it('a corrupted block makes the piece corrupt and missing again; it can be fetched anew', async () => {
    const file = fileBytes(2 * PIECE_LENGTH_BYTES + 5);
    const meta = fileMeta('data.bin', file);
    const peer = await startPeer(new SimWorld({ seed: 3 }));
    const store = await openStore(peer, meta);
    const blocks = blocksOf(file).filter((b) => b.pieceIndex === 1);
    for (const [i, block] of blocks.entries()) {
      const bytes = i === 5 ? block.bytes.map((byte, j) => (j === 100 ? byte ^ 1 : byte)) : block.bytes;
      await store.writeBlock(block.pieceIndex, block.beginBytes, bytes);
    }
    expect(store.pieceComplete(1)).toBe(true);
    expect(await store.verifyPiece(1)).toBe('corrupt');
    expect(store.has(1)).toBe(false);
    expect(store.pieceComplete(1)).toBe(false);
    expect(store.missing()).toEqual([0, 1, 2]);
    await expect(store.verifyPiece(1)).rejects.toMatchObject({ code: 'INCOMPLETE' });

    await writePiece(store, file, 1);
    expect(await store.verifyPiece(1)).toBe('verified');
    expect(store.missing()).toEqual([0, 2]);
    expect(store.bitfield()).toEqual(new Uint8Array([0b0100_0000]));
    expect(store.verifiedBytes()).toBe(PIECE_LENGTH_BYTES);
  });

  it('serves only verified pieces, and refuses blocks outside a piece', async () => {
    const file = fileBytes(PIECE_LENGTH_BYTES + 1);
    const meta = fileMeta('two.bin', file);
    const peer = await startPeer(new SimWorld({ seed: 4 }));
    const store = await openStore(peer, meta);
    await writePiece(store, file, 0);
    await writePiece(store, file, 1);
    expect(store.pieceComplete(0)).toBe(true);
    expect(await store.readBlock(0, 0, BLOCK_BYTES)).toBeNull();
    expect(await store.verifyPiece(0)).toBe('verified');
    expect(await store.readBlock(0, BLOCK_BYTES, BLOCK_BYTES)).toEqual(file.slice(BLOCK_BYTES, 2 * BLOCK_BYTES));
    expect(await store.readBlock(1, 0, 1)).toBeNull(); // complete but not verified
    expect(await store.readBlock(0, PIECE_LENGTH_BYTES - 1, 2)).toBeNull(); // crosses the piece's end

    const bad: Array<[number, number, number]> = [
      [2, 0, 1], // no such piece
      [-1, 0, 1],
      [1, 0, 2], // the last piece is 1 byte
      [0, PIECE_LENGTH_BYTES - 10, 11],
      [0, -1, 1],
      [0, 0.5, 1],
      [0, 0, 0],
    ];
    for (const [pieceIndex, beginBytes, lengthBytes] of bad) {
      expect(() => store.writeBlock(pieceIndex, beginBytes, new Uint8Array(lengthBytes))).toThrow(expect.objectContaining({ code: 'BAD_BLOCK' }));
    }
    expect(await store.finish()).toMatchObject({ code: 'INCOMPLETE' });
    expect(await peer.world.fs.stat(`${DIR}/two.bin`)).toBeNull();
  });

  it('refuses a piece list that does not match the info-hash, and names that are paths', async () => {
    const file = fileBytes(PIECE_LENGTH_BYTES + 7);
    const meta = fileMeta('ok.bin', file);
    const peer = await startPeer(new SimWorld({ seed: 5 }));
    const open = (m: FileMeta) => PieceStore.open(peer.world, { meta: m, destinationPath: `${DIR}/x`, journal: peer.kv });

    const otherPieces = fileMeta('ok.bin', fileBytes(PIECE_LENGTH_BYTES + 7, 9)).pieces;
    expect(await open({ ...meta, pieces: otherPieces })).toMatchObject({ code: 'BAD_PIECE_LIST' });
    expect(await open({ ...meta, sizeBytes: meta.sizeBytes + 1 })).toMatchObject({ code: 'BAD_PIECE_LIST' });
    expect(await open({ ...meta, pieces: `${meta.pieces.slice(0, -4)}` })).toMatchObject({ code: 'BAD_PIECE_LIST' });
    expect(await open({ ...meta, fileId: '0'.repeat(40) })).toMatchObject({ code: 'BAD_PIECE_LIST' });
    for (const name of ['../evil', 'a/b', 'a\\b', '.', '..', '']) {
      expect(await open({ ...fileMeta(name, file) })).toMatchObject({ code: 'BAD_NAME' });
    }
    expect(await peer.world.fs.readdir(DIR)).toEqual([]);
    expect(await open(meta)).toBeInstanceOf(PieceStore);
  });

  it('after kill -9 re-hashes only unjournaled pieces and completes with exact bytes', async () => {
    const file = fileBytes(3 * PIECE_LENGTH_BYTES + 1000, 11);
    const meta = fileMeta('resume.iso', file);
    const sim = new SimWorld({ seed: 6 });
    const first = await startPeer(sim);
    const before = await openStore(first, meta);
    for (const pieceIndex of [2, 0]) await writePiece(before, file, pieceIndex);
    expect(await before.verifyPiece(0)).toBe('verified');
    expect(await before.verifyPiece(2)).toBe('verified');
    await writePiece(before, file, 3); // in memory only: lost by the crash
    // Piece 1's bytes reached the disk but the process died before journaling it.
    const part = await first.world.fs.open(`${DIR}/resume.iso.part`, 'r+');
    await part.write(PIECE_LENGTH_BYTES, file.slice(PIECE_LENGTH_BYTES, 2 * PIECE_LENGTH_BYTES));
    await part.sync();
    sim.crashHost('p');

    const second = await startPeer(sim);
    const after = await openStore(second, meta);
    expect(await second.world.fs.stat(`${DIR}/resume.iso`)).toBeNull();
    expect(after.missing()).toEqual([1, 3]);
    expect(await after.recheckUnrecorded()).toEqual([1]);
    expect(after.piecesRechecked).toBe(2);
    expect(after.missing()).toEqual([3]);
    expect(after.bitfield()).toEqual(new Uint8Array([0b1110_0000]));

    await writePiece(after, file, 3);
    expect(await after.verifyPiece(3)).toBe('verified');
    expect(await after.finish()).toBe('complete');
    expect(sameBytes(await second.world.fs.readFile(`${DIR}/resume.iso`), file)).toBe(true);

    sim.crashHost('p');
    const third = await startPeer(sim);
    expect(sameBytes(await third.world.fs.readFile(`${DIR}/resume.iso`), file)).toBe(true);
    expect(await PieceStore.open(third.world, { meta, destinationPath: `${DIR}/resume.iso`, journal: third.kv })).toMatchObject({
      code: 'ALREADY_COMPLETE',
    });
  });

  it('calls a file at the destination complete only if every piece hashes right: a same-size file of zeros is DESTINATION_EXISTS', async () => {
    const file = fileBytes(3 * PIECE_LENGTH_BYTES + 77, 14);
    const meta = fileMeta('zeros.bin', file);
    const peer = await startPeer(new SimWorld({ seed: 14 }));
    await peer.world.fs.writeFile(`${DIR}/zeros.bin`, new Uint8Array(file.length));
    const zeros = await PieceStore.open(peer.world, { meta, destinationPath: `${DIR}/zeros.bin`, journal: peer.kv });
    expect(zeros).toMatchObject({ code: 'DESTINATION_EXISTS', message: expect.stringContaining('piece 0 fails its SHA1') as unknown });
    // The right bytes but the last piece: still not this file.
    const almost = new Uint8Array(file);
    almost[almost.length - 1] = almost[almost.length - 1]! ^ 1;
    await peer.world.fs.writeFile(`${DIR}/almost.bin`, almost);
    expect(await PieceStore.open(peer.world, { meta, destinationPath: `${DIR}/almost.bin`, journal: peer.kv })).toMatchObject({
      code: 'DESTINATION_EXISTS',
      message: expect.stringContaining('piece 3 fails its SHA1') as unknown,
    });
    expect(sameBytes(await peer.world.fs.readFile(`${DIR}/zeros.bin`), new Uint8Array(file.length))).toBe(true); // left as it was
    await peer.world.fs.writeFile(`${DIR}/right.bin`, file);
    expect(await PieceStore.open(peer.world, { meta, destinationPath: `${DIR}/right.bin`, journal: peer.kv })).toMatchObject({ code: 'ALREADY_COMPLETE' });
  });

  it('never replaces a file that appeared at the destination during the download: DESTINATION_EXISTS, both files kept', async () => {
    const file = fileBytes(2 * PIECE_LENGTH_BYTES + 5, 15);
    const meta = fileMeta('late.bin', file);
    const peer = await startPeer(new SimWorld({ seed: 15 }));
    const store = await PieceStore.open(peer.world, { meta, destinationPath: `${DIR}/late.bin`, journal: peer.kv });
    if (store instanceof PieceStoreError) throw store;
    for (const i of [0, 1, 2]) {
      await writePiece(store, file, i);
      expect(await store.verifyPiece(i)).toBe('verified');
    }
    const theirs = utf8('written by someone else meanwhile');
    await peer.world.fs.writeFile(`${DIR}/late.bin`, theirs);
    expect(await store.finish()).toMatchObject({ code: 'DESTINATION_EXISTS', message: expect.stringContaining('late.bin.part') as unknown });
    expect(sameBytes(await peer.world.fs.readFile(`${DIR}/late.bin`), theirs)).toBe(true);
    expect(sameBytes(await peer.world.fs.readFile(`${DIR}/late.bin.part`), file)).toBe(true);
  });

  it('keeps one journal per destination: a download elsewhere never vouches for this one', async () => {
    const file = fileBytes(3 * PIECE_LENGTH_BYTES, 13);
    const meta = fileMeta('twice.bin', file);
    const peer = await startPeer(new SimWorld({ seed: 12 }));
    const open = async (name: string): Promise<PieceStore> => {
      const store = await PieceStore.open(peer.world, { meta, destinationPath: `${DIR}/${name}`, journal: peer.kv });
      if (store instanceof PieceStoreError) throw store;
      return store;
    };
    const a = await open('a.bin');
    await writePiece(a, file, 0);
    expect(await a.verifyPiece(0)).toBe('verified');
    await a.close();
    const b = await open('b.bin');
    for (const i of [1, 2]) {
      await writePiece(b, file, i);
      expect(await b.verifyPiece(i)).toBe('verified');
    }
    await b.close();
    const again = await open('a.bin');
    expect(again.missing()).toEqual([1, 2]);
    expect(await again.recheckUnrecorded()).toEqual([]); // a.bin.part holds zeros there
  });

  it('does not trust the journal when the partial file is gone', async () => {
    const file = fileBytes(PIECE_LENGTH_BYTES * 2);
    const meta = fileMeta('gone.bin', file);
    const sim = new SimWorld({ seed: 7 });
    const peer = await startPeer(sim);
    const store = await openStore(peer, meta);
    await writePiece(store, file, 0);
    expect(await store.verifyPiece(0)).toBe('verified');
    await store.close();
    await peer.world.fs.unlink(`${DIR}/gone.bin.part`);
    const reopened = await openStore(peer, meta);
    expect(reopened.missing()).toEqual([0, 1]);
  });

  it('an empty file finishes as an empty destination', async () => {
    const meta = fileMeta('empty.txt', new Uint8Array(0));
    const peer = await startPeer(new SimWorld({ seed: 8 }));
    const store = await openStore(peer, meta);
    expect(store.bitfield()).toEqual(new Uint8Array(0));
    expect(await store.recheckUnrecorded()).toEqual([]);
    expect(await peer.world.fs.stat(`${DIR}/empty.txt`)).toBeNull();
    expect(await store.finish()).toBe('complete');
    expect(await peer.world.fs.stat(`${DIR}/empty.txt`)).toEqual({ sizeBytes: 0, isDirectory: false });
  });
});
