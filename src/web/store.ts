// Why this file exists: what the page knows of its peer — status, downloads, cluster, news —
// filled by GET /api/state when the stream opens and kept current by the stream's events alone.
// `generation` grows on each news line, login or logout and reconnect: views showing groups,
// requests or files read them again when it changes (event-driven, never polled).

import type { ClusterView, NewsLine, PeerStatus, WebDownload, WebEvent, WebState } from '../peer/web/web-api.js';
import type { ApiClient } from './api.js';
import { runEventStream, type StreamDownCause } from './event-stream.js';

export interface PageState {
  /** 'unauthorized': the token is wrong or missing; nothing else works. */
  auth: 'ok' | 'unauthorized';
  /** 'down' with cause 'too-many-pages': the peer serves as many pages as it will; the user should close one. */
  stream: { state: 'connecting' } | { state: 'live' } | { state: 'down'; retryInMs: number; reason: string; cause: StreamDownCause };
  status: PeerStatus | null;
  downloads: WebDownload[];
  cluster: ClusterView | null;
  news: NewsLine[];
  webRoots: string[];
  generation: number;
  /** Why /api/state could not be read (null: it was, or is being). */
  stateError: string | null;
}

const MAX_NEWS_LINES = 200;

type Field = 'status' | 'downloads' | 'cluster' | 'news';

export class PageStore {
  private snapshot: PageState = { auth: 'ok', stream: { state: 'connecting' }, status: null, downloads: [], cluster: null, news: [], webRoots: [], generation: 0, stateError: null };
  private readonly listeners = new Set<() => void>();
  /** How many times each field was set by an event: a state read older than an event does not undo it. */
  private readonly versions: Record<Field, number> = { status: 0, downloads: 0, cluster: 0, news: 0 };

  constructor(private readonly api: ApiClient) {}

  get(): PageState {
    return this.snapshot;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Opens the stream (and reads the state each time it opens); answers with the stop function. */
  start(): () => void {
    return runEventStream(this.api, {
      onOpen: () => {
        this.set({ stream: { state: 'live' }, generation: this.snapshot.generation + 1 });
        void this.loadState();
      },
      onEvent: (event) => this.apply(event),
      onDown: (retryInMs, reason, cause) => this.set({ stream: { state: 'down', retryInMs, reason, cause } }),
      onUnauthorized: () => this.unauthorized(),
    });
  }

  unauthorized(): void {
    if (this.snapshot.auth !== 'unauthorized') this.set({ auth: 'unauthorized' });
  }

  /** Reads /api/state; fields an event set while it was on its way keep the event's value. */
  async loadState(): Promise<void> {
    const before = { ...this.versions };
    let state: WebState;
    try {
      state = await this.api.state();
    } catch (error) {
      this.set({ stateError: error instanceof Error ? error.message : String(error) });
      return;
    }
    const fresh = (field: Field): boolean => this.versions[field] === before[field];
    const userChanged = fresh('status') && state.status.user !== this.snapshot.status?.user;
    this.set({
      stateError: null,
      webRoots: state.webRoots,
      ...(fresh('status') ? { status: state.status } : {}),
      ...(fresh('downloads') ? { downloads: state.downloads } : {}),
      ...(fresh('cluster') ? { cluster: state.cluster } : {}),
      ...(fresh('news') ? { news: state.news.slice(-MAX_NEWS_LINES) } : {}),
      ...(userChanged ? { generation: this.snapshot.generation + 1 } : {}),
    });
  }

  apply(event: WebEvent): void {
    this.versions[event.type]++;
    switch (event.type) {
      case 'status': {
        const userChanged = event.status.user !== this.snapshot.status?.user;
        this.set({ status: event.status, ...(userChanged ? { generation: this.snapshot.generation + 1 } : {}) });
        return;
      }
      case 'downloads':
        this.set({ downloads: event.downloads });
        return;
      case 'cluster':
        this.set({ cluster: event.cluster });
        return;
      case 'news':
        this.set({ news: [...this.snapshot.news, event.line].slice(-MAX_NEWS_LINES), generation: this.snapshot.generation + 1 });
        return;
    }
  }

  private set(patch: Partial<PageState>): void {
    this.snapshot = { ...this.snapshot, ...patch };
    for (const listener of this.listeners) listener();
  }
}
