// Why this file exists: a field for a path on the peer's machine, completed from
// GET /api/complete?path= as one types (a request per pause in typing, none while idle).

import { useEffect, useId, useState } from 'preact/hooks';
import type { PathCompletion } from '../../peer/web/web-api.js';
import type { ApiClient } from '../api.js';

const TYPING_PAUSE_MS = 150;

export function PathField(props: { api: ApiClient; value: string; onChange(value: string): void; label: string; placeholder: string; testId: string; directoriesOnly?: boolean }) {
  const listId = useId();
  const [entries, setEntries] = useState<PathCompletion['entries']>([]);
  const { api, value, directoriesOnly } = props;

  useEffect(() => {
    if (value.length === 0) {
      setEntries([]);
      return;
    }
    let current = true;
    const timer = window.setTimeout(() => {
      api.complete(value).then(
        (answer) => current && setEntries(answer.entries.filter((entry) => !directoriesOnly || entry.directory)),
        () => current && setEntries([]),
      );
    }, TYPING_PAUSE_MS);
    return () => {
      current = false;
      window.clearTimeout(timer);
    };
  }, [api, value, directoriesOnly]);

  return (
    <label class="field">
      <span>{props.label}</span>
      <input type="text" list={listId} value={value} placeholder={props.placeholder} autocomplete="off" spellcheck={false} data-testid={props.testId} onInput={(e) => props.onChange(e.currentTarget.value)} />
      <datalist id={listId} data-testid={`${props.testId}-options`}>
        {entries.map((entry) => (
          <option key={entry.path} value={entry.directory ? `${entry.path.replace(/\/$/, '')}/` : entry.path} />
        ))}
      </datalist>
    </label>
  );
}
