// Why this file exists: the contract between a peer's web page and the peer that serves it —
// the JSON HTTP API (also for scripts) and the events of its one live stream. Types only, so
// the page (src/web, built for the browser) imports it without pulling in the peer.
//
// Every request but the page's own files carries `Authorization: Bearer <token>` and a `Host`
// that is the address the peer is bound to. Answers have the shape `--json` prints:
//   {"ok":true,"command":"list_groups","result":…}
//   {"ok":false,"command":"…","error":{"code":"NOT_A_MEMBER","message":"…"}}
// with the same codes; HTTP status 200 when ok, 400 for a malformed request (the shell's usage
// errors, BAD_REQUEST), 401 without the right token (UNAUTHORIZED), 403 for a wrong Host
// (BAD_HOST) or a path outside the web roots (OUTSIDE_WEB_ROOT), 404 for no such route
// (NOT_FOUND), 409 for a command the peer or tracker refused, 500 for INTERNAL, 503 when 16
// pages already listen to the live stream (TOO_MANY_PAGES).
//
// Routes:
//   GET  /                          the page (index.html, app.js, app.css: no token needed)
//   POST /api/commands/<name>       body {"args": ["word", …]}: the shell command <name>, its
//                                   words as typed (no quoting needed); result as with --json
//   GET  /api/state                 WebState: what the page shows before the first event
//   GET  /api/complete?path=P       PathCompletion: entries under the web roots starting with P
//   GET  /api/events                the live stream: text/event-stream, one `event:`/`data:`
//                                   pair per WebEvent (data is its JSON), comments as keep-alive
//
// Commands the page uses beyond the specification's: `list_members <group>` (GroupMembers,
// members only) and `group_timeline <group> [--after INDEX]` (GroupTimeline, members only; with
// --after, only the entries after that log index).

import type { FileSummary, GroupMembers, GroupSummary } from '../../log/domain/queries.js';
import type { GroupAsOf, TimelineEntry, TimelineEvent } from '../../log/domain/timeline.js';
import type { DownloadView } from '../downloads.js';
import type { NewsLine } from '../news.js';

export type { DownloadView, FileSummary, GroupAsOf, GroupMembers, GroupSummary, NewsLine, TimelineEntry, TimelineEvent };

/** The header that carries the access token. */
export const TOKEN_HEADER = 'authorization';

/** The body of POST /api/commands/<name>. */
export interface CommandRequest {
  args: string[];
}

/** One answer, as `--json` prints it. */
export type ApiAnswer<R = unknown> = { ok: true; command: string; result: R } | { ok: false; command: string; error: { code: string; message: string } };

/** A download as the page draws it: the shell's view and its piece map. */
export interface WebDownload extends DownloadView {
  /**
   * One character a piece: `v` verified, `f` in flight (some blocks asked or arrived, not yet
   * verified), `-` missing. Empty for a download whose pieces are not known yet.
   */
  pieces: string;
  /** Seconds left at the current rate (null when not running or no rate yet). */
  etaSeconds: number | null;
}

/** This peer, as `status` tells it. */
export interface PeerStatus {
  user: string | null;
  listening: string;
  /** Where the tracker sees us (null before login). */
  address: string | null;
  reachable: boolean | null;
  pushChannel: string | null;
  keyFingerprint: string;
  rates: { up: number | null; down: number | null };
}

/** One tracker node, as `clique status` tells it (null fields: the node did not answer). */
export interface ClusterNode {
  /** Its client address, as the cluster file names it. */
  address: string;
  id: string | null;
  role: string | null;
  term: number | null;
  leader: string | null;
  commit: number | null;
  applied: number | null;
  /** Why it gave no status (unreachable, untrusted). */
  failure: string | null;
}

export interface ClusterView {
  nodes: ClusterNode[];
  /** The leader's id as most answering nodes name it (null: none known). */
  leader: string | null;
}

/** GET /api/state. */
export interface WebState {
  status: PeerStatus;
  downloads: WebDownload[];
  cluster: ClusterView;
  /** Recent news lines (oldest first). */
  news: NewsLine[];
  /** The directories paths may be under (shares and download destinations). */
  webRoots: string[];
}

/** GET /api/complete?path=P. */
export interface PathCompletion {
  entries: Array<{ path: string; directory: boolean }>;
}

/** The result of the shell command `group_timeline <group_id>`. */
export interface GroupTimeline {
  group: string;
  entries: TimelineEntry[];
}

/** What the live stream carries: the SSE event name is `type`, the data the whole object. */
export type WebEvent =
  /** First on every stream, and whenever the user logs in or out. */
  | { type: 'status'; status: PeerStatus }
  /** Every download, when any changed (at most a few times a second while some run; never while idle). */
  | { type: 'downloads'; downloads: WebDownload[] }
  /** A line of news from the tracker (a join request, an accept, a file shared…): views that show groups read them again. */
  | { type: 'news'; line: NewsLine }
  /** The cluster, when any node's role, term, leader, commit or reachability changed. */
  | { type: 'cluster'; cluster: ClusterView };

export type WebEventType = WebEvent['type'];
