// Why this file exists: a shell's first two questions, answered at once and in one line each
// rather than as INTERNAL or after ten seconds of login retries: is there a cluster file here
// (NO_CLUSTER_FILE, BAD_CLUSTER_FILE), and does any of its trackers answer (NO_TRACKER)?

import { ClusterConfigError, clusterTrust, loadClusterConfig, type ClusterConfig } from '../tracker/cluster-config.js';
import { TRACKER_NOT_TRUSTED } from '../tracker/tracker-trust.js';
import { TrackerClient } from '../tracker/tracker-client.js';
import type { World } from '../world/world.js';
import { CliError } from './exit-codes.js';

/** What to do when no cluster runs: the local one is one command away. */
const START_HINT = 'start the local one with: npm start (or clique cluster up)';

/** cluster.json, or a one-line CliError saying what is missing or wrong (exit 1). */
export async function loadClusterFile(world: World, path: string, cwd: string): Promise<ClusterConfig> {
  if ((await world.fs.stat(path)) === null) {
    const where = path.startsWith('/') ? `no ${path}` : `no ${path} here (in ${cwd})`;
    throw new CliError('NO_CLUSTER_FILE', `${where}; run this where npm start (or clique cluster up) made one, or give --cluster FILE`);
  }
  try {
    return await loadClusterConfig(world.fs, path);
  } catch (error) {
    if (error instanceof ClusterConfigError) throw new CliError(error.code, error.message.replace(/\n/g, ' '));
    throw error;
  }
}

/**
 * Asks every node of the cluster for its status at once (each within about 2 s). Resolves when
 * one answers, or when one shows a certificate of another CA (the shell then says
 * TRACKER_NOT_TRUSTED at its first command, as it always did); else NO_TRACKER.
 */
export async function requireTracker(world: World, path: string, config: ClusterConfig): Promise<void> {
  const trust = clusterTrust(config);
  const outcomes = await Promise.all(
    config.nodes.map(async (node) => {
      const client = new TrackerClient(world, { nodes: [node.client], trust, clientId: 'shell-probe' });
      try {
        const status = await client.status(node.client);
        return status !== null || (client.lastStatusFailure ?? '').includes(TRACKER_NOT_TRUSTED);
      } finally {
        client.close();
      }
    }),
  );
  if (outcomes.some((answered) => answered)) return;
  const addresses = config.nodes.map((node) => node.client).join(', ');
  throw new CliError('NO_TRACKER', `no tracker of ${path} answers (${addresses}); ${START_HINT}`);
}
