// Why this file exists: a tracker node's door for clients. It decodes framed requests, refuses
// malformed ones (logged, connection closed), answers writes once applied and reads through
// ReadIndex, points clients at the leader when this node does not lead, and turns a connection
// that subscribes into a session's push channel (push-hub.ts). It speaks TLS only, showing
// this node's certificate of the cluster CA; a client speaking plaintext (a build before TLS)
// gets one framed TLS_REQUIRED answer to its first request, in clear, and the connection ends.
// What strangers may hold here is bounded by the door (client-door.ts).

import type { CertifiedKey, Connection, Listener, NetAddress, Timer, World } from '../world/world.js';
import type { ClientRequest, ClientResponse, LeaderHint, PushFrame } from './client-protocol.js';
import { authenticate } from '../log/domain/queries.js';
import type { PushHub, PushSink } from './push-hub.js';
import { parseClientRequest } from './client-protocol.js';
import { encodeFrame, FrameDecoder, FrameError } from './frame-codec.js';
import type { ArchiveExports } from './archive-export.js';
import { tokenHashOf, type ServiceOutcome, type SessionService } from './session-service.js';
import type { TrackerNode } from './tracker-node.js';
import type { TransportLog } from './tcp-transport.js';
import { formatNetAddress } from '../world/net-address.js';
import { ClientDoor, connectionCap, IDLE_TIMEOUT_MS, MAX_CONNECTIONS, MAX_REQUEST_BYTES, RESERVED_FILE_DESCRIPTORS } from './client-door.js';

const MAX_IN_FLIGHT_PER_CONNECTION = 1024;
/** Push frames a subscriber may leave unread before it is dropped (it catches up when it subscribes again). */
const MAX_UNREAD_PUSHES = 4096;
/** How long a subscribe waits for this node to apply the entry it names (the login) before asking the client to retry. */
const SUBSCRIBE_WAIT_MS = 5_000;

/** What a node shows clients: its certificate and key, and the cluster's public key and CA (given by `status`). */
export interface ClientServerIdentity {
  own: CertifiedKey;
  /** base64 of the cluster's ticket-signing Ed25519 public key. */
  publicKey: string;
  caPem: string;
}

export class ClientServer {
  private listener: Listener | null = null;
  private readonly connections = new Set<Connection>();
  private readonly door: ClientDoor;

  constructor(
    private readonly world: World,
    private readonly node: TrackerNode,
    private readonly service: SessionService,
    private readonly hub: PushHub,
    private readonly archives: ArchiveExports,
    private readonly clientAddressOf: (nodeId: string) => string | null,
    private readonly log: TransportLog,
    private readonly identity: ClientServerIdentity,
  ) {
    this.door = new ClientDoor((remote, reason) => this.log('client_refused', { remote: formatNetAddress(remote), reason }), connectionCap(world.net.openFileLimit()));
  }

  async listen(address: NetAddress): Promise<NetAddress> {
    // Checked at start: a cap the open file limit lowers is said once, with what to do about it.
    const openFileLimit = this.world.net.openFileLimit();
    const maxConnections = this.door.maxConnections;
    this.log('client_port', {
      maxConnections,
      openFileLimit,
      ...(maxConnections < MAX_CONNECTIONS ? { warning: `the open file limit (${openFileLimit}) leaves room for ${maxConnections} client connections, not ${MAX_CONNECTIONS}: raise it (ulimit -n ${MAX_CONNECTIONS + RESERVED_FILE_DESCRIPTORS})` } : {}),
    });
    this.listener = await this.world.net.listen(address, (connection) => this.accept(connection), {
      secure: { own: this.identity.own, accept: () => null },
      plaintext: (connection) => this.answerPlaintext(connection),
      refused: (remote, reason) => this.log('client_refused', { remote: formatNetAddress(remote), reason: reason.slice(0, 200) }),
      admit: (remote) => this.door.admit(remote),
    });
    return this.listener.address;
  }

  /** A client without TLS: the id of its first request, answered TLS_REQUIRED, then the end. */
  private answerPlaintext(connection: Connection): void {
    const decoder = new FrameDecoder(64 * 1024);
    const answer = (id: number): void => {
      const response: ClientResponse = { id, ok: false, error: { code: 'TLS_REQUIRED', message: 'this tracker speaks TLS only; upgrade clique' }, leader: null };
      connection.write(encodeFrame(response));
      connection.end();
    };
    this.log('client_refused', { remote: formatNetAddress(connection.remote), reason: 'TLS_REQUIRED: a plaintext client' });
    const timer = this.world.clock.setTimer(5_000, () => connection.destroy());
    connection.attach({
      data: (bytes) => {
        const frames = decoder.tryPush(bytes, 1);
        if (frames instanceof FrameError) return answer(0);
        const first = frames[0] as { id?: unknown } | undefined;
        if (first !== undefined) answer(Number.isSafeInteger(first.id) ? (first.id as number) : 0);
      },
      close: () => timer.cancel(),
    });
  }

