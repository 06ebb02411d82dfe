// Why this file exists: a stand-in for a peer's web server, for the page's browser tests. It
// serves the built page (dist/web/) with the Content-Security-Policy the real server sets, and
// answers /api/* from fixture data: it is a fixture, not the peer — it checks the page's own
// behaviour (headers sent, what is drawn, when it asks), not the server's. It records every
// request, and can push events down the open streams, drop them, or refuse new ones as a peer
// with too many pages open does (503, TOO_MANY_PAGES).

import { readFileSync, existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import type { ApiAnswer, PathCompletion, WebEvent, WebState } from '../../src/peer/web/web-api.js';

export const WEB_DIST = new URL('../../dist/web/', import.meta.url).pathname;

/** The files the peer serves (src/peer/web/web-server.ts), and no others. */
const PAGE_FILES: Readonly<Record<string, string>> = { '/': 'index.html', '/index.html': 'index.html', '/app.js': 'app.js', '/app.js.map': 'app.js.map', '/app.css': 'app.css' };
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
};
/** The peer's policy (src/peer/web/web-server.ts): the page's icon is a data: URL. */
const CONTENT_SECURITY_POLICY = "default-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export interface RecordedRequest {
  method: string;
  path: string;
  authorization: string | null;
  /** For POST /api/commands/<name>: the words sent. */
  args: string[] | null;
  /** When it arrived (performance.now()): tests compare the gaps between tries. */
  atMs: number;
}

/** A command's fixture answer: its result, or an error with its code. */
export type FixtureAnswer = { result: unknown } | { error: { code: string; message: string }; httpStatus: number };
export type CommandHandler = (args: string[]) => FixtureAnswer;

export class FixturePeer {
  readonly requests: RecordedRequest[] = [];
  private readonly streams = new Set<ServerResponse>();
  private server: Server | null = null;
  commands: Record<string, CommandHandler> = {};
  completions: (path: string) => PathCompletion = () => ({ entries: [] });
  /** Answer GET /api/events with 503 TOO_MANY_PAGES, as a peer does once 16 pages listen. */
  refuseStreams = false;

  constructor(
    readonly token: string,
    public state: WebState,
  ) {
    if (!existsSync(join(WEB_DIST, 'index.html'))) throw new Error(`${WEB_DIST}index.html is missing: run npm run build first`);
  }

  async start(): Promise<string> {
    this.server = createServer((request, response) => void this.answer(request, response));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.dropStreams();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Requests to /api/… (optionally of one path, say '/api/commands/list_groups'). */
  apiRequests(path?: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path.startsWith('/api/') && (path === undefined || r.path === path));
  }

  get openStreams(): number {
    return this.streams.size;
  }

  push(event: WebEvent): void {
    for (const stream of this.streams) stream.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
  }

  dropStreams(): void {
    for (const stream of this.streams) stream.destroy();
    this.streams.clear();
  }

  private async answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://fixture');
    const body = request.method === 'POST' ? await readBody(request) : '';
    const args = url.pathname.startsWith('/api/commands/') ? ((JSON.parse(body || '{"args":[]}') as { args: string[] }).args ?? []) : null;
    this.requests.push({ method: request.method ?? 'GET', path: url.pathname, authorization: request.headers.authorization ?? null, args, atMs: performance.now() });
    response.setHeader('content-security-policy', CONTENT_SECURITY_POLICY);
    response.setHeader('x-content-type-options', 'nosniff');
    if (!url.pathname.startsWith('/api/')) return this.file(url.pathname, response);
    if (request.headers.authorization !== `Bearer ${this.token}`) return json(response, 401, { ok: false, command: '', error: { code: 'UNAUTHORIZED', message: 'wrong or missing token' } });
    if (url.pathname === '/api/events' && this.refuseStreams) return json(response, 503, { ok: false, command: 'events', error: { code: 'TOO_MANY_PAGES', message: 'this peer serves 16 pages already' } });
    if (url.pathname === '/api/events') return this.stream(response);
    if (url.pathname === '/api/state') return json(response, 200, { ok: true, command: 'state', result: this.state });
    if (url.pathname === '/api/complete') return json(response, 200, { ok: true, command: 'complete', result: this.completions(url.searchParams.get('path') ?? '') });
    const name = url.pathname.slice('/api/commands/'.length);
    const handler = this.commands[name];
    if (!url.pathname.startsWith('/api/commands/') || !handler) return json(response, 404, { ok: false, command: name, error: { code: 'NOT_FOUND', message: `no route ${url.pathname}` } });
    const answer = handler(args ?? []);
    if ('result' in answer) return json(response, 200, { ok: true, command: name, result: answer.result });
    return json(response, answer.httpStatus, { ok: false, command: name, error: answer.error });
  }

  private stream(response: ServerResponse): void {
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    response.write(': hello\n\n');
    this.streams.add(response);
    response.on('close', () => this.streams.delete(response));
    const first: WebEvent = { type: 'status', status: this.state.status };
    response.write(`event: status\ndata: ${JSON.stringify(first)}\n\n`);
  }

  private file(pathname: string, response: ServerResponse): void {
    const name = PAGE_FILES[pathname];
    if (name === undefined || !existsSync(join(WEB_DIST, name))) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    response.writeHead(200, { 'content-type': CONTENT_TYPES[extname(name)]! }).end(readFileSync(join(WEB_DIST, name)));
  }
}

function json(response: ServerResponse, status: number, body: ApiAnswer): void {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}
