// Why this file exists: the page's access token arrives once in the link's fragment
// (`#token=…`); it is kept in sessionStorage (keyed by origin, so a reload works) and taken out
// of the visible URL at once, so it is not left in the address bar, history or screenshots.

/** The sessionStorage key of this origin's token. */
export function tokenKey(origin: string): string {
  return `clique-token:${origin}`;
}

/** The token in a fragment like `#token=abc` (null when there is none). */
export function tokenOfFragment(hash: string): string | null {
  const token = new URLSearchParams(hash.replace(/^#/, '')).get('token');
  return token === null || token.length === 0 ? null : token;
}

/** Reads the token from the fragment (keeping it, and wiping it from the URL) or from storage. */
export function takeToken(location: Location, storage: Storage, history: History): string | null {
  const key = tokenKey(location.origin);
  const fresh = tokenOfFragment(location.hash);
  if (fresh !== null) {
    storage.setItem(key, fresh);
    history.replaceState(history.state, '', `${location.pathname}${location.search}`);
    return fresh;
  }
  return storage.getItem(key);
}
