// Why this file exists: the peer data plane's simulated world (issue 6 "swarm simulation").
// One call builds holders (complete or partial, honest or lying) and one downloader on a
// SimWorld, with tickets signed by a cluster key made from the seed, and runs the download to
// its end. Tests and `clique sim` describe swarms as plain data (SwarmSpec), so fast-check can
// generate and shrink them.

import type { KeyObject } from 'node:crypto';
import type { FileMeta } from '../../torrent/file-meta.js';
import { hashPieces, infoHash, PIECE_LENGTH_BYTES } from '../../torrent/infohash.js';
import { ed25519FromSeed, signTicket, TICKET_VERSION } from '../../torrent/ticket.js';
import { CompleteFile } from '../../peer/complete-file.js';
import { CompleteFileError } from '../../peer/file-changed.js';
import { Download, type DownloadOutcome, type DownloadTimings, type HolderAddress } from '../../peer/download.js';
import { newPeerKey } from '../../peer/peer-key.js';
import { PeerHost } from '../../peer/peer-host.js';
import { PieceStore, PieceStoreError } from '../../peer/piece-store.js';
import { RateLimiter } from '../../peer/rate-limiter.js';
import type { LinkFaults } from '../../world/sim/sim-packets.js';
import { SeededRng } from '../../world/rng.js';
import { SimWorld } from '../../world/sim/sim-world.js';
import type { World } from '../../world/world.js';

export interface HolderSpec {
  /** Pieces held; 'all' for a complete file. */
  pieces: 'all' | number[];
  /** Sends corrupt bytes for every block. */
  liar?: boolean;
  /** One-way link faults between this holder and the downloader (both directions). */
  link?: Partial<LinkFaults>;
  /** Crashes after this much virtual time (a peer vanishing mid-piece). */
  vanishAtMs?: number;
  /** Unreachable from the downloader for the whole run. */
  partitioned?: boolean;
  /** From this virtual time on it keeps the connection but sends no more blocks (a stalled peer). */
  stallAtMs?: number;
  /** Its upload limit, bytes per second (none: unlimited). */
  uploadBytesPerSecond?: number;
  /** Its upload limit set anew at these virtual times, counted from the download's start (null: unlimited). */
  uploadRateChanges?: Array<{ atMs: number; bytesPerSecond: number | null }>;
}

export interface SwarmSpec {
  seed: number;
  sizeBytes: number;
  holders: HolderSpec[];
  /** Virtual time limit for the run. */
  maxVirtualMs?: number;
  /** The downloader's download limit, bytes per second (none: unlimited). Times below count from the download's start. */
  downloadBytesPerSecond?: number;
  /** The download limit set anew at these virtual times (null: unlimited). */
  downloadRateChanges?: Array<{ atMs: number; bytesPerSecond: number | null }>;
  /** The user removes the destination directory (moved away whole) or the .part at this virtual time. */
  removeDestination?: { atMs: number; what: 'directory' | 'part' };
}

export interface SwarmResult {
  outcome: DownloadOutcome | { state: 'running' };
  /** The bytes at the destination path, or null when nothing is there. */
  destinationBytes: Uint8Array | null;
  original: Uint8Array;
  /** Keys of the holders as the download knows them: `h<i>:6881`. */
  holderKeys: string[];
  counters: ReturnType<Download['counters']>;
  /** Blocks sent by honest holders that differ from the original (must stay 0). */
  unverifiedBytesServed: number;
  /** Names of files in the destination directory. */
  destinationDirectory: string[];
  elapsedMs: number;
}

const PEER_PORT = 6881;
const DEST_DIR = '/home/leecher/downloads';

/** A deterministic file of `sizeBytes` made from the seed. */
export function swarmFile(seed: number, sizeBytes: number): Uint8Array {
  return new SeededRng(`file-${seed}`).bytes(sizeBytes);
}

export function metaOf(name: string, bytes: Uint8Array): FileMeta {
  const pieces = hashPieces(bytes);
  return { fileId: infoHash({ name, sizeBytes: bytes.length, pieceLengthBytes: PIECE_LENGTH_BYTES, pieces }), name, sizeBytes: bytes.length, pieceLengthBytes: PIECE_LENGTH_BYTES, pieces: Buffer.from(pieces).toString('base64') };
}

/** Simulation timings: shorter than the real defaults so a run of minutes of virtual time stays fast. */
export const SIM_DOWNLOAD_TIMINGS: Partial<DownloadTimings> = {
  connectTimeoutMs: 3_000,
  retryBaseMs: 500,
  retryMaxMs: 4_000,
  maxAttempts: 4,
  unavailableTimeoutMs: 20_000,
  stallTimeoutMs: 60_000,
  scheduler: { snubTimeoutMs: 5_000 },
  connection: { handshakeTimeoutMs: 5_000, accessTimeoutMs: 5_000, idleTimeoutMs: 30_000, keepAliveMs: 10_000, tickMs: 2_000 },
};

