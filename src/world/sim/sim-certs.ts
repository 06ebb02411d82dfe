// Why this file exists: keys and certificates in a simulation, without cryptography. A
// "certificate" is a token that states its key fingerprint, its URI names and its issuer's
// fingerprint; the "key" states the same fingerprint. Fingerprints come from the host's seeded
// rng, so a run replays exactly; the simulated network judges secure connections by these
// statements (sim-net.ts), which is all the pinning checks need.

import { WorldError, type CertificateIdentity, type CertifiedKey, type Certificates, type Rng } from '../world.js';

const CERTIFICATE = 'CLIQUE SIM CERTIFICATE';
const KEY = 'CLIQUE SIM KEY';

/** What a simulated certificate states. */
export interface SimCertificate extends CertificateIdentity {
  /** The fingerprint of the key that signed it (its own for a self-signed one). */
  issuer: string;
}

function armor(label: string, body: unknown): string {
  return `-----BEGIN ${label}-----\n${Buffer.from(JSON.stringify(body)).toString('base64')}\n-----END ${label}-----\n`;
}

function unarmor(label: string, pem: string): unknown {
  const match = new RegExp(`^-----BEGIN ${label}-----\\n([A-Za-z0-9+/=]+)\\n-----END ${label}-----\\n?$`).exec(pem);
  if (!match) throw new WorldError('BAD_CERTIFICATE', `not a simulated ${label.toLowerCase()}`);
  return JSON.parse(Buffer.from(match[1]!, 'base64').toString()) as unknown;
}

/** Reads a simulated certificate's statements. */
export function simCertificate(pem: string): SimCertificate {
  const body = unarmor(CERTIFICATE, pem) as Partial<SimCertificate>;
  if (typeof body.keyFingerprint !== 'string' || !Array.isArray(body.uris) || typeof body.issuer !== 'string') throw new WorldError('BAD_CERTIFICATE', 'a simulated certificate lacks its statements');
  return { keyFingerprint: body.keyFingerprint, uris: body.uris.map(String), issuer: body.issuer };
}

export function simCertificates(rng: Rng): Certificates {
  const make = (uris: readonly string[], issuer: string | null): CertifiedKey => {
    const keyFingerprint = Buffer.from(rng.bytes(32)).toString('hex');
    const statement: SimCertificate = { keyFingerprint, uris: [...uris], issuer: issuer ?? keyFingerprint };
    return { certificatePem: armor(CERTIFICATE, statement), keyPem: armor(KEY, { keyFingerprint }), identity: { keyFingerprint, uris: [...uris] } };
  };
  return {
    authority: async () => make([], null),
    issue: async (uris, issuer) => make(uris, issuer === null ? null : issuer.identity.keyFingerprint),
    load: (certificatePem, keyPem) => {
      const certificate = simCertificate(certificatePem);
      const key = unarmor(KEY, keyPem) as { keyFingerprint?: unknown };
      if (key.keyFingerprint !== certificate.keyFingerprint) throw new WorldError('BAD_CERTIFICATE', "the key is not the certificate's");
      return { certificatePem, keyPem, identity: { keyFingerprint: certificate.keyFingerprint, uris: certificate.uris } };
    },
    identityOf: (certificatePem) => {
      const { keyFingerprint, uris } = simCertificate(certificatePem);
      return { keyFingerprint, uris };
    },
  };
}
