// Why this file exists: which way a peer's heartbeat or ticket request goes. The push stream's
// connection first (subscription.ts: it waits for a stream that broke, and asks again while the
// stream's node cannot answer yet), the tracker client after that, and the stream again if it
// stands while the client's try is still on its way (issue 20: a failover at 10,000 peers).

import type { ClientResponse, SessionCredential } from './client-protocol.js';
import type { TrackerSubscription } from './subscription.js';
import { TrackerError, type TrackerClient } from './tracker-client.js';

/**
 * A peer's heartbeat: on its push stream when one is open (whatever node holds it answers), else
 * through its tracker client, which finds a node that does. Only NOT_LOGGED_IN is final; a node
 * that points at the leader (it does not know the session yet) or no answer sends the
 * heartbeat through the client. The stream standing again while the client's try is still on
 * its way (a TLS handshake queued at a busy survivor, a node that hangs) answers it as well,
 * whichever comes first: at 10,000 peers, a try through the client took up to 29 s after a
 * failover while the stream stood again within seconds, and sessions expired (issue 20).
 */
export async function heartbeatVia(subscription: TrackerSubscription | null, client: TrackerClient, session: SessionCredential, port?: number): Promise<void> {
  const stream = subscription !== null && subscription.sessionId === session.sessionId ? subscription : null;
  const answer = stream === null ? null : await stream.heartbeat(port);
  if (answer?.ok === true) return;
  if (answer !== null && answer.code === 'NOT_LOGGED_IN') throw new TrackerError(answer.code, answer.message);
  const viaClient = client.heartbeat(session, port);
  if (stream === null) return viaClient;
  await firstOf(viaClient, async (given) => {
    const again = await stream.heartbeatOnceStanding(port, given);
    if (again?.ok === true) return { ok: true, value: undefined };
    return again?.code === 'NOT_LOGGED_IN' ? { ok: false, error: new TrackerError(again.code, again.message) } : null;
  });
  stream.heartbeatAnswered();
}

/** Codes after which a ticket asked on the stream is asked again through the client (another node may sign it). */
const TICKET_ELSEWHERE_CODES = new Set(['NOT_LEADER', 'RETRY', 'CLOCK_SKEWED', 'INTERNAL']);

type Ticket = { ticket: string; expires: number };

/**
 * A ticket: asked on the push stream when one is open (any node signs one after a linearizable
 * read, so a peer that renews its tickets opens no connection and makes no TLS handshake for
 * it), else through the tracker client. A node that cannot answer it (no leader known, its
 * read given up, its clock off) or no answer sends the request through the client; the stream
 * standing again meanwhile answers it as well, as for a heartbeat.
 */
export async function ticketVia(subscription: TrackerSubscription | null, client: TrackerClient, session: SessionCredential, group: string, fileId: string): Promise<Ticket> {
  const stream = subscription !== null && subscription.sessionId === session.sessionId ? subscription : null;
  const answer = stream === null ? null : await stream.ticket(group, fileId);
  const final = (response: ClientResponse | null): Settled<Ticket> | null => {
    if (response?.ok === true) return { ok: true, value: response.result as Ticket };
    if (response !== null && !response.ok && !TICKET_ELSEWHERE_CODES.has(response.error.code)) return { ok: false, error: new TrackerError(response.error.code, response.error.message) };
    return null;
  };
  const first = final(answer);
  if (first !== null) {
    if (first.ok) return first.value;
    throw first.error;
  }
  const viaClient = client.ticket(session, group, fileId);
  if (stream === null) return viaClient;
  return firstOf(viaClient, async (given) => final(await stream.ticketOnceStanding(group, fileId, given)));
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: Error };

/**
 * The tracker client's try, or the stream's once it stands again, whichever settles the matter
 * first. `onStream` is told when the client's try has settled (it stops waiting for the stream
 * then) and gives null when the stream had nothing final to say; the client's outcome stands
 * then. The client's try is not stopped when the stream answers first: it ends on its own.
 */
function firstOf<T>(viaClient: Promise<T>, onStream: (given: Promise<unknown>) => Promise<Settled<T> | null>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let clientOutcome: Settled<T> | null = null;
    let streamDone = false;
    const settleFromClient = (): void => {
      if (clientOutcome === null || !streamDone) return;
      if (clientOutcome.ok) resolve(clientOutcome.value);
      else reject(clientOutcome.error);
    };
    viaClient.then(
      (value) => {
        // A success needs nobody else's word.
        resolve(value);
        clientOutcome = { ok: true, value };
      },
      (error: unknown) => {
        clientOutcome = { ok: false, error: error instanceof Error ? error : new Error(String(error)) };
        settleFromClient();
      },
    );
    onStream(viaClient).then(
      (outcome) => {
        streamDone = true;
        if (outcome === null) return settleFromClient();
        if (outcome.ok) resolve(outcome.value);
        else reject(outcome.error);
      },
      () => {
        streamDone = true;
        settleFromClient();
      },
    );
  });
}
