// Why this file exists: the small pieces of text the shell shows a person (without --json) in
// more than one place: sizes, and a download's one-line summary (in answers and in the prompt).

import type { DownloadView } from '../peer/peer-node.js';

const MiB = 1024 * 1024;

export function mib(bytes: number): string {
  return bytes >= MiB ? `${(bytes / MiB).toFixed(1)} MiB` : `${bytes} B`;
}

/**
 * `[D] 3 [group] name  42%  31 MiB/s  ETA 3s  peers 3`; `[W]` waiting with whom for, `[P]` paused,
 * `[C]` complete, `[F]` failed with the reason. Unfinished ones say where their bytes are.
 */
export function downloadLine(d: DownloadView): string {
  const percent = d.sizeBytes === 0 ? 100 : Math.floor((100 * d.verifiedBytes) / d.sizeBytes);
  const head = `${d.id} [${d.group}] ${d.name}`;
  switch (d.state) {
    case 'complete':
      return `[C] ${head}  100%  ${mib(d.sizeBytes)}  ${d.destination}${fromWhom(d)}`;
    case 'failed':
      return `[F] ${head}  ${percent}%  ${d.failure?.code}: ${d.failure?.message}  (partial in ${d.partPath})`;
    case 'paused':
      return `[P] ${head}  ${percent}%  paused  (partial in ${d.partPath})`;
    case 'waiting':
      return `[W] ${head}  ${percent}%  ${d.waiting?.message ?? 'waiting'}`;
    case 'running': {
      const etaSeconds = d.bytesPerSecond > 0 ? Math.ceil((d.sizeBytes - d.verifiedBytes) / d.bytesPerSecond) : null;
      return `[D] ${head}  ${percent}%  ${mib(d.bytesPerSecond)}/s  ETA ${etaSeconds === null ? '?' : `${etaSeconds}s`}  peers ${d.peers}`;
    }
  }
}

/** `  (from alice 12.0 MiB, bob 4.0 MiB)`, the users the bytes came from, most first. */
function fromWhom(d: DownloadView): string {
  const from = Object.entries(d.bytesFromUser).filter(([, bytes]) => bytes > 0).sort((a, b) => b[1] - a[1]);
  return from.length === 0 ? '' : `  (from ${from.map(([who, bytes]) => `${who} ${mib(bytes)}`).join(', ')})`;
}