  close(): void {
    for (const connection of this.connections) connection.destroy();
    void this.listener?.close();
  }

  private leaderHint(): LeaderHint | null {
    const leader = this.node.raft.status().leader;
    const client = leader === null ? null : this.clientAddressOf(leader);
    return leader === null || client === null ? null : { id: leader, client };
  }

  private accept(connection: Connection): void {
    this.connections.add(connection);
    const remote = formatNetAddress(connection.remote);
    const doorway = this.door.doorwayOf(connection.remote, (reason) => {
      this.log('client_refused', { remote, reason });
      connection.destroy();
    });
    const decoder = new FrameDecoder(MAX_REQUEST_BYTES);
    // A request counts as in flight until its answer has left the write buffer: a client that
    // sends and never reads runs into the limit instead of filling this node's memory.
    let inFlight = 0;
    let unflushed = 0;
    let unreadPushes = 0;
    let subscribed: { sessionId: string; sink: PushSink } | null = null;
    let open = true;
    // Idle: no complete request for IDLE_TIMEOUT_MS, none in flight, and no push channel.
    let lastRequestMs = this.world.clock.monotonicMs();
    let idleTimer: Timer | null = null;
    const watchIdle = (delayMs: number): void => {
      idleTimer = this.world.clock.setTimer(delayMs, () => {
        if (!open || subscribed !== null) return;
        const quietMs = this.world.clock.monotonicMs() - lastRequestMs;
        if (quietMs < IDLE_TIMEOUT_MS || inFlight > 0) return watchIdle(Math.max(1, IDLE_TIMEOUT_MS - quietMs));
        doorway.cut(`idle for ${quietMs} ms`);
      });
    };
    watchIdle(IDLE_TIMEOUT_MS);
    const provedSession = (session: { sessionId: string; token: string } | undefined): void => {
      if (doorway.loggedIn || session === undefined) return;
      const user = authenticate(this.node.store.state, { sessionId: session.sessionId, tokenHash: tokenHashOf(session.token) });
      if (typeof user === 'string') this.door.loggedIn(doorway);
    };
    const reply = (response: ClientResponse): void => {
      if (!open) return;
      let frame: Uint8Array;
      try {
        frame = encodeFrame(response);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        frame = encodeFrame({ id: response.id, ok: false, error: { code: 'TOO_LARGE', message: message.slice(0, 200) }, leader: null } satisfies ClientResponse);
      }
      if (connection.write(frame)) inFlight--;
      else unflushed++;
    };
    connection.attach({
      drain: () => {
        inFlight -= unflushed;
        unflushed = 0;
        unreadPushes = 0;
      },
      data: (bytes) => {
        if (!open) return;
        const requests = decoder.tryPush(bytes);
        if (requests instanceof FrameError) {
          this.log('client_frame_refused', { remote, reason: requests.message });
          return connection.destroy();
        }
        this.door.buffer(doorway, decoder.bufferedBytes());
        if (!open) return; // cut to keep the bytes buffered in all within bounds
        if (requests.length > 0) lastRequestMs = this.world.clock.monotonicMs();
        for (const value of requests) {
          const request = parseClientRequest(value);
          if (request === null) {
            this.log('client_request_refused', { remote, reason: 'malformed request' });
            return connection.destroy();
          }
          if (++inFlight > MAX_IN_FLIGHT_PER_CONNECTION) {
            this.log('client_refused', { remote, reason: 'too many requests in flight (not reading its answers?)' });
            return connection.destroy();
          }
          if (!('type' in request)) {
            reply({ id: request.id, ok: false, error: { code: request.code, message: request.message }, leader: null });
            continue;
          }
          if ('session' in request) provedSession(request.session);
          if (request.type === 'subscribe') {
            if (subscribed !== null) {
              reply({ id: request.id, ok: false, error: { code: 'BAD_COMMAND', message: 'one subscription per connection' }, leader: null });
              continue;
            }
            const sink: PushSink = {
              send: (push) => {
                if (!open) return false;
                if (!connection.write(encodeFrame({ id: request.id, push } satisfies PushFrame))) unreadPushes++;
                return unreadPushes < MAX_UNREAD_PUSHES;
              },
              close: () => connection.end(),
            };
            subscribed = { sessionId: request.session.sessionId, sink };
            void this.subscribe(request, sink, reply);
            continue;
          }
          void this.handle(request, connection.remote)
            .then((response) => {
              if (response.ok && (request.type === 'login' || request.type === 'renew')) this.door.loggedIn(doorway);
              return response;
            })
            .catch((error: unknown): ClientResponse => {
              this.log('client_request_failed', { reason: error instanceof Error ? error.message.slice(0, 200) : 'unknown' });
              return { id: request.id, ok: false, error: { code: 'INTERNAL', message: 'the node could not answer this request' }, leader: null };
            })
            // Taken as the answer leaves, after every push written before it.
            .then((response) => reply(request.type === 'heartbeat' ? this.withStreamPosition(response, request.session.sessionId, subscribed) : response));
        }
      },
      close: () => {
        open = false;
        idleTimer?.cancel();
        this.connections.delete(connection);
        if (subscribed) this.hub.unsubscribe(subscribed.sessionId, subscribed.sink);
      },
    });
  }

