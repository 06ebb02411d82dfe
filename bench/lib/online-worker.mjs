// One load process of the online-peers benchmark (bench/online.mjs forks a few): it holds its
// share of the peers (online-plan.mjs: the groups g with g % workers == index) online as real
// shells do, each over its own TrackerClient and TrackerSubscription, over TLS, from its own
// loopback address (127.0.0.2-41):
//   - setup: CreateUser for each peer; then each peer logs in (its session opens), subscribes
//     to its push channel and starts beating; owners make their groups, members ask to join
//     and are accepted; every member announces its group's files (ShareFile each, as a login's
//     announce does);
//   - online: a heartbeat every heartbeatMs after the last one's answer (the session actor's
//     loop), as PeerNode sends it (heartbeatVia: on the push stream's connection, else through
//     the peer's client), with the port it listens on; a session the tracker
//     expired (NOT_LOGGED_IN) is counted, renewed from its refresh credential, subscribed
//     again and its files announced again, as the shell does; one access ticket per peer
//     renewed at half its life, as a running download does (the first at a random time within
//     one half-life, so renewals are spread), asked as PeerNode asks (ticketVia: on the push
//     stream's connection, else through the client);
//   - windows: on the coordinator's word, for a given time, logins at a given rate (accounts
//     the coordinator made at the real scrypt cost; each login then closes its session) and
//     ticket requests at a given rate (random online peers, a file of their group, as
//     PeerNode asks them); then it sends what it measured.
//
//   forked with one JSON argument: {index, workers, seed, peers, groupSize, filesPerPeer, cluster, heartbeatMs, concurrency}

import { monitorEventLoopDelay } from 'node:perf_hooks';
import { FIRST_SOURCE, PEER_PORT, SOURCES, fileMetaOf, groupCount, groupName, keyOf, membersOf, ownerOf, peerName, peerPassword, sourceOf, loginName, loginPassword } from './online-plan.mjs';

const dist = new URL('../../dist/', import.meta.url);
const { clusterTrust, loadClusterConfig } = await import(new URL('tracker/cluster-config.js', dist));
const { TrackerClient } = await import(new URL('tracker/tracker-client.js', dist));
const { TrackerSubscription } = await import(new URL('tracker/subscription.js', dist));
const { heartbeatVia, ticketVia } = await import(new URL('tracker/stream-or-client.js', dist));
const { ticketLifetimeMs } = await import(new URL('torrent/ticket.js', dist));
const { createRealWorld } = await import(new URL('world/real/real-world.js', dist));

const job = JSON.parse(process.argv[2]);
const world = createRealWorld();
const config = await loadClusterConfig(world.fs, job.cluster);
const nodes = config.nodes.map((n) => n.client);
const trust = clusterTrust(config);
/** As a download does: a renewal that failed is tried again after this long. */
const RENEWAL_RETRY_MS = 5_000;
/** Codes that mean a setup write had already applied (a retry after an unanswered try). */
const ALREADY = new Set(['USER_EXISTS', 'GROUP_EXISTS', 'REQUEST_PENDING', 'ALREADY_MEMBER', 'NO_SUCH_REQUEST']);

process.on('disconnect', () => process.exit(1)); // the coordinator is gone
process.on('beforeExit', () => console.error(`online worker ${job.index}: nothing left to do (the event loop emptied)`));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const codeOf = (error) => error?.code ?? 'INTERNAL';
const random = (n) => Math.floor(Math.random() * n);

const ownGroups = [];
for (let g = 0; g < groupCount(job.peers, job.groupSize); g++) if (g % job.workers === job.index) ownGroups.push(g);
const files = new Map(ownGroups.map((g) => [g, Array.from({ length: job.filesPerPeer }, (_, k) => fileMetaOf(job.seed, g, k))]));

// ---- what is measured ------------------------------------------------------------------------

