// The World: the one door through which Clique touches time, randomness, the network and the
// disk (DESIGN.md §3). Production code receives a World and never imports node:fs, node:net,
// timers or an unseeded random source itself, so the same code runs on the real machine (real-world.ts) and
// inside a seeded, single-threaded simulation (sim-world.ts) whose runs replay byte for byte.

import type { NetAddress } from './net-address.js';

/**
 * Wall-clock time, monotonic time and timers. In a simulation all are virtual. Durations
 * (TTLs, timeouts, back-off, rates, idle times) are measured on monotonicMs, so a step of the
 * wall clock changes nothing but timestamps; nowMs is for what is written down or compared
 * across machines (entry times, tickets, logs).
 */
export interface Clock {
  /** Milliseconds since the Unix epoch (virtual in a simulation, possibly skewed per host; it may step). */
  nowMs(): number;
  /** Milliseconds since an arbitrary origin; never steps, never goes back. Only differences mean anything. */
  monotonicMs(): number;
  /** Runs `fire` once after `delayMs` (>= 0). */
  setTimer(delayMs: number, fire: () => void): Timer;
  /**
   * A timeout: as setTimer, but once due it fires only after the I/O already waiting has been
   * handled. An event loop that stalled past a request's timeout (a busy or paused process)
   * meets the due timers before the sockets; the answer sitting unread in a buffer would be
   * taken for no answer, and a handshake that came through for one that did not.
   */
  setDeadline(delayMs: number, fire: () => void): Timer;
}

export interface Timer {
  cancel(): void;
}

/** Randomness. Seeded and reproducible in a simulation; crypto-strong in the real world. */
export interface Rng {
  /** A uniform unsigned 32-bit integer. */
  uint32(): number;
  /** A uniform float in [0, 1). */
  float(): number;
  /** A uniform integer in [0, bound); bound is a positive safe integer. */
  int(bound: number): number;
  bytes(lengthBytes: number): Uint8Array;
  /** A URL-safe id of `size` characters (default 21), made by nanoid's customRandom on this rng. */
  id(size?: number): string;
}

export type { NetAddress };

/** Why a connection ended; null for an orderly close by either side. */
export interface NetError {
  /** ETLS: the TLS handshake failed, or one end refused the other's certificate (the message says which and why). */
  code: 'ECONNRESET' | 'ECONNREFUSED' | 'ETIMEDOUT' | 'EHOSTUNREACH' | 'EPIPE' | 'EADDRINUSE' | 'EIO' | 'ETLS';
  message: string;
}

export interface ConnectionHandlers {
  /** Bytes in arrival order; the callee may keep the array. */
  data(bytes: Uint8Array): void;
  /** Called exactly once when the connection is gone. */
  close(error: NetError | null): void;
  /** The write buffer has drained below its high-water mark after write() returned false. */
  drain?(): void;
}

/** A reliable, ordered byte stream (TCP-like). Framing belongs to the codecs. */
export interface Connection {
  readonly local: NetAddress;
  readonly remote: NetAddress;
  /** The other end's certificate, as judged, on a secure connection; null on a plain one. */
  readonly peer: PeerIdentity | null;
  /** Starts delivery; bytes that arrived before attach are held until then. Call once. */
  attach(handlers: ConnectionHandlers): void;
  /** Queues bytes; false when the queue is above its high-water mark (wait for drain). */
  write(bytes: Uint8Array): boolean;
  /** Queues several arrays as one send (a header and a body without copying them together). */
  writeAll(chunks: readonly Uint8Array[]): boolean;
  /** Closes after the queued bytes are sent. */
  end(): void;
  /** Closes at once, dropping queued bytes. */
  destroy(): void;
}

export interface Listener {
  readonly address: NetAddress;
  close(): Promise<void>;
}

/** What a certificate says of its holder, as Clique reads it. */
export interface CertificateIdentity {
  /** SHA-256 (hex) of the certificate's public key (SPKI DER): what the tracker and tickets pin. */
  keyFingerprint: string;
  /** The certificate's URI subject alternative names (`clique:node/n1`). */
  uris: string[];
}

/** A private key and its certificate (PEM), with what the certificate says. */
export interface CertifiedKey {
  certificatePem: string;
  keyPem: string;
  identity: CertificateIdentity;
}

/** The other end of a secure connection, after the handshake. */
export interface PeerIdentity extends CertificateIdentity {
  /** Its certificate chains to the CA we trust (false when we trust none, or it does not). */
  trusted: boolean;
}

/** TLS 1.3 on a connection: what we show, whom we trust, and our judgement of the other end. */
export interface SecureOptions {
  /** Our key and certificate; a client may show none. A listener reads it at each handshake (it may change). */
  own: CertifiedKey | null;
  /** The CA (PEM) the other end's certificate must chain to, to be `trusted`. */
  caPem?: string;
  /** A server asks the client for its certificate (mutual TLS); a client always gets the server's. */
  requestPeerCertificate?: boolean;
  /** After the handshake: null to go on, or why not (the connection then ends, with that reason). */
  accept(peer: PeerIdentity | null): string | null;
}

