// Why this file exists: the Group view — its owner and members (the group as the timeline's
// last entry leaves it), the owner's pending requests, and its files.

import { useState } from 'preact/hooks';
import type { GroupAsOf } from '../../peer/web/web-api.js';
import { groupAsOf } from '../../log/domain/timeline.js';
import type { ApiClient } from '../api.js';
import { errorLine, useLoad } from '../hooks.js';
import { ErrorLine } from '../parts/notice.js';
import { Requests } from '../parts/requests.js';
import { routeHash } from '../route.js';
import { GroupFiles } from './group-files.js';

/** The owner first, then the other members. */
function membersOf(group: GroupAsOf): string[] {
  return group.owner === null ? group.members : [group.owner, ...group.members.filter((member) => member !== group.owner)];
}

export function GroupView(props: { api: ApiClient; group: string; user: string | null; generation: number; webRoots: string[] }) {
  const { api, group } = props;
  const [bump, setBump] = useState(0);
  const inputs = [api, group, props.generation, bump];
  const groups = useLoad(() => api.command('list_groups'), inputs);
  const summary = groups.data?.find((g) => g.group === group) ?? null;
  const inside = summary !== null && (summary.relation === 'owner' || summary.relation === 'member');
  const files = useLoad(inside ? () => api.command('list_files', [group]) : null, [...inputs, inside]);
  const timeline = useLoad(inside ? () => api.command('group_timeline', [group]) : null, [...inputs, inside]);

  let now: GroupAsOf | null = null;
  let foldError: string | null = null;
  if (timeline.data !== null) {
    try {
      now = groupAsOf(timeline.data.entries, timeline.data.entries.at(-1)?.index ?? 0);
    } catch (error) {
      foldError = errorLine(error);
    }
  }

  if (groups.data !== null && summary === null) return <ErrorLine error={`NO_SUCH_GROUP: no group ${group}`} />;
  return (
    <>
      <ErrorLine error={groups.error ?? files.error ?? timeline.error ?? foldError} />
      <section class="card" data-testid="group-view" data-group={group}>
        <h2>{group}</h2>
        {summary === null ? (
          <p class="muted">reading…</p>
        ) : (
          <>
            <p>
              Owner <strong data-testid="group-owner">{summary.owner}</strong> · {summary.memberCount} {summary.memberCount === 1 ? 'member' : 'members'} ·{' '}
              {inside ? <a href={routeHash({ view: 'timeline', group })}>timeline</a> : <span class="muted">join to see its members, files and timeline</span>}
            </p>
            {now !== null ? (
              <ul class="chips" data-testid="member-list">
                {membersOf(now).map((member) => (
                  <li key={member} class={member === now?.owner ? 'chip chip-owner' : 'chip'} data-testid="member" data-user={member}>
                    {member}
                  </li>
                ))}
              </ul>
            ) : null}
          </>
        )}
        {summary?.relation === 'owner' ? <Requests api={api} group={group} generation={props.generation} /> : null}
      </section>
      {inside && files.data !== null ? <GroupFiles api={api} group={group} user={props.user} files={files.data} webRoots={props.webRoots} onChanged={() => setBump((n) => n + 1)} /> : null}
    </>
  );
}
