// The simulated network: hosts (by name) with ports, listeners and connections, a handshake
// over the packet layer (refused when nothing listens, timed out across a partition), and the
// crash of a host. Exposes the raw packet layer for message-level simulations (Raft).

import type { Scheduler, ScheduledEvent } from './event-queue.js';
import { NetFailure } from '../net-error.js';
import type { SeededRng } from '../rng.js';
import { PacketLayer, type LinkFaults, type RawPacketHandler } from './sim-packets.js';
import { DEFAULT_STREAM_OPTIONS, SimConnection, type StreamCounters, type StreamEnv, type StreamOptions } from './sim-stream.js';
import { WorldError, type Connection, type Listener, type ListenOptions, type NetAddress, type Network, type PeerIdentity, type SecureOptions } from '../world.js';
import { simCertificate } from './sim-certs.js';

/** Addresses that mean "this host" from inside a simulated host. */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '0.0.0.0', '::']);
const FIRST_LISTEN_PORT = 30_000;
const FIRST_EPHEMERAL_PORT = 49_152;
const LAST_PORT = 65_535;

interface NetHost {
  readonly name: string;
  readonly listeners: Map<number, Listening>;
  readonly usedPorts: Set<number>;
  readonly connections: Set<SimConnection>;
  readonly connectTimers: Set<ScheduledEvent>;
  nextListenPort: number;
  nextEphemeralPort: number;
}

interface Listening {
  onConnection: (connection: Connection) => void;
  options: ListenOptions | undefined;
}

/** What one end of a simulated TLS handshake sees of the other: its certificate's statements, judged against its own CA. */
function viewOf(other: SecureOptions, ownCaPem: string | undefined): PeerIdentity | null {
  if (other.own === null) return null;
  const certificate = simCertificate(other.own.certificatePem);
  const trusted = ownCaPem !== undefined && simCertificate(ownCaPem).keyFingerprint === certificate.issuer;
  return { keyFingerprint: certificate.keyFingerprint, uris: certificate.uris, trusted };
}

/**
 * The simulated TLS handshake: no cryptography, the same judgements. Null when the connection
 * goes on (with each end's view of the other), or why it does not, for the client.
 */
function handshake(server: ListenOptions | undefined, client: SecureOptions | undefined): { plain: boolean; serverView: PeerIdentity | null; clientView: PeerIdentity | null; failure: string | null; serverRefusal: string | null } {
  const secure = server?.secure;
  if (secure === undefined && client === undefined) return { plain: true, serverView: null, clientView: null, failure: null, serverRefusal: null };
  if (secure === undefined) return { plain: false, serverView: null, clientView: null, failure: 'the other end speaks no TLS', serverRefusal: null };
  if (client === undefined) return { plain: true, serverView: null, clientView: null, failure: null, serverRefusal: null };
  const serverView = secure.requestPeerCertificate === true ? viewOf(client, secure.caPem) : null;
  const clientView = viewOf(secure, client.caPem);
  const serverRefusal = secure.accept(serverView);
  if (serverRefusal !== null) return { plain: false, serverView, clientView, failure: 'the other end closed the connection during the TLS handshake (it refused us)', serverRefusal };
  const clientRefusal = client.accept(clientView);
  return { plain: false, serverView, clientView, failure: clientRefusal, serverRefusal: null };
}

export interface SimNetOptions {
  defaultLink?: Partial<LinkFaults>;
  stream?: Partial<StreamOptions>;
}

export class SimNet {
  readonly packets: PacketLayer;
  private readonly behindRouter = new Set<string>();
  readonly counters: StreamCounters = {
    connectionsOpened: 0,
    connectionsRefused: 0,
    connectTimeouts: 0,
    resets: 0,
    segmentsSent: 0,
    duplicateSegmentsDiscarded: 0,
    outOfOrderSegmentsHeld: 0,
    bytesDelivered: 0,
  };
  private readonly env: StreamEnv;
  private readonly hosts = new Map<string, NetHost>();

  constructor(
    private readonly scheduler: Scheduler,
    rng: SeededRng,
    options: SimNetOptions = {},
  ) {
    this.packets = new PacketLayer(scheduler, rng.fork('packets'), options.defaultLink);
    const streamOptions = { ...DEFAULT_STREAM_OPTIONS, ...options.stream };
    if (streamOptions.segmentSizeBytes < 1 || streamOptions.highWaterBytes < 1) throw new RangeError('stream sizes must be positive');
    this.env = { scheduler, packets: this.packets, options: streamOptions, counters: this.counters };
  }