export interface ListenOptions {
  secure?: SecureOptions;
  /** With `secure`: a connection whose first byte is no TLS handshake, to answer in clear (then it is closed); without this, it is dropped. */
  plaintext?: (connection: Connection) => void;
  /** With `secure`: a connection refused (handshake failed, or `accept` said no), for the log. */
  refused?: (remote: NetAddress, reason: string) => void;
  /**
   * Asked as each connection arrives, before any byte or handshake: null refuses it (it is closed
   * at once); otherwise the function returned is called once, when that connection closes.
   */
  admit?: (remote: NetAddress) => (() => void) | null;
}

/** Keys and certificates: ECDSA P-256 and X.509 on the real machine, tokens in a simulation. */
export interface Certificates {
  /** A new certificate authority (self-signed). */
  authority(commonName: string): Promise<CertifiedKey>;
  /** A new key and a certificate naming `uris`, signed by `issuer`, or self-signed when null. */
  issue(uris: readonly string[], issuer: CertifiedKey | null): Promise<CertifiedKey>;
  /** Reads back a key and its certificate; throws WorldError BAD_CERTIFICATE if they do not parse or match. */
  load(certificatePem: string, keyPem: string): CertifiedKey;
  /** What a certificate says; throws WorldError BAD_CERTIFICATE if it does not parse. */
  identityOf(certificatePem: string): CertificateIdentity;
}

export interface ConnectOptions {
  /** TLS 1.3 over the connection; it resolves once the handshake and `accept` are through. */
  secure?: SecureOptions;
  /** How long the TCP connect may take (and the TLS handshake after it, unless handshakeTimeoutMs says otherwise). */
  timeoutMs?: number;
  /**
   * How long the TLS handshake may take once connected (default timeoutMs). A busy server
   * queues handshakes: a client that gives up on one that is queued wastes the work done.
   */
  handshakeTimeoutMs?: number;
  /**
   * Receive into one buffer reused by every read (no allocation per read): data() then gets
   * views that are valid only until it returns, so the callee copies whatever it keeps.
   * A hint: a world may deliver fresh arrays anyway.
   */
  reuseReadBuffer?: boolean;
  /**
   * The local host to connect from (an address of this machine, e.g. 127.0.0.7 of loopback);
   * the port is the system's choice. Without it, the system picks the address too.
   */
  localAddress?: string;
}

export interface Network {
  /** Port 0 picks a free port. Fails with EADDRINUSE when taken. */
  listen(address: NetAddress, onConnection: (connection: Connection) => void, options?: ListenOptions): Promise<Listener>;
  connect(address: NetAddress, options?: ConnectOptions): Promise<Connection>;
  /**
   * How many files and sockets this process may hold open at once (the soft RLIMIT_NOFILE,
   * `ulimit -n`), read when asked; null when nothing bounds them (a simulation) or it cannot be
   * read. A server that holds many connections sizes its cap by it.
   */
  openFileLimit(): number | null;
}

export interface FileStat {
  sizeBytes: number;
  isDirectory: boolean;
}

/** Random-access file. Written bytes survive a crash only after sync(). */
export interface FileHandle {
  read(positionBytes: number, lengthBytes: number): Promise<Uint8Array>;
  write(positionBytes: number, bytes: Uint8Array): Promise<void>;
  truncate(sizeBytes: number): Promise<void>;
  sizeBytes(): Promise<number>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Files and directories. Failures throw a WorldError whose code is Node's (ENOENT, EEXIST,
 * ENOTDIR, EISDIR, ENOTEMPTY).
 */
export interface FileSystem {
  /** 'r' read only; 'r+' read/write, must exist; 'w+' read/write, created or truncated. The last two never follow a symbolic link at the path's last component. */
  open(path: string, mode: 'r' | 'r+' | 'w+'): Promise<FileHandle>;
  readFile(path: string): Promise<Uint8Array>;
  /** Writes a whole file; with sync the bytes are durable when the promise resolves. */
  writeFile(path: string, bytes: Uint8Array, options?: { sync?: boolean; mode?: number }): Promise<void>;
  /** Atomic replace of `to` by `from`. */
  rename(from: string, to: string): Promise<void>;
  /** Moves `from` to `to` unless something is at `to` (EEXIST): never replaces a file. */
  renameNoReplace(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  mkdir(path: string, options?: { recursive?: boolean }): Promise<void>;
  readdir(path: string): Promise<string[]>;
  /** null when nothing is at `path`. */
  stat(path: string): Promise<FileStat | null>;
  /** The absolute path with every symbolic link and `.`/`..` resolved; ENOENT when nothing is there. */
  realpath(path: string): Promise<string>;
}

export type KvOp = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string };

