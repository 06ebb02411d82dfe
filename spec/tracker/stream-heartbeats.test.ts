// A peer's push stream and its heartbeats (issue 20), on three simulated tracker nodes exactly
// as `clique tracker` runs them: streams start at a node drawn from the session id, so they
// spread, and stay on the node they reached (none moves to the leader); heartbeats travel on the
// stream's connection, so an online peer holds one connection; when the leader dies, the
// sessions beating to the survivors ride it out and none expires. Tickets travel on the stream
// too: any node signs one, a follower after its leader's read index. When a node dies, its
// streams come back spread over RECONNECT_SPREAD_MS, and the beats between wait for them (no
// connection of their own) for the stream wait, and no longer; a beat that a survivor cannot
// answer yet (the election after a leader's crash) is asked again on its stream.

import { describe, expect, it } from 'vitest';
import { clusterTrust } from '../../src/tracker/cluster-config.js';
import { TrackerClient, type OpenedSession } from '../../src/tracker/tracker-client.js';
import { RECONNECT_SPREAD_MS, TrackerSubscription } from '../../src/tracker/subscription.js';
import { heartbeatVia, ticketVia } from '../../src/tracker/stream-or-client.js';
import type { Network, World } from '../../src/world/world.js';
import type { SimWorld } from '../../src/world/sim/sim-world.js';
import { drive, startCluster, TTL_MS } from '../helpers/sim-trackers.js';
import { fileBytes, fileMeta } from '../helpers/domain-fixtures.js';

const KEY = 'ab'.repeat(32);
const FILE = fileMeta('film.mkv', fileBytes(3 * 1024));

