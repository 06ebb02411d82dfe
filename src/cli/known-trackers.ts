// Why this file exists: trust on first use for a shell started the original way, with only
// tracker addresses (tracker_info.txt) and no cluster.json. The first time, it asks a node for
// its cluster's CA, checks the node's certificate chains to it, and pins the CA for every
// listed address in a known-trackers file (as ssh does with known_hosts); later starts check
// against the pin, and a tracker showing another CA is refused with TRACKER_KEY_CHANGED.
// File format: one line per address, `host:port <base64 of the CA certificate PEM>`.

import { TrackerClient } from '../tracker/tracker-client.js';
import { TRACKER_NOT_TRUSTED, type TrackerTrust } from '../tracker/tracker-trust.js';
import type { World } from '../world/world.js';
import { CliError } from './exit-codes.js';

export interface KnownTrackers {
  trust: TrackerTrust & { kind: 'ca' };
  publicKey: string;
  /** A line for the user when the CA was pinned just now. */
  pinnedNow: string | null;
}

async function readPins(world: World, path: string): Promise<Map<string, string>> {
  const pins = new Map<string, string>();
  if ((await world.fs.stat(path)) === null) return pins;
  const text = new TextDecoder().decode(await world.fs.readFile(path));
  for (const line of text.split('\n')) {
    const [address, ca] = line.trim().split(/\s+/);
    if (address && ca && !address.startsWith('#')) pins.set(address, Buffer.from(ca, 'base64').toString());
  }
  return pins;
}

/** The trackers' CA and public key for `nodes`, pinned in `path` on first use. */
export async function knownTrackers(world: World, nodes: string[], path: string): Promise<KnownTrackers> {
  const pins = await readPins(world, path);
  const pinned = nodes.map((node) => pins.get(node)).find((ca) => ca !== undefined);
  let caPem = pinned;
  if (caPem === undefined) {
    const firstUse = new TrackerClient(world, { nodes, trust: { kind: 'first-use' }, clientId: 'probe' });
    try {
      for (const node of nodes) caPem ??= (await firstUse.status(node))?.ca;
    } finally {
      firstUse.close();
    }
    if (caPem === undefined) throw new CliError('TRACKER_UNAVAILABLE', `no tracker of ${nodes.join(', ')} answered`);
  }
  const trust = { kind: 'ca', caPem } as const;
  // The node's certificate must chain to the CA it named (or the one pinned before).
  const checked = new TrackerClient(world, { nodes, trust, clientId: 'probe' });
  let publicKey: string | undefined;
  let refusal: string | null = null;
  try {
    for (const node of nodes) {
      if (publicKey !== undefined) break;
      publicKey = (await checked.status(node))?.publicKey;
      if (checked.lastStatusFailure?.includes(TRACKER_NOT_TRUSTED)) refusal = `${node}: ${checked.lastStatusFailure}`;
    }
  } finally {
    checked.close();
  }
  if (publicKey === undefined && refusal !== null && pinned !== undefined) {
    throw new CliError('TRACKER_KEY_CHANGED', `the tracker's certificate is not of the CA pinned in ${path} on first use (${refusal.slice(0, 160)}); if the cluster really has a new CA, delete its lines from ${path}`);
  }
  if (publicKey === undefined) throw new CliError(refusal === null ? 'TRACKER_UNAVAILABLE' : TRACKER_NOT_TRUSTED, refusal ?? `no tracker of ${nodes.join(', ')} answered`);
  const fresh = nodes.filter((node) => !pins.has(node));
  if (fresh.length === 0) return { trust, publicKey, pinnedNow: null };
  const lines = fresh.map((node) => `${node} ${Buffer.from(caPem).toString('base64')}\n`).join('');
  const before = (await world.fs.stat(path)) === null ? new Uint8Array(0) : await world.fs.readFile(path);
  const slash = path.lastIndexOf('/');
  if (slash > 0) await world.fs.mkdir(path.slice(0, slash), { recursive: true });
  await world.fs.writeFile(path, new Uint8Array(Buffer.concat([before, Buffer.from(lines)])), { sync: true });
  const fingerprint = world.certs.identityOf(caPem).keyFingerprint;
  return { trust, publicKey, pinnedNow: `pinned the trackers' CA (key SHA-256 ${fingerprint.slice(0, 16)}…) for ${fresh.join(', ')} in ${path}` };
}
