// Why this file exists: the Groups view — the user's groups and all the others (with a join
// button), a form to make a group, for each group the user owns its pending requests, and the
// latest news lines (from the stream: no request of their own).

import { useState } from 'preact/hooks';
import type { GroupSummary, NewsLine } from '../../peer/web/web-api.js';
import type { ApiClient } from '../api.js';
import { useAction, useLoad } from '../hooks.js';
import { DoneLine, ErrorLine } from '../parts/notice.js';
import { Requests } from '../parts/requests.js';
import { routeHash } from '../route.js';

const RECENT_NEWS = 5;
const RELATION_WORDS: Readonly<Record<GroupSummary['relation'], string>> = { owner: 'yours', member: 'member', pending: 'asked to join', none: 'not a member' };

export function GroupsView(props: { api: ApiClient; generation: number; news: NewsLine[] }) {
  const { api } = props;
  const [bump, setBump] = useState(0);
  const groups = useLoad(() => api.command('list_groups'), [api, props.generation, bump]);
  const action = useAction();
  const [name, setName] = useState('');

  const create = () =>
    action.run(async () => {
      await api.command('create_group', [name]);
      setName('');
      setBump((n) => n + 1);
      return `group ${name} made; you own it`;
    });
  const join = (group: string) =>
    action.run(async () => {
      await api.command('join_group', [group]);
      setBump((n) => n + 1);
      return `asked to join ${group}; its owner decides`;
    });

  const all = groups.data ?? [];
  const mine = all.filter((g) => g.relation === 'owner' || g.relation === 'member');
  const others = all.filter((g) => g.relation === 'pending' || g.relation === 'none');
  const row = (g: GroupSummary) => (
    <tr key={g.group} data-testid="group-row" data-group={g.group} data-relation={g.relation}>
      <td data-label="Group">
        <a href={routeHash({ view: 'group', group: g.group })}>{g.group}</a>
      </td>
      <td data-label="Owner">{g.owner}</td>
      <td data-label="Members">{g.memberCount}</td>
      <td data-label="You">
        {g.relation === 'none' ? (
          <button class="primary" disabled={action.busy} data-testid="join-button" onClick={() => void join(g.group)}>
            Join
          </button>
        ) : (
          <span class={`badge badge-${g.relation}`}>{RELATION_WORDS[g.relation]}</span>
        )}
      </td>
    </tr>
  );
  const table = (rows: GroupSummary[], testId: string, empty: string) =>
    rows.length === 0 ? (
      <p class="muted">{empty}</p>
    ) : (
      <table class="cards" data-testid={testId}>
        <thead>
          <tr>
            <th>Group</th>
            <th>Owner</th>
            <th>Members</th>
            <th>You</th>
          </tr>
        </thead>
        <tbody>{rows.map(row)}</tbody>
      </table>
    );

  return (
    <>
      <ErrorLine error={groups.error ?? action.error} />
      <DoneLine done={action.done} />
      <section class="card">
        <h2>Your groups</h2>
        {groups.data === null && groups.loading ? <p class="muted">reading…</p> : table(mine, 'my-groups', 'You are in no group yet.')}
        {mine
          .filter((g) => g.relation === 'owner')
          .map((g) => (
            <Requests key={g.group} api={api} group={g.group} generation={props.generation} showGroup />
          ))}
        <form
          class="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            void create();
          }}
        >
          <label class="field grow">
            <span>New group</span>
            <input value={name} required placeholder="group name" data-testid="create-group-name" onInput={(e) => setName(e.currentTarget.value)} />
          </label>
          <button type="submit" disabled={action.busy || name.length === 0} data-testid="create-group-submit">
            Create group
          </button>
        </form>
      </section>
      <section class="card">
        <h2>Other groups</h2>
        {table(others, 'other-groups', 'No other groups.')}
      </section>
      {props.news.length > 0 ? (
        <section class="card">
          <h2>Recent news</h2>
          <ul class="plain news">
            {props.news
              .slice(-RECENT_NEWS)
              .reverse()
              .map((line) => (
                <li key={`${line.index}:${line.line}`} data-testid="news-line">
                  <span class="muted small">#{line.index}</span> {line.line}
                </li>
              ))}
          </ul>
        </section>
      ) : null}
    </>
  );
}