  setDefaultLink(faults: Partial<LinkFaults>): void {
    this.packets.setDefaultLink(faults);
  }

  setLink(from: string, to: string, faults: Partial<LinkFaults>): void {
    this.packets.setLink(from, to, faults);
  }

  /**
   * A host behind a home router: connections it opens work both ways, but a connection opened
   * to it from another host is never answered (the router drops it), so the dialer times out.
   */
  setBehindRouter(hostName: string, behind = true): void {
    if (behind) this.behindRouter.add(hostName);
    else this.behindRouter.delete(hostName);
  }

  partition(groupA: readonly string[], groupB: readonly string[], options: { symmetric?: boolean } = {}): void {
    this.packets.partition(groupA, groupB, options);
  }

  heal(): void {
    this.packets.heal();
  }

  sendPacket(from: string, to: string, payload: unknown): void {
    this.packets.sendPacket(from, to, payload);
  }

  onPacket(host: string, handler: RawPacketHandler): () => void {
    return this.packets.onPacket(host, handler);
  }

  /** The Network of the current incarnation of `hostName`; it fails with CRASHED once the host crashes. */
  networkFor(hostName: string): Network {
    const host = this.hostState(hostName);
    const alive = (): NetHost => {
      if (this.hosts.get(hostName) !== host) throw new WorldError('CRASHED', `host ${hostName} crashed`);
      return host;
    };
    return {
      listen: async (address, onConnection, options) => this.listen(alive(), address, onConnection, options),
      connect: async (address, options) => {
        const local = options?.localAddress;
        // A simulated host has one address, its name: connecting from any other is refused, as
        // binding an address the machine does not have is (EADDRNOTAVAIL, an EIO to the World).
        if (local !== undefined && local !== hostName && !LOOPBACK_HOSTS.has(local)) throw new NetFailure('EIO', `cannot connect from ${local}: not an address of ${hostName}`);
        return this.connect(alive(), address, options?.timeoutMs ?? this.env.options.connectTimeoutMs, options?.secure);
      },
      // A simulated host holds as many connections as it opens.
      openFileLimit: () => null,
    };
  }

  /** Resets the host's connections (peers see ECONNRESET), closes its listeners, drops its raw handlers. */
  crashHost(hostName: string): void {
    const host = this.hosts.get(hostName);
    this.packets.clearHandlers(hostName);
    if (host === undefined) return;
    this.hosts.delete(hostName);
    for (const timer of host.connectTimers) this.scheduler.cancel(timer);
    for (const connection of [...host.connections]) connection.crash();
  }

  private hostState(name: string): NetHost {
    let host = this.hosts.get(name);
    if (host === undefined) {
      host = {
        name,
        listeners: new Map(),
        usedPorts: new Set(),
        connections: new Set(),
        connectTimers: new Set(),
        nextListenPort: FIRST_LISTEN_PORT,
        nextEphemeralPort: FIRST_EPHEMERAL_PORT,
      };
      this.hosts.set(name, host);
    }
    return host;
  }

  private listen(host: NetHost, address: NetAddress, onConnection: (connection: Connection) => void, options?: ListenOptions): Listener {
    if (!Number.isInteger(address.port) || address.port < 0 || address.port > LAST_PORT) {
      throw new RangeError(`bad port ${address.port}`);
    }
    let port = address.port;
    if (port === 0) {
      port = this.freePort(host, host.nextListenPort, FIRST_LISTEN_PORT, FIRST_EPHEMERAL_PORT - 1);
      host.nextListenPort = port + 1;
    } else if (host.usedPorts.has(port)) {
      throw new NetFailure('EADDRINUSE', `${host.name}:${port} is in use`);
    }
    host.usedPorts.add(port);
    const listening: Listening = { onConnection, options };
    host.listeners.set(port, listening);
    let closed = false;
    return {
      address: { host: host.name, port },
      close: async () => {
        if (closed) return;
        closed = true;
        if (host.listeners.get(port) !== listening) return; // the host crashed meanwhile
        host.listeners.delete(port);
        host.usedPorts.delete(port);
      },
    };
  }

