// The scale benchmark's world, drawn from a seed (bench/scale.mjs, issue 20): who the users are,
// which group each one is in, and every shared file with its size and piece hashes. The
// coordinator and every worker draw the same plan; a worker acts on the groups of its share.
//
// Users u0..u{U-1}; groups g0..g{G-1}, group gj owned by user uj. Every other user joins one
// group drawn at random, so a group has U/G members on average (10 at the ratio) and
// every user is in one. File i is shared by a user drawn at random, in that user's group. Sizes:
// 90 % from 1 to 64 MiB, 9 % from 64 MiB to 1 GiB, 1 % from 1 to 4 GiB, log-uniform within each
// band (that gives the "about 134 pieces a file"; uniform bands would give about 208).

const dist = new URL('../../dist/', import.meta.url);
const { SeededRng } = await import(new URL('world/rng.js', dist));
const { infoHash, PIECE_LENGTH_BYTES, PIECE_HASH_BYTES } = await import(new URL('torrent/infohash.js', dist));

/** The full size: 100,000 users, 10,000 groups, 1,000,000 files. */
export const FULL = { users: 100_000, groups: 10_000, files: 1_000_000 };

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** [share of files, smallest, largest] */
const SIZE_BANDS = [
  [0.9, 1 * MiB, 64 * MiB],
  [0.09, 64 * MiB, 1 * GiB],
  [0.01, 1 * GiB, 4 * GiB],
];

/**
 * Counts at `fraction` of the full size; at least one group, one member per group. `online` is
 * the share of users whose session stays open after the build (onlineEvery); the others log out
 * once they have shared their files, as users do: the full size has 10,000 peers online, the
 * default 0.1 of its 100,000 users.
 */
export function sizeAt(fraction, online = 0.1) {
  const groups = Math.max(1, Math.round(FULL.groups * fraction));
  const users = Math.max(groups, Math.round(FULL.users * fraction));
  const files = Math.max(1, Math.round(FULL.files * fraction));
  if (!(online > 0 && online <= 1)) throw new RangeError(`online: a share of the users in (0, 1] (got ${online})`);
  return { fraction, users, groups, files, onlineEvery: Math.max(1, Math.round(1 / online)) };
}

/** Whether user `u`'s session stays open after the build: every onlineEvery-th user. */
export const staysOnline = (u, onlineEvery) => u % onlineEvery === 0;

/** How many users stay online. */
export const onlineUsers = ({ users, onlineEvery }) => Math.ceil(users / onlineEvery);

/**
 * The writes the build makes, one Raft entry each: CreateUser and a login (OpenSession) per
 * user, CreateGroup per group, RequestJoin and AcceptRequest per member who is not an owner,
 * ShareFile per file, CloseSession per user who does not stay online.
 */
export function plannedCommands(size) {
  const { users, groups, files } = size;
  return 2 * users + groups + 2 * (users - groups) + files + (users - onlineUsers(size));
}

export const userName = (u) => `u${u}`;
export const password = (u) => `pw-${u}`;
export const groupName = (g) => `g${g}`;

/** The group of every user (owners first), and the user who shares each file. */
export function drawPlan(seed, { users, groups, files }) {
  const root = new SeededRng(`scale/${seed}`);
  const groupOf = new Uint32Array(users);
  const joins = root.fork('membership');
  for (let u = 0; u < users; u++) groupOf[u] = u < groups ? u : joins.int(groups);
  const sharerOf = new Uint32Array(files);
  const sharers = root.fork('sharers');
  for (let f = 0; f < files; f++) sharerOf[f] = sharers.int(users);
  return { root, groupOf, sharerOf };
}

/** File `f`'s metadata, as a peer would compute it (its id is the info-hash): drawn only when shared. */
export function fileMetaOf(root, f) {
  const rng = root.fork(`file/${f}`);
  let pick = rng.float();
  let band = SIZE_BANDS[SIZE_BANDS.length - 1];
  for (const candidate of SIZE_BANDS) {
    if (pick < candidate[0]) {
      band = candidate;
      break;
    }
    pick -= candidate[0];
  }
  const [, lowBytes, highBytes] = band;
  const sizeBytes = Math.min(highBytes, Math.floor(Math.exp(Math.log(lowBytes) + rng.float() * (Math.log(highBytes) - Math.log(lowBytes)))));
  const pieceCount = Math.ceil(sizeBytes / PIECE_LENGTH_BYTES);
  const pieces = rng.bytes(pieceCount * PIECE_HASH_BYTES);
  const name = `f${f}.bin`;
  const fileId = infoHash({ name, sizeBytes, pieceLengthBytes: PIECE_LENGTH_BYTES, pieces });
  return { fileId, name, sizeBytes, pieceLengthBytes: PIECE_LENGTH_BYTES, pieces: Buffer.from(pieces).toString('base64') };
}
