// Why this file exists: the whole system inside one seeded simulation (issue 7, `clique sim
// --peers K`): three tracker nodes exactly as `clique tracker` runs them (Raft over the World's
// streams, LevelDB, the client server) and K peers exactly as `clique shell` runs them
// (PeerNode: session actor, serving host, downloads), on one SimWorld with faults. The story:
// an owner shares a file, members join and download it from every holder at once, a non-member
// asks too; faults kill the tracker leader mid-download and make peer links slow and lossy.
// The checks: every member's download ends with the exact bytes, and the non-member gets none.

import { ed25519PublicKeyFromRaw } from '../../torrent/ticket.js';
import { makeCluster, writeCluster, type Cluster, clusterTrust } from '../../tracker/cluster-config.js';
import { simCertificates } from '../../world/sim/sim-certs.js';
import { TrackerClient } from '../../tracker/tracker-client.js';
import { startTracker, type RunningTracker } from '../../tracker/tracker-process.js';
import { PeerError, PeerNode, type DownloadView } from '../../peer/peer-node.js';
import type { LinkFaults } from '../../world/sim/sim-packets.js';
import { SeededRng } from '../../world/rng.js';
import { SimWorld } from '../../world/sim/sim-world.js';
import { swarmFile } from '../swarm/sim-swarm.js';

export interface SystemSpec {
  seed: number;
  /** Peers: the owner, then members, then one non-member; at least 3. */
  peers: number;
  sizeBytes: number;
  /** Kill the tracker leader this long after the downloads start (restarted 2 s later). */
  killLeaderAtMs?: number;
  /** Link faults between every pair of peers. */
  peerLinks?: Partial<LinkFaults>;
  /** Access ticket lifetime (default 5 min): short ones make downloads renew theirs. */
  ticketLifetimeMs?: number;
  /** Trace the peers' wire conversations (handshakes, bitfields, chokes, piece verdicts). */
  traceWire?: boolean;
  /** The owner sits behind a home router: nobody can dial it, so members get its pieces by reversal (it dials them). */
  ownerBehindRouter?: boolean;
}

export interface SystemResult {
  /** Each member's download: state and whether the bytes are exact. */
  downloads: Array<{ user: string; state: DownloadView['state'] | 'not-started'; exact: boolean; failure?: string; bytesFromPeer: Record<string, number> }>;
  /** What the tracker told the non-member, and whether any byte reached her disk. */
  nonMember: { code: string | null; bytesOnDisk: number };
  leaderKills: number;
  /** Tickets renewed by the members while downloading. */
  ticketRenewals: number;
  violations: string[];
  elapsedMs: number;
  trace: string;
}

const TRACKERS = 3;
const CLUSTER_PATH = '/etc/clique/cluster.json';

/** Runs the simulation until `promise` settles (virtual time), then returns its value. */
async function drive<T>(sim: SimWorld, promise: Promise<T>, maxVirtualMs = 120_000): Promise<T> {
  let settled = false;
  const watched = promise.finally(() => (settled = true));
  watched.catch(() => undefined);
  await sim.runUntil(() => settled, maxVirtualMs);
  if (!settled) throw new Error(`the simulation stalled: nothing settled within ${maxVirtualMs} virtual ms`);
  return watched;
}

async function trackerConfig(rng: SeededRng): Promise<Cluster> {
  const cluster = await makeCluster({ rng, certs: simCertificates(rng) }, { nodes: TRACKERS, host: 'x', basePort: 7100 });
  cluster.config.nodes = cluster.config.nodes.map((node, i) => ({ id: node.id, peer: `t${i + 1}:7100`, client: `t${i + 1}:7200` }));
  return cluster;
}

