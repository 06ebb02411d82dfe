// News on the simulated World (issue "A shell people enjoy"): three trackers as `clique tracker`
// runs them and PeerNodes. What concerns a user arrives over the push channel in words, without
// the user's own doings; a login says which join requests wait and what happened since the
// user's last login on that home (the channel starts from the last index seen, kept in the
// home); what those older entries did is news only — a removal replayed at login does not stop
// serving a group the user is back in.

import { describe, expect, it } from 'vitest';
import { PeerNode, type NewsLine } from '../../src/peer/peer-node.js';
import { swarmFile } from '../../src/sim/swarm/sim-swarm.js';
import { drive, startCluster } from '../helpers/sim-trackers.js';

async function world(seed: number) {
  const { sim, startPeer } = await startCluster(seed);
  const logs = new Map<string, string[]>();
  const start = (host: string): Promise<PeerNode> => startPeer(host, (line) => logs.set(host, [...(logs.get(host) ?? []), line]));
  return { sim, start, logs };
}

const words = (lines: readonly NewsLine[]): string[] => lines.map((l) => l.line);

describe('news (simulated)', () => {
  it('tells each party in words, and a login tells the requests waiting and the news since last time', async () => {
    const { sim, start } = await world(21);
    const [alice, bob, carol] = [await start('alice'), await start('bob'), await start('carol')];
    for (const [peer, name] of [[alice, 'alice'], [bob, 'bob'], [carol, 'carol']] as const) {
      await drive(sim, peer.createUser(name, `pw-${name}`));
      const first = await drive(sim, peer.login(name, `pw-${name}`));
      expect(first).toMatchObject({ requests: [], news: [] });
    }
    const told: string[] = [];
    alice.onNews((line) => told.push(line.line));
    await drive(sim, alice.command({ type: 'CreateGroup', group: 'friends' }));
    await drive(sim, bob.command({ type: 'RequestJoin', group: 'friends' }));
    await sim.runUntil(() => told.length > 0, 5_000);
    expect(told).toEqual(['bob asks to join friends']);
    await drive(sim, alice.command({ type: 'AcceptRequest', group: 'friends', user: 'bob' }));
    await drive(sim, carol.command({ type: 'RequestJoin', group: 'friends' }));
    await drive(sim, alice.command({ type: 'RejectRequest', group: 'friends', user: 'carol' }));
    await sim.runUntil(() => words(carol.newsLines()).length > 0 && words(bob.newsLines()).length > 0, 5_000);
    expect(words(bob.newsLines())).toEqual(['alice accepted you into friends']);
    expect(words(carol.newsLines())).toEqual(['alice turned down your request to join friends']);
    // Nothing of her own doings (her accepting, her turning down).
    expect(told).toEqual(['bob asks to join friends', 'carol asks to join friends']);

    // alice is away: bob shares a file, carol asks again.
    await drive(sim, alice.logout());
    await drive(sim, sim.forHost('bob').fs.writeFile('/home/notes.txt', swarmFile(21, 1000), { sync: true }));
    await drive(sim, bob.uploadFile('/home/notes.txt', 'friends'));
    await drive(sim, carol.command({ type: 'RequestJoin', group: 'friends' }));
    const back = await drive(sim, alice.login('alice', 'pw-alice'));
    expect(back.requests).toEqual([{ group: 'friends', user: 'carol' }]);
    expect(words(back.news)).toEqual(['bob shared notes.txt in friends', 'carol asks to join friends']);
    // The login's lines are its answer's, not told again.
    expect(told).toEqual(['bob asks to join friends', 'carol asks to join friends']);
    // `news` has them, with the events as sent.
    expect(words(alice.newsLines()).slice(-2)).toEqual(['bob shared notes.txt in friends', 'carol asks to join friends']);
    expect(alice.news().at(-1)!.events.map((e) => e.type)).toContain('SessionOpened');
  }, 60_000);

  it("replays a removal at login as news only: bob's file in the group he is back in is still served", async () => {
    const { sim, start, logs } = await world(22);
    const [alice, bob, bobElsewhere, carol] = [await start('alice'), await start('bob'), await start('bob2'), await start('carol')];
    for (const [peer, name] of [[alice, 'alice'], [bob, 'bob'], [carol, 'carol']] as const) await drive(sim, peer.createUser(name, `pw-${name}`));
    for (const [peer, name] of [[alice, 'alice'], [bob, 'bob'], [carol, 'carol']] as const) await drive(sim, peer.login(name, `pw-${name}`));
    await drive(sim, alice.command({ type: 'CreateGroup', group: 'friends' }));
    for (const [peer, name] of [[bob, 'bob'], [carol, 'carol']] as const) {
      await drive(sim, peer.command({ type: 'RequestJoin', group: 'friends' }));
      await drive(sim, alice.command({ type: 'AcceptRequest', group: 'friends', user: name }));
    }
    const notes = swarmFile(22, 700_000);
    await drive(sim, sim.forHost('bob').fs.writeFile('/home/notes.txt', notes, { sync: true }));
    await drive(sim, bob.uploadFile('/home/notes.txt', 'friends'));
    await drive(sim, bob.logout());

    // Away, bob is removed; from another home he asks back in and is accepted.
    await drive(sim, alice.command({ type: 'RemoveMember', group: 'friends', user: 'bob' }));
    await drive(sim, bobElsewhere.login('bob', 'pw-bob'));
    await drive(sim, bobElsewhere.command({ type: 'RequestJoin', group: 'friends' }));
    await drive(sim, alice.command({ type: 'AcceptRequest', group: 'friends', user: 'bob' }));
    await drive(sim, bobElsewhere.logout());

    const back = await drive(sim, bob.login('bob', 'pw-bob'));
    expect(back.resumed).toEqual(['friends/notes.txt']);
    expect(words(back.news)).toEqual(['you were removed from friends by alice', 'alice accepted you into friends']);
    // The removal was not acted on again (that would stop serving the group's files).
    expect(logs.get('bob')!.filter((line) => line.startsWith('out of friends'))).toEqual([]);
    // carol fetches the file from bob: the replayed removal did not stop him serving it.
    await drive(sim, sim.forHost('carol').fs.mkdir('/home/dl', { recursive: true }));
    await drive(sim, carol.downloadFile('friends', 'notes.txt', '/home/dl'));
    expect(await drive(sim, carol.waitDownloads(30_000), 60_000)).toEqual({ failed: [], waiting: [] });
    expect(Buffer.from(await drive(sim, sim.forHost('carol').fs.readFile('/home/dl/notes.txt'))).equals(Buffer.from(notes))).toBe(true);
    // carol heard of it all as it came, in words.
    expect(words(carol.newsLines())).toEqual(expect.arrayContaining(['bob shared notes.txt in friends', 'alice removed bob from friends', 'bob stopped sharing notes.txt in friends', 'bob joined friends']));
  }, 60_000);
});
