// A complete shared file on the simulated World checks what it serves: a piece edited on disk
// after the file was opened, a truncated file or a failed read stops the serving (FILE_CHANGED,
// the listener told once) instead of sending other bytes or dropping requests silently; at
// login a sample of pieces (first, last, a few the World's rng picks) is re-hashed. Over a real
// link the downloader hears REFUSED FILE_CHANGED, gives that holder up at once and bans nobody.

import { describe, expect, it } from 'vitest';
import { CompleteFile } from '../../src/peer/complete-file.js';
import { Download } from '../../src/peer/download.js';
import { CompleteFileError, samplePieceIndexes } from '../../src/peer/file-changed.js';
import { newPeerKey } from '../../src/peer/peer-key.js';
import { PeerHost } from '../../src/peer/peer-host.js';
import { PieceStoreError } from '../../src/peer/piece-store.js';
import { metaOf, SIM_DOWNLOAD_TIMINGS, swarmFile } from '../../src/sim/swarm/sim-swarm.js';
import { PIECE_LENGTH_BYTES } from '../../src/torrent/infohash.js';
import { ed25519FromSeed, signTicket, TICKET_VERSION } from '../../src/torrent/ticket.js';
import { SeededRng } from '../../src/world/rng.js';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import type { World } from '../../src/world/world.js';

const BLOCK_BYTES = 16_384;
const PATH = '/home/h/talk.mp4';

async function sharedFile(pieces: number, extraBytes = 1_000): Promise<{ world: World; file: Uint8Array; meta: ReturnType<typeof metaOf> }> {
  const world = new SimWorld({ seed: 5 }).forHost('h');
  const file = swarmFile(3, pieces * PIECE_LENGTH_BYTES + extraBytes);
  await world.fs.mkdir('/home/h', { recursive: true });
  await world.fs.writeFile(PATH, file, { sync: true });
  return { world, file, meta: metaOf('talk.mp4', file) };
}

async function open(world: World, meta: ReturnType<typeof metaOf>, checkSample = false): Promise<CompleteFile> {
  const opened = await CompleteFile.open(world, PATH, meta, { checkSample });
  if (opened instanceof CompleteFileError) throw opened;
  return opened;
}

/** Overwrites `bytes` at `positionBytes`, in place (the same file, the same size). */
async function edit(world: World, positionBytes: number, bytes: Uint8Array): Promise<void> {
  const handle = await world.fs.open(PATH, 'r+');
  await handle.write(positionBytes, bytes);
  await handle.close();
}

describe('a complete file checks what it serves', () => {
  it('serves the bytes of an unchanged file', async () => {
    const { world, file, meta } = await sharedFile(3);
    const source = await open(world, meta, true);
    const block = await source.readBlock(2, BLOCK_BYTES, BLOCK_BYTES);
    expect(Buffer.from(block!).equals(Buffer.from(file.subarray(2 * PIECE_LENGTH_BYTES + BLOCK_BYTES, 2 * PIECE_LENGTH_BYTES + 2 * BLOCK_BYTES)))).toBe(true);
    expect(await source.readBlock(3, 0, 1_000)).not.toBeNull(); // the short last piece
  });

  it('a piece changed on disk after open is refused FILE_CHANGED, and the listener hears it once', async () => {
    const { world, meta } = await sharedFile(4);
    const source = await open(world, meta);
    const heard: CompleteFileError[] = [];
    source.onChanged((error) => heard.push(error));
    expect(await source.readBlock(0, 0, BLOCK_BYTES)).not.toBeNull(); // piece 0 is read in and checked now
    await edit(world, 2 * PIECE_LENGTH_BYTES + 100, new Uint8Array([1, 2, 3]));
    expect(await source.readBlock(0, BLOCK_BYTES, BLOCK_BYTES)).not.toBeNull(); // verified before the edit, still served
    const [a, b] = await Promise.all([source.readBlock(2, 0, BLOCK_BYTES), source.readBlock(2, BLOCK_BYTES, BLOCK_BYTES)]);
    expect([a, b]).toEqual([null, null]);
    expect(await source.readBlock(1, 0, BLOCK_BYTES)).toBeNull(); // nothing more is served
    expect(source.has(1)).toBe(false);
    expect(heard).toHaveLength(1);
    expect(heard[0]).toMatchObject({ code: 'FILE_CHANGED', path: PATH, reason: 'piece 2 fails its SHA1' });
  });

  it('a truncated file says so (not a silent null per request)', async () => {
    const { world, meta } = await sharedFile(4);
    const source = await open(world, meta);
    const heard: CompleteFileError[] = [];
    source.onChanged((error) => heard.push(error));
    const handle = await world.fs.open(PATH, 'r+');
    await handle.truncate(PIECE_LENGTH_BYTES + 10);
    await handle.close();
    expect(await source.readBlock(3, 0, BLOCK_BYTES)).toBeNull();
    expect(await source.readBlock(4, 0, 100)).toBeNull();
    expect(heard).toHaveLength(1);
    expect(heard[0]).toMatchObject({ code: 'FILE_CHANGED', reason: `truncated to ${PIECE_LENGTH_BYTES + 10} bytes` });
  });

  it('a closed file is not a changed one', async () => {
    const { world, meta } = await sharedFile(2);
    const source = await open(world, meta);
    const heard: CompleteFileError[] = [];
    source.onChanged((error) => heard.push(error));
    const reading = source.readBlock(1, 0, BLOCK_BYTES);
    await source.close();
    await reading;
    expect(await source.readBlock(0, 0, BLOCK_BYTES)).toBeNull();
    expect(heard).toEqual([]);
  });
});

