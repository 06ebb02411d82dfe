// Why this file exists: what the web page's server needs of the peer, in one interface, and its
// making from a PeerNode. The shell's commands are not the peer's (they live in the shell, a
// floor above), so the shell hands in how to run one: the page's API is the shell's, word for word.

import type { PeerNode } from '../peer-node.js';
import { formatNetAddress } from '../../world/net-address.js';
import type { ApiAnswer, ClusterView, NewsLine, PeerStatus, WebDownload } from './web-api.js';

export interface WebHost {
  /** Runs the shell command `name` with these words; never throws. */
  run(name: string, args: string[]): Promise<ApiAnswer>;
  status(): PeerStatus;
  downloads(): WebDownload[];
  news(): NewsLine[];
  /** Calls `listener` with each line of news; returns how to stop. */
  onNews(listener: (line: NewsLine) => void): () => void;
  /** Asks every tracker node for its status. */
  cluster(): Promise<ClusterView>;
}

/** The leader most answering nodes name. */
function leaderOf(nodes: ClusterView['nodes']): string | null {
  const votes = new Map<string, number>();
  for (const node of nodes) if (node.leader !== null) votes.set(node.leader, (votes.get(node.leader) ?? 0) + 1);
  return [...votes].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]?.[0] ?? null;
}

export function peerWebHost(peer: PeerNode, run: WebHost['run']): WebHost {
  return {
    run,
    status: () => ({ user: peer.user, listening: formatNetAddress(peer.address), ...peer.connectivity(), rates: peer.rates() }),
    downloads: () =>
      peer.showDownloads().map((download) => {
        const leftBytes = download.sizeBytes - download.verifiedBytes;
        const etaSeconds = download.state === 'running' && download.bytesPerSecond > 0 ? Math.ceil(leftBytes / download.bytesPerSecond) : null;
        return { ...download, pieces: peer.pieceMap(download.id), etaSeconds };
      }),
    news: () => peer.newsLines(),
    onNews: (listener) => peer.onNews(listener),
    cluster: async () => {
      const nodes = (await peer.clusterStatus()).map(({ address, status, failure }) => ({
        address,
        id: status?.id ?? null,
        role: status?.role ?? null,
        term: status?.term ?? null,
        leader: status?.leader ?? null,
        commit: status?.commit ?? null,
        applied: status?.applied ?? null,
        failure,
      }));
      return { nodes, leader: leaderOf(nodes) };
    },
  };
}
