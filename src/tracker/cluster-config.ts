// Why this file exists: the cluster's description and its secrets. cluster.json (handed to
// every peer) names each node's peer and client addresses and holds the cluster's Ed25519
// public key and its certificate authority (CA): every node's certificate chains to it and
// names the node (`clique:node/n1`), not its address, so addresses can be edited later. The
// secrets are files of their own, mode 0600: `<id>.secret` on each tracker machine (that node's
// TLS key and certificate, and the ticket signing key), `ca.secret` kept by the operator (the
// CA's key and the signing key, to add nodes). All are validated when read.

import { createHash } from 'node:crypto';
import { ed25519FromSeed, ed25519PublicKeyToRaw } from '../torrent/ticket.js';
import type { Certificates, FileSystem, NetAddress, Rng } from '../world/world.js';
import { AddressError, formatNetAddress, parseNetAddress } from '../world/net-address.js';
import { nodeUri, type TrackerTrust } from './tracker-trust.js';

export interface NodeConfig {
  id: string;
  /** host:port for Raft traffic between nodes. */
  peer: string;
  /** host:port for clients. */
  client: string;
}

export interface ClusterConfig {
  version: 2;
  nodes: NodeConfig[];
  /** base64 of the raw 32-byte Ed25519 public key that verifies access tickets. */
  publicKey: string;
  /** The cluster CA's certificate (PEM): a node's certificate chains to it and names the node. */
  ca: string;
}

/** What one tracker node keeps: its TLS key and certificate, and the ticket signing key. */
export interface NodeSecret {
  version: 2;
  node: string;
  /** PEM */
  certificate: string;
  /** PEM */
  key: string;
  /** base64 of the 32-byte Ed25519 seed that signs access tickets. */
  signingKey: string;
}

/** What the operator keeps: the CA's key (to certify new nodes) and the ticket signing key. */
export interface AuthoritySecret {
  version: 2;
  /** PEM */
  caKey: string;
  signingKey: string;
}

export interface Cluster {
  config: ClusterConfig;
  authority: AuthoritySecret;
  nodes: NodeSecret[];
}

/** What is wrong with a cluster file or a secret file; `code` is what the command line prints. */
export class ClusterConfigError extends Error {
  override name = 'ClusterConfigError';
  constructor(
    message: string,
    /** NO_CLUSTER_FILE or NO_SECRET_FILE when the file is missing, else BAD_CLUSTER_FILE. */
    readonly code: 'BAD_CLUSTER_FILE' | 'NO_CLUSTER_FILE' | 'NO_SECRET_FILE' = 'BAD_CLUSTER_FILE',
  ) {
    super(message);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

/** How a client checks the cluster's nodes: their CA, and which node is at which client address. */
export function clusterTrust(config: ClusterConfig): TrackerTrust {
  return { kind: 'ca', caPem: config.ca, nodeIds: new Map(config.nodes.map((node) => [node.client, node.id])) };
}

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

function directoryOf(clusterPath: string): string {
  const slash = clusterPath.lastIndexOf('/');
  return slash < 0 ? '.' : clusterPath.slice(0, slash) || '/';
}

/** `<id>.secret` beside cluster.json: one tracker node's secrets. */
export function nodeSecretPath(clusterPath: string, id: string): string {
  return `${directoryOf(clusterPath)}/${id}.secret`;
}

/** `ca.secret` beside cluster.json: the operator's. */
export function authoritySecretPath(clusterPath: string): string {
  return `${directoryOf(clusterPath)}/ca.secret`;
}

/** The file of secrets before certificates (one for every node): read only to upgrade. */
export function legacySecretPath(clusterPath: string): string {
  return clusterPath.replace(/\.json$/, '') + '.secret';
}

/**
 * A new cluster: `nodes` nodes on one host (ports basePort + i for nodes, + 100 for clients), or
 * one node on each of `hosts` (every machine the same two ports); a CA and a certificate per node.
 */
export async function makeCluster(
  tools: { rng: Rng; certs: Certificates },
  options: { nodes: number; host: string; basePort: number } | { hosts: readonly string[]; basePort: number },
): Promise<Cluster> {
  const count = 'hosts' in options ? options.hosts.length : options.nodes;
  if (!Number.isInteger(count) || count < 1 || count > 9) throw new ClusterConfigError('a cluster has 1 to 9 nodes');
  const place = (i: number): { host: string; port: number } =>
    'hosts' in options ? { host: options.hosts[i]!.replace(/^\[(.*)\]$/, '$1'), port: options.basePort } : { host: options.host, port: options.basePort + i };
  const nodes = Array.from({ length: count }, (_, i) => {
    const { host, port } = place(i);
    return { id: `n${i + 1}`, peer: formatNetAddress({ host, port }), client: formatNetAddress({ host, port: port + 100 }) };
  });
  for (const node of nodes) {
    nodeAddress(node.peer);
    nodeAddress(node.client);
  }
  return certify(tools, nodes, tools.rng.bytes(32));
}

/** The CA, one certificate per node, and the secrets' files' contents, for nodes and a signing seed. */
async function certify(tools: { certs: Certificates }, nodes: NodeConfig[], signingSeed: Uint8Array): Promise<Cluster> {
  const { publicKey } = ed25519FromSeed(signingSeed);
  const signingKey = b64(signingSeed);
  const ca = await tools.certs.authority('clique cluster CA');
  const secrets: NodeSecret[] = [];
  for (const node of nodes) {
    const issued = await tools.certs.issue([nodeUri(node.id)], ca);
    secrets.push({ version: 2, node: node.id, certificate: issued.certificatePem, key: issued.keyPem, signingKey });
  }
  return {
    config: { version: 2, nodes, publicKey: b64(ed25519PublicKeyToRaw(publicKey)), ca: ca.certificatePem },
    authority: { version: 2, caKey: ca.keyPem, signingKey },
    nodes: secrets,
  };
}

/** cluster.json, ca.secret and every `<id>.secret` (secrets mode 0600, written first). */
export async function writeCluster(fs: FileSystem, path: string, cluster: Cluster): Promise<void> {
  const json = (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value, null, 2) + '\n');
  await fs.writeFile(authoritySecretPath(path), json(cluster.authority), { sync: true, mode: 0o600 });
  for (const secret of cluster.nodes) await fs.writeFile(nodeSecretPath(path, secret.node), json(secret), { sync: true, mode: 0o600 });
  await fs.writeFile(path, json(cluster.config), { sync: true });
}

/**
 * Brings a cluster made before certificates (version 1: one cluster.secret) to version 2: a CA
 * and node certificates, the same node ids, addresses and signing key, so the nodes' data stays
 * good. Returns false when the cluster was of version 2 already.
 */
export async function upgradeCluster(tools: { certs: Certificates; fs: FileSystem }, path: string): Promise<boolean> {
  const raw = await readJson(tools.fs, path, 'NO_CLUSTER_FILE');
  if (raw.version === 2) return false;
  if (raw.version !== 1) throw new ClusterConfigError(`${path}: version ${String(raw.version)} is not one this build knows`);
  const nodes = nodesOf(raw, path);
  const legacy = await readJson(tools.fs, legacySecretPath(path), 'NO_SECRET_FILE');
  const seed = Buffer.from(base64Of(legacy.signingKey, 32, `${legacySecretPath(path)}: signingKey`), 'base64');
  const cluster = await certify(tools, nodes, new Uint8Array(seed));
  await writeCluster(tools.fs, path, cluster);
  await tools.fs.unlink(legacySecretPath(path));
  return true;
}

async function readJson(fs: FileSystem, path: string, missing: 'NO_CLUSTER_FILE' | 'NO_SECRET_FILE'): Promise<Record<string, unknown>> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(await fs.readFile(path)));
  } catch (error) {
    const absent = (error as { code?: unknown } | null)?.code === 'ENOENT';
    throw new ClusterConfigError(`cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`, absent ? missing : 'BAD_CLUSTER_FILE');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ClusterConfigError(`${path} is not a JSON object`);
  return value as Record<string, unknown>;
}