export interface KvRange {
  gt?: string;
  gte?: string;
  lt?: string;
  lte?: string;
  reverse?: boolean;
  limit?: number;
}

export type KvEntry = readonly [key: string, value: Uint8Array];

/**
 * An ordered key-value store (LevelDB). Keys are strings compared by their UTF-8 bytes; values
 * are bytes. A batch is atomic. A batch written with sync:false may be lost by a crash, and
 * then only together with every later batch (a suffix), never partly.
 */
export interface KvStore {
  get(key: string): Promise<Uint8Array | undefined>;
  batch(ops: readonly KvOp[], options: { sync: boolean }): Promise<void>;
  /** Reads the range in order, in chunks of at most `chunkSize` entries. */
  iterate(range: KvRange, chunkSize?: number): AsyncIterable<readonly KvEntry[]>;
  /**
   * Asks the store to give back the disk space of the keys deleted in [gte, lte] (LevelDB's
   * compactRange: a deleted key's old value stays in a deep level until a compaction reaches it,
   * and one that only ever grows at its end may not reach it for gigabytes). Changes no key.
   */
  reclaim(range: { gte: string; lte: string }): Promise<void>;
  close(): Promise<void>;
}

export interface KvFactory {
  /**
   * Opens the store at `path`. Throws WorldError LOCKED when another process (or another open
   * handle) holds it, NOT_FOUND when it does not exist and createIfMissing is false.
   */
  open(path: string, options: { createIfMissing: boolean }): Promise<KvStore>;
}

/** scrypt parameters, recorded beside every password hash so they can change over time. */
export interface KdfParams {
  algorithm: 'scrypt';
  costN: number;
  blockSizeR: number;
  parallelP: number;
  keyLengthBytes: number;
}

export interface PasswordKdf {
  /** Parameters for new passwords. */
  readonly params: KdfParams;
  /** Off the event loop in the real world; cheap and synchronous-in-effect in a simulation. */
  derive(password: string, salt: Uint8Array, params: KdfParams): Promise<Uint8Array>;
}

/** One HTTP request, read whole (its body is bounded by the listener's maxBodyBytes). */
export interface HttpRequest {
  method: string;
  /** The path and query as sent: `/api/complete?path=%2Fhome`. */
  target: string;
  /** Header names in lower case. */
  headers: Readonly<Record<string, string>>;
  body: Uint8Array;
  remote: NetAddress;
}

/** Headers sent with every answer, names as written. */
export type HttpHeaders = Readonly<Record<string, string>>;

/** A response that goes on after its headers: chunks until either end stops. */
export interface HttpStream {
  /** Sends a chunk now; false when the client is gone, or reads so slowly that the stream was ended. */
  write(text: string): boolean;
  end(): void;
  /** Resolves once the stream is over, whichever end closed it. */
  readonly closed: Promise<void>;
}

export type HttpReply =
  | { status: number; headers: HttpHeaders; body: Uint8Array | string }
  /** `stream` is called once the headers are out. */
  | { status: number; headers: HttpHeaders; stream: (out: HttpStream) => void };

export type HttpHandler = (request: HttpRequest) => Promise<HttpReply>;

export interface HttpListenOptions {
  /** HTTPS with this key and certificate; plain HTTP without. */
  tls?: CertifiedKey;
  /** A larger body is answered 413 without calling the handler. */
  maxBodyBytes: number;
}

/** HTTP/1.1 servers (the web page's): node:http and node:https on the machine, calls in memory in a simulation. */
export interface HttpServers {
  /** Port 0 picks a free port. Fails with a NetError-coded error (EADDRINUSE) when taken. */
  listen(address: NetAddress, options: HttpListenOptions, handler: HttpHandler): Promise<Listener>;
}

export interface World {
  readonly clock: Clock;
  readonly rng: Rng;
  readonly net: Network;
  readonly fs: FileSystem;
  readonly kv: KvFactory;
  readonly kdf: PasswordKdf;
  readonly certs: Certificates;
  readonly http: HttpServers;
  /** One line of the trace. The simulation prefixes virtual time and host; the real world may drop it. */
  trace(line: string): void;
}

export type WorldErrorCode =
  | 'ENOENT'
  | 'EEXIST'
  | 'ENOTDIR'
  | 'EISDIR'
  | 'ENOTEMPTY'
  | 'EBADF'
  | 'LOCKED'
  | 'NOT_FOUND'
  | 'CLOSED'
  | 'CRASHED'
  | 'BAD_CERTIFICATE';

export class WorldError extends Error {
  constructor(
    readonly code: WorldErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'WorldError';
  }
}

export function isWorldError(error: unknown, code?: WorldErrorCode): error is WorldError {
  return error instanceof WorldError && (code === undefined || error.code === code);
}
