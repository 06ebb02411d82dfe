// Why this file exists: the test-only switch that turns encryption off (CLIQUE_TEST_PLAINTEXT=1).
// The eavesdropper test must show that its capture would find the secrets if they crossed in
// clear, so the same programs must run with TLS off and everything else alike. Under the switch
// a "secure" connection sends no TLS: each end writes one line naming its certificate, the other
// judges it exactly as after a handshake (key fingerprint, names, CA), and the conversation
// follows in clear. There is no proof of the key; never set it outside that test.

import { X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import { NetFailure } from '../net-error.js';
import type { PeerIdentity, SecureOptions } from '../world.js';
import { identityOfCertificate } from './real-certs.js';
import { realDeadline } from './real-deadline.js';

export const PLAINTEXT_SWITCH = 'CLIQUE_TEST_PLAINTEXT';
const PREFIX = 'CLIQUE-PLAINTEXT-TEST ';
const MAX_LINE_BYTES = 16 * 1024;

let warned = false;

/** Whether the switch is on (and, once per process, a warning on stderr saying so). */
export function plaintextForTests(): boolean {
  if (process.env[PLAINTEXT_SWITCH] !== '1') return false;
  if (!warned) process.stderr.write(`warning: ${PLAINTEXT_SWITCH}=1: connections are NOT encrypted (a test-only switch)\n`);
  warned = true;
  return true;
}

function identityOf(pem: string, caPem: string | undefined): PeerIdentity {
  const certificate = new X509Certificate(pem);
  const ca = caPem === undefined ? null : new X509Certificate(caPem);
  return { ...identityOfCertificate(certificate), trusted: ca !== null && certificate.checkIssued(ca) && certificate.verify(ca.publicKey) };
}

/**
 * Both ends name their certificates in one line each, then the other end is judged. Resolves
 * with its identity once `accept` agrees; rejects ETLS otherwise (the socket destroyed).
 */
export function plaintextExchange(socket: Socket, options: SecureOptions, peerName: string, timeoutMs: number): Promise<PeerIdentity | null> {
  return new Promise((resolve, reject) => {
    const fail = (reason: string): void => {
      deadline.cancel();
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.destroy();
      reject(new NetFailure('ETLS', reason));
    };
    const deadline = realDeadline(timeoutMs, () => fail(`no certificate line from ${peerName} in time`));
    let got = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      got = Buffer.concat([got, chunk]);
      const end = got.indexOf(10);
      if (end < 0) return got.length > MAX_LINE_BYTES ? fail(`${peerName} sent no certificate line`) : undefined;
      deadline.cancel();
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
      const rest = got.subarray(end + 1);
      if (rest.length > 0) socket.unshift(rest);
      const line = got.subarray(0, end).toString();
      if (!line.startsWith(PREFIX)) return fail(`${peerName} does not run with ${PLAINTEXT_SWITCH}=1`);
      const body = line.slice(PREFIX.length);
      let peer: PeerIdentity | null = null;
      try {
        peer = body === '-' ? null : identityOf(Buffer.from(body, 'base64').toString(), options.caPem);
      } catch (error) {
        return fail(`${peerName}: ${error instanceof Error ? error.message : String(error)}`);
      }
      const refusal = options.accept(peer);
      if (refusal !== null) return fail(refusal);
      resolve(peer);
    };
    socket.on('data', onData);
    socket.on('error', () => {});
    const onClose = (): void => fail(`${peerName} closed the connection before naming its certificate`);
    socket.once('close', onClose);
    socket.write(`${PREFIX}${options.own ? Buffer.from(options.own.certificatePem).toString('base64') : '-'}\n`);
    socket.resume();
  });
}
