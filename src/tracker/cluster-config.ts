// Why this file exists: the cluster's description and its secrets. cluster.json (shared with
// peers) names every node's peer and client addresses and holds the cluster's Ed25519 public
// key; cluster.secret (mode 0600, tracker nodes only) holds the ticket signing key and the
// node-to-node secret. Both are validated when read.

import { ed25519FromSeed, ed25519PublicKeyToRaw } from '../torrent/ticket.js';
import type { FileSystem, NetAddress, Rng } from '../world/world.js';
import { AddressError, formatNetAddress, parseNetAddress } from '../world/net-address.js';

export interface NodeConfig {
  id: string;
  /** host:port for Raft traffic between nodes. */
  peer: string;
  /** host:port for clients. */
  client: string;
}

export interface ClusterConfig {
  version: 1;
  nodes: NodeConfig[];
  /** base64 of the raw 32-byte Ed25519 public key that verifies access tickets. */
  publicKey: string;
}

export interface ClusterSecret {
  version: 1;
  /** base64 of the 32-byte Ed25519 seed that signs access tickets. */
  signingKey: string;
  /** base64 of 32 random bytes: the HMAC key nodes prove to each other. */
  nodeSecret: string;
}

export class ClusterConfigError extends Error {
  override name = 'ClusterConfigError';
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

/** A node address from the cluster file. */
export function nodeAddress(text: string): NetAddress {
  try {
    return parseNetAddress(text);
  } catch (error) {
    if (error instanceof AddressError) throw new ClusterConfigError(error.message);
    throw error;
  }
}

/** A node of the cluster by its id, or by the bare number of an id `n<number>` (`1` for `n1`). */
export function resolveNodeId(config: ClusterConfig, id: string): string | null {
  if (config.nodes.some((node) => node.id === id)) return id;
  if (/^[0-9]+$/.test(id) && config.nodes.some((node) => node.id === `n${id}`)) return `n${id}`;
  return null;
}

export function secretPathFor(clusterPath: string): string {
  return clusterPath.replace(/\.json$/, '') + '.secret';
}

/**
 * A new cluster: `nodes` nodes on one host (ports basePort + i for nodes, + 100 for clients), or
 * one node on each of `hosts` (every machine the same two ports).
 */
export function makeCluster(
  rng: Rng,
  options: { nodes: number; host: string; basePort: number } | { hosts: readonly string[]; basePort: number },
): { config: ClusterConfig; secret: ClusterSecret } {
  const count = 'hosts' in options ? options.hosts.length : options.nodes;
  if (!Number.isInteger(count) || count < 1 || count > 9) throw new ClusterConfigError('a cluster has 1 to 9 nodes');
  const place = (i: number): { host: string; port: number } =>
    'hosts' in options ? { host: options.hosts[i]!.replace(/^\[(.*)\]$/, '$1'), port: options.basePort } : { host: options.host, port: options.basePort + i };
  const seed = rng.bytes(32);
  const { publicKey } = ed25519FromSeed(seed);
  const nodes = Array.from({ length: count }, (_, i) => {
    const { host, port } = place(i);
    return { id: `n${i + 1}`, peer: formatNetAddress({ host, port }), client: formatNetAddress({ host, port: port + 100 }) };
  });
  for (const node of nodes) {
    nodeAddress(node.peer);
    nodeAddress(node.client);
  }
  return {
    config: { version: 1, nodes, publicKey: b64(ed25519PublicKeyToRaw(publicKey)) },
    secret: { version: 1, signingKey: b64(seed), nodeSecret: b64(rng.bytes(32)) },
  };
}

export async function writeCluster(fs: FileSystem, path: string, cluster: { config: ClusterConfig; secret: ClusterSecret }): Promise<void> {
  await fs.writeFile(path, encoder.encode(JSON.stringify(cluster.config, null, 2) + '\n'), { sync: true });
  await fs.writeFile(secretPathFor(path), encoder.encode(JSON.stringify(cluster.secret, null, 2) + '\n'), { sync: true, mode: 0o600 });
}

async function readJson(fs: FileSystem, path: string): Promise<Record<string, unknown>> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(await fs.readFile(path)));
  } catch (error) {
    throw new ClusterConfigError(`cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ClusterConfigError(`${path} is not a JSON object`);
  return value as Record<string, unknown>;
}

function base64Of(value: unknown, bytes: number, what: string): string {
  if (typeof value !== 'string' || Buffer.from(value, 'base64').length !== bytes) throw new ClusterConfigError(`${what} is not ${bytes} bytes of base64`);
  return value;
}

export async function loadClusterConfig(fs: FileSystem, path: string): Promise<ClusterConfig> {
  const raw = await readJson(fs, path);
  if (raw.version !== 1 || !Array.isArray(raw.nodes) || raw.nodes.length === 0) throw new ClusterConfigError(`${path}: want {"version": 1, "nodes": [...]}`);
  const ids = new Set<string>();
  const nodes = raw.nodes.map((node: unknown, i: number): NodeConfig => {
    const n = node as Partial<NodeConfig> | null;
    if (!n || typeof n.id !== 'string' || !/^[A-Za-z0-9_-]{1,32}$/.test(n.id) || typeof n.peer !== 'string' || typeof n.client !== 'string') {
      throw new ClusterConfigError(`${path}: node ${i} wants {id, peer, client}`);
    }
    if (ids.has(n.id)) throw new ClusterConfigError(`${path}: node id ${n.id} appears twice`);
    ids.add(n.id);
    nodeAddress(n.peer);
    nodeAddress(n.client);
    return { id: n.id, peer: n.peer, client: n.client };
  });
  return { version: 1, nodes, publicKey: base64Of(raw.publicKey, 32, `${path}: publicKey`) };
}

export async function loadClusterSecret(fs: FileSystem, path: string): Promise<ClusterSecret> {
  const raw = await readJson(fs, path);
  if (raw.version !== 1) throw new ClusterConfigError(`${path}: want {"version": 1, ...}`);
  return { version: 1, signingKey: base64Of(raw.signingKey, 32, `${path}: signingKey`), nodeSecret: base64Of(raw.nodeSecret, 32, `${path}: nodeSecret`) };
}