describe("a peer's push stream (simulated)", () => {
  it('carry heartbeats on a stream that stays on the node it reached, and ride out a crash of the leader', async () => {
    const { sim, trackers, client, leader } = await startCluster(43);
    const config = [...trackers.values()][0]!.config;
    const nodes = config.nodes.map((n) => n.client);
    const trust = clusterTrust(config);
    const peers: { session: OpenedSession; stream: TrackerSubscription; client: TrackerClient }[] = [];
    for (let i = 0; i < 12; i++) {
      await drive(sim, client.createUser(`u${i}`, 'pw'));
      const session: OpenedSession = await drive(sim, client.login(`u${i}`, 'pw', 6881, KEY));
      const world = sim.forHost(`peer${i}`);
      const handlers = { events: () => {}, request: () => {}, kick: () => {}, ended: () => {} };
      peers.push({ session, stream: new TrackerSubscription(world, nodes, trust, session, session.index, handlers), client: new TrackerClient(world, { nodes, trust, clientId: `peer${i}` }) });
    }
    await sim.runUntil(() => peers.every((p) => p.stream.node !== null), 10_000);
    // Spread over the nodes by session id, and none moved to the leader.
    const leaderHost = leader()!;
    const onNodes = new Set(peers.map((p) => p.stream.node));
    expect(onNodes.size).toBeGreaterThan(1);
    expect(peers.some((p) => p.stream.node !== `${leaderHost}:7200`)).toBe(true);
    const onStream = await drive(sim, Promise.all(peers.map((p) => p.stream.heartbeat(6881))));
    expect(onStream).toEqual(peers.map(() => ({ ok: true })));

    // Every peer beats every second as a shell does (the stream first, the client if need be); the leader dies.
    const beats = beatEverySecond(sim, peers);
    const failures = beats.failures;
    await sim.runUntil(() => false, 2_000);
    sim.crashHost(leaderHost);
    await sim.runUntil(() => leader() !== null && leader() !== leaderHost, 10_000);
    const newLeader = leader()!;
    await sim.runUntil(() => false, 3 * TTL_MS);
    beats.stop();
    const sessions = trackers.get(newLeader)!.node.store.state.sessions;
    expect(peers.filter((p) => !sessions.has(p.session.sessionId)).map((p) => p.session.user)).toEqual([]);
    expect(failures.filter((c) => c === 'NOT_LOGGED_IN')).toEqual([]);
    expect(peers.every((p) => p.stream.node !== null && p.stream.node !== `${leaderHost}:7200`)).toBe(true);
    for (const p of peers) {
      p.stream.close();
      p.client.close();
    }
    for (const [host, t] of trackers) if (host !== leaderHost) await drive(sim, t.stop());
  });
  it('take where the stream stands from a heartbeat answer, as from a tick', async () => {
    const { sim, trackers, client } = await startCluster(47);
    const config = [...trackers.values()][0]!.config;
    const nodes = config.nodes.map((n) => n.client);
    await drive(sim, client.createUser('u', 'pw'));
    const session: OpenedSession = await drive(sim, client.login('u', 'pw', 6881, KEY));
    const handlers = { events: () => {}, request: () => {}, kick: () => {}, ended: () => {} };
    const stream = new TrackerSubscription(sim.forHost('peer'), nodes, clusterTrust(config), session, session.index, handlers);
    await sim.runUntil(() => stream.node !== null, 10_000);
    // An entry that concerns someone else: no event reaches this stream, only its position moves.
    const { index } = await drive(sim, client.createUser('other', 'pw'));
    await sim.runUntil(() => [...trackers.values()].every((t) => t.node.store.appliedIndex >= index), 10_000);
    expect(stream.seenIndex).toBeLessThan(index);
    expect(await drive(sim, stream.heartbeat(6881))).toEqual({ ok: true });
    expect(stream.seenIndex).toBeGreaterThanOrEqual(index);
    stream.close();
  });
  it('carry ticket requests too, answered by whichever node holds the stream, leader or follower', async () => {
    const { sim, trackers, client, leader } = await startCluster(53);
    const config = [...trackers.values()][0]!.config;
    const nodes = config.nodes.map((n) => n.client);
    const trust = clusterTrust(config);
    const handlers = { events: () => {}, request: () => {}, kick: () => {}, ended: () => {} };
    await drive(sim, client.createUser('owner', 'pw'));
    await drive(sim, client.createUser('stranger', 'pw'));
    const first: OpenedSession = await drive(sim, client.login('owner', 'pw', 6881, KEY));
    await drive(sim, client.command(first, { type: 'CreateGroup', group: 'films' }));
    await drive(sim, client.command(first, { type: 'ShareFile', group: 'films', file: FILE }));
    // The owner logged in eight times over (eight sessions, eight streams spread over the nodes).
    const streams: TrackerSubscription[] = [];
    for (let i = 0; i < 8; i++) {
      const session: OpenedSession = await drive(sim, client.login('owner', 'pw', 6881, KEY));
      streams.push(new TrackerSubscription(sim.forHost(`peer${i}`), nodes, trust, session, session.index, handlers));
    }
    await sim.runUntil(() => streams.every((s) => s.node !== null), 10_000);
    const leaderAddress = `${leader()}:7200`;
    expect(streams.some((s) => s.node !== leaderAddress)).toBe(true);
    const answers = await drive(sim, Promise.all(streams.map((s) => s.ticket('films', FILE.fileId))));
    expect(answers.map((a) => a?.ok)).toEqual(streams.map(() => true));
    // Refused on the stream is refused for good: ticketVia does not ask again through the client.
    const stranger: OpenedSession = await drive(sim, client.login('stranger', 'pw', 6881, KEY));
    const strangerStream = new TrackerSubscription(sim.forHost('peer-s'), nodes, trust, stranger, stranger.index, handlers);
    await sim.runUntil(() => strangerStream.node !== null, 10_000);
    let asked = 0;
    const counting = { ticket: () => (asked++, Promise.reject(new Error('asked the client'))) } as unknown as TrackerClient;
    await expect(drive(sim, ticketVia(strangerStream, counting, stranger, 'films', FILE.fileId))).rejects.toMatchObject({ code: 'NOT_A_MEMBER' });
    expect(asked).toBe(0);
    for (const stream of [...streams, strangerStream]) stream.close();
  });
  it('let heartbeats wait for a stream that broke, which comes back spread over time, instead of opening connections', async () => {
    // Sessions live 30 s here: a beat may wait for its stream until 10 s after the last answered one.
    const ttlMs = 30_000;
    const { sim, trackers, client, leader } = await startCluster(59, { sessionTtlMs: ttlMs });
    const config = [...trackers.values()][0]!.config;
    const nodes = config.nodes.map((n) => n.client);
    const trust = clusterTrust(config);
    const handlers = { events: () => {}, request: () => {}, kick: () => {}, ended: () => {} };
    const peers: { session: OpenedSession; stream: TrackerSubscription; client: TrackerClient; connects: () => number; clientConnects: () => number }[] = [];
    for (let i = 0; i < 24; i++) {
      await drive(sim, client.createUser(`u${i}`, 'pw'));
      const session: OpenedSession = await drive(sim, client.login(`u${i}`, 'pw', 6881, KEY));
      // The stream's connections and the client's, counted apart.
      const { world, connects } = countingConnects(sim.forHost(`peer${i}`));
      const stream = new TrackerSubscription(world, nodes, trust, session, session.index, handlers);
      const forClient = countingConnects(sim.forHost(`peer${i}`));
      peers.push({ session, stream, client: new TrackerClient(forClient.world, { nodes, trust, clientId: `peer${i}` }), connects, clientConnects: forClient.connects });
    }
    await sim.runUntil(() => peers.every((p) => p.stream.node !== null), 10_000);
    const follower = [...trackers.keys()].find((host) => host !== leader())!;
    const broken = peers.filter((p) => p.stream.node === `${follower}:7200`);
    expect(broken.length).toBeGreaterThan(2);
    const connectsBefore = peers.map((p) => p.connects());
    // The follower dies; every peer beats every second, the stream first.
    const beats = beatEverySecond(sim, peers);
    const failures = beats.failures;
    sim.crashHost(follower);
    const crashedAtMs = sim.elapsedMs();
    // When each broken stream was seen down, and then standing again (ms after the crash).
    const downAtMs = new Map<TrackerSubscription, number>();
    const backAtMs = new Map<TrackerSubscription, number>();
    await sim.runUntil(() => {
      for (const { stream } of broken) {
        if (stream.node === null && !downAtMs.has(stream)) downAtMs.set(stream, sim.elapsedMs() - crashedAtMs);
        if (stream.node !== null && downAtMs.has(stream) && !backAtMs.has(stream)) backAtMs.set(stream, sim.elapsedMs() - crashedAtMs);
      }
      return backAtMs.size === broken.length;
    }, 10_000);
    await sim.runUntil(() => false, ttlMs);
    beats.stop();
    // Every broken stream came back to a survivor, within the spread (and a reconnect), not all at once.
    expect(backAtMs.size).toBe(broken.length);
    const back = [...backAtMs.values()];
    expect(Math.max(...back) - Math.max(...downAtMs.values())).toBeLessThan(RECONNECT_SPREAD_MS + 1_000);
    expect(Math.max(...back) - Math.min(...back)).toBeGreaterThan(RECONNECT_SPREAD_MS / 4);
    expect(broken.every((p) => p.stream.node !== `${follower}:7200`)).toBe(true);
    // The beats that fell in the gap waited for their stream: no peer opened a connection but its stream's.
    expect(peers.map((p) => p.clientConnects())).toEqual(peers.map(() => 0));
    // And each broken stream opened one connection to come back (to a survivor at once), the others none.
    expect(peers.map((p, i) => p.connects() - connectsBefore[i]!)).toEqual(peers.map((p) => (broken.includes(p) ? 1 : 0)));
    expect(failures).toEqual([]);
    const sessions = trackers.get(leader()!)!.node.store.state.sessions;
    expect(peers.filter((p) => !sessions.has(p.session.sessionId))).toEqual([]);
    for (const p of peers) {
      p.stream.close();
      p.client.close();
    }
  });
  it('ask again on a stream whose node knows no leader yet (an election), instead of opening connections: a leader crash costs the peers on survivors none', async () => {
    const ttlMs = 30_000;
    const { sim, trackers, client, leader } = await startCluster(67, { sessionTtlMs: ttlMs });
    const config = [...trackers.values()][0]!.config;
    const nodes = config.nodes.map((n) => n.client);
    const trust = clusterTrust(config);
    const handlers = { events: () => {}, request: () => {}, kick: () => {}, ended: () => {} };
    const peers: { session: OpenedSession; stream: TrackerSubscription; client: TrackerClient; clientConnects: () => number }[] = [];
    for (let i = 0; i < 24; i++) {
      await drive(sim, client.createUser(`u${i}`, 'pw'));
      const session: OpenedSession = await drive(sim, client.login(`u${i}`, 'pw', 6881, KEY));
      const stream = new TrackerSubscription(sim.forHost(`peer${i}`), nodes, trust, session, session.index, handlers);
      const forClient = countingConnects(sim.forHost(`peer${i}`));
      peers.push({ session, stream, client: new TrackerClient(forClient.world, { nodes, trust, clientId: `peer${i}` }), clientConnects: forClient.connects });
    }
    await sim.runUntil(() => peers.every((p) => p.stream.node !== null), 10_000);
    const oldLeader = leader()!;
    const onSurvivors = peers.filter((p) => p.stream.node !== `${oldLeader}:7200`);
    expect(onSurvivors.length).toBeGreaterThan(2);
    // Every peer beats every second, the stream first; the leader dies.
    const beats = beatEverySecond(sim, peers);
    const failures = beats.failures;
    await sim.runUntil(() => false, 1_500);
    sim.crashHost(oldLeader);
    await sim.runUntil(() => leader() !== null && leader() !== oldLeader, 10_000);
    await sim.runUntil(() => false, ttlMs);
    beats.stop();
    // The beats on standing streams that met the election asked their node again: no peer opened a connection of its own.
    expect(peers.map((p) => p.clientConnects())).toEqual(peers.map(() => 0));
    expect(failures).toEqual([]);
    const sessions = trackers.get(leader()!)!.node.store.state.sessions;
    expect(peers.filter((p) => !sessions.has(p.session.sessionId)).map((p) => p.session.user)).toEqual([]);
    for (const p of peers) {
      p.stream.close();
      p.client.close();
    }
  });
  it("take the stream's answer when it stands again while the tracker client's try is still on its way", async () => {
    const { sim, trackers, client, leader } = await startCluster(71);
    const config = [...trackers.values()][0]!.config;
    const nodes = config.nodes.map((n) => n.client);
    const trust = clusterTrust(config);
    const handlers = { events: () => {}, request: () => {}, kick: () => {}, ended: () => {} };
    await drive(sim, client.createUser('owner', 'pw'));
    const owner: OpenedSession = await drive(sim, client.login('owner', 'pw', 6881, KEY));
    await drive(sim, client.command(owner, { type: 'CreateGroup', group: 'films' }));
    await drive(sim, client.command(owner, { type: 'ShareFile', group: 'films', file: FILE }));
    // A session whose stream stands on a follower, and has heard its TTL (3 s: the wait is 1 s).
    let peer: { session: OpenedSession; stream: TrackerSubscription } | null = null;
    let beatAnsweredMs = 0;
    for (let i = 0; peer === null; i++) {
      const session: OpenedSession = await drive(sim, client.login('owner', 'pw', 6881, KEY));
      const stream = new TrackerSubscription(sim.forHost(`peer${i}`), nodes, trust, session, session.index, handlers);
      await sim.runUntil(() => stream.node !== null, 10_000);
      expect(await drive(sim, stream.heartbeat(6881))).toEqual({ ok: true });
      beatAnsweredMs = sim.elapsedMs();
      if (stream.node !== `${leader()}:7200`) peer = { session, stream };
      else stream.close();
    }
    // Its tracker client is on a host cut off from every node: a try through it takes its whole deadline (10 s).
    const { world, connects } = countingConnects(sim.forHost('peer-client'));
    const cutOff = new TrackerClient(world, { nodes, trust, clientId: 'peer-client' });
    sim.net.partition(['peer-client'], [...trackers.keys()]);
    sim.crashHost(peer.stream.node!.split(':')[0]!);
    const startedMs = sim.elapsedMs();
    let beatMs = -1;
    let ticketMs = -1;
    let standingAgainMs = -1;
    let seenDown = false;
    const failed: string[] = [];
    void heartbeatVia(peer.stream, cutOff, peer.session, 6881).then(() => (beatMs = sim.elapsedMs()), (error: { code?: string }) => failed.push(`heartbeat ${error.code}`));
    void ticketVia(peer.stream, cutOff, peer.session, 'films', FILE.fileId).then(() => (ticketMs = sim.elapsedMs()), (error: { code?: string }) => failed.push(`ticket ${error.code}`));
    await sim.runUntil(() => {
      seenDown ||= peer.stream.node === null;
      if (seenDown && standingAgainMs < 0 && peer.stream.node !== null) standingAgainMs = sim.elapsedMs();
      return (beatMs >= 0 && ticketMs >= 0) || failed.length > 0;
    }, 20_000);
    expect(failed).toEqual([]);
    expect(beatMs).toBeGreaterThanOrEqual(0);
    expect(ticketMs).toBeGreaterThanOrEqual(0);
    // The stream came back after both had stopped waiting for it and gone to the client...
    expect(standingAgainMs - beatAnsweredMs).toBeGreaterThan(TTL_MS / 3);
    expect(standingAgainMs - startedMs).toBeGreaterThan(TTL_MS / 3);
    expect(connects()).toBeGreaterThan(0);
    // ...and answered both at once, long before the client's try would have given up.
    expect(beatMs - standingAgainMs).toBeLessThan(500);
    expect(ticketMs - standingAgainMs).toBeLessThan(500);
    expect(beatMs - startedMs).toBeLessThan(10_000);
    sim.net.heal();
    peer.stream.close();
    cutOff.close();
  });
  it('wait no longer than a third of the TTL from the last answered beat: a stream that stays away sends the heartbeat through the client', async () => {
    const { sim, trackers, client, leader } = await startCluster(61);
    const config = [...trackers.values()][0]!.config;
    const nodes = config.nodes.map((n) => n.client);
    const trust = clusterTrust(config);
    const handlers = { events: () => {}, request: () => {}, kick: () => {}, ended: () => {} };
    // Streams until one lands on a follower; its client is on a host of its own, which the partition below spares.
    let peer: { session: OpenedSession; stream: TrackerSubscription; host: string } | null = null;
    let beatAnsweredMs = 0;
    for (let i = 0; peer === null; i++) {
      await drive(sim, client.createUser(`u${i}`, 'pw'));
      const session: OpenedSession = await drive(sim, client.login(`u${i}`, 'pw', 6881, KEY));
      // Told nothing, it would wait 10 s; a heartbeat's answer tells it the TTL (3 s here).
      const stream = new TrackerSubscription(sim.forHost(`peer${i}`), nodes, trust, session, session.index, handlers, { streamWaitMs: 10_000 });
      await sim.runUntil(() => stream.node !== null, 10_000);
      expect(await drive(sim, stream.heartbeat(6881))).toEqual({ ok: true });
      beatAnsweredMs = sim.elapsedMs();
      if (stream.node !== `${leader()}:7200`) peer = { session, stream, host: `peer${i}` };
      else stream.close();
    }
    const { world, connects } = countingConnects(sim.forHost('peer-client'));
    const peerClient = new TrackerClient(world, { nodes, trust, clientId: 'peer-client' });
    const follower = peer.stream.node!.split(':')[0]!;
    sim.crashHost(follower);
    sim.net.partition([peer.host], [...trackers.keys()]);
    await sim.runUntil(() => false, 100);
    let answeredMs = -1;
    void heartbeatVia(peer.stream, peerClient, peer.session, 6881).then(() => (answeredMs = sim.elapsedMs()));
    await sim.runUntil(() => answeredMs >= 0, 10_000);
    // It waited until TTL / 3 = 1 s after the last answered beat, then went through the client (one connection).
    expect(answeredMs - beatAnsweredMs).toBeGreaterThanOrEqual(TTL_MS / 3);
    expect(answeredMs - beatAnsweredMs).toBeLessThan(TTL_MS / 3 + 1_000);
    expect(connects()).toBe(1);
    expect(peer.stream.node).toBeNull();
    sim.net.heal();
    peer.stream.close();
    peerClient.close();
  });
});

/** Each peer (host `peer<i>`) beats every second as a shell does, the stream first; the failures' codes are kept. */
function beatEverySecond(sim: SimWorld, peers: readonly { session: OpenedSession; stream: TrackerSubscription; client: TrackerClient }[]): { failures: string[]; stop: () => void } {
  const failures: string[] = [];
  let beating = true;
  for (const [i, p] of peers.entries()) {
    const beat = (): void => {
      if (!beating) return;
      heartbeatVia(p.stream, p.client, p.session, 6881).catch((error: { code?: string }) => failures.push(error.code ?? 'error'));
      sim.forHost(`peer${i}`).clock.setTimer(1_000, beat);
    };
    beat();
  }
  return { failures, stop: () => void (beating = false) };
}

/** The world of `world`'s host, counting the connections it opens. */
function countingConnects(world: World): { world: World; connects: () => number } {
  let connects = 0;
  const net: Network = {
    listen: (address, onConnection, options) => world.net.listen(address, onConnection, options),
    connect: (address, options) => (connects++, world.net.connect(address, options)),
    openFileLimit: () => world.net.openFileLimit(),
  };
  return { world: { ...world, net }, connects: () => connects };
}
