// `clique tracker --scrypt-cost N` (cheap accounts for benchmarks): an account made under it
// records that N in its CreateUser entry and logs in with it; a bad N is one BAD_USAGE line,
// exit 2. The same node, compacting every 2 entries, logs how long each store snapshot took.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrackerStore } from '../../src/log/store/tracker-store.js';
import type { TrackerClient } from '../../src/tracker/tracker-client.js';
import { TrackerProcesses, until } from '../helpers/tracker-processes.js';

const cluster = new TrackerProcesses(['--scrypt-cost', '16', '--compact-every', '2']);
let client: TrackerClient;

beforeAll(async () => {
  await cluster.init(1);
  cluster.startAll();
  await until('a leader', () => cluster.leader());
  client = cluster.client('scrypt-cost-test');
});

afterAll(async () => {
  client.close();
  await cluster.dispose();
});

describe('clique tracker --scrypt-cost', () => {
  it('records the cost in the account and logs in with it', async () => {
    await client.createUser('ann', 'ann-secret');
    const session = await client.login('ann', 'ann-secret', 6881);
    expect(session.user).toBe('ann');
    await expect(client.login('ann', 'wrong', 6881)).rejects.toMatchObject({ code: 'BAD_CREDENTIALS' });
    await client.command(session, { type: 'CreateGroup', group: 'g' });
    await cluster.stop('n1');
    const kv = await cluster.world.kv.open(join(cluster.dataDir('n1'), 'tracker'), { createIfMissing: false });
    try {
      const store = await TrackerStore.open(kv);
      expect(store.state.users.get('ann')?.password).toMatchObject({ algorithm: 'scrypt', costN: 16, blockSizeR: 8, parallelP: 1 });
    } finally {
      await kv.close();
    }
    const snapshots = readFileSync(cluster.logPath('n1'), 'utf8')
      .split('\n')
      .filter((line) => line.includes('"store_snapshot"'))
      .map((line) => JSON.parse(line) as { index: number; ms: number });
    expect(snapshots.length).toBeGreaterThan(0);
    // Each is a snapshot really taken (a synced write at least), not one the store had just taken itself.
    for (const s of snapshots) expect(s.ms).toBeGreaterThan(0);
  });

  it.each(['15', '1', '0', 'abc', '2097152'])('refuses --scrypt-cost %s with one BAD_USAGE line, exit 2', (cost) => {
    const result = cluster.cli('tracker', '--id', 'n1', '--cluster', cluster.clusterPath, '--data', cluster.dataDir('bad'), '--scrypt-cost', cost);
    expect(result.status).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^error BAD_USAGE: --scrypt-cost must be a power of two/)]);
  });
});