describe('opening a file shared before (login)', () => {
  it('is refused when it is missing, or its size changed', async () => {
    const { world, file, meta } = await sharedFile(2);
    await world.fs.writeFile(PATH, file.subarray(0, file.length - 1));
    expect(await CompleteFile.open(world, PATH, meta, { checkSample: true })).toMatchObject({ code: 'FILE_CHANGED', reason: `its size is ${file.length - 1} bytes, not ${file.length}` });
    await world.fs.unlink(PATH);
    expect(await CompleteFile.open(world, PATH, meta, { checkSample: true })).toMatchObject({ code: 'FILE_NOT_FOUND', reason: 'is missing' });
  });

  it.each([
    ['the first piece', 20, 0],
    ['the last piece', 20, 20],
    ['a middle piece of a small file (every piece is checked)', 5, 3],
  ])('is refused when %s changed at the same size', async (_, pieces, changedPiece) => {
    const { world, meta } = await sharedFile(pieces);
    await edit(world, changedPiece * PIECE_LENGTH_BYTES + 7, new Uint8Array([0xff, 0x00, 0xff]));
    const opened = await CompleteFile.open(world, PATH, meta, { checkSample: true });
    expect(opened).toBeInstanceOf(CompleteFileError);
    expect(opened).toMatchObject({ code: 'FILE_CHANGED', reason: `piece ${changedPiece} fails its SHA1` });
    // Without the sample (a file just hashed by upload_file) it opens; the first read of that piece stops it.
    expect(await CompleteFile.open(world, PATH, meta)).toBeInstanceOf(CompleteFile);
  });

  it('samples the first, the last and six distinct others, drawn by the rng (the same seed, the same pieces)', () => {
    for (const count of [0, 1, 2, 8, 9, 100, 5_000]) {
      const sample = samplePieceIndexes(count, new SeededRng(`s${count}`));
      expect(sample).toEqual(samplePieceIndexes(count, new SeededRng(`s${count}`)));
      expect(sample).toHaveLength(Math.min(count, 8));
      expect(new Set(sample).size).toBe(sample.length);
      expect([...sample].sort((a, b) => a - b)).toEqual(sample);
      if (count > 0) expect([sample[0], sample.at(-1)]).toEqual([0, count - 1]);
      for (const i of sample) expect(i >= 0 && i < count).toBe(true);
    }
  });
});

