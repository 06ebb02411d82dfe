// News through the scripting contract (issue "A shell people enjoy"), on three real trackers and
// `clique shell --json` processes: the owner hears a join request, the requester the answer (an
// acceptance, a rejection), a member a removal — as events in `news`'s answer; and a login after
// a logout tells, in words, the join requests waiting and what happened meanwhile (a rejection,
// a removal, a file shared, a request), and nothing of the user's own doings.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ok, suiteCluster, type ShellProcess } from '../helpers/peer-processes.js';
import { until } from '../helpers/tracker-processes.js';

const { dir, shell } = suiteCluster('clique-news-');

interface NewsItem {
  index: number;
  events: Array<{ type: string; group?: string; user?: string; by?: string }>;
}
interface LoginResult {
  user: string;
  requests: Array<{ group: string; user: string }>;
  news: Array<{ index: number; line: string }>;
}

/** Waits until `news` answers with an event that matches. */
async function heard(s: ShellProcess, what: { type: string; user?: string; by?: string }): Promise<NewsItem['events'][number]> {
  return until(`${what.type} in news`, async () => {
    const [items] = ok(await s.run('news'));
    return (items as NewsItem[]).flatMap((item) => item.events).find((e) => e.type === what.type && (what.user === undefined || e.user === what.user) && (what.by === undefined || e.by === what.by)) ?? null;
  }, 15_000);
}

const login = async (s: ShellProcess, user: string): Promise<LoginResult> => ok(await s.run(`login ${user} pw-${user}`))[0] as LoginResult;

describe('news, scripted', () => {
  it('reaches the owner, the requester and the removed; a login tells the requests waiting and the news since last time', async () => {
    const [alice, bob, carol, dave, erin] = [shell('alice'), shell('bob'), shell('carol'), shell('dave'), shell('erin')];
    for (const [s, name] of [[alice, 'alice'], [bob, 'bob'], [carol, 'carol'], [dave, 'dave']] as const) {
      ok(await s.run(`create_user ${name} pw-${name}`));
      expect(await login(s, name)).toMatchObject({ requests: [], news: [] });
    }
    ok(await alice.run('create_group friends'));

    // The owner hears the request; the requester the acceptance.
    ok(await bob.run('join_group friends'));
    expect(await heard(alice, { type: 'JoinRequested', user: 'bob' })).toMatchObject({ group: 'friends' });
    ok(await alice.run('accept_request friends bob'));
    expect(await heard(bob, { type: 'JoinAccepted', user: 'bob', by: 'alice' })).toMatchObject({ group: 'friends' });
    // A rejection, and a removal, as they happen.
    ok(await dave.run('join_group friends'));
    await heard(alice, { type: 'JoinRequested', user: 'dave' });
    ok(await alice.run('reject_request friends dave'));
    expect(await heard(dave, { type: 'JoinRejected', user: 'dave', by: 'alice' })).toMatchObject({ group: 'friends' });
    ok(await carol.run('join_group friends'));
    await heard(alice, { type: 'JoinRequested', user: 'carol' });
    ok(await alice.run('accept_request friends carol'));
    await heard(carol, { type: 'JoinAccepted', user: 'carol' });
    ok(await alice.run('remove_member friends carol'));
    expect(await heard(carol, { type: 'MemberRemoved', user: 'carol', by: 'alice' })).toMatchObject({ group: 'friends' });

    // alice is away: bob shares a file, erin asks to join.
    ok(await alice.run('logout'));
    writeFileSync(join(dir, 'notes.txt'), 'the notes\n');
    ok(await bob.run(`upload_file ${join(dir, 'notes.txt')} friends`));
    ok(await erin.run('create_user erin pw-erin', 'login erin pw-erin', 'join_group friends', 'logout'));
    const back = await login(alice, 'alice');
    expect(back.requests).toEqual([{ group: 'friends', user: 'erin' }]);
    expect(back.news.map((n) => n.line)).toEqual(['bob shared notes.txt in friends', 'erin asks to join friends']);

    // erin and bob are away: alice turns erin down and removes bob; each hears it at login.
    ok(await bob.run('logout'));
    ok(await alice.run('reject_request friends erin', 'remove_member friends bob'));
    expect((await login(erin, 'erin')).news.map((n) => n.line)).toEqual(['alice turned down your request to join friends']);
    const bobBack = await login(bob, 'bob');
    expect(bobBack.news.map((n) => n.line)).toEqual(['you were removed from friends by alice']);
    expect(bobBack.requests).toEqual([]);
    // Each index once, in order, in `news` too.
    const [items] = ok(await bob.run('news'));
    const indices = (items as NewsItem[]).map((item) => item.index);
    expect(indices).toEqual([...new Set(indices)].sort((a, b) => a - b));

    // A login on a fresh home starts at the login: nothing old is told.
    const elsewhere = shell('alice-elsewhere');
    ok(await alice.run('logout'));
    expect(await login(elsewhere, 'alice')).toMatchObject({ requests: [], news: [] });
  }, 120_000);
});
