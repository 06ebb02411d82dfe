// Why this file exists: which view the page shows, kept in the URL's fragment (`#/groups`,
// `#/group/friends`…) so a reload or the back button returns to it.

export type Route =
  | { view: 'groups' }
  | { view: 'group'; group: string }
  | { view: 'timeline'; group: string }
  | { view: 'downloads' }
  | { view: 'cluster' };

export function parseRoute(hash: string): Route {
  const [view, group] = hash.replace(/^#\/?/, '').split('/');
  const name = group === undefined ? '' : decodeURIComponent(group);
  if ((view === 'group' || view === 'timeline') && name.length > 0) return { view, group: name };
  if (view === 'downloads' || view === 'cluster') return { view };
  return { view: 'groups' };
}

export function routeHash(route: Route): string {
  return route.view === 'group' || route.view === 'timeline' ? `#/${route.view}/${encodeURIComponent(route.group)}` : `#/${route.view}`;
}
