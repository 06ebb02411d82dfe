// One load process of the scale benchmark (bench/scale.mjs forks several): it makes its share of
// the plan (scale-plan.mjs: the groups g with g % workers == index, their owners, members and
// files) exactly as real clients do, over TrackerClient and TLS: createUser, login, CreateGroup,
// RequestJoin, AcceptRequest by the owner, then each user in turn shares its files (ShareFile
// with each file's metadata) and, unless it stays online, logs out (CloseSession), as a user
// who came to share does. Phases run one after the other (each needs the one before), each with
// `concurrency` requests in flight, one TrackerClient (one connection) per slot. It reports its count of finished writes to the parent
// every second and exits when done.
//
//   forked with one JSON argument: {index, workers, seed, users, groups, files, onlineEvery, cluster, concurrency}

import { drawPlan, fileMetaOf, groupName, password, staysOnline, userName } from './scale-plan.mjs';

const dist = new URL('../../dist/', import.meta.url);
const { clusterTrust, loadClusterConfig } = await import(new URL('tracker/cluster-config.js', dist));
const { TrackerClient } = await import(new URL('tracker/tracker-client.js', dist));
const { createRealWorld } = await import(new URL('world/real/real-world.js', dist));

const job = JSON.parse(process.argv[2]);
const world = createRealWorld();
const config = await loadClusterConfig(world.fs, job.cluster);
const nodes = config.nodes.map((n) => n.client);
const trust = clusterTrust(config);
/** The port a logged-in user says it listens on (nothing does: the node finds it unreachable, at once on loopback). */
const PEER_PORT = 6881;
/** At most this many slots make their first connection at once: a node lets 32 connections not yet logged in per source address. */
const FIRST_CONNECTIONS_AT_ONCE = 4;

process.on('disconnect', () => process.exit(1)); // the coordinator is gone

const { root, groupOf, sharerOf } = drawPlan(job.seed, job);
const mine = (g) => g % job.workers === job.index;
const ownUsers = [];
for (let u = 0; u < job.users; u++) if (mine(groupOf[u])) ownUsers.push(u);
const ownGroups = [];
for (let g = 0; g < job.groups; g++) if (mine(g)) ownGroups.push(g);
const ownMembers = ownUsers.filter((u) => u >= job.groups);
/** Each own user's files, in the order they were drawn. */
const filesOf = new Map(ownUsers.map((u) => [u, []]));
for (let f = 0; f < job.files; f++) if (mine(groupOf[sharerOf[f]])) filesOf.get(sharerOf[f]).push(f);

const clients = Array.from({ length: job.concurrency }, (_, slot) => new TrackerClient(world, { nodes, trust, clientId: `scale-${job.index}-${slot}`, deadlineMs: 300_000, requestTimeoutMs: 10_000 }));
const sessions = new Map();
let done = 0;
let refusedRetries = 0;
let phase = 'start';
const report = () => process.send?.({ type: 'progress', index: job.index, done, phase, refusedRetries });
const progress = setInterval(report, 1000);

/**
 * Runs `work(client, item)` over `items`, one slot per client. Slots start a few at a time, each
 * wave once the one before has made a write: a connection's first login or session command takes
 * it out of the door's count of strangers, so a burst of new connections is what gets refused.
 */
async function inSlots(items, work) {
  let next = 0;
  const slot = async (client, firstDone) => {
    while (next < items.length) {
      await work(client, items[next++]);
      firstDone();
    }
    firstDone();
  };
  const running = [];
  let wave = [];
  for (const client of clients) {
    wave.push(new Promise((resolve) => running.push(slot(client, resolve))));
    if (wave.length === FIRST_CONNECTIONS_AT_ONCE) {
      await Promise.race([Promise.all(wave), Promise.all(running)]);
      wave = [];
    }
  }
  await Promise.all(running);
}

/**
 * A node that refuses a connection at its door (too many not logged in from one address, as when
 * every slot reconnects after a leader change) cuts it before the TLS handshake, which the client
 * reports as TRACKER_NOT_TRUSTED. Nothing was sent, so the write is tried again after a pause.
 */
async function retryRefused(write) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      if (error?.code !== 'TRACKER_NOT_TRUSTED' || attempt >= 20) throw error;
      refusedRetries++;
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 200 * attempt));
    }
  }
}

/** One write, counted once it is acknowledged. */
async function write(call) {
  const result = await retryRefused(call);
  done++;
  return result;
}

const phases = [
  ['users', ownUsers, async (client, u) => {
    await write(() => client.createUser(userName(u), password(u)));
    const opened = await write(() => client.login(userName(u), password(u), PEER_PORT));
    sessions.set(u, { sessionId: opened.sessionId, token: opened.token });
  }],
  ['groups', ownGroups, (client, g) => write(() => client.command(sessions.get(g), { type: 'CreateGroup', group: groupName(g) }))],
  ['joins', ownMembers, (client, u) => write(() => client.command(sessions.get(u), { type: 'RequestJoin', group: groupName(groupOf[u]) }))],
  ['accepts', ownMembers, (client, u) => {
    const g = groupOf[u];
    return write(() => client.command(sessions.get(g), { type: 'AcceptRequest', group: groupName(g), user: userName(u) }));
  }],
  ['files', ownUsers, async (client, u) => {
    for (const f of filesOf.get(u)) {
      const file = fileMetaOf(root, f);
      await write(() => client.command(sessions.get(u), { type: 'ShareFile', group: groupName(groupOf[u]), file }));
    }
    if (!staysOnline(u, job.onlineEvery)) await write(() => client.command(sessions.get(u), { type: 'CloseSession' }));
  }],
];

try {
  const phaseTimes = [];
  for (const [name, items, work] of phases) {
    phase = name;
    report();
    const startedMs = performance.now();
    const doneBefore = done;
    await inSlots(items, work);
    phaseTimes.push({ name, ms: performance.now() - startedMs, writes: done - doneBefore });
  }
  phase = 'done';
  report();
  process.send?.({ type: 'done', index: job.index, done, refusedRetries, phaseTimes });
} catch (error) {
  process.send?.({ type: 'failed', index: job.index, phase, done, code: error?.code ?? 'INTERNAL', message: error instanceof Error ? error.message : String(error) });
  process.exitCode = 1;
} finally {
  clearInterval(progress);
  for (const client of clients) client.close();
  process.disconnect?.();
}
