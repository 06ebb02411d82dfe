// Why this file exists: the page's frame — header (user, live-stream state, log out), the nav
// of views, and the view the URL's fragment names; or, without a valid token, the one message
// that says so. While the peer refuses the stream for too many open pages, one line says so.

import { useEffect, useState } from 'preact/hooks';
import type { ApiClient } from './api.js';
import { usePageState, useAction } from './hooks.js';
import { ErrorLine } from './parts/notice.js';
import { parseRoute, routeHash, type Route } from './route.js';
import type { PageState, PageStore } from './store.js';
import { ClusterView } from './views/cluster.js';
import { DownloadsView } from './views/downloads.js';
import { GroupView } from './views/group.js';
import { GroupsView } from './views/groups.js';
import { LoginView } from './views/login.js';
import { TimelineView } from './views/timeline.js';

export function Unauthorized() {
  return (
    <main class="page">
      <section class="card narrow" role="alert" data-testid="unauthorized">
        <h2>This link's token is wrong or missing</h2>
        <p>Open the page with the link the peer printed when it started (it ends in <code>#token=…</code>).</p>
      </section>
    </main>
  );
}

function useRoute(): Route {
  const [route, setRoute] = useState(parseRoute(window.location.hash));
  useEffect(() => {
    const changed = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', changed);
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return route;
}

function StreamState(props: { stream: PageState['stream'] }) {
  const { stream } = props;
  const text = stream.state === 'live' ? 'live' : stream.state === 'connecting' ? 'connecting…' : `reconnecting in ${Math.ceil(stream.retryInMs / 1000)} s`;
  return (
    <span class={`stream stream-${stream.state}`} data-testid="stream-state" data-state={stream.state} title={stream.state === 'down' ? stream.reason : undefined}>
      {text}
    </span>
  );
}

/** The one line shown while the peer refuses this page's stream because too many of its pages are open. */
function TooManyPages(props: { stream: PageState['stream'] }) {
  if (props.stream.state !== 'down' || props.stream.cause !== 'too-many-pages') return null;
  return (
    <p class="warning-line" role="status" data-testid="too-many-pages">
      too many pages of this peer are open; close one
    </p>
  );
}

function Nav(props: { route: Route; activeDownloads: number }) {
  const { route } = props;
  const item = (target: Route, label: string, current: boolean) => (
    <a href={routeHash(target)} aria-current={current ? 'page' : undefined} data-testid={`nav-${target.view}`}>
      {label}
    </a>
  );
  return (
    <nav class="nav">
      {item({ view: 'groups' }, 'Groups', route.view === 'groups')}
      {route.view === 'group' || route.view === 'timeline' ? item({ view: 'group', group: route.group }, route.group, route.view === 'group') : null}
      {route.view === 'group' || route.view === 'timeline' ? item({ view: 'timeline', group: route.group }, 'Timeline', route.view === 'timeline') : null}
      {item({ view: 'downloads' }, props.activeDownloads > 0 ? `Downloads (${props.activeDownloads})` : 'Downloads', route.view === 'downloads')}
      {item({ view: 'cluster' }, 'Cluster', route.view === 'cluster')}
    </nav>
  );
}

export function App(props: { api: ApiClient; store: PageStore }) {
  const { api, store } = props;
  const state = usePageState(store);
  const route = useRoute();
  const logout = useAction();
  if (state.auth === 'unauthorized') return <Unauthorized />;

  const user = state.status?.user ?? null;
  const active = state.downloads.filter((d) => d.state === 'running' || d.state === 'waiting').length;
  const needsLogin = user === null && (route.view === 'groups' || route.view === 'group' || route.view === 'timeline');
  const view = (() => {
    if (state.status === null) return <p class="card muted">reading the peer…</p>;
    if (needsLogin) return <LoginView api={api} onLoggedIn={() => void store.loadState()} />;
    switch (route.view) {
      case 'groups':
        return <GroupsView api={api} generation={state.generation} news={state.news} />;
      case 'group':
        return <GroupView api={api} group={route.group} user={user} generation={state.generation} webRoots={state.webRoots} />;
      case 'timeline':
        return <TimelineView api={api} group={route.group} generation={state.generation} />;
      case 'downloads':
        return <DownloadsView api={api} downloads={state.downloads} />;
      case 'cluster':
        return <ClusterView cluster={state.cluster} />;
    }
  })();

  return (
    <>
      <header class="top">
        <h1>Clique</h1>
        <StreamState stream={state.stream} />
        <span class="grow" />
        {user !== null ? (
          <span class="who">
            <span data-testid="current-user">{user}</span>
            <button
              class="link"
              disabled={logout.busy}
              data-testid="logout-button"
              onClick={() =>
                void logout.run(async () => {
                  await api.command('logout');
                  await store.loadState();
                  return null;
                })
              }
            >
              Log out
            </button>
          </span>
        ) : (
          <span class="muted">not logged in</span>
        )}
      </header>
      <Nav route={route} activeDownloads={active} />
      <main class="page">
        <TooManyPages stream={state.stream} />
        <ErrorLine error={logout.error ?? (state.status === null ? state.stateError : null)} />
        {view}
      </main>
    </>
  );
}
