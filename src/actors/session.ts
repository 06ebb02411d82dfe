// Why this file exists: the peer's session with the tracker as an actor (DESIGN.md §5 "session"):
// logged out → logging in → active, beating every heartbeatMs (any tracker node will do: the
// client follows leader hints and retries elsewhere when a node dies) → logging out. A session
// the tracker has expired (NOT_LOGGED_IN on a heartbeat: the peer was cut off longer than the
// session TTL) is re-opened with the login's refresh credential, and what the peer shares is
// offered again; if that fails too, the session ends and the peer stops serving, so nobody is
// offered a holder the tracker no longer lists. The tracker calls and what the session means
// for serving are the io's business.

import { assign, fromPromise, setup } from 'xstate';

/** An open session as the peer holds it: the secret token, and the refresh credential if any. */
export interface Credential {
  sessionId: string;
  token: string;
  user: string;
  refresh?: string;
}

export interface SessionIo {
  login(user: string, password: string): Promise<Credential>;
  heartbeat(session: Credential): Promise<void>;
  /** A new session from the old one's refresh credential. */
  renew(session: Credential): Promise<Credential>;
  logout(session: Credential): Promise<void>;
  /** The session is open (after login): start serving, offer held files again. */
  opened(session: Credential): Promise<unknown>;
  /** The session is over (logout or expiry): stop serving. */
  ended(reason: 'logout' | 'expired'): void;
  /** Why a tracker call failed, as a stable code. */
  codeOf(error: unknown): string;
}

export interface SessionInput {
  io: SessionIo;
  heartbeatMs: number;
}

interface Context {
  io: SessionIo;
  heartbeatMs: number;
  session: Credential | null;
  /** The last refusal: { code, message } of a failed login or logout. */
  error: { code: string; message: string } | null;
  /** What opened() reported (e.g. the files offered again). */
  openedResult: unknown;
}

/** ADOPT: a session opened elsewhere (a one-shot's saved session) is used as it is; nothing is opened. */
export type SessionEvent = { type: 'LOGIN'; user: string; password: string } | { type: 'ADOPT'; session: Credential } | { type: 'LOGOUT' };

function refusal(io: SessionIo, error: unknown): { code: string; message: string } {
  return { code: io.codeOf(error), message: error instanceof Error ? error.message : String(error) };
}

export const sessionMachine = setup({
  types: { context: {} as Context, events: {} as SessionEvent, input: {} as SessionInput },
  actors: {
    login: fromPromise(async ({ input }: { input: { io: SessionIo; user: string; password: string } }) => {
      const session = await input.io.login(input.user, input.password);
      return { session, opened: await input.io.opened(session) };
    }),
    heartbeat: fromPromise(({ input }: { input: { io: SessionIo; session: Credential } }) => input.io.heartbeat(input.session)),
    renew: fromPromise(({ input }: { input: { io: SessionIo; session: Credential } }) => input.io.renew(input.session)),
    opened: fromPromise(({ input }: { input: { io: SessionIo; session: Credential } }) => input.io.opened(input.session)),
    logout: fromPromise(({ input }: { input: { io: SessionIo; session: Credential } }) => input.io.logout(input.session)),
  },
  delays: { heartbeat: ({ context }) => context.heartbeatMs },
}).createMachine({
  id: 'session',
  context: ({ input }) => ({ io: input.io, heartbeatMs: input.heartbeatMs, session: null, error: null, openedResult: null }),
  initial: 'loggedOut',
  states: {
    loggedOut: {
      on: {
        LOGIN: { target: 'loggingIn' },
        ADOPT: { target: 'active', actions: assign({ session: ({ event }) => event.session, error: null, openedResult: null }) },
        LOGOUT: { actions: assign({ error: { code: 'NOT_LOGGED_IN', message: 'log in first' } }) },
      },
    },
    loggingIn: {
      entry: assign({ error: null }),
      invoke: {
        src: 'login',
        input: ({ context, event }) => {
          const login = event as Extract<SessionEvent, { type: 'LOGIN' }>;
          return { io: context.io, user: login.user, password: login.password };
        },
        onDone: { target: 'active', actions: assign({ session: ({ event }) => event.output.session, openedResult: ({ event }) => event.output.opened }) },
        onError: { target: 'loggedOut', actions: assign({ error: ({ context, event }) => refusal(context.io, event.error) }) },
      },
    },
    active: {
      initial: 'idle',
      on: { LOGOUT: { target: 'loggingOut' } },
      states: {
        idle: { after: { heartbeat: 'beating' } },
        beating: {
          invoke: {
            src: 'heartbeat',
            input: ({ context }) => ({ io: context.io, session: context.session! }),
            onDone: 'idle',
            onError: [
              { guard: ({ context, event }) => context.io.codeOf(event.error) === 'NOT_LOGGED_IN', target: 'renewing' },
              // A tracker that is briefly unreachable (a failover): beat again later.
              { target: 'idle' },
            ],
          },
        },
        renewing: {
          invoke: {
            src: 'renew',
            input: ({ context }) => ({ io: context.io, session: context.session! }),
            // The renewed session is ours from here: what runs while it is opened uses it.
            onDone: { target: 'reopening', actions: assign({ session: ({ event }) => event.output }) },
            onError: [
              // Unreachable again: try the heartbeat (and so the renewal) later.
              { guard: ({ context, event }) => context.io.codeOf(event.error) === 'TRACKER_UNAVAILABLE', target: 'idle' },
              { target: '#session.expired' },
            ],
          },
        },
        reopening: {
          invoke: {
            src: 'opened',
            input: ({ context }) => ({ io: context.io, session: context.session! }),
            onDone: { target: 'idle', actions: assign({ openedResult: ({ event }) => event.output }) },
            onError: [
              { guard: ({ context, event }) => context.io.codeOf(event.error) === 'NOT_LOGGED_IN', target: 'renewing' },
              // The tracker was briefly away: the session stands, and its files are offered again
              // after a heartbeat's wait. Any other failure is not retried: heartbeats go on.
              { guard: ({ context, event }) => context.io.codeOf(event.error) === 'TRACKER_UNAVAILABLE', target: 'reopenLater' },
              { target: 'idle' },
            ],
          },
        },
        reopenLater: { after: { heartbeat: 'reopening' } },
      },
    },
    expired: {
      always: {
        target: 'loggedOut',
        actions: [({ context }) => context.io.ended('expired'), assign({ session: null, error: { code: 'SESSION_EXPIRED', message: 'the tracker ended the session' } })],
      },
    },
    loggingOut: {
      entry: assign({ error: null }),
      invoke: {
        src: 'logout',
        input: ({ context }) => ({ io: context.io, session: context.session! }),
        onDone: { target: 'loggedOut', actions: [({ context }) => context.io.ended('logout'), assign({ session: null })] },
        onError: [
          // The tracker had ended the session already: logged out all the same.
          {
            guard: ({ context, event }) => context.io.codeOf(event.error) === 'NOT_LOGGED_IN',
            target: 'loggedOut',
            actions: [({ context }) => context.io.ended('logout'), assign({ session: null })],
          },
          { target: 'active', actions: assign({ error: ({ context, event }) => refusal(context.io, event.error) }) },
        ],
      },
    },
  },
});
