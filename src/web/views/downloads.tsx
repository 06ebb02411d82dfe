// Why this file exists: the Downloads view — every download of this peer, newest first, kept
// live by the stream's 'downloads' events (the page reads nothing itself here).

import type { WebDownload } from '../../peer/web/web-api.js';
import type { ApiClient } from '../api.js';
import { DownloadCard } from './download-card.js';

export function DownloadsView(props: { api: ApiClient; downloads: WebDownload[] }) {
  const downloads = [...props.downloads].sort((a, b) => b.id - a.id);
  if (downloads.length === 0) return <p class="card muted">No downloads. Start one from a group's files.</p>;
  return (
    <ul class="downloads" data-testid="download-list">
      {downloads.map((download) => (
        <DownloadCard key={download.id} api={props.api} download={download} />
      ))}
    </ul>
  );
}
