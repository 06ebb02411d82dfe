// A group's timeline on the simulated World (issue 18, the web page): three trackers as
// `clique tracker` runs them and PeerNodes. The `groupTimeline` query answers a group's members
// (its owner too) with the group's history at its log indices and tracker times, and refuses a
// user waiting for an answer, anyone else, and a group that does not exist; the shell's
// `group_timeline` pages through all of it and reads it one line an entry; the fold of the
// entries shows the group as it was at any index. Small bounds on a reply show the paging.

import { describe, expect, it } from 'vitest';
import { SHELL_COMMANDS } from '../../src/cli/shell-commands.js';
import { groupAsOf } from '../../src/log/domain/timeline.js';
import { DEFAULT_TIMELINE_LIMITS } from '../../src/log/store/group-timeline.js';
import { PeerError, type PeerNode } from '../../src/peer/peer-node.js';
import { swarmFile } from '../../src/sim/swarm/sim-swarm.js';
import type { SimWorld } from '../../src/world/sim/sim-world.js';
import { drive, startCluster } from '../helpers/sim-trackers.js';

async function people(sim: SimWorld, startPeer: (name: string) => Promise<PeerNode>, names: readonly string[]): Promise<Map<string, PeerNode>> {
  const peers = new Map<string, PeerNode>();
  for (const name of names) {
    const peer = await startPeer(name);
    await drive(sim, peer.createUser(name, `pw-${name}`));
    await drive(sim, peer.login(name, `pw-${name}`));
    peers.set(name, peer);
  }
  return peers;
}

/** The code a refused promise carries. */
async function refusal(sim: SimWorld, promise: Promise<unknown>): Promise<string> {
  try {
    await drive(sim, promise);
  } catch (error) {
    if (error instanceof PeerError) return error.code;
    throw error;
  }
  return 'OK';
}

const SIZE_BYTES = 1_258_291; // 1.2 MiB

