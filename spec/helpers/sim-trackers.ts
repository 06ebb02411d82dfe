// Why this file exists: three tracker nodes exactly as `clique tracker` runs them
// (startTracker), each on its own host of one SimWorld, a TrackerClient on a host of its own,
// and PeerNodes as `clique shell` runs them on hosts of theirs: the harness of the simulated
// tracker tests (clock steps, the client door's idle timeout) and of the peer's (news, downloads).

import { clusterTrust, makeCluster, writeCluster } from '../../src/tracker/cluster-config.js';
import { TrackerClient } from '../../src/tracker/tracker-client.js';
import { PeerNode, type PeerNodeOptions } from '../../src/peer/peer-node.js';
import { startTracker, type RunningTracker } from '../../src/tracker/tracker-process.js';
import { ed25519PublicKeyFromRaw } from '../../src/torrent/ticket.js';
import { SeededRng } from '../../src/world/rng.js';
import { simCertificates } from '../../src/world/sim/sim-certs.js';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import type { TimelineLimits } from '../../src/log/store/group-timeline.js';

export const TTL_MS = 3_000;
const CLUSTER_PATH = '/etc/clique/cluster.json';

/** Runs the simulation until `promise` settles (at most `maxVirtualMs`), and gives its outcome. */
export async function drive<T>(sim: SimWorld, promise: Promise<T>, maxVirtualMs = 60_000): Promise<T> {
  let settled = false;
  const watched = promise.finally(() => (settled = true));
  watched.catch(() => undefined);
  await sim.runUntil(() => settled, maxVirtualMs);
  if (!settled) throw new Error(`nothing settled within ${maxVirtualMs} virtual ms`);
  return watched;
}

/** Three nodes t1..t3 (client port 7200) started and a leader elected; node log lines in `logs`. `timelineLimits`: each node's bound on a groupTimeline reply; `maxFilesInMemory`: each node's files bound. */
export async function startCluster(seed: number, options: { timelineLimits?: TimelineLimits; maxFilesInMemory?: number; sessionTtlMs?: number } = {}) {
  const sim = new SimWorld({ seed });
  const rng = new SeededRng(`clock-${seed}`);
  const cluster = await makeCluster({ rng, certs: simCertificates(rng) }, { nodes: 3, host: 'x', basePort: 7100 });
  cluster.config.nodes = cluster.config.nodes.map((node, i) => ({ id: node.id, peer: `t${i + 1}:7100`, client: `t${i + 1}:7200` }));
  const trackers = new Map<string, RunningTracker>();
  const logs: string[] = [];
  for (const [i, node] of cluster.config.nodes.entries()) {
    const host = `t${i + 1}`;
    const world = sim.forHost(host);
    await drive(sim, world.fs.mkdir('/etc/clique', { recursive: true }));
    await drive(sim, writeCluster(world.fs, CLUSTER_PATH, cluster));
    const tracker = await drive(sim, startTracker(world, { id: node.id, clusterPath: CLUSTER_PATH, dataDir: '/var/clique', sessionTtlMs: TTL_MS, ...options, log: (event, fields) => logs.push(`${host} ${event} ${JSON.stringify(fields)}`) }));
    trackers.set(host, tracker);
  }
  const client = new TrackerClient(sim.forHost('client'), { nodes: cluster.config.nodes.map((n) => n.client), trust: clusterTrust(cluster.config), clientId: 'client' });
  const publicKey = ed25519PublicKeyFromRaw(new Uint8Array(Buffer.from(cluster.config.publicKey, 'base64')));
  const leader = (): string | null => [...trackers].find(([, t]) => t.node.raft.status().role === 'leader')?.[0] ?? null;
  await sim.runUntil(() => leader() !== null, 10_000);
  /** A PeerNode as `clique shell` runs it, on host `name` (port 6881, home /home/peer, beating every second); `wireTrace` hears its piece verdicts. */
  const startPeer = (name: string, log?: (line: string) => void, hooks: Pick<PeerNodeOptions, 'wireTrace'> = {}): Promise<PeerNode> => {
    const config = [...trackers.values()][0]!.config;
    return drive(
      sim,
      PeerNode.start(sim.forHost(name), {
        trackerNodes: config.nodes.map((n) => n.client),
        trackerTrust: clusterTrust(config),
        clusterPublicKey: publicKey,
        listen: { host: name, port: 6881 },
        home: '/home/peer',
        heartbeatMs: 1_000,
        ...(log ? { log } : {}),
        ...hooks,
      }),
    );
  };
  return { sim, trackers, client, publicKey, leader, logs, startPeer };
}

