// Real tracker processes: a follower killed with kill -9 halfway through receiving a snapshot
// (some chunks written into a generation beside its store, the transfer unfinished) restarts
// with its old store whole, drops the half-arrived one, takes a new snapshot and catches up with
// the whole history. "Halfway" is a state the follower reports (the test-only switch stalls it
// after three chunks: snapshot-test-switch.ts), not a moment guessed by a timer.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SNAPSHOT_CHUNKS_SWITCH } from '../../src/tracker/snapshot-test-switch.js';
import { TrackerProcesses, until } from '../helpers/tracker-processes.js';

const cluster = new TrackerProcesses(['--compact-every', '50']);

/** The JSON log lines of node `id` with this event, in order. */
function events(id: string, event: string): Record<string, unknown>[] {
  return readFileSync(cluster.logPath(id), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.event === event);
}

beforeAll(async () => {
  await cluster.init(3);
  // Chunks of 2 KiB (a store of a few hundred entries is dozens of them), and a receiver that stops after three.
  for (const node of cluster.config.nodes) cluster.envOf.set(node.id, { [SNAPSHOT_CHUNKS_SWITCH]: '2048,3' });
  cluster.startAll();
  await until('a leader', () => cluster.leader());
});

afterAll(() => cluster.dispose());

describe.sequential('a snapshot transfer cut by kill -9', () => {
  it('leaves the follower its old store, and a new transfer brings it the whole history', async () => {
    const leader = (await cluster.leader())!;
    const follower = cluster.config.nodes.map((n) => n.id).find((id) => id !== leader)!;
    const client = cluster.client('snapshot-kill');
    await client.createUser('early', 'pw-early'); // the follower has this before it goes down
    await cluster.allCaughtUp();
    await cluster.kill9(follower);
    await client.createUser('snap', 'pw-snap');
    const session = await client.login('snap', 'pw-snap', 6881);
    for (let i = 0; i < 300; i++) await client.command(session, { type: 'CreateGroup', group: `s${i}` });
    client.close();
    expect((await cluster.statuses()).get(leader)!.snapshotIndex).toBeGreaterThan(250); // it needs a snapshot

    cluster.start(follower); // still under the switch: it stalls after three chunks
    const stalled = await until('the follower to stall halfway through the snapshot', async () => events(follower, 'snapshot_receive_stalled')[0] ?? null);
    expect(stalled.chunksWritten).toBe(3);
    expect(events(follower, 'snapshot_installed')).toEqual([]);
    await cluster.kill9(follower);

    cluster.envOf.delete(follower);
    cluster.start(follower);
    const applied = await cluster.allCaughtUp();
    expect(applied).toBeGreaterThanOrEqual(304);
    const opened = events(follower, 'node_opened');
    expect(opened).toHaveLength(3);
    // Its own store, not the half-arrived one: as far as it had applied (appends queued for it
    // while it was down may have reached it first), short of the snapshot's index.
    const snapshotIndex = events(leader, 'snapshot_send_started').find((e) => e.to === follower)!.index as number;
    expect(opened[2]!.applied).toBeGreaterThanOrEqual(opened[1]!.applied as number);
    expect(opened[2]!.applied).toBeLessThan(snapshotIndex);
    expect(opened[2]!.leftoverGenerations).toBe(1); // the half-arrived one, found and dropped
    expect(events(follower, 'snapshot_installed')).toHaveLength(1);
    expect(events(leader, 'snapshot_sent').filter((e) => e.to === follower).length).toBeGreaterThanOrEqual(1);
    expect(events(leader, 'snapshot_sent').find((e) => e.to === follower)!.chunks).toBeGreaterThan(10);

    await cluster.stopAll();
    const audits = cluster.config.nodes.map((n) => cluster.cli('audit', '--data', join(cluster.dataDir(n.id), 'tracker')));
    expect(audits[0]!.stdout).toContain('-- ' + applied + ' of ' + applied + ' applied entries replayed');
    for (const audit of audits) expect(audit.stdout).toBe(audits[0]!.stdout); // the whole history, on every node
    const verify = cluster.cli('audit', '--data', join(cluster.dataDir(follower), 'tracker'), '--verify');
    expect(verify).toMatchObject({ status: 0, stdout: expect.stringContaining(`verify ok: ${applied} entries`) });
  });
});
