// Why this file exists: what the shell prints for a person (without --json): a short line or
// a small table per command. Scripts use --json; this is only for eyes.

import type { FileSummary, GroupSummary } from '../log/domain/queries.js';
import type { DownloadView } from '../peer/peer-node.js';

const MiB = 1024 * 1024;

function mib(bytes: number): string {
  return bytes >= MiB ? `${(bytes / MiB).toFixed(1)} MiB` : `${bytes} B`;
}

/** `[D] [group] name  42%  31 MiB/s  ETA 3s  peers 3`, `[C]` complete, `[F]` failed with the reason. */
export function downloadLine(d: DownloadView): string {
  const percent = d.sizeBytes === 0 ? 100 : Math.floor((100 * d.verifiedBytes) / d.sizeBytes);
  if (d.state === 'complete') return `[C] [${d.group}] ${d.name}  100%  ${mib(d.sizeBytes)}  peers ${d.peers}`;
  if (d.state === 'failed') return `[F] [${d.group}] ${d.name}  ${percent}%  ${d.failure?.code}: ${d.failure?.message}`;
  const etaSeconds = d.bytesPerSecond > 0 ? Math.ceil((d.sizeBytes - d.verifiedBytes) / d.bytesPerSecond) : null;
  return `[D] [${d.group}] ${d.name}  ${percent}%  ${mib(d.bytesPerSecond)}/s  ETA ${etaSeconds === null ? '?' : `${etaSeconds}s`}  peers ${d.peers}`;
}

export function formatResult(command: string, result: unknown): string {
  switch (command) {
    case 'list_groups':
      return (result as GroupSummary[]).map((g) => `${g.group}  (${g.relation}, owner ${g.owner}, ${g.memberCount} members)`).join('\n') || 'no groups';
    case 'list_files':
      return (result as FileSummary[]).map((f) => `${f.name}  ${mib(f.sizeBytes)}  holders ${f.completeHolders}+${f.partialHolders}  ${f.fileId}`).join('\n') || 'no files';
    case 'list_requests':
      return (result as Array<{ user: string }>).map((r) => r.user).join('\n') || 'no pending requests';
    case 'show_downloads':
      return (result as DownloadView[]).map(downloadLine).join('\n') || 'no downloads';
    case 'download_file': {
      const r = result as { download: number; destination: string };
      return `download ${r.download} started: ${r.destination}`;
    }
    case 'help':
      return String(result);
    case 'login': {
      const r = result as { user: string; resumed: string[] };
      return `logged in as ${r.user}${r.resumed.length > 0 ? `; sharing again: ${r.resumed.join(', ')}` : ''}`;
    }
    case 'logout':
      return 'logged out; your files are no longer offered';
    case 'whoami':
      return (result as { user: string }).user;
    case 'upload_file': {
      const r = result as { group: string; name: string; sizeBytes: number; fileId: string };
      return `sharing ${r.name} in ${r.group} (${mib(r.sizeBytes)}, ${r.fileId})`;
    }
    default:
      return typeof result === 'object' && result !== null ? `ok ${JSON.stringify(result)}` : 'ok';
  }
}
