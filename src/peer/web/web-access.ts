// Why this file exists: who may use a peer's web page. The access token is kept in the home (so
// the page's URL stays the same across restarts) and every API request must carry it in a
// header, which a cross-site form cannot set. Every request's Host must name the address the
// page is bound to, so a DNS name rebound to 127.0.0.1 by a hostile site gets nothing.

import { formatNetAddress, type NetAddress } from '../../world/net-address.js';
import { isWorldError, type World } from '../../world/world.js';
import { fromUtf8, utf8 } from '../../torrent/bytes.js';

export const WEB_TOKEN_FILE = 'web-token';
const TOKEN_CHARACTERS = 32;
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{32,128}$/;

/** The token kept in `dir`, made (mode 0600) on first use. */
export async function loadOrCreateWebToken(world: World, dir: string): Promise<string> {
  const path = `${dir.replace(/\/+$/, '')}/${WEB_TOKEN_FILE}`;
  try {
    const kept = fromUtf8(await world.fs.readFile(path)).trim();
    if (TOKEN_SHAPE.test(kept)) return kept;
  } catch (error) {
    if (!isWorldError(error, 'ENOENT')) throw error;
  }
  await world.fs.mkdir(dir, { recursive: true });
  const token = world.rng.id(TOKEN_CHARACTERS);
  await world.fs.writeFile(path, utf8(`${token}\n`), { sync: true, mode: 0o600 });
  return token;
}

/** Compares in time independent of where the strings differ. */
function sameSecret(given: string, expected: string): boolean {
  if (given.length !== expected.length) return false;
  let difference = 0;
  for (let i = 0; i < given.length; i++) difference |= given.charCodeAt(i) ^ expected.charCodeAt(i);
  return difference === 0;
}

/** Whether `authorization` (the header) carries `token`. */
export function carriesToken(authorization: string | undefined, token: string): boolean {
  const match = /^Bearer ([A-Za-z0-9_-]+)$/.exec(authorization ?? '');
  return match !== null && sameSecret(match[1]!, token);
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1)$/;
const WILDCARD = new Set(['0.0.0.0', '::']);

export function isLoopback(host: string): boolean {
  return LOOPBACK.test(host) || host === 'localhost';
}

/**
 * Whether a request's Host header names where we are bound: the bound address itself; for a
 * loopback address also `localhost`; for every interface (0.0.0.0, ::) any IP literal. A DNS
 * name other than localhost never passes, whatever it resolves to.
 */
export function hostAllowed(header: string | undefined, bound: NetAddress): boolean {
  if (header === undefined) return false;
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:]+)):(\d{1,5})$/.exec(header);
  if (match === null || Number(match[3]) !== bound.port) return false;
  const host = (match[1] ?? match[2]!).toLowerCase();
  if (host === bound.host.toLowerCase()) return true;
  if (host === 'localhost') return isLoopback(bound.host);
  if (WILDCARD.has(bound.host)) return /^\d+\.\d+\.\d+\.\d+$/.test(host) || match[1] !== undefined;
  return false;
}

/** The page's address for the URL: a wildcard bind is shown as loopback. */
export function pageUrl(bound: NetAddress, secure: boolean, token: string): string {
  const shown = WILDCARD.has(bound.host) ? { host: bound.host === '::' ? '::1' : '127.0.0.1', port: bound.port } : bound;
  return `${secure ? 'https' : 'http'}://${formatNetAddress(shown)}/#token=${token}`;
}
