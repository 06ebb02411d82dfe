// Why this file exists: `clique peer …`, the data plane on its own, without a tracker (issue 6:
// "test with holders and tickets given directly"). Benchmarks and real-process tests use it:
// `keygen` and `ticket` stand in for the tracker's signing key, `meta` hashes a file, `seed`
// serves one, `get` downloads one from given holders (serving what it has with --listen).
// Output is JSON lines on stdout, so scripts can follow a run.

import { ed25519FromSeed, ed25519PublicKeyFromRaw, ed25519PublicKeyToRaw, signTicket, TICKET_VERSION } from '../torrent/ticket.js';
import { fromHex, fromUtf8, toHex } from '../torrent/bytes.js';
import type { FileMeta } from '../torrent/file-meta.js';
import { CompleteFile } from '../peer/complete-file.js';
import { CompleteFileError } from '../peer/file-changed.js';
import { Download, type HolderAddress } from '../peer/download.js';
import { hashFile } from '../peer/file-meta.js';
import { PeerHost } from '../peer/peer-host.js';
import { PieceStoreError } from '../peer/piece-store.js';
import type { CertifiedKey, NetAddress, World } from '../world/world.js';
import { CliError, EXIT_FAILED, EXIT_OK, EXIT_USAGE } from './exit-codes.js';
import { AddressError, formatNetAddress, parseNetAddress } from '../world/net-address.js';
import { loadOrCreatePeerKey, newPeerKey, PeerKeyError } from '../peer/peer-key.js';

type Emit = (event: Record<string, unknown>) => void;

export const emitJson: Emit = (event) => process.stdout.write(JSON.stringify(event) + '\n');

/** An address typed on the command line; port 0 only for a listen address. Bad usage otherwise. */
export function addressArgument(text: string, options: { listen?: boolean } = {}): NetAddress {
  try {
    return parseNetAddress(text, { allowPortZero: options.listen === true });
  } catch (error) {
    if (error instanceof AddressError) throw new CliError(error.code, error.message, EXIT_USAGE);
    throw error;
  }
}

function hexArgument(text: string, lengthBytes: number, what: string): Uint8Array {
  const bytes = fromHex(text, lengthBytes);
  if (bytes === null) throw new CliError('BAD_USAGE', `${what} must be ${lengthBytes * 2} hex digits`, EXIT_USAGE);
  return bytes;
}

export function peerKeygen(world: World, emit: Emit): number {
  const seed = world.rng.bytes(32);
  emit({ signingKey: toHex(seed), publicKey: toHex(ed25519PublicKeyToRaw(ed25519FromSeed(seed).publicKey)) });
  return EXIT_OK;
}

export async function peerMeta(world: World, path: string, emit: Emit): Promise<number> {
  const name = path.split('/').pop() ?? path;
  const meta = await hashFile(world, path, name);
  if (meta === null) throw new CliError('FILE_NOT_FOUND', `${path} is not a regular file`);
  emit({ ...meta });
  return EXIT_OK;
}

export function peerTicket(world: World, options: { signingKey: string; user: string; group: string; fileId: string; key: string; ttlMs: number }): number {
  const { privateKey } = ed25519FromSeed(hexArgument(options.signingKey, 32, '--signing-key'));
  hexArgument(options.fileId, 20, '--file-id');
  hexArgument(options.key, 32, '--key');
  const nowMs = world.clock.nowMs();
  const claims = { v: TICKET_VERSION, user: options.user, key: options.key, group: options.group, fileId: options.fileId, notBefore: nowMs - 1_000, expires: nowMs + options.ttlMs };
  process.stdout.write(signTicket(claims, privateKey) + '\n');
  return EXIT_OK;
}

