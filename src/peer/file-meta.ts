// Why this file exists: sharing a file starts by hashing it — the 512 KiB piece SHA1s and the
// info-hash the tracker and every downloader check (DESIGN.md §6). It reads the file a piece at
// a time, so a file of any size hashes in constant memory.

import { toBase64 } from '../torrent/bytes.js';
import type { FileMeta } from '../torrent/file-meta.js';
import { infoHash, PIECE_HASH_BYTES, PIECE_LENGTH_BYTES, pieceCount, sha1 } from '../torrent/infohash.js';
import type { World } from '../world/world.js';

/** The metadata of the file at `path`, shared under `name`; null when it is not a regular file. */
export async function hashFile(world: World, path: string, name: string): Promise<FileMeta | null> {
  const stat = await world.fs.stat(path);
  if (stat === null || stat.isDirectory) return null;
  const count = pieceCount(stat.sizeBytes, PIECE_LENGTH_BYTES);
  const pieces = new Uint8Array(count * PIECE_HASH_BYTES);
  const file = await world.fs.open(path, 'r');
  try {
    for (let i = 0; i < count; i++) {
      const start = i * PIECE_LENGTH_BYTES;
      pieces.set(sha1(await file.read(start, Math.min(PIECE_LENGTH_BYTES, stat.sizeBytes - start))), i * PIECE_HASH_BYTES);
    }
  } finally {
    await file.close();
  }
  const fileId = infoHash({ name, sizeBytes: stat.sizeBytes, pieceLengthBytes: PIECE_LENGTH_BYTES, pieces });
  return { fileId, name, sizeBytes: stat.sizeBytes, pieceLengthBytes: PIECE_LENGTH_BYTES, pieces: toBase64(pieces) };
}
