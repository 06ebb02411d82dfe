// Why this file exists: a peer's TLS identity. Each home keeps one key pair and its self-signed
// certificate (`peer-key.json`, mode 0600), made on first use. Its public key's SHA-256 is what
// the tracker records at login, what tickets name and what other peers pin; nobody signs it but
// the peer, because the tracker's word (the log) is what vouches for it.

import { isWorldError, type CertifiedKey, type World } from '../world/world.js';

const FILE = 'peer-key.json';
/** The URI a peer certificate carries (it names no one: the key is the identity). */
export const PEER_URI = 'clique:peer';

export class PeerKeyError extends Error {
  override name = 'PeerKeyError';
  readonly code = 'BAD_PEER_KEY';
}

/** The home's key, made and saved if it has none. */
export async function loadOrCreatePeerKey(world: World, homePath: string): Promise<CertifiedKey> {
  const path = `${homePath.replace(/\/+$/, '')}/${FILE}`;
  let text: string | null = null;
  try {
    text = new TextDecoder().decode(await world.fs.readFile(path));
  } catch (error) {
    if (!isWorldError(error, 'ENOENT')) throw error;
  }
  if (text !== null) {
    try {
      const saved = JSON.parse(text) as { certificate?: unknown; key?: unknown };
      if (typeof saved.certificate !== 'string' || typeof saved.key !== 'string') throw new Error('want {certificate, key}');
      return world.certs.load(saved.certificate, saved.key);
    } catch (error) {
      throw new PeerKeyError(`${path}: ${error instanceof Error ? error.message : String(error)}; move it away to make a new key`);
    }
  }
  const made = await newPeerKey(world);
  await savePeerKey(world, homePath, made);
  return made;
}

/** Keeps `key` as the home's key (a home made after a login that used it). */
export async function savePeerKey(world: World, homePath: string, key: CertifiedKey): Promise<void> {
  await world.fs.mkdir(homePath, { recursive: true });
  await world.fs.writeFile(`${homePath.replace(/\/+$/, '')}/${FILE}`, new TextEncoder().encode(JSON.stringify({ certificate: key.certificatePem, key: key.keyPem }, null, 2) + '\n'), { sync: true, mode: 0o600 });
}

/** A key kept nowhere: a peer before its home is known, or a tool's one-off. */
export function newPeerKey(world: World): Promise<CertifiedKey> {
  return world.certs.issue([PEER_URI], null);
}
