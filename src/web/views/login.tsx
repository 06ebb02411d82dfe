// Why this file exists: the first view of a peer nobody is logged in on — log in, or make an
// account (and log in with it at once).

import { useState } from 'preact/hooks';
import type { ApiClient } from '../api.js';
import { useAction } from '../hooks.js';
import { DoneLine, ErrorLine } from '../parts/notice.js';

export function LoginView(props: { api: ApiClient; onLoggedIn(): void }) {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const action = useAction();
  const { api } = props;

  const logIn = () =>
    action.run(async () => {
      const answer = await api.command('login', [user, password]);
      props.onLoggedIn();
      return `logged in as ${answer.user}`;
    });
  const createAccount = () =>
    action.run(async () => {
      await api.command('create_user', [user, password]);
      const answer = await api.command('login', [user, password]);
      props.onLoggedIn();
      return `account ${answer.user} made; logged in`;
    });

  return (
    <section class="card narrow" aria-labelledby="login-title">
      <h2 id="login-title">Log in</h2>
      <form
        data-testid="login-form"
        onSubmit={(e) => {
          e.preventDefault();
          void logIn();
        }}
      >
        <label class="field">
          <span>User</span>
          <input name="user" autocomplete="username" required value={user} data-testid="login-user" onInput={(e) => setUser(e.currentTarget.value)} />
        </label>
        <label class="field">
          <span>Password</span>
          <input name="password" type="password" autocomplete="current-password" required value={password} data-testid="login-password" onInput={(e) => setPassword(e.currentTarget.value)} />
        </label>
        <div class="buttons">
          <button type="submit" class="primary" disabled={action.busy} data-testid="login-submit">
            Log in
          </button>
          <button type="button" disabled={action.busy || user.length === 0 || password.length === 0} data-testid="create-account" onClick={() => void createAccount()}>
            Create account
          </button>
        </div>
      </form>
      <ErrorLine error={action.error} />
      <DoneLine done={action.done} />
    </section>
  );
}
