// Why this file exists: the page's entry — take the token (fragment or storage), then show the
// page on one API client and one store, or the wrong-token message when there is no token.

import { render } from 'preact';
import { apiClient } from './api.js';
import { App, Unauthorized } from './app.js';
import { PageStore } from './store.js';
import { takeToken, tokenKey } from './token.js';

const root = document.getElementById('app');
if (root !== null) {
  const token = takeToken(window.location, window.sessionStorage, window.history);
  if (token === null) {
    render(<Unauthorized />, root);
  } else {
    const api = apiClient(token, () => {
      window.sessionStorage.removeItem(tokenKey(window.location.origin));
      store.unauthorized();
    });
    const store: PageStore = new PageStore(api);
    store.start();
    render(<App api={api} store={store} />, root);
  }
}