describe('over a link', () => {
  const keys = ed25519FromSeed(new Uint8Array(32).fill(6));

  async function swarm(change: (world: World) => Promise<void>): Promise<{ download: Download; seeder: PeerHost; changes: CompleteFileError[]; logs: string[] }> {
    const sim = new SimWorld({ seed: 12 });
    const seederWorld = sim.forHost('seeder');
    const file = swarmFile(4, 16 * PIECE_LENGTH_BYTES);
    const meta = metaOf('talk.mp4', file);
    await seederWorld.fs.mkdir('/home/h', { recursive: true });
    await seederWorld.fs.writeFile(PATH, file, { sync: true });
    const changes: CompleteFileError[] = [];
    const logs: string[] = [];
    const seeder = await PeerHost.start(seederWorld, {
      listen: { host: 'seeder', port: 6881 },
      peerId: seederWorld.rng.bytes(20),
      own: await newPeerKey(seederWorld),
      clusterPublicKey: keys.publicKey,
      maxUploadBytesPerSecond: 1024 * 1024, // 8 MiB: 8 s of virtual time
      log: (line) => logs.push(line),
      onShareChanged: (_, error) => changes.push(error),
    });
    const source = await CompleteFile.open(seederWorld, PATH, meta);
    if (source instanceof CompleteFileError) throw source;
    seeder.share({ meta, group: 'g', source });

    const world = sim.forHost('leecher');
    await world.fs.mkdir('/home', { recursive: true });
    const own = await newPeerKey(world);
    const nowMs = world.clock.nowMs();
    const ticket = signTicket({ v: TICKET_VERSION, user: 'bob', key: own.identity.keyFingerprint, group: 'g', fileId: meta.fileId, notBefore: nowMs, expires: nowMs + 3_600_000 }, keys.privateKey);
    const download = await Download.start(world, {
      meta,
      destinationPath: `/home/${meta.name}`,
      journal: await world.kv.open('/home/db', { createIfMissing: true }),
      peerId: world.rng.bytes(20),
      ticket: () => ticket,
      holders: [{ address: { host: 'seeder', port: 6881 }, keyFingerprint: null }],
      timings: SIM_DOWNLOAD_TIMINGS,
      host: { own },
    });
    if (download instanceof PieceStoreError) throw download;
    await sim.runUntil(() => download.store.verifiedBytes() >= 3 * PIECE_LENGTH_BYTES, 60_000);
    expect(download.state).toBe('running');
    await change(seederWorld);
    const changedAtMs = sim.elapsedMs();
    await sim.runUntil(() => download.state !== 'running', 60_000);
    // The holder is given up at once (not redialed for seconds): the download ends within a second or two.
    expect(sim.elapsedMs() - changedAtMs).toBeLessThan(3_000);
    return { download, seeder, changes, logs };
  }

  function expectNoBlame(download: Download): void {
    const counters = download.counters();
    expect(counters.bans).toEqual({});
    expect(counters.strikes).toEqual({});
    expect(counters.piecesFailed).toBe(0);
  }

  it('a file edited in place while served: the downloader hears FILE_CHANGED, gives the holder up and bans nobody', async () => {
    const { download, seeder, changes, logs } = await swarm(async (world) => {
      const handle = await world.fs.open(PATH, 'r+');
      await handle.write(0, new Uint8Array(16 * PIECE_LENGTH_BYTES).fill(0x5a)); // every piece, the same size
      await handle.close();
    });
    expect(await download.done).toMatchObject({ state: 'failed', code: 'NO_SOURCES', message: expect.stringContaining('gave up: REFUSED FILE_CHANGED') });
    expectNoBlame(download);
    expect(changes).toHaveLength(1);
    expect(changes[0]!.reason).toMatch(/^piece \d+ fails its SHA1$/);
    expect(seeder.isSharing(download.fileId)).toBe(false);
    expect(seeder.counters.refusals).toEqual({ FILE_CHANGED: 1 });
    expect(logs.some((l) => /refused .* FILE_CHANGED: .* no longer matches what was shared/.test(l))).toBe(true);
  });

  it('a file truncated while served: the downloader hears FILE_CHANGED within seconds, not STALLED minutes later', async () => {
    const { download, changes } = await swarm(async (world) => {
      const handle = await world.fs.open(PATH, 'r+');
      await handle.truncate(PIECE_LENGTH_BYTES);
      await handle.close();
    });
    expect(await download.done).toMatchObject({ state: 'failed', code: 'NO_SOURCES', message: expect.stringContaining('REFUSED FILE_CHANGED') });
    expectNoBlame(download);
    expect(changes.map((c) => c.reason)).toEqual([`truncated to ${PIECE_LENGTH_BYTES} bytes`]);
  });
});