  /** A heartbeat answered on its session's stream says where the stream stands, as a tick does (PushHub.positionForBeat). */
  private withStreamPosition(response: ClientResponse, sessionId: string, subscribed: { sessionId: string; sink: PushSink } | null): ClientResponse {
    if (!response.ok || subscribed === null || subscribed.sessionId !== sessionId) return response;
    if (typeof response.result !== 'object' || response.result === null) return response;
    const index = this.hub.positionForBeat(sessionId, subscribed.sink);
    return index === null ? response : { ...response, result: { ...response.result, index } };
  }

  /** A push channel: once this node has applied the entry the client names, and the session is good here. */
  private async subscribe(request: Extract<ClientRequest, { type: 'subscribe' }>, sink: PushSink, reply: (response: ClientResponse) => void): Promise<void> {
    const refuse = (code: string, message: string): void => reply({ id: request.id, ok: false, error: { code, message }, leader: null });
    if (!(await this.node.untilApplied(request.afterIndex, SUBSCRIBE_WAIT_MS))) return refuse('RETRY', `this node has not applied entry ${request.afterIndex} yet; retry, perhaps elsewhere`);
    const user = authenticate(this.node.store.state, { sessionId: request.session.sessionId, tokenHash: tokenHashOf(request.session.token) });
    if (typeof user !== 'string') return refuse(user.code, user.message);
    reply({ id: request.id, ok: true, result: { node: this.node.raft.status().id, leader: this.leaderHint() } });
    this.hub.subscribe(request.session.sessionId, user, request.afterIndex, sink);
  }

  private respond(id: number, outcome: ServiceOutcome): ClientResponse {
    if (outcome.ok) return { id, ok: true, result: outcome.result };
    const hint = outcome.code === 'NOT_LEADER' || outcome.code === 'RETRY' ? this.leaderHint() : null;
    const retry = outcome.retryAfterMs === undefined ? {} : { retryAfterMs: outcome.retryAfterMs };
    return { id, ok: false, error: { code: outcome.code, message: outcome.message, ...retry }, leader: hint };
  }

  /** `remote`: where the request came from; a login records its host (with the port the peer names) as where other peers reach it. */
  private async handle(request: ClientRequest, remote: NetAddress): Promise<ClientResponse> {
    switch (request.type) {
      case 'status':
        return { id: request.id, ok: true, result: { ...this.node.status(), clients: this.door.totals, sessions: this.node.store.state.sessions.size, heartbeats: { ...this.service.heartbeatCounts }, publicKey: this.identity.publicKey, ca: this.identity.caPem } };
      case 'createUser':
        return this.respond(request.id, await this.service.createUser(request.clientId, request.requestId, request.user, request.password));
      case 'login':
        return this.respond(
          request.id,
          await this.service.login(request.clientId, request.requestId, request.user, request.password, { host: remote.host, port: request.port }, request.session, request.refresh, request.keyFingerprint),
        );
      case 'renew':
        return this.respond(
          request.id,
          await this.service.renew(request.clientId, request.requestId, request.user, request.refresh, request.newRefresh, { host: remote.host, port: request.port }, request.session, request.keyFingerprint),
        );
      case 'command':
        return this.respond(request.id, await this.service.command(request.clientId, request.requestId, request.session, request.command));
      case 'query':
        return this.respond(request.id, await this.service.query(request.session, request.query));
      case 'ticket':
        return this.respond(request.id, await this.service.ticket(request.session, request.group, request.fileId));
      case 'heartbeat':
        return this.respond(request.id, await this.service.heartbeat(request.session, request.port === undefined ? null : { host: remote.host, port: request.port }));
      case 'dialBack':
        return this.respond(request.id, await this.service.dialBack(request.session, request.group, request.fileId));
      case 'subscribe':
        return { id: request.id, ok: false, error: { code: 'BAD_COMMAND', message: 'subscribe is handled on its connection' }, leader: null };
      case 'archiveChallenge':
        return this.respond(request.id, this.archives.challenge());
      case 'archive':
        return this.respond(request.id, await this.archives.serve(request.nonce, request.proof, request.exportId, request.offset));
    }
  }
}
