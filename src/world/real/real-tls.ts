// Why this file exists: TLS 1.3 for the real World's connections (node:tls). A secure listener
// reads the first byte of each connection: a TLS handshake (0x16) is wrapped in a TLSSocket, and
// anything else goes to the caller's plaintext answer (TLS_REQUIRED) or is dropped, so an old
// client is told at once instead of hanging. After the handshake the other end's certificate is
// judged by the caller (`accept`): which key, which names, whether it chains to the trusted CA.

import { createSecureContext, TLSSocket, connect as tlsConnect, type SecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import { formatNetAddress, normalizeHost } from '../net-address.js';
import { NetFailure } from '../net-error.js';
import type { ListenOptions, NetAddress, PeerIdentity, SecureOptions, Timer } from '../world.js';
import { realDeadline } from './real-deadline.js';
import { identityOfCertificate } from './real-certs.js';

const TLS_HANDSHAKE = 0x16;
/** How long a new connection may take to send its first byte, or finish the handshake. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** A handshake whose turn comes with less than this left of its time is not started: it would most likely be cut, its work wasted. */
const HANDSHAKE_MIN_LEFT_MS = 1_000;
/** Bytes a connection may send while its handshake waits its turn (a ClientHello is a few hundred; a record at most 16 KiB). */
const MAX_HELD_BYTES = 64 * 1024;
/**
 * Handshakes a listener starts in one turn of the event loop; the rest wait their turn, in
 * order of arrival. A server's handshake step (key exchange and signature, 1-3 ms of this thread)
 * runs as its ClientHello is read, so when thousands of clients come back at once (the streams of
 * a dead tracker node, issue 20) one turn would otherwise read them all: seconds in which the
 * node hears nothing else, its Raft included, and calls elections. At most ~100 ms of them a
 * turn keeps every other socket and timer served between them. It bounds no rate (8 a turn did,
 * on a loaded node: handshakes queued past their clients' patience, and their sources' caps of
 * connections not logged in refused the rest).
 */
export const HANDSHAKES_PER_TURN = 32;

/** The handshakes waiting to start, of one listener: each starts in a turn with at most HANDSHAKES_PER_TURN others. */
export class HandshakePacer {
  private readonly waiting = new Set<() => void>();
  private scheduled = false;

  /** `nextTurn` runs its callback in a later turn of the event loop (a test may hold the turns). */
  constructor(
    private readonly perTurn = HANDSHAKES_PER_TURN,
    private readonly nextTurn: (run: () => void) => void = setImmediate,
  ) {}

  /** Runs `begin` in a later turn; the returned function takes it back if it has not run yet. */
  enqueue(begin: () => void): () => void {
    this.waiting.add(begin);
    this.schedule();
    return () => void this.waiting.delete(begin);
  }

  get waitingCount(): number {
    return this.waiting.size;
  }

  private schedule(): void {
    if (this.scheduled || this.waiting.size === 0) return;
    this.scheduled = true;
    this.nextTurn(() => {
      this.scheduled = false;
      let started = 0;
      try {
        for (const begin of this.waiting) {
          if (started++ === this.perTurn) break;
          this.waiting.delete(begin);
          begin();
        }
      } finally {
        this.schedule();
      }
    });
  }
}

/** Contexts by key and CA: parsing a key per connection would cost more than the handshake's signature. */
const contexts = new WeakMap<object, Map<string, SecureContext>>();
const NO_KEY = {};

/**
 * The context for one end. A listener's holds the CA (it names it to clients asked for a
 * certificate). A connecting end's does not: the chain is judged here (peerOf), and a client
 * whose context holds a CA has Node build the server's whole chain as JS objects, fingerprints
 * and all (getPeerCertificate(true), for checkServerIdentity) on every handshake. The handshake
 * still proves the server holds its certificate's key (TLS 1.3's CertificateVerify) either way.
 */
function contextOf(options: SecureOptions, end: 'listen' | 'connect'): SecureContext {
  const caPem = end === 'listen' ? (options.caPem ?? '') : '';
  const byCa = contexts.get(options.own ?? NO_KEY) ?? new Map<string, SecureContext>();
  contexts.set(options.own ?? NO_KEY, byCa);
  let context = byCa.get(caPem);
  if (context === undefined) {
    context = createSecureContext({
      minVersion: 'TLSv1.3',
      ...(options.own ? { cert: options.own.certificatePem, key: options.own.keyPem } : {}),
      ...(caPem !== '' ? { ca: caPem } : {}),
    });
    byCa.set(caPem, context);
  }
  return context;
}

/**
 * CAs parsed once each (a client judges thousands of handshakes against the same one). A
 * process meets one or two; bounded all the same, the judgements against them going too.
 */
const CAS_MAX = 64;
const parsedCas = new Map<string, X509Certificate>();

function caOf(caPem: string | undefined): X509Certificate | null {
  if (caPem === undefined) return null;
  let ca = parsedCas.get(caPem);
  if (ca === undefined) {
    if (parsedCas.size >= CAS_MAX) {
      parsedCas.clear();
      judged.clear();
    }
    ca = new X509Certificate(caPem);
    parsedCas.set(caPem, ca);
  }
  return ca;
}

/**
 * Judgements by CA and certificate (its DER bytes): the same bytes and CA always judge the same,
 * and after a failover a load of 2,500 peers judged the same three node certificates thousands
 * of times, a third of its handshakes' CPU (issue 20). Bounded: emptied when it holds this many.
 */
const JUDGED_MAX = 1_024;
const judged = new Map<X509Certificate | null, Map<string, PeerIdentity>>();

/**
 * The other end as the handshake left it: its certificate read, and whether the trusted CA
 * signed it (checked here for both ends alike: a TLSSocket made by hand on the server side does
 * not compute `authorized`, and a connecting end's context holds no CA).
 */
function peerOf(socket: TLSSocket, ca: X509Certificate | null): PeerIdentity | null {
  const certificate = socket.getPeerX509Certificate();
  if (!certificate) return null;
  const byCertificate = judged.get(ca) ?? new Map<string, PeerIdentity>();
  judged.set(ca, byCertificate);
  const key = certificate.raw.toString('base64');
  const known = byCertificate.get(key);
  if (known !== undefined) return known;
  const trusted = ca !== null && certificate.checkIssued(ca) && certificate.verify(ca.publicKey);
  // Shared by every connection that shows these bytes: frozen, so no caller's change reaches another's.
  const peer: PeerIdentity = Object.freeze({ ...identityOfCertificate(certificate), trusted });
  if (byCertificate.size >= JUDGED_MAX) byCertificate.clear();
  byCertificate.set(key, peer);
  return peer;
}

function remoteOf(socket: Socket): NetAddress {
  return { host: normalizeHost(socket.remoteAddress ?? ''), port: socket.remotePort ?? 0 };
}

/**
 * Serves TLS on accepted sockets (paused on connect): `secured` gets each socket whose handshake
 * and judgement went through, `plain` each that did not start with a TLS handshake.
 */
export function secureAcceptor(
  options: ListenOptions & { secure: SecureOptions },
  secured: (socket: TLSSocket, peer: PeerIdentity | null) => void,
  plain: (socket: Socket) => void,
  pacer = new HandshakePacer(),
): (socket: Socket) => void {
  const ca = caOf(options.secure.caPem);
  const refuse = (socket: Socket, reason: string): void => {
    options.refused?.(remoteOf(socket), reason);
    socket.destroy();
  };
  const handshake = (socket: Socket, deadline: Timer): void => {
    const tls = new TLSSocket(socket, { isServer: true, secureContext: contextOf(options.secure, 'listen'), requestCert: options.secure.requestPeerCertificate === true, rejectUnauthorized: false });
    tls.on('error', (error) => refuse(socket, `TLS: ${error.message}`));
    tls.once('secure', () => {
      deadline.cancel();
      tls.removeAllListeners('error');
      tls.on('error', () => {});
      const peer = peerOf(tls, ca);
      const refusal = options.secure.accept(peer);
      if (refusal !== null) return refuse(tls, refusal);
      tls.pause();
      secured(tls, peer);
    });
  };
  return (socket) => {
    socket.on('error', () => {});
    const acceptedMs = performance.now();
    // Judged after the bytes already waiting: a node that stalled past it may hold the client's last flight unread.
    const deadline = realDeadline(HANDSHAKE_TIMEOUT_MS, () => refuse(socket, 'TLS: no handshake in time'));
    socket.once('close', () => deadline.cancel());
    socket.once('readable', () => {
      const first = socket.read(1) as Buffer | null;
      if (first === null) return; // closed before a byte
      socket.unshift(first);
      if (first[0] !== TLS_HANDSHAKE) {
        deadline.cancel();
        if (options.plaintext) plain(socket);
        else refuse(socket, 'TLS_REQUIRED: the first byte is not a TLS handshake');
        return;
      }
      // While it waits its turn its bytes are read, so a client that gives up (a FIN: nothing
      // unread at its end) is seen to, and it is dropped unstarted; at its turn they are handed
      // back, unread, to the handshake.
      const held: Buffer[] = [];
      let heldBytes = 0;
      const hold = (bytes: Buffer): void => {
        held.push(bytes);
        heldBytes += bytes.length;
        if (heldBytes > MAX_HELD_BYTES) refuse(socket, 'TLS: too many bytes before the handshake');
      };
      const left = (): void => void socket.destroy();
      socket.on('data', hold);
      socket.once('end', left);
      socket.resume();
      const withdraw = pacer.enqueue(() => {
        socket.off('data', hold);
        socket.off('end', left);
        socket.pause();
        if (socket.destroyed) return;
        if (performance.now() - acceptedMs > HANDSHAKE_TIMEOUT_MS - HANDSHAKE_MIN_LEFT_MS) return refuse(socket, 'TLS: no turn for the handshake in time (the node is busy)');
        if (held.length > 0) socket.unshift(Buffer.concat(held));
        handshake(socket, deadline);
      });
      socket.once('close', withdraw);
    });
  };
}

/** Opens TLS over a connected socket; resolves with the TLS socket once the server is judged acceptable. */
export function secureConnect(socket: Socket, address: NetAddress, options: SecureOptions, timeoutMs: number): Promise<{ socket: TLSSocket; peer: PeerIdentity | null }> {
  return new Promise((resolve, reject) => {
    // Certificates name nodes by URI, not by address: the chain is judged here (peerOf), the name by the caller (accept).
    const tls = tlsConnect({ socket, secureContext: contextOf(options, 'connect'), rejectUnauthorized: false, minVersion: 'TLSv1.3', checkServerIdentity: () => undefined });
    const fail = (reason: string, code: 'ETLS' | 'ETIMEDOUT' = 'ETLS'): void => {
      deadline.cancel();
      tls.destroy();
      reject(new NetFailure(code, reason));
    };
    // A handshake that does not finish in time says the node is slow or gone, not that it is untrusted.
    const deadline = realDeadline(timeoutMs, () => fail(`TLS handshake with ${formatNetAddress(address)} timed out`, 'ETIMEDOUT'));
    tls.once('error', (error) => fail(`TLS with ${formatNetAddress(address)}: ${error.message}`));
    tls.once('close', () => fail(`${formatNetAddress(address)} closed the connection during the TLS handshake (it speaks no TLS, or refused us)`));
    tls.once('secureConnect', () => {
      deadline.cancel();
      tls.removeAllListeners('close');
      tls.removeAllListeners('error');
      tls.on('error', () => {});
      const peer = peerOf(tls, caOf(options.caPem));
      const refusal = options.accept(peer);
      if (refusal !== null) return fail(refusal);
      tls.pause();
      resolve({ socket: tls, peer });
    });
  });
}
