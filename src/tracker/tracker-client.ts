// Why this file exists: the client side of the tracker protocol, for the shell, the tools and
// the tests. It keeps one connection to a node, follows NOT_LEADER hints, and retries a write
// with the same (clientId, requestId) through other nodes when a node dies or times out, so
// the write applies exactly once. Every connection is TLS, the node's certificate checked
// against the cluster's CA (tracker-trust.ts); a node that fails the check is never sent a word.

import type { Connection, World } from '../world/world.js';
import type { SessionCommand } from '../log/domain/commands.js';
import type { ClientRequest, ClientResponse, NodeStatus, QueryResult, SessionCredential, SessionQuery } from './client-protocol.js';
import { nodeAddress } from './cluster-config.js';
import { archiveProof, archiveSeal } from './archive-export.js';
import { encodeFrame, FrameDecoder, FrameError } from './frame-codec.js';
import { DEFAULT_REACHABILITY_TIMEOUT_MS } from './reachability.js';
import { TRACKER_NOT_TRUSTED, trackerSecure, withNodeAt, type TrackerTrust } from './tracker-trust.js';

type Pending = (response: ClientResponse | null) => void;

/**
 * A retry that is not a redirect to another node waits a random time below this, doubled per
 * retry up to RETRY_MAX_MS (full jitter): ten thousand peers whose requests time out together
 * must not all ask again at once, or ask an overloaded node again at once.
 */
const RETRY_BASE_MS = 50;
const RETRY_MAX_MS = 2_000;

/** A node that has not taken the TCP connection by then is taken for down (TrackerClient.connect). */
const CONNECT_TIMEOUT_MS = 1_000;
/** A node that took the connection may take this long over its TLS handshake (TrackerClient.connect). */
export const HANDSHAKE_PATIENCE_MS = 5_000;

/** A login waits this much longer: the node tries to dial the peer first (reachability.ts). */
const LOGIN_DIAL_WAIT_MS = DEFAULT_REACHABILITY_TIMEOUT_MS + 1_000;

export class TrackerUnavailableError extends Error {
  override name = 'TrackerUnavailableError';
  readonly code = 'TRACKER_UNAVAILABLE';
}

/** The tracker refused: a stable code (NOT_A_MEMBER, BAD_CREDENTIALS, …) and a one-line message. */
export class TrackerError extends Error {
  override name = 'TrackerError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** One connection to one node. */
class NodeConnection {
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  closed = false;
  /** Let go of (TrackerClient.connect): it closes once no request waits on it. */
  private retiring = false;
  /** Told once, when the connection has closed. */
  onClosed: () => void = () => {};

  private constructor(private readonly connection: Connection) {
    const decoder = new FrameDecoder(64 * 1024 * 1024);
    connection.attach({
      data: (bytes) => {
        const messages = decoder.tryPush(bytes);
        if (messages instanceof FrameError) return connection.destroy();
        for (const m of messages) {
          const response = m as ClientResponse;
          const resolve = this.pending.get(response.id);
          this.pending.delete(response.id);
          resolve?.(response);
        }
        this.closeIfRetiredAndIdle();
      },
      close: () => {
        this.closed = true;
        for (const resolve of this.pending.values()) resolve(null);
        this.pending.clear();
        this.onClosed();
      },
    });
  }

  /**
   * `timeoutMs` bounds the TCP connect, and the TLS handshake too unless `handshakeTimeoutMs`
   * says otherwise. `localAddress`: the host to connect from (ConnectOptions.localAddress); the
   * system's choice without it.
   */
  static async open(world: World, address: string, trust: TrackerTrust, timeoutMs: number, localAddress?: string, handshakeTimeoutMs?: number): Promise<NodeConnection> {
    const local = localAddress === undefined ? {} : { localAddress };
    const handshake = handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs };
    return new NodeConnection(await world.net.connect(nodeAddress(address), { timeoutMs, secure: trackerSecure(trust, address), ...local, ...handshake }));
  }