async function readMeta(world: World, path: string): Promise<FileMeta> {
  let value: unknown;
  try {
    value = JSON.parse(fromUtf8(await world.fs.readFile(path)));
  } catch (error) {
    throw new CliError('BAD_META', `${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const v = value as Partial<Record<keyof FileMeta, unknown>>;
  if (typeof v !== 'object' || v === null || typeof v.fileId !== 'string' || typeof v.name !== 'string' || typeof v.sizeBytes !== 'number' || typeof v.pieceLengthBytes !== 'number' || typeof v.pieces !== 'string') {
    throw new CliError('BAD_META', `${path} is not file metadata {fileId, name, sizeBytes, pieceLengthBytes, pieces}`);
  }
  return { fileId: v.fileId, name: v.name, sizeBytes: v.sizeBytes, pieceLengthBytes: v.pieceLengthBytes, pieces: v.pieces };
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

function logToStderr(line: string): void {
  process.stderr.write(line + '\n');
}

/** `peer identity`: the home's key fingerprint (the key is made on first use). */
export async function peerIdentity(world: World, options: { home: string }, emit: Emit): Promise<number> {
  emit({ keyFingerprint: (await homeKey(world, options.home)).identity.keyFingerprint });
  return EXIT_OK;
}

async function homeKey(world: World, home: string | undefined): Promise<CertifiedKey> {
  if (home === undefined) return newPeerKey(world);
  try {
    return await loadOrCreatePeerKey(world, home);
  } catch (error) {
    if (error instanceof PeerKeyError) throw new CliError(error.code, error.message);
    throw error;
  }
}

/** `--from`: holders as `HOST:PORT` or, pinned to a key, `FINGERPRINT@HOST:PORT`. */
function holdersArgument(text: string): HolderAddress[] {
  return text
    .split(',')
    .filter((s) => s.length > 0)
    .map((item) => {
      const at = item.indexOf('@');
      if (at < 0) return { address: addressArgument(item), keyFingerprint: null };
      return { address: addressArgument(item.slice(at + 1)), keyFingerprint: toHex(hexArgument(item.slice(0, at), 32, '--from key')) };
    });
}

export interface SeedOptions {
  /** Where its key is kept (default: a key for this run only). */
  home?: string;
  file: string;
  meta: string;
  group: string;
  publicKey: string;
  listen: string;
  maxUploadRate?: number;
}

export async function peerSeed(world: World, options: SeedOptions, emit: Emit): Promise<number> {
  const meta = await readMeta(world, options.meta);
  const source = await CompleteFile.open(world, options.file, meta);
  if (source instanceof CompleteFileError) throw new CliError(source.code, source.message);
  const own = await homeKey(world, options.home);
  const host = await PeerHost.start(world, {
    listen: addressArgument(options.listen, { listen: true }),
    peerId: world.rng.bytes(20),
    own,
    clusterPublicKey: ed25519PublicKeyFromRaw(hexArgument(options.publicKey, 32, '--public-key')),
    log: logToStderr,
    ...(options.maxUploadRate === undefined ? {} : { maxUploadBytesPerSecond: options.maxUploadRate }),
  });
  host.share({ meta, group: options.group, source });
  emit({ event: 'listening', address: formatNetAddress(host.address), keyFingerprint: own.identity.keyFingerprint });
  await untilSignal();
  await host.close();
  await source.close();
  return EXIT_OK;
}

export interface GetOptions {
  meta: string;
  dest: string;
  home: string;
  peerId?: string;
  ticket: string;
  from: string;
  listen?: string;
  publicKey?: string;
  group?: string;
  keepServing: boolean;
  /** One event per verified piece. */
  verbose: boolean;
}

export async function peerGet(world: World, options: GetOptions, emit: Emit): Promise<number> {
  const meta = await readMeta(world, options.meta);
  const peerId = options.peerId === undefined ? world.rng.bytes(20) : hexArgument(options.peerId, 20, '--peer-id');
  const holders = holdersArgument(options.from);
  await world.fs.mkdir(options.home, { recursive: true });
  const own = await homeKey(world, options.home);
  const journal = await world.kv.open(`${options.home}/db`, { createIfMissing: true });
  try {
    if (options.listen !== undefined && (options.publicKey === undefined || options.group === undefined)) {
      throw new CliError('BAD_USAGE', '--listen needs --public-key and --group', EXIT_USAGE);
    }
    const listen = options.listen === undefined ? null : addressArgument(options.listen, { listen: true });
    const publicKey = options.publicKey === undefined ? null : ed25519PublicKeyFromRaw(hexArgument(options.publicKey, 32, '--public-key'));
    // With --listen, one host dials for the download and serves what it verifies, over the
    // same links; it listens only once the file can be served, so no early downloader is turned away.
    const host = listen !== null && publicKey !== null ? await PeerHost.start(world, { listen: null, peerId, own, clusterPublicKey: publicKey, log: logToStderr }) : null;
    const download = await Download.start(world, { meta, destinationPath: options.dest, journal, peerId, ticket: () => options.ticket, holders, log: logToStderr, host: host ?? { own } });
    if (download instanceof PieceStoreError) {
      await host?.close();
      throw new CliError(download.code, download.message);
    }
    if (host !== null && listen !== null) {
      host.share({ meta, group: options.group!, source: download.store });
      await host.listen(listen);
      emit({ event: 'listening', address: formatNetAddress(host.address) });
    }
    if (options.verbose) {
      download.store.onVerified((pieceIndex) => emit({ event: 'verified', pieceIndex, verifiedPieces: download.store.pieceCount - download.store.missing().length }));
    }
    emit({ event: 'started', fileId: meta.fileId, keyFingerprint: own.identity.keyFingerprint, piecesRechecked: download.store.piecesRechecked, verifiedBytes: download.store.verifiedBytes() });
    const progress = (): void => {
      timer = world.clock.setTimer(1_000, progress);
      emit({ event: 'progress', verifiedBytes: download.store.verifiedBytes(), sizeBytes: meta.sizeBytes });
    };
    let timer = world.clock.setTimer(1_000, progress);
    const outcome = await download.done;
    timer.cancel();
    const counters = download.counters();
    if (outcome.state === 'failed') {
      emit({ event: 'failed', code: outcome.code, message: outcome.message, ...counters });
      await host?.close();
      await download.close();
      return EXIT_FAILED;
    }
    emit({ event: 'complete', elapsedMs: download.elapsedMs(), ...counters });
    // The finished store goes on serving the file (now at its destination) until we stop.
    if (host !== null && options.keepServing) await untilSignal();
    await host?.close();
    await download.close();
    return EXIT_OK;
  } finally {
    await journal.close();
  }
}
