// Why this file exists: the shell commands the page runs through POST /api/commands/<name>,
// each with the result type the shell answers with (src/cli/shell-commands.ts; the page may not
// import the shell, so the shapes it reads are written out here from the contract's own types).

import type { DownloadView, FileSummary, GroupMembers, GroupSummary, GroupTimeline, PeerStatus } from '../peer/web/web-api.js';

export type { GroupMembers };

/** A command that appends to the tracker's log answers with that entry's index. */
type LogIndex = number;

export interface CommandResults {
  login: { user: string; resumed: string[]; downloads: { resumed: string[]; paused: string[] } };
  create_user: { user: string };
  logout: { user: string };
  create_group: LogIndex;
  join_group: LogIndex;
  list_groups: GroupSummary[];
  list_requests: Array<{ user: string; requestedIndex: number }>;
  accept_request: LogIndex;
  reject_request: LogIndex;
  list_files: FileSummary[];
  upload_file: { group: string; name: string; fileId: string; sizeBytes: number };
  download_file: { download: number; group: string; name: string; destination: string; state: DownloadView['state'] };
  pause_download: DownloadView;
  resume_download: DownloadView;
  cancel_download: { id: number; name: string; removed: string | null };
  stop_share: { group: string; name: string };
  show_downloads: DownloadView[];
  status: PeerStatus & { downloads: Array<{ id: number; name: string; state: DownloadView['state'] }> };
  /** `group_timeline <group_id> [--after INDEX]`: the whole history, or only the entries after INDEX. */
  group_timeline: GroupTimeline;
  /** `list_members <group_id>` (members only): the owner and every member, with the log index each joined at. */
  list_members: GroupMembers;
}

export type CommandName = keyof CommandResults;