  request(world: World, body: DistributiveOmit<ClientRequest, 'id'>, timeoutMs: number): Promise<ClientResponse | null> {
    const id = ++this.nextId;
    return new Promise((resolve) => {
      const timer = world.clock.setDeadline(timeoutMs, () => {
        if (!this.pending.delete(id)) return;
        resolve(null);
        this.closeIfRetiredAndIdle();
      });
      this.pending.set(id, (response) => {
        timer.cancel();
        resolve(response);
      });
      this.connection.write(encodeFrame({ ...body, id }));
    });
  }

  /** Closes it once the requests already on it are answered or given up: other calls may wait on it still. */
  retire(): void {
    this.retiring = true;
    this.closeIfRetiredAndIdle();
  }

  close(): void {
    this.connection.destroy();
  }

  private closeIfRetiredAndIdle(): void {
    if (this.retiring && this.pending.size === 0 && !this.closed) this.connection.destroy();
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** What the tracker says of a session it opened: where it sees the peer, and whether it could dial it there. */
export interface SessionOpening {
  /** The log index of the OpenSession: the push channel starts after it. */
  index: number;
  address: string;
  reachable: boolean;
}

export type OpenedSession = SessionCredential & SessionOpening & { user: string; refresh: string };

export interface TrackerClientOptions {
  /** Client addresses of the nodes, host:port. */
  nodes: string[];
  /** How a node's certificate is checked: the cluster's CA, from cluster.json or pinned. */
  trust: TrackerTrust;
  clientId: string;
  requestTimeoutMs?: number;
  /** Give up on an operation after this long. */
  deadlineMs?: number;
  /**
   * The local host every connection is made from (a machine with several addresses; a load
   * generator spreading its peers over 127.0.0.2-127.0.0.41). The tracker sees that address.
   */
  localAddress?: string;
}

export class TrackerClient {
  private requestId = 0;
  /** The connection to `connectedTo`, which every call shares while that node is the target. */
  private connection: NodeConnection | null = null;
  private connectedTo: string | null = null;
  /** A connection being opened, to the target then: calls that come meanwhile wait for it too. */
  private opening: { target: string; result: Promise<NodeConnection | null | 'untrusted'> } | null = null;
  /** Every connection of this client not closed yet: the current one, and those let go with requests still on them. */
  private readonly live = new Set<NodeConnection>();
  private target: string;
  /** The options' trust, and the node ids that leader hints placed at addresses. */
  private trust: TrackerTrust;

  constructor(
    private readonly world: World,
    private readonly options: TrackerClientOptions,
  ) {
    if (options.nodes.length === 0) throw new Error('a tracker client needs at least one node address');
    this.target = options.nodes[0]!;
    this.trust = options.trust;
    this.clientId = `${options.clientId.slice(0, 40)}-${world.rng.id(12)}`;
  }

  /** The caller's name plus a random suffix: a new client never meets an old one's cached replies. */
  readonly clientId: string;

  async createUser(user: string, password: string): Promise<{ index: number }> {
    return (await this.write((requestId) => ({ type: 'createUser', clientId: this.clientId, requestId, user, password }))) as { index: number };
  }

  /** Writes that have not finished yet, one after another (write). */
  private writes: Promise<unknown> = Promise.resolve();

  /**
   * A write, after this client's writes before it: the tracker keeps one reply per client, its
   * last, so a write retried (after a back-off) once a later one had applied would be refused
   * STALE_REQUEST. Its request id is taken when its turn comes, so ids go in the order applied.
   */
  private write(body: (requestId: number) => DistributiveOmit<ClientRequest, 'id'>, extraWaitMs = 0): Promise<unknown> {
    const run = this.writes.then(() => this.call(body(++this.requestId), extraWaitMs));
    this.writes = run.catch(() => undefined);
    return run;
  }

  /**
   * Logs in; the session id, token and refresh credential are made here, so a retried login
   * opens one session. The refresh credential re-opens the session later without the password.
   * `port`: where this peer listens; the tracker pairs it with the source address it sees.
   */
  async login(user: string, password: string, port: number, keyFingerprint?: string): Promise<OpenedSession> {
    const session = this.newCredential();
    const refresh = this.secret();
    const key = keyFingerprint === undefined ? {} : { keyFingerprint };
    const opened = (await this.write((requestId) => ({ type: 'login', clientId: this.clientId, requestId, user, password, port, session, refresh, ...key }), LOGIN_DIAL_WAIT_MS)) as SessionOpening;
    return { ...session, user, refresh, ...opened };
  }

  /** A new session from a refresh credential (which is used up; the result carries its successor). */
  async renew(user: string, refresh: string, port: number, keyFingerprint?: string): Promise<OpenedSession> {
    const session = this.newCredential();
    const newRefresh = this.secret();
    const key = keyFingerprint === undefined ? {} : { keyFingerprint };
    const opened = (await this.write((requestId) => ({ type: 'renew', clientId: this.clientId, requestId, user, refresh, newRefresh, port, session, ...key }), LOGIN_DIAL_WAIT_MS)) as SessionOpening;
    return { ...session, user, refresh: newRefresh, ...opened };
  }

  /** Asks the holders of a file that cannot be dialed to dial us; the users asked. */
  async dialBack(session: SessionCredential, group: string, fileId: string): Promise<{ asked: string[] }> {
    return (await this.call({ type: 'dialBack', session, group, fileId })) as { asked: string[] };
  }

  private newCredential(): SessionCredential {
    return { sessionId: this.world.rng.id(21), token: this.secret() };
  }

  private secret(): string {
    return Buffer.from(this.world.rng.bytes(32)).toString('base64url');
  }

  /** A session command such as {type: 'CreateGroup', group}; its auth is filled in by the node. */
  async command(session: SessionCredential, command: SessionCommand): Promise<{ index: number }> {
    return (await this.write((requestId) => ({ type: 'command', clientId: this.clientId, requestId, session, command }))) as { index: number };
  }

  /** The tracker's answer, typed by the query (the cluster is trusted to answer in its own protocol). */
  async query<Q extends SessionQuery>(session: SessionCredential, query: Q): Promise<QueryResult<Q>> {
    return (await this.call({ type: 'query', session, query })) as QueryResult<Q>;
  }

  /** A ticket for the key this session logged in with. */
  async ticket(session: SessionCredential, group: string, fileId: string): Promise<{ ticket: string; expires: number }> {
    return (await this.call({ type: 'ticket', session, group, fileId })) as { ticket: string; expires: number };
  }

  /** `port`: where we listen now (the tracker moves the session if it sees us elsewhere). */
  async heartbeat(session: SessionCredential, port?: number): Promise<void> {
    await this.call({ type: 'heartbeat', session, ...(port === undefined ? {} : { port }) });
  }

  /**
   * One node's whole store as a blob (meta, snapshot, archive). Needs the cluster's node secret;
   * the node proves the blob with a seal over the challenge, its id and the blob's hash.
   */
  async archive(address: string, nodeId: string, nodeSecret: Uint8Array): Promise<Uint8Array> {
    const connection = await NodeConnection.open(this.world, address, this.trust, 2_000, this.options.localAddress);
    try {
      const ask = async (body: DistributiveOmit<ClientRequest, 'id'>): Promise<Record<string, unknown>> => {
        const response = await connection.request(this.world, body, 60_000);
        if (response === null) throw new TrackerUnavailableError(`${address} did not answer`);
        if (!response.ok) throw new TrackerError(response.error.code, response.error.message);
        return response.result as Record<string, unknown>;
      };
      const { nonce, node } = (await ask({ type: 'archiveChallenge' })) as { nonce: string; node: string };
      if (node !== nodeId) throw new TrackerError('WRONG_NODE', `${address} says it is ${String(node).slice(0, 32)}, not ${nodeId}`);
      const proof = archiveProof(nodeSecret, nonce, nodeId);
      const parts: Uint8Array[] = [];
      let exportId: string | null = null;
      let offset = 0;
      let seal: string | null = null;
      for (let total = Infinity; offset < total; ) {
        const result = (await ask({ type: 'archive', nonce, proof, exportId, offset })) as { exportId: string; totalBytes: number; chunk: Uint8Array; seal: string | null };
        exportId = result.exportId;
        total = result.totalBytes;
        if (result.chunk.length === 0 && offset < total) throw new TrackerError('BAD_ARCHIVE', 'empty chunk before the end');
        parts.push(result.chunk);
        offset += result.chunk.length;
        seal = result.seal;
      }
      const blob = new Uint8Array(Buffer.concat(parts));
      if (seal !== archiveSeal(nodeSecret, nonce, nodeId, blob)) throw new TrackerError('BAD_ARCHIVE', `${nodeId}'s archive does not carry the cluster's seal`);
      return blob;
    } finally {
      connection.close();
    }
  }

  /** Why the last status() gave null: the node did not answer, or its certificate was not trusted. */
  lastStatusFailure: string | null = null;

  /** One node's status, without following the leader. */
  async status(address: string): Promise<NodeStatus | null> {
    let connection: NodeConnection | null = null;
    this.lastStatusFailure = null;
    try {
      connection = await NodeConnection.open(this.world, address, this.trust, 1_000, this.options.localAddress);
      const response = await connection.request(this.world, { type: 'status' }, 1_000);
      if (!response?.ok) this.lastStatusFailure = `${address} did not answer`;
      return response?.ok ? (response.result as NodeStatus) : null;
    } catch (error) {
      this.lastStatusFailure = error instanceof Error ? error.message : String(error);
      return null;
    } finally {
      connection?.close();
    }
  }

  /** Closes its connections (a later call opens one again). */
  close(): void {
    for (const connection of this.live) connection.close();
    this.connection = null;
    this.opening = null;
  }

  private async call(body: DistributiveOmit<ClientRequest, 'id'>, extraWaitMs = 0): Promise<unknown> {
    const deadline = this.world.clock.monotonicMs() + (this.options.deadlineMs ?? 10_000);
    let lastError = 'no node answered';
    let untrustedInARow = 0;
    let retries = 0;
    const backOff = (): Promise<void> => this.sleep(1 + this.world.rng.int(Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** retries++)));
    while (this.world.clock.monotonicMs() < deadline) {
      // The node this try asks. Calls run side by side on one client: a try that fails moves
      // the target on only if no other call has moved it since (moveOn), so two tries failing
      // on one node do not skip the next.
      const asked = this.target;
      const connection = await this.connect(asked, deadline);
      if (connection === 'untrusted') {
        // Every node failing the certificate check is no outage to wait out: say so at once.
        if (++untrustedInARow >= this.options.nodes.length) throw new TrackerError(TRACKER_NOT_TRUSTED, `${asked}: ${this.untrustedReason}`);
        this.moveOn(asked, null);
        continue;
      }
      untrustedInARow = 0;
      if (!connection) {
        lastError = `cannot reach ${asked}`;
        this.moveOn(asked, null);
        await backOff();
        continue;
      }
      const response = await connection.request(this.world, body, (this.options.requestTimeoutMs ?? 2_000) + extraWaitMs);
      // A connection the client has moved on from meanwhile closes once no call waits on it.
      if (connection !== this.connection) connection.retire();
      if (response === null) {
        lastError = `${asked} did not answer`;
        this.moveOn(asked, null);
        await backOff();
        continue;
      }
      if (response.ok) return response.result;
      // CLOCK_SKEWED: that node's clock is wrong (it hands leadership over): ask elsewhere.
      if (response.error.code === 'NOT_LEADER' || response.error.code === 'RETRY' || response.error.code === 'CLOCK_SKEWED') {
        lastError = response.error.message;
        if (response.leader) this.trust = withNodeAt(this.trust, response.leader.client, response.leader.id);
        const hint = response.leader?.client ?? null;
        // A hint to another node is followed at once.
        if (hint !== null && hint !== asked) {
          this.moveOn(asked, hint);
          continue;
        }
        // RETRY is this node asking us back (it is busy, or it leads and could not answer yet):
        // the same node, after a wait. NOT_LEADER naming itself (a leader cut off from the others
        // that has not stepped down) or naming none: the next node, after a wait.
        if (response.error.code !== 'RETRY') this.moveOn(asked, null);
        await backOff();
        continue;
      }
      throw new TrackerError(response.error.code, response.error.message);
    }
    throw new TrackerUnavailableError(`tracker unavailable: ${lastError}`);
  }

  private untrustedReason = '';

  /**
   * The connection to the target; null if it cannot be reached, 'untrusted' if its certificate
   * failed the check. A node that does not take the TCP connection within CONNECT_TIMEOUT_MS is
   * given up on, but one that took it may queue the TLS handshake behind others (a survivor of a
   * failover takes the dead node's clients: real-tls.ts paces handshakes): that one is waited for
   * up to HANDSHAKE_PATIENCE_MS, and no more than half of what is left of the call's deadline, so
   * a node that took the connection but hangs (a process stopped, or stalled) leaves time for
   * another. Giving up on a queued handshake sooner wastes the handshake the node was about to do,
   * and brings the client back to the queue's end.
   */
  private connect(target: string, deadlineMs: number): Promise<NodeConnection | null | 'untrusted'> {
    const current = this.connection;
    if (current !== null && !current.closed && this.connectedTo === target) return Promise.resolve(current);
    // Calls that find the client connecting to their node wait for that connection: one
    // connection, one handshake, however many calls ask at once.
    if (this.opening?.target === target) return this.opening.result;
    // The target moved on (or the connection broke): the old connection is let go, and closes
    // once the requests other calls have on it are over.
    current?.retire();
    this.connection = null;
    const opening = { target, result: this.open(target, deadlineMs) };
    this.opening = opening;
    void opening.result.then((connection) => {
      if (this.opening !== opening) return; // closed, or another opening since: the caller lets it go after its request
      this.opening = null;
      if (!(connection instanceof NodeConnection)) return;
      this.connection = connection;
      this.connectedTo = target;
    });
    return opening.result;
  }

  private async open(target: string, deadlineMs: number): Promise<NodeConnection | null | 'untrusted'> {
    try {
      const handshakeMs = Math.max(CONNECT_TIMEOUT_MS, Math.min(HANDSHAKE_PATIENCE_MS, (deadlineMs - this.world.clock.monotonicMs()) / 2));
      const connection = await NodeConnection.open(this.world, target, this.trust, CONNECT_TIMEOUT_MS, this.options.localAddress, handshakeMs);
      this.live.add(connection);
      connection.onClosed = () => this.live.delete(connection);
      return connection;
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'ETLS') return null;
      this.untrustedReason = (error instanceof Error ? error.message : String(error)).replace(/^.*?TRACKER_NOT_TRUSTED: /, '');
      return 'untrusted';
    }
  }

  /**
   * Next target after a try at `asked` failed: the hinted leader, or the next node in the list.
   * Nothing moves if another call has moved the target since it chose `asked`.
   */
  private moveOn(asked: string, hint: string | null): void {
    if (this.target !== asked) return;
    const nodes = this.options.nodes;
    this.target = hint ?? nodes[(nodes.indexOf(asked) + 1) % nodes.length]!;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.world.clock.setTimer(ms, resolve));
  }
}