  private connect(client: NetHost, address: NetAddress, timeoutMs: number, secure?: SecureOptions): Promise<Connection> {
    const serverName = LOOPBACK_HOSTS.has(address.host) ? client.name : address.host;
    const clientPort = this.freePort(client, client.nextEphemeralPort, FIRST_EPHEMERAL_PORT, LAST_PORT);
    client.nextEphemeralPort = clientPort + 1 > LAST_PORT ? FIRST_EPHEMERAL_PORT : clientPort + 1;
    client.usedPorts.add(clientPort);
    const packets = this.packets;
    const clientAddress = { host: client.name, port: clientPort };
    const serverAddress = { host: serverName, port: address.port };

    return new Promise<Connection>((resolve, reject) => {
      let settled = false;
      let synSeen = false;
      let ends: { client: SimConnection; server: SimConnection } | undefined;
      const settle = (): boolean => {
        if (settled) return false;
        settled = true;
        this.scheduler.cancel(timer);
        client.connectTimers.delete(timer);
        return true;
      };
      const timer = this.scheduler.after(timeoutMs, () => {
        if (!settle()) return;
        this.counters.connectTimeouts++;
        client.usedPorts.delete(clientPort);
        ends?.client.silence();
        ends?.server.fail({ code: 'ECONNRESET', message: 'handshake timed out' });
        reject(new NetFailure('ETIMEDOUT', `connect to ${serverName}:${address.port} timed out`));
      });
      client.connectTimers.add(timer);

      const onRefused = (): void => {
        if (!settle()) return;
        this.counters.connectionsRefused++;
        client.usedPorts.delete(clientPort);
        reject(new NetFailure('ECONNREFUSED', `nothing listens on ${serverName}:${address.port}`));
      };
      let tlsFailure: string | null = null;
      const onSynAck = (): void => {
        if (ends === undefined || !settle()) return;
        this.counters.connectionsOpened++;
        if (tlsFailure === null) return resolve(ends.client);
        ends.client.destroy();
        reject(new NetFailure('ETLS', `TLS with ${serverName}:${address.port}: ${tlsFailure}`));
      };
      const onSyn = (): void => {
        if (synSeen || settled || this.hosts.get(client.name) !== client) return;
        synSeen = true;
        // A router in front of the server drops the unsolicited connection: the dialer times out.
        if (this.behindRouter.has(serverName) && serverName !== client.name) return;
        const server = this.hosts.get(serverName);
        const listening = server?.listeners.get(address.port);
        if (server === undefined || listening === undefined) {
          packets.transmit(serverName, client.name, onRefused, () => {});
          return;
        }
        const release = listening.options?.admit === undefined ? () => {} : listening.options.admit(clientAddress);
        if (release === null) {
          packets.transmit(serverName, client.name, onRefused, () => {});
          return;
        }
        const pair = {
          client: new SimConnection(clientAddress, serverAddress, this.env, (c) => {
            client.connections.delete(c);
            client.usedPorts.delete(clientPort);
          }),
          server: new SimConnection(serverAddress, clientAddress, this.env, (c) => {
            server.connections.delete(c);
            release();
          }),
        };
        SimConnection.pair(pair.client, pair.server);
        client.connections.add(pair.client);
        server.connections.add(pair.server);
        ends = pair;
        const shaken = handshake(listening.options, secure);
        tlsFailure = shaken.failure;
        if (shaken.serverRefusal !== null) listening.options?.refused?.(clientAddress, shaken.serverRefusal);
        if (shaken.plain && listening.options?.secure !== undefined) {
          // A client without TLS at a TLS listener: seen at its first byte (as node:tls reads
          // one), then answered in clear, or dropped.
          const { plaintext, refused } = listening.options;
          const server = pair.server;
          server.onFirstBytes = () => {
            if (plaintext) return plaintext(server);
            refused?.(clientAddress, 'TLS_REQUIRED: the first byte is not a TLS handshake');
            server.destroy();
          };
        } else if (tlsFailure === null) {
          pair.server.peer = shaken.serverView;
          pair.client.peer = shaken.clientView;
          listening.onConnection(pair.server);
        } else {
          pair.server.destroy();
        }
        packets.transmit(serverName, client.name, onSynAck, () =>
          this.scheduler.after(0, () => {
            pair.server.fail({ code: 'ECONNRESET', message: 'handshake lost' });
          }),
        );
      };
      packets.transmit(client.name, serverName, onSyn, () => {});
    });
  }

  /** The first unused port in [firstPort, lastPort], searching from `fromPort` and wrapping around. */
  private freePort(host: NetHost, fromPort: number, firstPort: number, lastPort: number): number {
    const span = lastPort - firstPort + 1;
    for (let i = 0; i < span; i++) {
      const port = firstPort + ((fromPort - firstPort + i) % span);
      if (!host.usedPorts.has(port)) return port;
    }
    throw new NetFailure('EADDRINUSE', `host ${host.name} has no free port`);
  }
}
