// Why this file exists: a group's files in the Group view — size, sharers, who holds them
// online — with download (into a directory on this machine) and, for the user's own shares,
// stop sharing; and the form that shares a file by its path here. The download destination
// starts as the first web root — once the roots are known (they come with /api/state, which may
// arrive after this view) and as long as the user has not typed in the field.

import { useEffect, useRef, useState } from 'preact/hooks';
import type { FileSummary } from '../../peer/web/web-api.js';
import type { ApiClient } from '../api.js';
import { formatBytes } from '../format.js';
import { useAction } from '../hooks.js';
import { DoneLine, ErrorLine } from '../parts/notice.js';
import { PathField } from '../parts/path-field.js';

function holdersText(file: FileSummary): string {
  if (file.completeHolders + file.partialHolders === 0) return 'nobody online';
  return `${file.completeHolders} complete${file.partialHolders > 0 ? `, ${file.partialHolders} partial` : ''}`;
}

export function GroupFiles(props: { api: ApiClient; group: string; user: string | null; files: FileSummary[]; webRoots: string[]; onChanged(): void }) {
  const { api, group } = props;
  const [sharePath, setSharePath] = useState('');
  const [destination, setDestination] = useState(props.webRoots[0] ?? '');
  /** The user typed in the destination field: the web roots no longer fill it. */
  const typed = useRef(false);
  const firstRoot = props.webRoots[0];
  useEffect(() => {
    if (!typed.current && firstRoot !== undefined) setDestination(firstRoot);
  }, [firstRoot]);
  const action = useAction();
  const rootHint = firstRoot ?? '/';

  const share = () =>
    action.run(async () => {
      const answer = await api.command('upload_file', [sharePath, group]);
      setSharePath('');
      props.onChanged();
      return `sharing ${answer.name} in ${answer.group} (${formatBytes(answer.sizeBytes)})`;
    });
  const download = (name: string) =>
    action.run(async () => {
      const answer = await api.command('download_file', [group, name, destination]);
      return `download ${answer.download} ${answer.state === 'waiting' ? 'waiting for a holder' : 'started'}: ${answer.destination}`;
    });
  const stop = (name: string) =>
    action.run(async () => {
      await api.command('stop_share', [group, name]);
      props.onChanged();
      return `no longer sharing ${name} in ${group}`;
    });

  return (
    <section class="card">
      <h2>Files</h2>
      <ErrorLine error={action.error} />
      <DoneLine done={action.done} />
      <PathField
        api={api}
        value={destination}
        onChange={(value) => {
          typed.current = true;
          setDestination(value);
        }}
        label="Download into (a directory here)"
        placeholder={rootHint}
        testId="download-destination"
        directoriesOnly
      />
      {props.files.length === 0 ? (
        <p class="muted">No files shared in {group} yet.</p>
      ) : (
        <table class="cards" data-testid="file-list">
          <thead>
            <tr>
              <th>Name</th>
              <th>Size</th>
              <th>Shared by</th>
              <th>Holders online</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {props.files.map((file) => (
              <tr key={file.fileId} data-testid="file-row" data-file={file.name}>
                <td data-label="Name" class="name">
                  {file.name}
                </td>
                <td data-label="Size">{formatBytes(file.sizeBytes)}</td>
                <td data-label="Shared by">{file.sharers.join(', ') || 'nobody now'}</td>
                <td data-label="Holders online">{holdersText(file)}</td>
                <td class="actions">
                  <button class="primary" disabled={action.busy || destination.length === 0} data-testid="download-button" onClick={() => void download(file.name)}>
                    Download
                  </button>
                  {props.user !== null && file.sharers.includes(props.user) ? (
                    <button class="danger" disabled={action.busy} data-testid="stop-share-button" onClick={() => void stop(file.name)}>
                      Stop sharing
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form
        class="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          void share();
        }}
      >
        <div class="grow">
          <PathField api={api} value={sharePath} onChange={setSharePath} label="Share a file (its path on this machine)" placeholder={`${rootHint.replace(/\/$/, '')}/…`} testId="share-path" />
        </div>
        <button type="submit" disabled={action.busy || sharePath.length === 0} data-testid="share-submit">
          Share
        </button>
      </form>
    </section>
  );
}