export async function runSystem(spec: SystemSpec): Promise<SystemResult> {
  if (spec.peers < 3) throw new RangeError('a system needs an owner, a member and a non-member');
  const lines: string[] = [];
  const sim = new SimWorld({ seed: spec.seed, traceSink: (line) => lines.push(line) });
  const violations: string[] = [];
  const cluster = await trackerConfig(new SeededRng(`cluster-${spec.seed}`));
  const trackers = new Map<string, RunningTracker>();
  const startNode = async (id: string, host: string): Promise<void> => {
    const world = sim.forHost(host);
    if ((await world.fs.stat(CLUSTER_PATH)) === null) {
      await world.fs.mkdir('/etc/clique', { recursive: true });
      await writeCluster(world.fs, CLUSTER_PATH, cluster);
    }
    const tracker = await startTracker(world, {
      id,
      clusterPath: CLUSTER_PATH,
      dataDir: '/var/clique',
      log: (event, fields) => world.trace(`${event} ${JSON.stringify(fields)}`),
      onFatal: (error) => violations.push(`fatal on ${id}: ${error.message}`),
      ...(spec.ticketLifetimeMs === undefined ? {} : { ticketLifetimeMs: spec.ticketLifetimeMs }),
    });
    trackers.set(host, tracker);
  };
  for (let i = 0; i < TRACKERS; i++) await drive(sim, startNode(cluster.config.nodes[i]!.id, `t${i + 1}`));
  const probe = new TrackerClient(sim.forHost('probe'), { nodes: cluster.config.nodes.map((n) => n.client), trust: clusterTrust(cluster.config), clientId: 'probe' });
  const leaderHost = async (): Promise<string | null> => {
    for (let i = 0; i < TRACKERS; i++) {
      const status = await probe.status(`t${i + 1}:7200`);
      if (status?.role === 'leader') return `t${i + 1}`;
    }
    return null;
  };
  const started = sim.elapsedMs();
  while ((await drive(sim, leaderHost())) === null) await sim.runFor(100);

  const publicKey = ed25519PublicKeyFromRaw(new Uint8Array(Buffer.from(cluster.config.publicKey, 'base64')));
  const names = Array.from({ length: spec.peers }, (_, i) => (i === 0 ? 'owner' : i === spec.peers - 1 ? 'outsider' : `member${i}`));
  const peers: PeerNode[] = [];
  for (const name of names) {
    const world = sim.forHost(name);
    peers.push(await drive(sim, PeerNode.start(world, { trackerNodes: cluster.config.nodes.map((n) => n.client), trackerTrust: clusterTrust(cluster.config), clusterPublicKey: publicKey, listen: { host: name, port: 6881 }, home: '/home/peer', log: (line) => world.trace(line), ...(spec.traceWire === true ? { wireTrace: (line: string) => world.trace(`wire ${line}`) } : {}) })));
  }
  if (spec.peerLinks) for (const a of names) for (const b of names) if (a !== b) sim.net.setLink(a, b, spec.peerLinks);
  if (spec.ownerBehindRouter === true) sim.net.setBehindRouter('owner');
  const [owner, ...rest] = peers;
  const outsider = rest.pop()!;
  const members = rest;

  const original = swarmFile(spec.seed, spec.sizeBytes);
  await sim.forHost('owner').fs.mkdir('/home/owner', { recursive: true });
  await drive(sim, sim.forHost('owner').fs.writeFile('/home/owner/film.mkv', original, { sync: true }));
  for (const [i, peer] of peers.entries()) {
    await drive(sim, peer.createUser(names[i]!, `pw-${i}`));
    await drive(sim, peer.login(names[i]!, `pw-${i}`));
  }
  await drive(sim, owner!.command({ type: 'CreateGroup', group: 'g' }));
  await drive(sim, owner!.uploadFile('/home/owner/film.mkv', 'g'));
  for (const [i, member] of members.entries()) {
    await drive(sim, member.command({ type: 'RequestJoin', group: 'g' }));
    await drive(sim, owner!.command({ type: 'AcceptRequest', group: 'g', user: names[i + 1]! }));
  }

  // Every member downloads at once. With killLeaderAtMs, the leader dies that long after the
  // first download starts, so the later members' tracker calls (file query, ticket) and the
  // leader's restart happen during the failover.
  let leaderKills = 0;
  for (const [i, member] of members.entries()) {
    await sim.forHost(names[i + 1]!).fs.mkdir('/home/dl', { recursive: true });
    await drive(sim, member.downloadFile('g', 'film.mkv', '/home/dl'));
    if (i === 0 && spec.killLeaderAtMs !== undefined) {
      await sim.runFor(spec.killLeaderAtMs);
      const leader = await drive(sim, leaderHost());
      if (leader !== null) {
        sim.crashHost(leader);
        trackers.delete(leader);
        leaderKills++;
        sim.after(2_000, () => void startNode(cluster.config.nodes[Number(leader.slice(1)) - 1]!.id, leader));
      }
    }
  }
  await drive(sim, Promise.all(members.map((m) => m.waitDownloads())), 600_000);

  // The non-member asks the tracker for the file.
  let outsiderCode: string | null = null;
  await sim.forHost('outsider').fs.mkdir('/home/dl', { recursive: true });
  try {
    await drive(sim, outsider.downloadFile('g', 'film.mkv', '/home/dl'));
  } catch (error) {
    outsiderCode = error instanceof PeerError ? error.code : String(error);
  }
  const outsiderFile = await sim.forHost('outsider').fs.stat('/home/dl/film.mkv');

  const downloads: SystemResult['downloads'] = [];
  for (const [i, member] of members.entries()) {
    const view = member.showDownloads()[0];
    const world = sim.forHost(names[i + 1]!);
    const stat = await world.fs.stat('/home/dl/film.mkv');
    const bytes = stat === null ? null : await drive(sim, world.fs.readFile('/home/dl/film.mkv'));
    downloads.push({
      user: names[i + 1]!,
      state: view?.state ?? 'not-started',
      exact: bytes !== null && Buffer.from(bytes).equals(Buffer.from(original)),
      ...(view?.failure ? { failure: `${view.failure.code}: ${view.failure.message}` } : {}),
      bytesFromPeer: view?.counters?.bytesFromPeer ?? {},
    });
  }
  const elapsedMs = sim.elapsedMs() - started;
  probe.close();
  for (const peer of peers) await drive(sim, peer.close()).catch(() => undefined);
  for (const tracker of trackers.values()) await drive(sim, tracker.stop()).catch(() => undefined);
  return {
    downloads,
    nonMember: { code: outsiderCode, bytesOnDisk: outsiderFile?.sizeBytes ?? 0 },
    leaderKills,
    ticketRenewals: members.reduce((sum, m) => sum + m.ticketRenewals, 0),
    violations,
    elapsedMs,
    trace: lines.join('\n'),
  };
}
