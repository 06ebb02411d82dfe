// Why this file exists: the Timeline view — a group's history for its members (who asked, who
// was accepted or rejected, who shared or stopped sharing what; when, at which log index) and
// an "as of" slider showing the group as it was at any index, folded in the page (groupAsOf).
// It reads the whole history once and, on news, only the entries after the last it shows
// (timeline-feed.ts); the slider follows new entries while it is at the latest one.

import { useEffect, useState } from 'preact/hooks';
import { groupAsOf } from '../../log/domain/timeline.js';
import type { GroupAsOf, TimelineEntry } from '../../peer/web/web-api.js';
import type { ApiClient } from '../api.js';
import { formatBytes, formatTime } from '../format.js';
import { errorLine } from '../hooks.js';
import { ErrorLine } from '../parts/notice.js';
import { routeHash } from '../route.js';
import { useTimelineFeed } from '../timeline-feed.js';
import { eventText, fileNames } from './timeline-text.js';

/** The distinct log indices of the entries, ascending (one log entry may hold several events). */
function indicesOf(entries: readonly TimelineEntry[]): number[] {
  return [...new Set(entries.map((entry) => entry.index))].sort((a, b) => a - b);
}

function AsOf(props: { group: GroupAsOf }) {
  const { group } = props;
  if (!group.exists) return <p class="muted" data-testid="asof-state">The group did not exist at this index.</p>;
  return (
    <dl class="asof" data-testid="asof-state">
      <dt>Owner</dt>
      <dd data-testid="asof-owner">{group.owner ?? '—'}</dd>
      <dt>Members</dt>
      <dd data-testid="asof-members">{group.members.join(', ') || '—'}</dd>
      <dt>Asking to join</dt>
      <dd data-testid="asof-pending">{group.pending.join(', ') || '—'}</dd>
      <dt>Files</dt>
      <dd>
        {group.files.length === 0 ? (
          '—'
        ) : (
          <ul class="plain" data-testid="asof-files">
            {group.files.map((file) => (
              <li key={file.fileId} data-testid="asof-file" data-file={file.name}>
                {file.name} <span class="muted">({formatBytes(file.sizeBytes)}; shared by {file.sharers.join(', ') || 'nobody'})</span>
              </li>
            ))}
          </ul>
        )}
      </dd>
    </dl>
  );
}

export function TimelineView(props: { api: ApiClient; group: string; generation: number }) {
  const { api, group } = props;
  const timeline = useTimelineFeed(api, group, props.generation);
  const entries: readonly TimelineEntry[] = timeline.entries ?? [];
  const indices = indicesOf(entries);
  const first = indices[0] ?? 0;
  const last = indices.at(-1) ?? 0;
  /** null: follow the latest entry as news comes in. */
  const [chosen, setChosen] = useState<number | null>(null);
  useEffect(() => setChosen(null), [group]);
  const index = chosen === null ? last : Math.min(Math.max(chosen, first), last);

  let asOf: GroupAsOf | null = null;
  let foldError: string | null = null;
  if (entries.length > 0) {
    try {
      asOf = groupAsOf(entries, index);
    } catch (error) {
      foldError = errorLine(error);
    }
  }
  const names = fileNames(entries);
  const previous = indices.filter((i) => i < index).at(-1);
  const next = indices.find((i) => i > index);
  const at = entries.filter((entry) => entry.index <= index).at(-1);
  const choose = (value: number) => setChosen(value >= last ? null : value);

  return (
    <>
      <ErrorLine error={timeline.error ?? foldError} />
      <section class="card" data-testid="timeline-view" data-group={group}>
        <h2>
          Timeline of <a href={routeHash({ view: 'group', group })}>{group}</a>
        </h2>
        {entries.length === 0 ? (
          <p class="muted">{timeline.entries === null && timeline.error === null ? 'reading…' : 'No entries.'}</p>
        ) : (
          <>
            <label class="field">
              <span>
                As of index <strong data-testid="asof-index">{index}</strong>
                {at !== undefined ? <span class="muted"> · {formatTime(at.timeMs)}</span> : null}
              </span>
              <input
                type="range"
                min={first}
                max={last}
                step={1}
                value={index}
                aria-valuetext={`index ${index}`}
                data-testid="asof-slider"
                onInput={(e) => choose(Number(e.currentTarget.value))}
              />
            </label>
            <div class="buttons">
              <button disabled={previous === undefined} data-testid="asof-previous" onClick={() => previous !== undefined && choose(previous)}>
                ◀ Previous entry
              </button>
              <button disabled={next === undefined} data-testid="asof-next" onClick={() => next !== undefined && choose(next)}>
                Next entry ▶
              </button>
            </div>
            {asOf !== null ? <AsOf group={asOf} /> : null}
          </>
        )}
      </section>
      <section class="card">
        <h2>History</h2>
        <ol class="timeline" data-testid="timeline-entries">
          {entries.map((entry, position) => (
            <li key={`${entry.index}.${position}`} class={entry.index > index ? 'later' : undefined} data-testid="timeline-entry" data-index={entry.index} data-type={entry.event.type}>
              <button class="link" onClick={() => choose(entry.index)} title="show the group as of this entry">
                #{entry.index}
              </button>
              <span class="grow">{eventText(entry.event, names)}</span>
              <time class="muted small">{formatTime(entry.timeMs)}</time>
            </li>
          ))}
        </ol>
      </section>
    </>
  );
}
