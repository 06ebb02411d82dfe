// Why this file exists: one download as the Downloads view draws it — progress bar, rate, ETA,
// peers and state, the piece map, bytes from each peer, pause/resume/cancel, and why it waits
// or failed (with the code).

import type { WebDownload } from '../../peer/web/web-api.js';
import type { ApiClient } from '../api.js';
import { formatBytes, formatDuration, formatRate } from '../format.js';
import { useAction } from '../hooks.js';
import { DoneLine, ErrorLine } from '../parts/notice.js';
import { PieceMap } from '../parts/piece-map.js';
import { ProgressBar } from '../parts/progress-bar.js';

function BytesFrom(props: { title: string; bytes: Record<string, number>; testId: string }) {
  const rows = Object.entries(props.bytes).sort(([, a], [, b]) => b - a);
  if (rows.length === 0) return null;
  return (
    <table class="bytes-from" data-testid={props.testId}>
      <caption>{props.title}</caption>
      <tbody>
        {rows.map(([who, bytes]) => (
          <tr key={who} data-testid="bytes-from-row" data-peer={who}>
            <td class="name">{who}</td>
            <td class="number">{formatBytes(bytes)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function DownloadCard(props: { api: ApiClient; download: WebDownload }) {
  const { api, download: d } = props;
  const action = useAction();
  const act = (command: 'pause_download' | 'resume_download' | 'cancel_download', done: string) =>
    action.run(async () => {
      await api.command(command, [String(d.id)]);
      return done;
    });

  return (
    <li class="card download" data-testid="download-row" data-id={d.id} data-state={d.state}>
      <div class="download-head">
        <h3 class="grow name">{d.name}</h3>
        <span class={`badge badge-${d.state}`} data-testid="download-state">
          {d.state}
        </span>
      </div>
      <p class="muted small">
        #{d.id} in {d.group} → {d.destination}
      </p>
      <ProgressBar doneBytes={d.verifiedBytes} totalBytes={d.sizeBytes} label={`${d.name}: verified bytes`} tone={d.state} />
      <p class="figures">
        <span>
          {formatBytes(d.verifiedBytes)} of {formatBytes(d.sizeBytes)}
        </span>
        <span data-testid="download-rate">{d.state === 'running' ? formatRate(d.bytesPerSecond) : '—'}</span>
        <span data-testid="download-eta">ETA {formatDuration(d.etaSeconds)}</span>
        <span data-testid="download-peers">
          {d.peers} {d.peers === 1 ? 'peer' : 'peers'}
        </span>
      </p>
      {d.waiting ? (
        <p class="warning-line" data-testid="download-waiting">
          {d.waiting.code}: {d.waiting.message}
          {d.waiting.holders.length > 0 ? ` (holders: ${d.waiting.holders.join(', ')})` : ''}
        </p>
      ) : null}
      {d.failure ? (
        <p class="error-line" data-testid="download-failure">
          {d.failure.code}: {d.failure.message}
        </p>
      ) : null}
      <PieceMap pieces={d.pieces} />
      <div class="bytes-from-pair">
        <BytesFrom title="Bytes from each user" bytes={d.bytesFromUser} testId="bytes-from-user" />
        <BytesFrom title="Bytes from each peer" bytes={d.bytesFromPeer} testId="bytes-from-peer" />
      </div>
      <div class="buttons">
        {d.state === 'running' || d.state === 'waiting' ? (
          <button disabled={action.busy} data-testid="pause-button" onClick={() => void act('pause_download', `download ${d.id} paused`)}>
            Pause
          </button>
        ) : null}
        {d.state === 'paused' || d.state === 'failed' ? (
          <button class="primary" disabled={action.busy} data-testid="resume-button" onClick={() => void act('resume_download', `download ${d.id} resumed`)}>
            Resume
          </button>
        ) : null}
        {d.state === 'complete' ? null : (
          <button class="danger" disabled={action.busy} data-testid="cancel-button" onClick={() => void act('cancel_download', `download ${d.id} cancelled`)}>
            Cancel
          </button>
        )}
      </div>
      <ErrorLine error={action.error} />
      <DoneLine done={action.done} />
    </li>
  );
}