function base64Of(value: unknown, bytes: number, what: string): string {
  if (typeof value !== 'string' || Buffer.from(value, 'base64').length !== bytes) throw new ClusterConfigError(`${what} is not ${bytes} bytes of base64`);
  return value;
}

function nodesOf(raw: Record<string, unknown>, path: string): NodeConfig[] {
  if (!Array.isArray(raw.nodes) || raw.nodes.length === 0) throw new ClusterConfigError(`${path}: want {"nodes": [...]}`);
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
  return nodes;
}

function pem(value: unknown, label: string, what: string): string {
  // `label` ends the armor's label: CERTIFICATE, PRIVATE KEY (and a simulation's own labels).
  if (typeof value !== 'string' || !new RegExp(`-----BEGIN [A-Z ]*${label}-----`).test(value)) throw new ClusterConfigError(`${what} is not a PEM ${label.toLowerCase()}`);
  return value;
}

export async function loadClusterConfig(fs: FileSystem, path: string): Promise<ClusterConfig> {
  const raw = await readJson(fs, path, 'NO_CLUSTER_FILE');
  if (raw.version === 1) throw new ClusterConfigError(`${path} was made before TLS (it has no certificate authority): run clique cluster upgrade --dir ${directoryOf(path)} on a machine with its cluster.secret`);
  if (raw.version !== 2) throw new ClusterConfigError(`${path}: want {"version": 2, "nodes": [...], "publicKey", "ca"}`);
  return { version: 2, nodes: nodesOf(raw, path), publicKey: base64Of(raw.publicKey, 32, `${path}: publicKey`), ca: pem(raw.ca, 'CERTIFICATE', `${path}: ca`) };
}

/** One node's secrets, from `<id>.secret` beside cluster.json. */
export async function loadNodeSecret(fs: FileSystem, clusterPath: string, id: string): Promise<NodeSecret> {
  const path = nodeSecretPath(clusterPath, id);
  const raw = await readJson(fs, path, 'NO_SECRET_FILE');
  if (raw.version !== 2 || raw.node !== id) throw new ClusterConfigError(`${path}: want the secrets of node ${id} ({"version": 2, "node": "${id}", ...})`);
  return {
    version: 2,
    node: id,
    certificate: pem(raw.certificate, 'CERTIFICATE', `${path}: certificate`),
    key: pem(raw.key, 'KEY', `${path}: key`),
    signingKey: base64Of(raw.signingKey, 32, `${path}: signingKey`),
  };
}

/** The ticket signing key from any secret file of the cluster (a node's, or ca.secret): what a live audit proves. */
export async function loadSigningKey(fs: FileSystem, secretPath: string): Promise<string> {
  const raw = await readJson(fs, secretPath, 'NO_SECRET_FILE');
  return base64Of(raw.signingKey, 32, `${secretPath}: signingKey`);
}


/**
 * A key for one purpose derived from the ticket signing seed (SHA-256 of a label and the seed):
 * whoever holds a cluster secret file can prove it (a live audit) without the seed itself
 * crossing the wire.
 */
export function derivedKey(signingKey: string, purpose: 'audit'): Uint8Array {
  return new Uint8Array(createHash('sha256').update(`clique ${purpose} key\0`).update(Buffer.from(signingKey, 'base64')).digest());
}
