// Why this file exists: which view the page shows, kept in the URL's fragment (`#/groups`,
// `#/group/friends`…) so a reload or the back button returns to it. A fragment it cannot read
// (a malformed escape such as `#/group/%E0`, typed or pasted) falls back to the groups view.

export type Route =
  | { view: 'groups' }
  | { view: 'group'; group: string }
  | { view: 'timeline'; group: string }
  | { view: 'downloads' }
  | { view: 'cluster' };

/** The text an escaped part of the fragment stands for, or null when its escapes are malformed. */
function decoded(part: string): string | null {
  try {
    return decodeURIComponent(part);
  } catch {
    return null;
  }
}

export function parseRoute(hash: string): Route {
  const [view, group] = hash.replace(/^#\/?/, '').split('/');
  const name = group === undefined ? '' : decoded(group);
  if (name === null) return { view: 'groups' };
  if ((view === 'group' || view === 'timeline') && name.length > 0) return { view, group: name };
  if (view === 'downloads' || view === 'cluster') return { view };
  return { view: 'groups' };
}

export function routeHash(route: Route): string {
  return route.view === 'group' || route.view === 'timeline' ? `#/${route.view}/${encodeURIComponent(route.group)}` : `#/${route.view}`;
}