describe('group timeline (simulated)', () => {
  it('gives members the group’s history at its log indices; refuses the pending, others and a missing group', async () => {
    const { sim, startPeer } = await startCluster(31);
    const peers = await people(sim, startPeer, ['alice', 'bob', 'carol', 'dave']);
    const [alice, bob, carol, dave] = ['alice', 'bob', 'carol', 'dave'].map((name) => peers.get(name)!) as [PeerNode, PeerNode, PeerNode, PeerNode];
    const created = await drive(sim, alice.command({ type: 'CreateGroup', group: 'friends' }));
    const asked = await drive(sim, bob.command({ type: 'RequestJoin', group: 'friends' }));
    const daveAsked = await drive(sim, dave.command({ type: 'RequestJoin', group: 'friends' }));
    // Another group's doings and a refused command do not show.
    await drive(sim, carol.command({ type: 'CreateGroup', group: 'others' }));
    expect(await refusal(sim, bob.command({ type: 'RequestJoin', group: 'friends' }))).toBe('REQUEST_PENDING');
    const accepted = await drive(sim, alice.command({ type: 'AcceptRequest', group: 'friends', user: 'bob' }));
    await drive(sim, sim.forHost('alice').fs.writeFile('/home/notes.txt', swarmFile(31, SIZE_BYTES), { sync: true }));
    const upload = await drive(sim, alice.uploadFile('/home/notes.txt', 'friends'));

    const timeline = await drive(sim, bob.groupTimeline('friends'));
    expect(timeline.group).toBe('friends');
    const shown = timeline.entries.map((e) => [e.index, e.event.type, 'user' in e.event ? e.event.user : e.event.type === 'GroupCreated' ? e.event.owner : null]);
    expect(shown.slice(0, 4)).toEqual([
      [created.index, 'GroupCreated', 'alice'],
      [asked.index, 'JoinRequested', 'bob'],
      [daveAsked.index, 'JoinRequested', 'dave'],
      [accepted.index, 'JoinAccepted', 'bob'],
    ]);
    expect(shown.length).toBe(5);
    const sharedEntry = timeline.entries[4]!;
    expect(sharedEntry.index).toBeGreaterThan(accepted.index);
    expect(sharedEntry.event).toEqual({ type: 'FileShared', group: 'friends', fileId: upload.fileId, name: 'notes.txt', sizeBytes: SIZE_BYTES, user: 'alice' });
    // Tracker times, never going back.
    const times = timeline.entries.map((e) => e.timeMs);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(times[0]).toBeGreaterThan(1_000_000_000_000);
    // The owner reads the same.
    expect(await drive(sim, alice.groupTimeline('friends'))).toEqual(timeline);

    // The fold: bob waiting just before the accept, a member from it on, the file at the end.
    expect(groupAsOf(timeline.entries, accepted.index - 1)).toMatchObject({ exists: true, owner: 'alice', members: ['alice'], pending: ['bob', 'dave'] });
    expect(groupAsOf(timeline.entries, accepted.index)).toMatchObject({ members: ['alice', 'bob'], pending: ['dave'] });
    expect(groupAsOf(timeline.entries, sharedEntry.index).files).toEqual([{ fileId: upload.fileId, name: 'notes.txt', sizeBytes: SIZE_BYTES, sharers: ['alice'] }]);
    expect(groupAsOf(timeline.entries, created.index - 1).exists).toBe(false);

    // Not a member, waiting for an answer, no such group.
    expect(await refusal(sim, carol.groupTimeline('friends'))).toBe('NOT_A_MEMBER');
    expect(await refusal(sim, dave.groupTimeline('friends'))).toBe('NOT_A_MEMBER');
    expect(await refusal(sim, bob.groupTimeline('nowhere'))).toBe('NO_SUCH_GROUP');
    // One page from where the caller says: only what came after.
    const after = await drive(sim, bob.query({ name: 'groupTimeline', group: 'friends', afterIndex: asked.index }));
    expect(after).toEqual({ group: 'friends', entries: timeline.entries.filter((e) => e.index > asked.index), nextAfterIndex: null });

    // The shell: the entries as the result, one line an entry for a person.
    const answer = await drive(sim, SHELL_COMMANDS.group_timeline!.execute(bob, ['friends'], { waitTimeoutMs: null }));
    expect(answer.result).toEqual(timeline);
    const iso = (timeMs: number): string => new Date(timeMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
    expect(answer.text.split('\n')).toEqual([
      `#${created.index}  ${iso(times[0]!)}  alice created friends`,
      `#${asked.index}  ${iso(times[1]!)}  bob asked to join`,
      `#${daveAsked.index}  ${iso(times[2]!)}  dave asked to join`,
      `#${accepted.index}  ${iso(times[3]!)}  alice accepted bob`,
      `#${sharedEntry.index}  ${iso(times[4]!)}  alice shared notes.txt (1.2 MiB)`,
    ]);
    expect(answer.text).toMatch(/^#\d+  \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  alice created friends$/m);
  }, 60_000);

  it('pages: small replies, no log entry split, the same whole as one big reply', async () => {
    const { sim, trackers, startPeer } = await startCluster(32, { timelineLimits: { maxEntries: 2, maxScannedEntries: 5 } });
    const peers = await people(sim, startPeer, ['alice', 'bob', 'carol']);
    const [alice, bob, carol] = ['alice', 'bob', 'carol'].map((name) => peers.get(name)!) as [PeerNode, PeerNode, PeerNode];
    await drive(sim, alice.command({ type: 'CreateGroup', group: 'friends' }));
    for (const [peer, name] of [[bob, 'bob'], [carol, 'carol']] as const) {
      await drive(sim, peer.command({ type: 'RequestJoin', group: 'friends' }));
      await drive(sim, alice.command({ type: 'AcceptRequest', group: 'friends', user: name }));
    }
    await drive(sim, sim.forHost('bob').fs.writeFile('/home/b.txt', swarmFile(32, 5_000), { sync: true }));
    await drive(sim, bob.uploadFile('/home/b.txt', 'friends'));
    // One entry, three of the group's events: bob stops sharing, the file goes, bob leaves.
    const left = await drive(sim, bob.command({ type: 'LeaveGroup', group: 'friends' }));

    const pages: Array<{ indices: number[]; next: number | null }> = [];
    let afterIndex: number | undefined;
    for (;;) {
      const page = await drive(sim, alice.query({ name: 'groupTimeline', group: 'friends', ...(afterIndex === undefined ? {} : { afterIndex }) }));
      pages.push({ indices: page.entries.map((e) => e.index), next: page.nextAfterIndex });
      if (page.nextAfterIndex === null) break;
      afterIndex = page.nextAfterIndex;
    }
    expect(pages.length).toBeGreaterThan(3);
    const leavePage = pages.find((p) => p.indices.includes(left.index))!;
    expect(leavePage.indices.filter((i) => i === left.index)).toHaveLength(3);
    for (const page of pages) if (new Set(page.indices).size > 1) expect(page.indices.length).toBeLessThanOrEqual(2);
    const flat = pages.flatMap((p) => p.indices);
    expect(flat).toEqual([...flat].sort((a, b) => a - b));

    const whole = await drive(sim, carol.groupTimeline('friends'));
    expect(whole.entries.map((e) => e.index)).toEqual(flat);
    expect(whole.entries.slice(-3).map((e) => e.event.type)).toEqual(['SharerRemoved', 'FileUnshared', 'MemberLeft']);
    // The same as one unbounded read of a node's archive.
    const store = [...trackers.values()][0]!.node.store;
    const direct = await drive(sim, store.groupTimeline('friends', 1, store.appliedIndex, DEFAULT_TIMELINE_LIMITS));
    expect(whole.entries).toEqual(direct.entries.filter((e) => e.index <= whole.entries.at(-1)!.index));
    expect(groupAsOf(whole.entries, left.index)).toMatchObject({ owner: 'alice', members: ['alice', 'carol'], pending: [], files: [] });
    // bob is out: the timeline is no longer his to read.
    expect(await refusal(sim, bob.groupTimeline('friends'))).toBe('NOT_A_MEMBER');
  }, 60_000);
});
