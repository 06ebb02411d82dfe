// Why this file exists: `clique audit --cluster FILE` — the audit of a running cluster. A node
// hands over its store as one blob (proof of a cluster secret required); it is loaded into an
// in-memory LevelDB and audited by the same code as a store on disk.

import { authoritySecretPath, derivedKey, loadClusterConfig, loadSigningKey, nodeSecretPath, clusterTrust } from '../tracker/cluster-config.js';
import { TrackerClient } from '../tracker/tracker-client.js';
import { TrackerStore } from '../log/store/tracker-store.js';
import { SimWorld } from '../world/sim/sim-world.js';
import type { KvFactory, World } from '../world/world.js';
import { CliError } from './exit-codes.js';

export async function fetchLiveStore(world: World, clusterPath: string, nodeId: string | undefined): Promise<{ kv: KvFactory; path: string }> {
  const config = await loadClusterConfig(world.fs, clusterPath);
  // Any secret file of the cluster proves the right to its archive: ca.secret (the operator's)
  // or a node's `<id>.secret` (on a tracker machine).
  const candidates = [authoritySecretPath(clusterPath), ...config.nodes.map((n) => nodeSecretPath(clusterPath, n.id))];
  let signingKey: string | null = null;
  for (const path of candidates) {
    if (signingKey === null && (await world.fs.stat(path)) !== null) signingKey = await loadSigningKey(world.fs, path);
  }
  if (signingKey === null) throw new CliError('NO_CLUSTER_SECRET', `a live audit needs ca.secret or a node's <id>.secret beside ${clusterPath} (the operator and the tracker machines have them)`);
  const client = new TrackerClient(world, { nodes: config.nodes.map((n) => n.client), trust: clusterTrust(config), clientId: 'audit' });
  try {
    let target = nodeId === undefined ? undefined : config.nodes.find((n) => n.id === nodeId);
    if (nodeId !== undefined && !target) throw new CliError('NO_SUCH_NODE', `no node ${nodeId} in ${clusterPath}`);
    if (!target) {
      const statuses = await Promise.all(config.nodes.map(async (n) => ({ n, status: await client.status(n.client) })));
      target = (statuses.find((s) => s.status?.role === 'leader') ?? statuses.find((s) => s.status !== null))?.n;
    }
    if (!target) throw new CliError('TRACKER_UNAVAILABLE', `no node of ${clusterPath} answers`);
    const blob = await client.archive(target.client, target.id, derivedKey(signingKey, 'audit'));
    // An in-memory LevelDB (memory-level, as in simulations) holds the copy for the audit.
    const memory = new SimWorld({ seed: 'audit' }).forHost('audit');
    const path = `/${target.id}`;
    const kv = await memory.kv.open(path, { createIfMissing: true });
    await TrackerStore.importSnapshot(kv, blob);
    await kv.close();
    return { kv: memory.kv, path };
  } finally {
    client.close();
  }
}