async function startHolder(
  world: World,
  name: string,
  spec: HolderSpec,
  meta: FileMeta,
  original: Uint8Array,
  publicKey: KeyObject,
  onUnverified: (bytes: number) => void,
): Promise<PeerHost> {
  await world.fs.mkdir('/home/h', { recursive: true });
  let source;
  if (spec.pieces === 'all') {
    await world.fs.writeFile(`/home/h/${meta.name}`, original, { sync: true });
    source = await CompleteFile.open(world, `/home/h/${meta.name}`, meta);
    if (source instanceof CompleteFileError) throw source;
  } else {
    const kv = await world.kv.open('/home/h/db', { createIfMissing: true });
    const store = await PieceStore.open(world, { meta, destinationPath: `/home/h/${meta.name}`, journal: kv });
    if (store instanceof PieceStoreError) throw store;
    for (const pieceIndex of spec.pieces) {
      const start = pieceIndex * PIECE_LENGTH_BYTES;
      store.writeBlock(pieceIndex, 0, original.subarray(start, Math.min(start + PIECE_LENGTH_BYTES, original.length)));
      if ((await store.verifyPiece(pieceIndex)) !== 'verified') throw new Error('holder set-up failed');
    }
    source = store;
  }
  const startMs = world.clock.monotonicMs();
  const host = await PeerHost.start(world, {
    listen: { host: name, port: PEER_PORT },
    peerId: world.rng.bytes(20),
    own: await newPeerKey(world),
    clusterPublicKey: publicKey,
    ...(spec.uploadBytesPerSecond === undefined ? {} : { maxUploadBytesPerSecond: spec.uploadBytesPerSecond }),
    tamperForTests: (pieceIndex, beginBytes, block) => {
      const at = pieceIndex * PIECE_LENGTH_BYTES + beginBytes;
      const honest = Buffer.from(block).equals(original.subarray(at, at + block.length));
      if (!honest) onUnverified(block.length);
      if (spec.stallAtMs !== undefined && world.clock.monotonicMs() - startMs >= spec.stallAtMs) return null;
      return spec.liar ? block.map((b, i) => (i === 0 ? b ^ 0xff : b)) : block;
    },
  });
  host.share({ meta, group: 'g', source });
  return host;
}

/** Runs one swarm to the end of its download (or its time limit). */
export async function runSwarm(spec: SwarmSpec): Promise<SwarmResult> {
  const sim = new SimWorld({ seed: spec.seed });
  const original = swarmFile(spec.seed, spec.sizeBytes);
  const meta = metaOf('file.bin', original);
  const keys = ed25519FromSeed(new SeededRng(`keys-${spec.seed}`).bytes(32));
  let unverifiedBytesServed = 0;
  const holderKeys: string[] = [];
  const holders: HolderAddress[] = [];
  const holderHosts: PeerHost[] = [];
  for (const [i, holder] of spec.holders.entries()) {
    const name = `h${i}`;
    holderKeys.push(`${name}:${PEER_PORT}`);
    const host = await startHolder(sim.forHost(name), name, holder, meta, original, keys.publicKey, (bad) => (unverifiedBytesServed += bad));
    holderHosts.push(host);
    holders.push({ address: { host: name, port: PEER_PORT }, keyFingerprint: host.keyFingerprint });
    if (holder.link) {
      sim.net.setLink(name, 'leecher', holder.link);
      sim.net.setLink('leecher', name, holder.link);
    }
    if (holder.partitioned) sim.net.partition([name], ['leecher']);
    if (holder.vanishAtMs !== undefined) sim.after(holder.vanishAtMs, () => sim.crashHost(name));
  }
  const world = sim.forHost('leecher');
  await world.fs.mkdir(DEST_DIR, { recursive: true });
  const journal = await world.kv.open('/home/leecher/db', { createIfMissing: true });
  const peerId = world.rng.bytes(20);
  const own = await newPeerKey(world);
  const nowMs = world.clock.nowMs();
  const downloadLimiter = spec.downloadBytesPerSecond === undefined && spec.downloadRateChanges === undefined ? undefined : new RateLimiter(world.clock, spec.downloadBytesPerSecond ?? null);
  const ticket = signTicket({ v: TICKET_VERSION, user: 'leecher', key: own.identity.keyFingerprint, group: 'g', fileId: meta.fileId, notBefore: nowMs - 1000, expires: nowMs + 3_600_000 }, keys.privateKey);
  const download = await Download.start(world, {
    meta,
    destinationPath: `${DEST_DIR}/${meta.name}`,
    journal,
    peerId,
    ticket: () => ticket,
    holders,
    host: { own },
    timings: SIM_DOWNLOAD_TIMINGS,
    ...(downloadLimiter ? { downloadLimiter } : {}),
  });
  if (download instanceof PieceStoreError) throw download;
  // Times from the start of the download (as elapsedMs counts).
  for (const { atMs, bytesPerSecond } of spec.downloadRateChanges ?? []) sim.after(atMs, () => downloadLimiter!.setRate(bytesPerSecond));
  for (const [i, holder] of spec.holders.entries()) {
    for (const { atMs, bytesPerSecond } of holder.uploadRateChanges ?? []) sim.after(atMs, () => holderHosts[i]!.setUploadRate(bytesPerSecond));
  }
  const removal = spec.removeDestination;
  if (removal) {
    sim.after(removal.atMs, () => {
      if (removal.what === 'directory') void world.fs.rename(DEST_DIR, '/home/leecher/trash');
      else void world.fs.unlink(`${DEST_DIR}/${meta.name}.part`);
    });
  }
  await sim.runUntil(() => download.state !== 'running', spec.maxVirtualMs ?? 600_000);
  const outcome = download.state === 'running' ? { state: 'running' as const } : await download.done;
  const destination = await world.fs.stat(`${DEST_DIR}/${meta.name}`);
  return {
    outcome,
    destinationBytes: destination === null ? null : await world.fs.readFile(`${DEST_DIR}/${meta.name}`),
    original,
    holderKeys,
    counters: download.counters(),
    unverifiedBytesServed,
    destinationDirectory: (await world.fs.stat(DEST_DIR)) === null ? [] : await world.fs.readdir(DEST_DIR),
    elapsedMs: download.elapsedMs(),
  };
}
