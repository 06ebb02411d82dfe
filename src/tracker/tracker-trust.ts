// Why this file exists: how a client knows it talks to a node of its cluster. Every node's TLS
// certificate chains to the cluster's CA (cluster.json) and names the node (`clique:node/n1`),
// so a client that holds the CA accepts any node of the cluster and nothing else: an address
// taken over by someone else fails the handshake, before a password is sent. A client that
// knows only addresses (tracker_info.txt) learns the CA on first use and pins it (known-trackers.ts).

import type { PeerIdentity, SecureOptions } from '../world/world.js';

export type TrackerTrust =
  /**
   * A node's certificate must chain to this CA (PEM) and name the node expected at the address
   * (from cluster.json, or a leader hint), or, at an address of no known node, any node.
   */
  | { kind: 'ca'; caPem: string; nodeIds?: ReadonlyMap<string, string> }
  /** Any certificate: only to ask a node for its cluster's CA, which is then pinned and checked. */
  | { kind: 'first-use' };

/** The error code when a tracker's certificate is not one of the cluster's. */
export const TRACKER_NOT_TRUSTED = 'TRACKER_NOT_TRUSTED';

export const NODE_URI_PREFIX = 'clique:node/';

/** The URI a node's certificate names it by. */
export function nodeUri(id: string): string {
  return `${NODE_URI_PREFIX}${id}`;
}

/** TLS options for a client connection to the tracker node at `address` (host:port as the client knows it). */
export function trackerSecure(trust: TrackerTrust, address: string): SecureOptions {
  if (trust.kind === 'first-use') return { own: null, accept: (peer) => (peer === null ? 'the tracker showed no certificate' : null) };
  const expected = trust.nodeIds?.get(address);
  return {
    own: null,
    caPem: trust.caPem,
    accept: (peer: PeerIdentity | null): string | null => {
      if (!peer?.trusted) return `${TRACKER_NOT_TRUSTED}: its certificate is not of this cluster's CA (another server at the address, or a cluster.json of another cluster)`;
      if (expected !== undefined && !peer.uris.includes(nodeUri(expected))) return `${TRACKER_NOT_TRUSTED}: the certificate at ${address} is not ${expected}'s (${peer.uris.join(' ').slice(0, 60)})`;
      return peer.uris.some((uri) => uri.startsWith(NODE_URI_PREFIX)) ? null : `${TRACKER_NOT_TRUSTED}: the certificate names no node`;
    },
  };
}

/** The same trust, knowing that `id` is at `address` too (a leader hint). */
export function withNodeAt(trust: TrackerTrust, address: string, id: string): TrackerTrust {
  if (trust.kind === 'first-use' || trust.nodeIds?.get(address) === id) return trust;
  return { ...trust, nodeIds: new Map([...(trust.nodeIds ?? []), [address, id]]) };
}
