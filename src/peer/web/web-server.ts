// Why this file exists: a peer's web page and its JSON API (web-api.ts), served by the World's
// HTTP adapter so the same code runs on the machine and in the simulation. It checks the Host of
// every request and the token of every API call, confines paths to the web roots, answers as
// `--json` does with the same codes, and keeps the live stream (web-events.ts). The page's own
// files are public (they hold no secret) and are sent with a policy that lets them load nothing
// from another site.

import { PeerError } from '../peer-node.js';
import { isNetFailure } from '../../world/net-error.js';
import type { CertifiedKey, HttpReply, HttpRequest, Listener, NetAddress, World } from '../../world/world.js';
import { carriesToken, hostAllowed, pageUrl } from './web-access.js';
import type { ApiAnswer, CommandRequest, WebState } from './web-api.js';
import { LiveEvents } from './web-events.js';
import type { WebHost } from './web-host.js';
import type { WebRoots } from './web-paths.js';

/** The port a page is served on unless told otherwise (a free one if taken). */
export const DEFAULT_WEB_PORT = 8881;
const MAX_BODY_BYTES = 64 * 1024;
const MAX_ARGS = 8;
const MAX_ARG_CHARACTERS = 4_096;
/** Through the page, `wait` holds a request at most this long. */
const MAX_WAIT_SECONDS = 300;

export interface WebServerOptions {
  listen: NetAddress;
  /** Another port if `listen`'s is taken (the default port). */
  fallBack: boolean;
  /** HTTPS with this key; the caller insists on it off loopback. */
  tls: CertifiedKey | null;
  token: string;
  roots: WebRoots;
  /** Where index.html, app.js and app.css are; null serves the API alone. */
  pageDir: string | null;
  /** Where the server says what went wrong inside it. */
  log: (line: string) => void;
}

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
} as const;

const PAGE_FILES: Readonly<Record<string, string>> = {
  '/': 'index.html',
  '/index.html': 'index.html',
  '/app.js': 'app.js',
  '/app.js.map': 'app.js.map',
  '/app.css': 'app.css',
  '/app.css.map': 'app.css.map',
};

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  map: 'application/json',
};

/** Codes of a request that was malformed rather than refused. */
const BAD_REQUEST_CODES = new Set(['UNKNOWN_COMMAND', 'BAD_ARGUMENTS', 'BAD_QUOTES', 'BAD_REQUEST']);

/** The HTTP status an answer travels with. */
export function httpStatusOf(answer: ApiAnswer): number {
  if (answer.ok) return 200;
  const { code } = answer.error;
  if (code === 'UNAUTHORIZED') return 401;
  if (code === 'BAD_HOST' || code === 'OUTSIDE_WEB_ROOT') return 403;
  if (code === 'NOT_FOUND') return 404;
  if (BAD_REQUEST_CODES.has(code)) return 400;
  if (code === 'INTERNAL') return 500;
  if (code === 'TOO_MANY_PAGES') return 503;
  return 409;
}

function json(answer: ApiAnswer, status = httpStatusOf(answer)): HttpReply {
  return { status, headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...SECURITY_HEADERS }, body: JSON.stringify(answer) };
}

function refusal(command: string, code: string, message: string): HttpReply {
  return json({ ok: false, command, error: { code, message } });
}

/** The words of a command request, or why they are not. */
function commandArgs(body: Uint8Array): string[] | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    return 'the body is not JSON';
  }
  if (typeof parsed !== 'object' || parsed === null || !Array.isArray((parsed as Partial<CommandRequest>).args)) return 'want {"args": ["word", …]}';
  const args: unknown[] = (parsed as { args: unknown[] }).args;
  if (args.length > MAX_ARGS || !args.every((a): a is string => typeof a === 'string' && a.length <= MAX_ARG_CHARACTERS)) return `args: at most ${MAX_ARGS} strings of at most ${MAX_ARG_CHARACTERS} characters`;
  return args;
}

export class WebServer {
  private readonly live: LiveEvents;
  private readonly pageCache = new Map<string, Uint8Array>();
  private listener: Listener | null = null;
  /** Where it was bound (kept after close, for requests still on their way). */
  private bound: NetAddress | null = null;

  private constructor(
    private readonly world: World,
    private readonly host: WebHost,
    private readonly options: WebServerOptions,
  ) {
    this.live = new LiveEvents(world.clock, host, options.log);
  }

  static async start(world: World, host: WebHost, options: WebServerOptions): Promise<WebServer> {
    const server = new WebServer(world, host, options);
    const handler = (request: HttpRequest): Promise<HttpReply> => server.handle(request);
    const tls = options.tls === null ? {} : { tls: options.tls };
    try {
      server.listener = await world.http.listen(options.listen, { maxBodyBytes: MAX_BODY_BYTES, ...tls }, handler);
    } catch (error) {
      if (!options.fallBack || !isNetFailure(error, 'EADDRINUSE')) throw error;
      server.listener = await world.http.listen({ host: options.listen.host, port: 0 }, { maxBodyBytes: MAX_BODY_BYTES, ...tls }, handler);
    }
    server.bound = server.listener.address;
    return server;
  }

