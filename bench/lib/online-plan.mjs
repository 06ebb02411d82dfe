// The online-peers benchmark's world (bench/online.mjs, issue 20), drawn from a seed: peers
// p0..p{N-1} in groups of `groupSize` (group gj holds peers j*groupSize.., its owner the first),
// each group with `filesPerPeer` files that every member announces (holds and shares) as a shell
// does at login, and the source address each peer connects from. The coordinator and every
// load process draw the same plan; a load process acts on the groups of its share.
//
// Files are small (1-16 MiB, log-uniform: 2-32 pieces) so that the 20 announces per peer cost
// the log what a login's announce costs and not a bulk upload of piece lists; their piece lists
// are random hashes with the right info-hash, as bench/lib/scale-plan.mjs draws them.

import { createHash } from 'node:crypto';

const dist = new URL('../../dist/', import.meta.url);
const { SeededRng } = await import(new URL('world/rng.js', dist));
const { infoHash, PIECE_LENGTH_BYTES, PIECE_HASH_BYTES } = await import(new URL('torrent/infohash.js', dist));

const MiB = 1024 * 1024;
const SMALLEST_FILE_BYTES = 1 * MiB;
const LARGEST_FILE_BYTES = 16 * MiB;

/** Loopback addresses the peers connect from: 127.0.0.2 to 127.0.0.41 (40 sources). */
export const FIRST_SOURCE = 2;
export const SOURCES = 40;
/** The port every peer says it listens on (nothing does: the node finds it unreachable at once, on loopback). */
export const PEER_PORT = 6881;

export const peerName = (p) => `p${p}`;
export const peerPassword = (p) => `pw-${p}`;
export const groupName = (g) => `og${g}`;
export const loginName = (i) => `x${i}`;
export const loginPassword = (i) => `pw-x${i}`;
/** Peer p connects from one loopback address, the same for all its connections (as one machine would). */
export const sourceOf = (p) => `127.0.0.${FIRST_SOURCE + (p % SOURCES)}`;
/** The key fingerprint peer p logs in with (any 32 bytes of hex to the tracker; tickets name it). */
export const keyOf = (p) => createHash('sha256').update(`key of ${p}`).digest('hex');

export const groupOf = (p, groupSize) => Math.floor(p / groupSize);
export const ownerOf = (g, groupSize) => g * groupSize;
export const groupCount = (peers, groupSize) => Math.ceil(peers / groupSize);
export const membersOf = (g, { peers, groupSize }) => {
  const first = g * groupSize;
  return Array.from({ length: Math.min(groupSize, peers - first) }, (_, i) => first + i);
};

/** File k of group g, as a peer would compute it (its id is the info-hash); the same for every member. */
export function fileMetaOf(seed, g, k) {
  const rng = new SeededRng(`online/${seed}/file/${g}/${k}`);
  const sizeBytes = Math.floor(Math.exp(Math.log(SMALLEST_FILE_BYTES) + rng.float() * (Math.log(LARGEST_FILE_BYTES) - Math.log(SMALLEST_FILE_BYTES))));
  const pieceCount = Math.ceil(sizeBytes / PIECE_LENGTH_BYTES);
  const pieces = rng.bytes(pieceCount * PIECE_HASH_BYTES);
  const name = `f${k}.bin`;
  const fileId = infoHash({ name, sizeBytes, pieceLengthBytes: PIECE_LENGTH_BYTES, pieces });
  return { fileId, name, sizeBytes, pieceLengthBytes: PIECE_LENGTH_BYTES, pieces: Buffer.from(pieces).toString('base64') };
}

/**
 * The writes the setup makes, one Raft entry each: per peer a CreateUser, a login (OpenSession)
 * and an announce (ShareFile) per file; per group a CreateGroup; per member who is not the owner
 * a RequestJoin and an AcceptRequest.
 */
export function plannedWrites({ peers, groupSize, filesPerPeer }) {
  const groups = groupCount(peers, groupSize);
  return peers * (2 + filesPerPeer) + groups + 2 * (peers - groups);
}
