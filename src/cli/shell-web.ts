// Why this file exists: `clique shell --web [HOST:PORT]` — the shell's peer also serves its page.
// Loopback by default, on a fixed port (another if taken); off loopback only over HTTPS with the
// home's key, whose fingerprint is printed so the first visit can be checked. The URL carries
// the token kept in the home, so it stays the same across restarts.

import { homedir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { loadOrCreatePeerKey } from '../peer/peer-key.js';
import type { PeerNode } from '../peer/peer-node.js';
import { isLoopback, loadOrCreateWebToken } from '../peer/web/web-access.js';
import { peerWebHost } from '../peer/web/web-host.js';
import { WebRoots } from '../peer/web/web-paths.js';
import { DEFAULT_WEB_PORT, WebServer } from '../peer/web/web-server.js';
import type { World } from '../world/world.js';
import { addressArgument } from './peer-commands.js';
import type { ShellContext } from './shell-commands.js';
import type { ControlAnswer } from '../world/real/real-control-socket.js';

export interface WebOptions {
  /** true: the default address; else HOST:PORT. */
  web: true | string;
  /** Directories the page may name paths under; default the home directory and the current one. */
  webRoot?: string[];
  /** Where the token (and, off loopback, the key) are kept: the peer's home, or `<homes>/.web` for one home per user. */
  keptIn: string;
}

/**
 * With one home per user, the page's token and key are kept apart from every user's home: in
 * `<homes>/.web` (a user id never starts with a dot, so no user's home can be this).
 */
export const WEB_DIR_IN_HOMES = '.web';

/** The built page, beside the compiled CLI (dist/web). */
const PAGE_DIR = fileURLToPath(new URL('../web/', import.meta.url)).replace(/\/+$/, '');

export async function startWeb(world: World, peer: PeerNode, options: WebOptions, run: (name: string, args: string[], context: ShellContext) => Promise<ControlAnswer>, say: (line: string) => void): Promise<WebServer> {
  const listen = options.web === true ? { host: '127.0.0.1', port: DEFAULT_WEB_PORT } : addressArgument(options.web, { listen: true });
  const secure = !isLoopback(listen.host);
  const tls = secure ? await loadOrCreatePeerKey(world, options.keptIn) : null;
  const token = await loadOrCreateWebToken(world, options.keptIn);
  const roots = await WebRoots.resolve(world, options.webRoot ?? [homedir(), process.cwd()], process.cwd());
  const host = peerWebHost(peer, (name, args) => run(name, args, { waitTimeoutMs: 60_000 }));
  const server = await WebServer.start(world, host, { listen, fallBack: options.web === true, tls, token, roots, pageDir: PAGE_DIR, log: say });
  say(`web page: ${server.url}`);
  say(`  it may name files under ${roots.roots.join(', ') || 'nothing (no web root exists)'}${roots.missing.length > 0 ? `; not found, so left out: ${roots.missing.join(', ')}` : ''}`);
  if (tls !== null) say(`  its certificate's key fingerprint (SHA-256): ${tls.identity.keyFingerprint}; check it when the browser asks`);
  return server;
}
