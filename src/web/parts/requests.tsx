// Why this file exists: an owner's pending join requests for one group, each with accept and
// reject; read again on news (the store's generation) and after each answer.

import { useState } from 'preact/hooks';
import type { ApiClient } from '../api.js';
import { useAction, useLoad } from '../hooks.js';
import { DoneLine, ErrorLine } from './notice.js';

export function Requests(props: { api: ApiClient; group: string; generation: number; showGroup?: boolean }) {
  const { api, group } = props;
  const [bump, setBump] = useState(0);
  const requests = useLoad(() => api.command('list_requests', [group]), [api, group, props.generation, bump]);
  const action = useAction();

  const answer = (command: 'accept_request' | 'reject_request', user: string) =>
    action.run(async () => {
      await api.command(command, [group, user]);
      setBump((n) => n + 1);
      return command === 'accept_request' ? `${user} is now a member of ${group}` : `turned down ${user}'s request to join ${group}`;
    });

  const list = requests.data ?? [];
  if (list.length === 0 && requests.error === null && action.done === null && action.error === null) return null;
  return (
    <div class="requests" data-testid="requests" data-group={group}>
      {props.showGroup ? <h3>Requests to join {group}</h3> : <h3>Requests to join</h3>}
      <ul class="rows">
        {list.map((request) => (
          <li key={request.user} class="row" data-testid="request-row" data-user={request.user} data-group={group}>
            <span class="grow">
              <strong>{request.user}</strong> <span class="muted">asked at index {request.requestedIndex}</span>
            </span>
            <button class="primary" disabled={action.busy} data-testid="accept-button" onClick={() => void answer('accept_request', request.user)}>
              Accept
            </button>
            <button class="danger" disabled={action.busy} data-testid="reject-button" onClick={() => void answer('reject_request', request.user)}>
              Reject
            </button>
          </li>
        ))}
      </ul>
      <ErrorLine error={requests.error ?? action.error} />
      <DoneLine done={action.done} />
    </div>
  );
}