  get address(): NetAddress {
    if (this.bound === null) throw new Error('the web server is not listening');
    return this.bound;
  }

  /** The page's URL, token included (in the fragment, which no browser sends anywhere). */
  get url(): string {
    return pageUrl(this.address, this.options.tls !== null, this.options.token);
  }

  async close(): Promise<void> {
    this.live.close();
    await this.listener?.close();
    this.listener = null;
  }

  private async handle(request: HttpRequest): Promise<HttpReply> {
    if (!hostAllowed(request.headers.host, this.address)) return refusal('', 'BAD_HOST', `this page answers only to ${request.headers.host === undefined ? 'requests naming its address' : `its own address, not ${request.headers.host}`}`);
    if (!request.target.startsWith('/')) return refusal('', 'BAD_REQUEST', 'a request names a path');
    const { pathname, searchParams } = new URL(request.target, 'http://page.invalid');
    if (!pathname.startsWith('/api/')) return this.page(request.method, pathname);
    if (!carriesToken(request.headers.authorization, this.options.token)) return refusal('', 'UNAUTHORIZED', 'this request carries no valid token (Authorization: Bearer TOKEN, from the URL the shell printed)');
    const command = /^\/api\/commands\/([a-z_]{1,40})$/.exec(pathname)?.[1];
    if (command !== undefined) {
      if (request.method !== 'POST') return refusal(command, 'BAD_REQUEST', 'commands are POSTed');
      if (!(request.headers['content-type'] ?? '').startsWith('application/json')) return refusal(command, 'BAD_REQUEST', 'the body must be application/json');
      const args = commandArgs(request.body);
      if (typeof args === 'string') return refusal(command, 'BAD_REQUEST', args);
      return json(await this.run(command, args));
    }
    if (request.method !== 'GET') return refusal('', 'NOT_FOUND', `no ${request.method} ${pathname}`);
    switch (pathname) {
      case '/api/state':
        return json({ ok: true, command: 'state', result: await this.state() });
      case '/api/complete':
        return this.answer('complete', () => this.options.roots.complete(searchParams.get('path') ?? ''));
      case '/api/events':
        if (this.live.full) return refusal('events', 'TOO_MANY_PAGES', 'too many pages of this peer are open; close one');
        return { status: 200, headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store', ...SECURITY_HEADERS }, stream: (out) => this.live.add(out) };
      default:
        return refusal('', 'NOT_FOUND', `no ${pathname}`);
    }
  }

  /** A shell command, with the paths it names confined to the web roots first. */
  private async run(command: string, args: string[]): Promise<ApiAnswer> {
    if (command === 'wait' && args[0] === '--timeout' && !(Number(args[1]) <= MAX_WAIT_SECONDS)) {
      return { ok: false, command, error: { code: 'BAD_ARGUMENTS', message: `through the page, wait waits at most ${MAX_WAIT_SECONDS} s: wait --timeout SECONDS` } };
    }
    const pathAt = command === 'upload_file' ? 0 : command === 'download_file' ? 2 : null;
    if (pathAt !== null && args[pathAt] !== undefined) {
      try {
        args = [...args];
        args[pathAt] = await this.options.roots.confine(args[pathAt]!);
      } catch (error) {
        if (error instanceof PeerError) return { ok: false, command, error: { code: error.code, message: error.message } };
        throw error;
      }
    }
    return this.host.run(command, args);
  }

  private async answer<R>(command: string, work: () => Promise<R>): Promise<HttpReply> {
    try {
      return json({ ok: true, command, result: await work() });
    } catch (error) {
      const code = error instanceof PeerError ? error.code : 'INTERNAL';
      return refusal(command, code, error instanceof Error ? error.message : String(error));
    }
  }

  private async state(): Promise<WebState> {
    return {
      status: this.host.status(),
      downloads: this.host.downloads(),
      cluster: this.live.cluster ?? (await this.host.cluster()),
      news: this.host.news(),
      webRoots: [...this.options.roots.roots],
    };
  }

  private async page(method: string, pathname: string): Promise<HttpReply> {
    const name = PAGE_FILES[pathname];
    if ((method !== 'GET' && method !== 'HEAD') || name === undefined || this.options.pageDir === null) {
      return { status: 404, headers: { 'content-type': 'text/plain', ...SECURITY_HEADERS }, body: 'not found\n' };
    }
    let bytes = this.pageCache.get(name);
    if (bytes === undefined) {
      try {
        bytes = await this.world.fs.readFile(`${this.options.pageDir}/${name}`);
      } catch {
        return { status: 404, headers: { 'content-type': 'text/plain', ...SECURITY_HEADERS }, body: `${name} is not built (npm run build)\n` };
      }
      this.pageCache.set(name, bytes);
    }
    const type = CONTENT_TYPES[name.slice(name.lastIndexOf('.') + 1)] ?? 'application/octet-stream';
    return { status: 200, headers: { 'content-type': type, 'cache-control': 'no-cache', ...SECURITY_HEADERS }, body: bytes };
  }
}
