// The real Network over node:net. A Connection wraps a net.Socket that stays paused until
// attach(), so bytes that arrive early wait in the socket; errors become NetError codes.
// Timeouts use the socket's own idle timer, so no global timer is needed here.

import { readFileSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { NetFailure, netErrorCodeOf } from '../net-error.js';
import type { Connection, ConnectionHandlers, Listener, NetAddress, NetError, Network, PeerIdentity } from '../world.js';
import { secureAcceptor, secureConnect } from './real-tls.js';
import { realDeadline } from './real-deadline.js';
import { plaintextExchange, plaintextForTests } from './real-plaintext.js';
import { formatNetAddress, normalizeHost } from '../net-address.js';

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** Size of the reused read buffer (ConnectOptions.reuseReadBuffer): a read takes up to this much. */
const REUSED_READ_BUFFER_BYTES = 256 * 1024;

/** Where a socket created with `onread` sends its bytes once its Connection is attached. */
interface ReadTarget {
  deliver: ((bytes: Uint8Array) => void) | null;
}

function toNetError(error: unknown): NetError {
  return { code: netErrorCodeOf(error), message: error instanceof Error ? error.message : String(error) };
}

class RealConnection implements Connection {
  readonly local: NetAddress;
  readonly remote: NetAddress;
  private handlers: ConnectionHandlers | undefined;
  private lastError: NetError | null = null;
  private closedBeforeAttach = false;

  /** `socket` must be connected and paused; `readTarget` is set when it reads into a reused buffer. */
  constructor(
    private readonly socket: Socket,
    private readonly readTarget: ReadTarget | null = null,
    readonly peer: PeerIdentity | null = null,
  ) {
    // A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d; everything above sees a.b.c.d.
    this.local = { host: normalizeHost(socket.localAddress ?? ''), port: socket.localPort ?? 0 };
    this.remote = { host: normalizeHost(socket.remoteAddress ?? ''), port: socket.remotePort ?? 0 };
    socket.setNoDelay(true);
    // Listen for errors at once: an unhandled 'error' event would crash the process.
    socket.on('error', (error) => {
      this.lastError ??= toNetError(error);
    });
    socket.on('close', () => {
      if (this.handlers === undefined) this.closedBeforeAttach = true;
      else this.handlers.close(this.lastError);
    });
  }

  attach(handlers: ConnectionHandlers): void {
    if (this.handlers !== undefined) throw new Error('attach() called twice on one connection');
    this.handlers = handlers;
    if (this.readTarget) this.readTarget.deliver = (bytes) => handlers.data(bytes);
    else this.socket.on('data', (chunk: Buffer) => handlers.data(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
    this.socket.on('drain', () => handlers.drain?.());
    if (this.closedBeforeAttach) {
      // 'close' came already; report it after this call returns, like any other event.
      process.nextTick(() => handlers.close(this.lastError));
      return;
    }
    this.socket.resume();
  }

  write(bytes: Uint8Array): boolean {
    if (this.socket.destroyed || this.socket.writableEnded) return false;
    return this.socket.write(bytes);
  }

  writeAll(chunks: readonly Uint8Array[]): boolean {
    if (this.socket.destroyed || this.socket.writableEnded) return false;
    // Corked writes leave as one writev.
    this.socket.cork();
    let belowHighWater = true;
    for (const chunk of chunks) belowHighWater = this.socket.write(chunk);
    this.socket.uncork();
    return belowHighWater;
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** The soft limit on open files of this process, from /proc/self/limits (Linux); null elsewhere or when unlimited. */
export function readOpenFileLimit(limitsText: string | null = readProcLimits()): number | null {
  if (limitsText === null) return null;
  const line = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limitsText);
  if (line === null || line[1] === 'unlimited') return null;
  const soft = Number(line[1]);
  return Number.isSafeInteger(soft) && soft > 0 ? soft : null;
}

function readProcLimits(): string | null {
  try {
    return readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return null;
  }
}

export function realNetwork(defaultConnectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS, plaintext = plaintextForTests()): Network {
  return {
    listen: (address, onConnection, options) =>
      new Promise<Listener>((resolve, reject) => {
        const secure = options?.secure;
        const accept =
          secure === undefined
            ? (socket: Socket) => onConnection(new RealConnection(socket))
            : plaintext
              ? (socket: Socket) =>
                  plaintextExchange(socket, secure, formatNetAddress({ host: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 }), defaultConnectTimeoutMs).then(
                    (peer) => onConnection(new RealConnection(socket, null, peer)),
                    (error: Error) => options?.refused?.({ host: normalizeHost(socket.remoteAddress ?? ''), port: socket.remotePort ?? 0 }, error.message),
                  )
              : secureAcceptor(
                { ...options, secure },
                (tls, peer) => onConnection(new RealConnection(tls, null, peer)),
                (socket) => options?.plaintext?.(new RealConnection(socket)),
              );
        const admit = options?.admit;
        const server = createServer(
          { pauseOnConnect: true },
          admit === undefined
            ? accept
            : (socket) => {
                const release = admit({ host: normalizeHost(socket.remoteAddress ?? ''), port: socket.remotePort ?? 0 });
                if (release === null) return void socket.destroy();
                socket.once('close', release);
                accept(socket);
              },
        );
        server.once('error', (error) => reject(new NetFailure(netErrorCodeOf(error), error.message)));
        server.listen({ host: address.host, port: address.port }, () => {
          const bound = server.address();
          if (bound === null || typeof bound === 'string') throw new Error('a TCP server has an address object');
          // Later server errors (rare: e.g. EMFILE on accept) must not crash the process.
          server.on('error', () => {});
          resolve({
            address: { host: address.host, port: bound.port },
            // Stops accepting at once; connections already accepted live on.
            close: async () => {
              server.close(() => {});
            },
          });
        });
      }),
    connect: (address, options) =>
      new Promise<Connection>((resolve, reject) => {
        const timeoutMs = options?.timeoutMs ?? defaultConnectTimeoutMs;
        // A TLS socket reads for itself: no reused buffer under it.
        const readTarget: ReadTarget | null = options?.reuseReadBuffer && options.secure === undefined ? { deliver: null } : null;
        const buffer = readTarget ? Buffer.allocUnsafe(REUSED_READ_BUFFER_BYTES) : null;
        const socket = createConnection({
          host: address.host,
          port: address.port,
          ...(options?.localAddress === undefined ? {} : { localAddress: options.localAddress }),
          ...(readTarget && buffer
            ? {
                onread: {
                  buffer,
                  callback: (bytesRead: number): boolean => {
                    readTarget.deliver?.(new Uint8Array(buffer.buffer, buffer.byteOffset, bytesRead));
                    return true;
                  },
                },
              }
            : {}),
        });
        const fail = (error: NetFailure): void => {
          socket.destroy();
          reject(error);
        };
        const onError = (error: Error): void => {
          deadline.cancel();
          fail(new NetFailure(netErrorCodeOf(error), error.message));
        };
        // A deadline, judged after the I/O already waiting: a connect that came through while the loop stalled counts.
        const deadline = realDeadline(timeoutMs, () => fail(new NetFailure('ETIMEDOUT', `connect to ${formatNetAddress(address)} timed out`)));
        socket.once('error', onError);
        socket.once('connect', () => {
          deadline.cancel();
          socket.off('error', onError);
          socket.pause();
          const secure = options?.secure;
          if (secure === undefined) return resolve(new RealConnection(socket, readTarget));
          if (plaintext) {
            return plaintextExchange(socket, secure, formatNetAddress(address), options?.handshakeTimeoutMs ?? timeoutMs).then((peer) => resolve(new RealConnection(socket, null, peer)), reject);
          }
          secureConnect(socket, address, secure, options?.handshakeTimeoutMs ?? timeoutMs).then(
            ({ socket: tls, peer }) => resolve(new RealConnection(tls, null, peer)),
            (error: unknown) => {
              socket.destroy();
              reject(error);
            },
          );
        });
      }),
    openFileLimit: () => readOpenFileLimit(),
  };
}