/** Totals since the start (progress) and per window (stats). */
const totals = { heartbeatsOk: 0, heartbeatsFailed: 0, expired: 0, renewed: 0, streamEnds: 0 };
let window = null;
/** A request that started inside the window: [ms into the window it started, its latency in ms, its error code or null]. */
function record(kind, startedMs, error) {
  if (window === null || startedMs < window.startedAtMs || startedMs > window.endsAtMs) return;
  window[kind].push([Math.round(startedMs - window.startedAtMs), performance.now() - startedMs, error === null ? null : codeOf(error)]);
}

/** The port of the node a stream stands on ('-' while it does not): which node, in a short line. */
const streamPort = (subscription) => subscription?.node?.split(':').at(-1) ?? '-';

// ---- a peer ----------------------------------------------------------------------------------

class Peer {
  constructor(p) {
    this.p = p;
    this.user = peerName(p);
    this.group = Math.floor(p / job.groupSize);
    this.address = sourceOf(p);
    this.client = new TrackerClient(world, { nodes, trust, clientId: `peer-${p}`, localAddress: this.address });
    this.session = null;
    this.subscription = null;
    this.renewing = false;
    this.closed = false;
  }

  async login() {
    this.opened(await this.client.login(this.user, peerPassword(this.p), PEER_PORT, keyOf(this.p)));
    this.loggedInAtMs = performance.now();
    this.lastBeatMs = null;
  }

  opened(session) {
    this.session = session;
    this.subscription?.close();
    this.subscription = new TrackerSubscription(
      world,
      nodes,
      trust,
      { sessionId: session.sessionId, token: session.token },
      session.index,
      {
        events: () => {},
        request: () => {},
        kick: () => {},
        ended: () => totals.streamEnds++,
      },
      { localAddress: this.address, streamWaitMs: job.heartbeatMs },
    );
  }

  async announce() {
    for (const file of files.get(this.group)) await this.client.command(this.session, { type: 'ShareFile', group: groupName(this.group), file });
  }

  /** The session actor's loop: beat, wait heartbeatMs after the answer, beat again. */
  startHeartbeats() {
    const beat = async () => {
      if (this.closed) return;
      const startedMs = performance.now();
      const streamAtStart = streamPort(this.subscription);
      try {
        await heartbeatVia(this.subscription, this.client, this.session, PEER_PORT);
        this.lastBeatMs = performance.now();
        totals.heartbeatsOk++;
        record('heartbeats', startedMs, null);
        this.remember(startedMs, 'ok', streamAtStart);
      } catch (error) {
        totals.heartbeatsFailed++;
        record('heartbeats', startedMs, error);
        this.remember(startedMs, codeOf(error), streamAtStart);
        if (codeOf(error) === 'NOT_LOGGED_IN') {
          const since = (ms) => (ms == null ? 'never' : `${((performance.now() - ms) / 1000).toFixed(1)} s ago`);
          console.error(`online worker ${job.index}: ${this.user}'s session ${this.session.sessionId} expired: logged in ${since(this.loggedInAtMs)}, last heartbeat answered ${since(this.lastBeatMs)}, stream on ${this.subscription?.node ?? 'nothing'}; its last beats (s into the window +s taken, outcome, stream's node port at start>end): ${this.beats.join(' ')}`);
          await this.renew();
        }
      }
      if (!this.closed) setTimeout(beat, job.heartbeatMs);
    };
    setTimeout(beat, random(job.heartbeatMs));
  }

  /** The last few heartbeats, for the line that says a session expired. */
  remember(startedMs, outcome, streamAtStart) {
    const at = (ms) => ((ms - (window?.startedAtMs ?? 0)) / 1000).toFixed(1);
    this.beats ??= [];
    this.beats.push(`${at(startedMs)}+${((performance.now() - startedMs) / 1000).toFixed(1)}:${outcome}@${streamAtStart}>${streamPort(this.subscription)}`);
    if (this.beats.length > 10) this.beats.shift();
  }

