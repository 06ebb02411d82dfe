// Why this file exists: the small pieces of text the shell shows a person (without --json) in
// more than one place: sizes, and a download's one-line summary (in answers and in the prompt).

import type { DownloadView } from '../peer/peer-node.js';

const MiB = 1024 * 1024;

export function mib(bytes: number): string {
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
