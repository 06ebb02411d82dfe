// Why this file exists: the page's one live stream (Server-Sent Events). While at least one page
// listens, the peer looks at itself a few times a second and sends what changed — its status,
// its downloads — and asks the tracker nodes for their status every second, sending the cluster
// when a role, term, leader, commit or answer changed; news goes out as the push channel brings
// it. With nobody listening nothing runs; with nothing changing nothing is sent but a keep-alive.

import type { Clock, HttpStream, Timer } from '../../world/world.js';
import type { ClusterView, WebEvent } from './web-api.js';
import type { WebHost } from './web-host.js';

/** How often status and downloads are looked at while a page listens. */
export const LOOK_INTERVAL_MS = 250;
/** How often the tracker nodes are asked for their status while a page listens. */
export const CLUSTER_INTERVAL_MS = 1_000;
/** A comment line this often keeps proxies and the browser from giving up on a quiet stream. */
export const KEEP_ALIVE_MS = 15_000;
/** At most this many pages listen at once; the next is refused (TOO_MANY_PAGES) until one goes. */
export const MAX_STREAMS = 16;

export function sseFrame(event: WebEvent): string {
  return `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

export class LiveEvents {
  private readonly streams = new Set<HttpStream>();
  private lookTimer: Timer | null = null;
  private clusterTimer: Timer | null = null;
  private keepAliveTimer: Timer | null = null;
  private stopNews: (() => void) | null = null;
  private lastStatus = '';
  private lastDownloads = '';
  private lastCluster: ClusterView | null = null;
  /** The last cluster sent, as compared: anything the view shows, commit and applied indices included. */
  private lastClusterText = '';
  private asking = false;

  constructor(
    private readonly clock: Clock,
    private readonly host: WebHost,
    private readonly log: (line: string) => void,
  ) {}

  /** Whether another page may listen now. */
  get full(): boolean {
    return this.streams.size >= MAX_STREAMS;
  }

  /** The cluster as last seen (null before the first answers), for a page that asks for the state. */
  get cluster(): ClusterView | null {
    return this.lastCluster;
  }

  /** A page listens: it gets the status, the downloads and the cluster now, then what changes. */
  add(stream: HttpStream): void {
    this.streams.add(stream);
    void stream.closed.then(() => {
      this.streams.delete(stream);
      if (this.streams.size === 0) this.stop();
    });
    stream.write(': clique\n\n');
    const now = this.safely('the first look', () => ({ status: this.host.status(), downloads: this.host.downloads() }));
    if (now !== null) {
      stream.write(sseFrame({ type: 'status', status: now.status }));
      stream.write(sseFrame({ type: 'downloads', downloads: now.downloads }));
    }
    if (this.lastCluster !== null) stream.write(sseFrame({ type: 'cluster', cluster: this.lastCluster }));
    if (this.streams.size === 1) {
      // What the first page was just sent is what later looks compare with.
      this.lastStatus = now === null ? '' : JSON.stringify(now.status);
      this.lastDownloads = now === null ? '' : JSON.stringify(now.downloads);
      this.start();
    }
  }

  /** Ends every stream (the server stops). */
  close(): void {
    for (const stream of this.streams) stream.end();
    this.streams.clear();
    this.stop();
  }

  private send(event: WebEvent): void {
    const frame = sseFrame(event);
    for (const stream of this.streams) if (!stream.write(frame)) this.streams.delete(stream);
  }

  private start(): void {
    this.stopNews = this.host.onNews((line) => this.send({ type: 'news', line }));
    this.look();
    this.askCluster();
    this.keepAlive();
  }

  private stop(): void {
    this.lookTimer?.cancel();
    this.clusterTimer?.cancel();
    this.keepAliveTimer?.cancel();
    this.lookTimer = this.clusterTimer = this.keepAliveTimer = null;
    this.stopNews?.();
    this.stopNews = null;
  }

  /** Runs `work`; a failure is logged and gives null, so a broken look never stops the loop or the peer. */
  private safely<T>(what: string, work: () => T): T | null {
    try {
      return work();
    } catch (error) {
      this.log(`web page: ${what} failed: ${error instanceof Error ? error.message : String(error)}`);
      return null;
    }
  }

  private look(): void {
    this.lookTimer = this.clock.setTimer(LOOK_INTERVAL_MS, () => {
      this.safely('a look at the peer', () => this.lookNow());
      if (this.lookTimer !== null) this.look();
    });
  }

  private lookNow(): void {
    const status = this.host.status();
    const statusText = JSON.stringify(status);
    if (statusText !== this.lastStatus) {
      this.lastStatus = statusText;
      this.send({ type: 'status', status });
    }
    const downloads = this.host.downloads();
    const downloadsText = JSON.stringify(downloads);
    if (downloadsText !== this.lastDownloads) {
      this.lastDownloads = downloadsText;
      this.send({ type: 'downloads', downloads });
    }
  }

  private askCluster(): void {
    if (this.asking) return;
    this.asking = true;
    this.host
      .cluster()
      .then((cluster) => {
        const text = JSON.stringify(cluster);
        if (text !== this.lastClusterText) {
          this.lastCluster = cluster;
          this.lastClusterText = text;
          this.send({ type: 'cluster', cluster });
        }
      })
      .catch(() => undefined)
      .finally(() => {
        this.asking = false;
        if (this.streams.size > 0) this.clusterTimer = this.clock.setTimer(CLUSTER_INTERVAL_MS, () => this.askCluster());
      });
  }

  private keepAlive(): void {
    this.keepAliveTimer = this.clock.setTimer(KEEP_ALIVE_MS, () => {
      for (const stream of this.streams) if (!stream.write(': keep-alive\n\n')) this.streams.delete(stream);
      if (this.keepAliveTimer !== null) this.keepAlive();
    });
  }
}