  /** The tracker expired the session: the shell re-opens it from the refresh credential and announces its files again. */
  async renew() {
    totals.expired++;
    this.renewing = true;
    try {
      this.opened(await this.client.renew(this.user, this.session.refresh, PEER_PORT, keyOf(this.p)));
      await this.announce();
      totals.renewed++;
    } catch {
      // The next heartbeat tries again.
    } finally {
      this.renewing = false;
    }
  }

  /** A download's ticket: taken, then renewed at half its life. */
  startTickets() {
    const file = files.get(this.group)[random(job.filesPerPeer)];
    const take = async () => {
      if (this.closed) return;
      const startedMs = performance.now();
      let delayMs = RENEWAL_RETRY_MS;
      try {
        const { ticket } = await ticketVia(this.subscription, this.client, this.session, groupName(this.group), file.fileId);
        record('renewals', startedMs, null);
        delayMs = (ticketLifetimeMs(ticket) ?? 2 * RENEWAL_RETRY_MS) / 2;
      } catch (error) {
        record('renewals', startedMs, error);
      }
      if (!this.closed) setTimeout(take, delayMs);
    };
    // As if each download had started at a random moment: renewals spread over one half-life.
    setTimeout(take, random(job.ticketHalfLifeMs));
  }

  close() {
    this.closed = true;
    this.subscription?.close();
    this.client.close();
  }
}

const peers = [];
for (const g of ownGroups) for (const p of membersOf(g, job)) peers.push(new Peer(p));
const peerOf = new Map(peers.map((peer) => [peer.p, peer]));

// ---- setup -----------------------------------------------------------------------------------

let phase = 'start';
let done = 0;
let retried = 0;
/** Codes of the setup writes tried again, for the progress line. */
const retriedCodes = {};
const report = () =>
  process.send?.({ type: 'progress', index: job.index, phase, done, retried, online: peers.filter((p) => p.session !== null).length, streams: peers.filter((p) => p.subscription?.node != null).length, ...totals });
const progress = setInterval(report, 1000);

/** A setup write, tried again while the tracker is unavailable (an answer lost is no refusal). */
async function write(call) {
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await call();
      done++;
      return result;
    } catch (error) {
      if (ALREADY.has(codeOf(error)) && attempt > 1) {
        done++;
        return null;
      }
      const transient = codeOf(error) === 'TRACKER_UNAVAILABLE' || codeOf(error) === 'TRACKER_NOT_TRUSTED';
      if (!transient || attempt >= 30) throw error;
      retried++;
      retriedCodes[codeOf(error)] = (retriedCodes[codeOf(error)] ?? 0) + 1;
      if (retried <= 3 || retried % 100 === 0) console.error(`online worker ${job.index}: ${phase} write retried (${retried} so far): ${codeOf(error)} ${error instanceof Error ? error.message.slice(0, 200) : ''}`);
      await sleep(100 + random(400 * Math.min(attempt, 10)));
    }
  }
}

/** Runs `work(item)` over `items`, `concurrency` at a time. */
async function inParallel(items, work, concurrency = job.concurrency) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await work(items[next++]);
    }),
  );
}

