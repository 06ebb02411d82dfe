// Why this file exists: the Group view — its owner and members (from `list_members`, a cheap
// read of the tracker's state: the view reads it again on every news line, so it must not fold
// the whole timeline for it), the owner's pending requests, and its files.

import { useState } from 'preact/hooks';
import type { ApiClient } from '../api.js';
import type { GroupMembers } from '../commands.js';
import { useLoad } from '../hooks.js';
import { ErrorLine } from '../parts/notice.js';
import { Requests } from '../parts/requests.js';
import { routeHash } from '../route.js';
import { GroupFiles } from './group-files.js';

/** The owner first, then the other members in the order they joined. */
function membersInOrder(group: GroupMembers): GroupMembers['members'] {
  const owner = group.members.filter((member) => member.user === group.owner);
  const others = group.members.filter((member) => member.user !== group.owner).sort((a, b) => a.joinedIndex - b.joinedIndex);
  return [...owner, ...others];
}

export function GroupView(props: { api: ApiClient; group: string; user: string | null; generation: number; webRoots: string[] }) {
  const { api, group } = props;
  const [bump, setBump] = useState(0);
  const inputs = [api, group, props.generation, bump];
  const groups = useLoad(() => api.command('list_groups'), inputs);
  const summary = groups.data?.find((g) => g.group === group) ?? null;
  const inside = summary !== null && (summary.relation === 'owner' || summary.relation === 'member');
  const files = useLoad(inside ? () => api.command('list_files', [group]) : null, [...inputs, inside]);
  const members = useLoad(inside ? () => api.command('list_members', [group]) : null, [...inputs, inside]);

  if (groups.data !== null && summary === null) return <ErrorLine error={`NO_SUCH_GROUP: no group ${group}`} />;
  return (
    <>
      <ErrorLine error={groups.error ?? files.error ?? members.error} />
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
            {inside && members.data !== null ? (
              <ul class="chips" data-testid="member-list">
                {membersInOrder(members.data).map((member) => (
                  <li
                    key={member.user}
                    class={member.user === members.data?.owner ? 'chip chip-owner' : 'chip'}
                    title={member.user === members.data?.owner ? `owner; made the group at #${member.joinedIndex}` : `joined at #${member.joinedIndex}`}
                    data-testid="member"
                    data-user={member.user}
                  >
                    {member.user}
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
