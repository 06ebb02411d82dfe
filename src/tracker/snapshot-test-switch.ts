// Why this file exists: the test-only switch for the test that kills a follower halfway through
// receiving a snapshot (CLIQUE_TEST_SNAPSHOT_CHUNKS=<chunk bytes>,<stall after chunks>). A node
// under it sends snapshots in chunks of that size and, receiving one, stops after writing that
// many chunks (it logs `snapshot_receive_stalled`): the state "some chunks written, the transfer
// unfinished" then holds until the test's kill -9 lands, which no timing could promise. Never set
// it outside that test; a process under it says so on stderr.

export const SNAPSHOT_CHUNKS_SWITCH = 'CLIQUE_TEST_SNAPSHOT_CHUNKS';

export interface SnapshotTestSwitch {
  chunkBytes: number;
  stallAfterChunks: number;
}

export function snapshotSwitchForTests(env: Readonly<Record<string, string | undefined>> = process.env): SnapshotTestSwitch | null {
  const value = env[SNAPSHOT_CHUNKS_SWITCH];
  if (value === undefined || value === '') return null;
  const match = /^([0-9]{1,9}),([0-9]{1,6})$/.exec(value);
  if (match === null || Number(match[1]) < 1 || Number(match[2]) < 1) throw new Error(`${SNAPSHOT_CHUNKS_SWITCH} must be <chunk bytes>,<stall after chunks>, got ${value.slice(0, 40)}`);
  process.stderr.write(`warning: ${SNAPSHOT_CHUNKS_SWITCH}=${value}: snapshot transfers stall on purpose (a test-only switch)\n`);
  return { chunkBytes: Number(match[1]), stallAfterChunks: Number(match[2]) };
}