async function setup() {
  const phaseTimes = [];
  const run = async (name, items, work) => {
    phase = name;
    report();
    const startedMs = performance.now();
    const before = done;
    await inParallel(items, work);
    phaseTimes.push({ name, ms: performance.now() - startedMs, writes: done - before });
  };
  // Accounts: one client per slot (like a sign-up page's), each from its own source address.
  const slots = Array.from({ length: job.concurrency }, (_, s) => new TrackerClient(world, { nodes, trust, clientId: `signup-${job.index}-${s}`, localAddress: `127.0.0.${FIRST_SOURCE + ((s + job.index * job.concurrency) % SOURCES)}`, deadlineMs: 60_000 }));
  let slot = 0;
  await run('users', peers, (peer) => {
    const client = slots[slot++ % slots.length];
    return write(() => client.createUser(peer.user, peerPassword(peer.p)));
  });
  for (const client of slots) client.close();
  await run('logins', peers, async (peer) => {
    await write(() => peer.login());
    peer.startHeartbeats();
  });
  const owners = ownGroups.map((g) => peerOf.get(ownerOf(g, job.groupSize)));
  const members = peers.filter((peer) => peer.p !== ownerOf(peer.group, job.groupSize));
  await run('groups', owners, (owner) => write(() => owner.client.command(owner.session, { type: 'CreateGroup', group: groupName(owner.group) })));
  await run('joins', members, (member) => write(() => member.client.command(member.session, { type: 'RequestJoin', group: groupName(member.group) })));
  // An owner accepts its group's requests one after the other (its client's writes are never concurrent).
  await run('accepts', owners, async (owner) => {
    for (const member of membersOf(owner.group, job)) {
      if (member === owner.p) continue;
      await write(() => owner.client.command(owner.session, { type: 'AcceptRequest', group: groupName(owner.group), user: peerName(member) }));
    }
  });
  // Owners first, so each file's first announce (the one that carries it into the log) is
  // theirs; each peer announces its files one after the other, as a login's announce does (one
  // client's writes are never concurrent: a retry of an older one would be STALE_REQUEST).
  await run('announces', [...owners, ...members], async (peer) => {
    for (const file of files.get(peer.group)) await write(() => peer.client.command(peer.session, { type: 'ShareFile', group: groupName(peer.group), file }));
  });
  for (const peer of peers) peer.startTickets();
  phase = 'online';
  report();
  return phaseTimes;
}

// ---- windows ---------------------------------------------------------------------------------

const loginClients = [];
/** A login client that is not busy (made on demand; each from its own source address). */
function loginClient() {
  const idle = loginClients.find((c) => !c.busy);
  if (idle) return idle;
  const n = loginClients.length;
  const made = { busy: false, client: new TrackerClient(world, { nodes, trust, clientId: `login-${job.index}-${n}`, localAddress: `127.0.0.${FIRST_SOURCE + ((n * job.workers + job.index) % SOURCES)}` }) };
  loginClients.push(made);
  return made;
}

/** One login by a real-cost account (measured), then its session closed (not measured), as a short visit. */
async function oneLogin(account, measured) {
  const holder = loginClient();
  holder.busy = true;
  const startedMs = performance.now();
  try {
    const session = await holder.client.login(loginName(account), loginPassword(account), PEER_PORT, keyOf(`x${account}`));
    if (measured) record('logins', startedMs, null);
    const visit = window;
    try {
      await holder.client.command(session, { type: 'CloseSession' });
      if (visit !== null && measured) visit.sessionsClosed++;
    } catch {
      if (visit !== null && measured) visit.closeFailures++;
    }
  } catch (error) {
    if (measured) record('logins', startedMs, error);
  } finally {
    holder.busy = false;
  }
}

async function oneTicket() {
  const online = peers.filter((p) => p.session !== null && !p.renewing);
  const peer = online[random(online.length)];
  if (peer === undefined) return;
  const file = files.get(peer.group)[random(job.filesPerPeer)];
  const startedMs = performance.now();
  try {
    await ticketVia(peer.subscription, peer.client, peer.session, groupName(peer.group), file.fileId);
    record('tickets', startedMs, null);
  } catch (error) {
    record('tickets', startedMs, error);
  }
}

/** Fires `fire()` every `everyMs` (open loop: not waiting for the one before) until `untilMs`. */
function openLoop(everyMs, untilMs, fire) {
  const pending = [];
  return new Promise((resolve) => {
    let nextMs = performance.now() + Math.random() * everyMs;
    const tick = () => {
      const now = performance.now();
      while (nextMs <= now && nextMs < untilMs) {
        pending.push(fire());
        nextMs += everyMs;
      }
      if (nextMs >= untilMs) return resolve(Promise.all(pending));
      setTimeout(tick, Math.max(1, nextMs - performance.now()));
    };
    tick();
  });
}

