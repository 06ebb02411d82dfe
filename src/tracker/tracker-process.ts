// Why this file exists: one tracker node as a process: it reads the cluster file and its own
// secrets (`<id>.secret`: TLS key and certificate, ticket signing key), opens its two LevelDB
// stores under its data directory, joins its peers over mutual TLS and serves clients over TLS. Logs are JSON lines; no password or token ever reaches them.

import type { KvStore, World } from '../world/world.js';
import { ed25519FromSeed } from '../torrent/ticket.js';
import { ArchiveExports } from './archive-export.js';
import { ClientServer } from './client-server.js';
import { SessionService } from './session-service.js';
import { derivedKey, loadClusterConfig, loadNodeSecret, nodeAddress, type ClusterConfig } from './cluster-config.js';
import { TcpRaftTransport } from './tcp-transport.js';
import { snapshotSwitchForTests } from './snapshot-test-switch.js';
import { TrackerNode } from './tracker-node.js';
import { RulesVersionError } from '../log/domain/rules.js';
import { PushHub } from './push-hub.js';
import { ClockGuard } from './clock-watch.js';
import type { TimelineLimits } from '../log/store/group-timeline.js';

export interface TrackerProcessOptions {
  id: string;
  clusterPath: string;
  dataDir: string;
  log: (event: string, fields: Record<string, unknown>) => void;
  /**
   * Raft timing: heartbeats every tick (50 ms), an election timeout of 20 to 40 ticks (1-2 s, as
   * etcd's 1,000 ms). It was 300-600 ms: at issue 20's million files, synced writes of 100-160 ms
   * and GC pauses on a loaded machine made 47 elections in a 27-minute build.
   */
  tickMs?: number;
  electionTicks?: number;
  sessionTtlMs?: number;
  /** How long an access ticket is valid (default 5 minutes). */
  ticketLifetimeMs?: number;
  /** How much one `groupTimeline` reply holds and reads (tests make it small to see paging). */
  timelineLimits?: TimelineLimits;
  /** Snapshot the store and compact the Raft log every this many entries (default 50,000). */
  compactEveryEntries?: number;
  /** ... or once the applied entries the Raft log holds pass this many bytes (default 64 MiB). */
  compactEveryBytes?: number;
  /** Files kept in memory before the least recently used groups' go back to disk (TrackerNodeConfig). */
  maxFilesInMemory?: number;
  /** A fatal storage error (default: exit 70, so a supervisor restarts the node from disk). */
  onFatal?: (error: Error) => void;
}

export interface RunningTracker {
  node: TrackerNode;
  config: ClusterConfig;
  stop(): Promise<void>;
}

export class TrackerStartError extends Error {
  override name = 'TrackerStartError';
}

export async function startTracker(world: World, options: TrackerProcessOptions): Promise<RunningTracker> {
  const config = await loadClusterConfig(world.fs, options.clusterPath);
  const self = config.nodes.find((node) => node.id === options.id);
  if (!self) throw new TrackerStartError(`no node ${options.id} in ${options.clusterPath} (it has ${config.nodes.map((n) => n.id).join(', ')})`);
  const secret = await loadNodeSecret(world.fs, options.clusterPath, self.id);
  const own = world.certs.load(secret.certificate, secret.key);
  await world.fs.mkdir(options.dataDir, { recursive: true });
  const [raftKv, storeKv] = await openBoth(world.kv.open(`${options.dataDir}/raft`, { createIfMissing: true }), world.kv.open(`${options.dataDir}/tracker`, { createIfMissing: true }));
  const peers = new Map(config.nodes.map((node) => [node.id, nodeAddress(node.peer)]));
  const transport = new TcpRaftTransport(world, self.id, peers, { own, caPem: config.ca }, options.log);

  await transport.listen(nodeAddress(self.peer));
  const node = await TrackerNode.start({
    id: self.id,
    voters: config.nodes.map((n) => n.id),
    world,
    transport,
    raftKv,
    storeKv,
    ...(options.compactEveryEntries === undefined ? {} : { compactEveryEntries: options.compactEveryEntries }),
    ...(options.compactEveryBytes === undefined ? {} : { compactEveryBytes: options.compactEveryBytes }),
    ...(options.maxFilesInMemory === undefined ? {} : { maxFilesInMemory: options.maxFilesInMemory }),
    ...snapshotSwitchConfig(),
    tickMs: options.tickMs ?? 50,
    electionTicks: options.electionTicks ?? 20,
    heartbeatTicks: 1,
    clockSkew: () => transport.clockWatch.view(),
    log: options.log,
    onFatal: (error) => {
      options.log('fatal', { code: error instanceof RulesVersionError ? error.code : 'INTERNAL', reason: error.message });
      if (options.onFatal) options.onFatal(error);
      // An entry of rules this build does not know needs another build, not a restart (78: a
      // configuration error); anything else: a supervisor restarts the node from what is on disk.
      else process.exit(error instanceof RulesVersionError ? 78 : 70);
    },
  });
  const { privateKey } = ed25519FromSeed(new Uint8Array(Buffer.from(secret.signingKey, 'base64')));
  const service = new SessionService(world, node, privateKey, {
    ...(options.sessionTtlMs === undefined ? {} : { sessionTtlMs: options.sessionTtlMs }),
    ...(options.ticketLifetimeMs === undefined ? {} : { ticketLifetimeMs: options.ticketLifetimeMs }),
    ...(options.timelineLimits === undefined ? {} : { timelineLimits: options.timelineLimits }),
  });
  service.useRelay(transport);
  service.log = options.log;
  service.start();
  const clockGuard = new ClockGuard(world, transport.clockWatch, { isLeader: () => node.raft.status().role === 'leader', transferLeadership: (to) => node.transferLeadership(to) }, options.log);
  clockGuard.start();
  const hub = new PushHub(world, node, transport);
  service.hub = hub;
  const archives = new ArchiveExports(world, node, self.id, derivedKey(secret.signingKey, 'audit'));
  const clients = new ClientServer(world, node, service, hub, archives, (id) => config.nodes.find((n) => n.id === id)?.client ?? null, options.log, { own, publicKey: config.publicKey, caPem: config.ca });
  await clients.listen(nodeAddress(self.client));
  options.log('tracker_started', { id: self.id, peer: self.peer, client: self.client, applied: node.store.appliedIndex });
  return {
    node,
    config,
    async stop(): Promise<void> {
      service.stop();
      clockGuard.stop();
      hub.close();
      clients.close();
      node.stop();
      await node.store.quiesce();
      await raftKv.close();
      await storeKv.close();
    },
  };
}

/** The test-only snapshot switch's settings, if it is on (snapshot-test-switch.ts). */
function snapshotSwitchConfig(): { snapshotChunkBytes: number; stallSnapshotAfterChunks: number } | Record<string, never> {
  const testSwitch = snapshotSwitchForTests();
  return testSwitch === null ? {} : { snapshotChunkBytes: testSwitch.chunkBytes, stallSnapshotAfterChunks: testSwitch.stallAfterChunks };
}

/** Both stores opened at once; if one cannot be, the other is closed again before the error goes on. */
async function openBoth(first: Promise<KvStore>, second: Promise<KvStore>): Promise<[KvStore, KvStore]> {
  const [a, b] = await Promise.allSettled([first, second]);
  if (a.status === 'fulfilled' && b.status === 'fulfilled') return [a.value, b.value];
  await Promise.all([a, b].map((opened) => (opened.status === 'fulfilled' ? opened.value.close() : undefined)));
  throw a.status === 'rejected' ? a.reason : (b as PromiseRejectedResult).reason;
}
