// Why this file exists: keys and X.509 certificates on the real machine. Node 20 can use
// certificates but not make them, so they are made with @peculiar/x509 (on Node's WebCrypto,
// ECDSA P-256, SHA-256); they are read back with node:crypto. A certificate names its holder by
// URI (`clique:node/n1`), never by address, and is pinned by the SHA-256 of its public key.

import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, createPrivateKey, createPublicKey, webcrypto, X509Certificate } from 'node:crypto';
import { WorldError, type CertificateIdentity, type CertifiedKey, type Certificates } from '../world.js';

x509.cryptoProvider.set(x509.CryptoProvider.DEFAULT, webcrypto as Parameters<typeof x509.cryptoProvider.set>[1]);

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const NOT_BEFORE = new Date(Date.UTC(2020, 0, 1));
const NOT_AFTER = new Date(Date.UTC(2120, 0, 1));
/** TLS web server and client authentication: every Clique certificate serves both ends. */
const BOTH_ENDS = ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'];

/** SHA-256 (hex) of a public key in SPKI DER: the fingerprint Clique pins. */
function keyFingerprint(certificate: X509Certificate): string {
  return createHash('sha256').update(certificate.publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
}

function urisOf(certificate: X509Certificate): string[] {
  const names = certificate.subjectAltName ?? '';
  return names
    .split(', ')
    .filter((name) => name.startsWith('URI:'))
    .map((name) => name.slice('URI:'.length));
}

export function identityOfCertificate(certificate: X509Certificate): CertificateIdentity {
  return { keyFingerprint: keyFingerprint(certificate), uris: urisOf(certificate) };
}

function serial(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1');
}

async function pemOfKey(key: webcrypto.CryptoKey): Promise<string> {
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key as webcrypto.CryptoKey));
  return createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }).toString();
}

async function certified(certificate: x509.X509Certificate, privateKey: webcrypto.CryptoKey): Promise<CertifiedKey> {
  const certificatePem = certificate.toString('pem');
  return { certificatePem, keyPem: await pemOfKey(privateKey), identity: identityOfCertificate(new X509Certificate(certificatePem)) };
}

/** Imports a PEM private key for signing with @peculiar/x509. */
async function signingKeyOf(keyPem: string): Promise<webcrypto.CryptoKey> {
  const pkcs8 = createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' });
  return (await webcrypto.subtle.importKey('pkcs8', pkcs8, ALGORITHM, false, ['sign'])) ;
}

export function realCertificates(): Certificates {
  return {
    authority: async (commonName) => {
      const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
      const certificate = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: serial(),
        name: `CN=${commonName}`,
        notBefore: NOT_BEFORE,
        notAfter: NOT_AFTER,
        keys,
        signingAlgorithm: ALGORITHM,
        extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
      });
      return certified(certificate, keys.privateKey);
    },
    issue: async (uris, issuer) => {
      const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
      const extensions = [
        new x509.SubjectAlternativeNameExtension(uris.map((value) => ({ type: 'url' as const, value }))),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension(BOTH_ENDS),
      ];
      const subject = `CN=${uris[0] ?? 'clique peer'}`;
      const certificate =
        issuer === null
          ? await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: serial(), name: subject, notBefore: NOT_BEFORE, notAfter: NOT_AFTER, keys, signingAlgorithm: ALGORITHM, extensions })
          : await x509.X509CertificateGenerator.create({
              serialNumber: serial(),
              subject,
              issuer: new x509.X509Certificate(issuer.certificatePem).subject,
              notBefore: NOT_BEFORE,
              notAfter: NOT_AFTER,
              signingKey: await signingKeyOf(issuer.keyPem),
              publicKey: keys.publicKey,
              signingAlgorithm: ALGORITHM,
              extensions,
            });
      return certified(certificate, keys.privateKey);
    },
    load: (certificatePem, keyPem) => {
      let certificate: X509Certificate;
      try {
        certificate = new X509Certificate(certificatePem);
        const publicOfKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
        if (!publicOfKey.equals(certificate.publicKey.export({ type: 'spki', format: 'der' }))) throw new Error('the key is not the certificate\'s');
      } catch (error) {
        throw new WorldError('BAD_CERTIFICATE', `not a key and its certificate: ${error instanceof Error ? error.message : String(error)}`);
      }
      return { certificatePem, keyPem, identity: identityOfCertificate(certificate) };
    },
    identityOf: (certificatePem) => {
      try {
        return identityOfCertificate(new X509Certificate(certificatePem));
      } catch (error) {
        throw new WorldError('BAD_CERTIFICATE', `not a certificate: ${error instanceof Error ? error.message : String(error)}`);
      }
    },
  };
}