async function runWindow(message) {
  const cpuBefore = process.cpuUsage();
  // This process's own event loop: a request's latency is measured here, so a stall here is in it.
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const startedAtMs = performance.now();
  const untilMs = startedAtMs + message.seconds * 1000;
  window = { name: message.name, startedAtMs, endsAtMs: untilMs, logins: [], tickets: [], renewals: [], heartbeats: [], sessionsClosed: 0, closeFailures: 0 };
  const accounts = message.accounts;
  let nextAccount = 0;
  const loads = [];
  if (message.loginsPerMinute > 0 && accounts.length > 0) loads.push(openLoop(60_000 / message.loginsPerMinute, untilMs, () => oneLogin(accounts[nextAccount++ % accounts.length], true)));
  if (message.ticketsPerMinute > 0) loads.push(openLoop(60_000 / message.ticketsPerMinute, untilMs, () => oneTicket()));
  // Requests still in flight at the end are awaited (their figures count); none starts after it.
  await Promise.all(loads);
  await sleep(Math.max(0, untilMs - performance.now()));
  const taken = window;
  const cpu = process.cpuUsage(cpuBefore);
  loopDelay.disable();
  const lateMs = (ns) => Math.max(0, ns / 1e6 - 10);
  const heartbeatLatencies = taken.heartbeats.filter(([, , code]) => code === null).map(([, ms]) => ms).sort((a, b) => a - b);
  const heartbeatErrors = taken.heartbeats.filter(([, , code]) => code !== null);
  /** [answered, failed] of the heartbeats started in each second of the window. */
  const heartbeatsPerSecond = Array.from({ length: Math.ceil(message.seconds) }, () => [0, 0]);
  for (const [at, , code] of taken.heartbeats) {
    const second = heartbeatsPerSecond[Math.min(heartbeatsPerSecond.length - 1, Math.floor(at / 1000))];
    second[code === null ? 0 : 1]++;
  }
  process.send?.({
    type: 'stats',
    name: message.name,
    index: job.index,
    logins: taken.logins,
    tickets: taken.tickets,
    renewals: taken.renewals,
    windowHeartbeatsOk: heartbeatLatencies.length,
    heartbeatLatencies: sampleSorted(heartbeatLatencies, 2000),
    heartbeatErrors,
    heartbeatsPerSecond,
    sessionsClosed: taken.sessionsClosed,
    closeFailures: taken.closeFailures,
    cpuMs: (cpu.user + cpu.system) / 1000,
    loopDelayP99Ms: lateMs(loopDelay.percentile(99)),
    loopDelayMaxMs: lateMs(loopDelay.max),
    rssBytes: process.memoryUsage().rss,
    online: peers.filter((p) => p.session !== null).length,
    streams: peers.filter((p) => p.subscription?.node != null).length,
    totals: { ...totals },
  });
  window = null;
}

/** At most `n` values of a sorted list, evenly spaced (its quantiles survive). */
function sampleSorted(sorted, n) {
  if (sorted.length <= n) return sorted;
  return Array.from({ length: n }, (_, i) => sorted[Math.floor((i * sorted.length) / n)]);
}

process.on('message', (message) => {
  if (message.type === 'window') void runWindow(message);
  if (message.type === 'warm') void Promise.all(message.accounts.map((a) => oneLogin(a, false))).then(() => process.send?.({ type: 'warmed', index: job.index }));
  if (message.type === 'stop') {
    clearInterval(progress);
    for (const peer of peers) peer.close();
    for (const { client } of loginClients) client.close();
    process.send?.({ type: 'stopped', index: job.index }, () => process.exit(0));
  }
});

try {
  const phaseTimes = await setup();
  process.send?.({ type: 'ready', index: job.index, phaseTimes, done, retried });
} catch (error) {
  process.send?.({ type: 'failed', index: job.index, phase, done, code: codeOf(error), message: error instanceof Error ? error.message : String(error) });
  process.exitCode = 1;
  clearInterval(progress);
  process.disconnect?.();
}
