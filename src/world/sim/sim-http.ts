// Why this file exists: the web page's server in a simulation. A listener is a handler under a
// host's address; a test's request calls it in memory (no bytes, no parsing: the real adapter
// owns HTTP itself), so the page's logic — tokens, Host checks, routes, live events — runs on
// the seeded world with the rest of the peer. A crashed host's listeners are gone.

import { NetFailure } from '../net-error.js';
import type { HttpHandler, HttpReply, HttpServers, Listener, NetAddress } from '../world.js';

/** What a simulated client asks. */
export interface SimHttpRequest {
  method: string;
  target: string;
  headers?: Readonly<Record<string, string>>;
  body?: string;
}

/** What it gets back: a whole body, or a stream it reads and may close. */
export type SimHttpAnswer =
  | { status: number; headers: Readonly<Record<string, string>>; body: string }
  | { status: number; headers: Readonly<Record<string, string>>; chunks: string[]; close(): void; readonly ended: boolean };

interface Registered {
  host: string;
  maxBodyBytes: number;
  handler: HttpHandler;
}

export class SimHttp {
  private readonly listeners = new Map<string, Registered>();
  private nextPort = 40_000;

  /** The HTTP servers of `hostName`'s process. */
  serversFor(hostName: string): HttpServers {
    return {
      listen: async (address, options, handler) => {
        if (address.host !== hostName && address.host !== '0.0.0.0') throw new NetFailure('EADDRINUSE', `${hostName} has no address ${address.host}`);
        const port = address.port === 0 ? this.nextPort++ : address.port;
        const key = `${hostName}:${port}`;
        if (this.listeners.has(key)) throw new NetFailure('EADDRINUSE', `${key} is taken`);
        const registered: Registered = { host: hostName, maxBodyBytes: options.maxBodyBytes, handler };
        this.listeners.set(key, registered);
        const listener: Listener = {
          address: { host: address.host, port },
          close: async () => {
            if (this.listeners.get(key) === registered) this.listeners.delete(key);
          },
        };
        return listener;
      },
    };
  }

  /** Every listener of a crashed host is gone. */
  crashHost(hostName: string): void {
    for (const [key, registered] of this.listeners) if (registered.host === hostName) this.listeners.delete(key);
  }

  /** A request from `fromHost` to `address`; ECONNREFUSED when nothing listens there. */
  async request(fromHost: string, address: NetAddress, request: SimHttpRequest): Promise<SimHttpAnswer> {
    const registered = this.listeners.get(`${address.host}:${address.port}`);
    if (registered === undefined) throw new NetFailure('ECONNREFUSED', `nothing listens on ${address.host}:${address.port}`);
    const body = new TextEncoder().encode(request.body ?? '');
    if (body.length > registered.maxBodyBytes) return { status: 413, headers: {}, body: 'request body too large\n' };
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers ?? {})) headers[name.toLowerCase()] = value;
    const reply: HttpReply = await registered.handler({ method: request.method, target: request.target, headers, body, remote: { host: fromHost, port: 1 } });
    if ('body' in reply) return { status: reply.status, headers: reply.headers, body: typeof reply.body === 'string' ? reply.body : new TextDecoder().decode(reply.body) };
    const chunks: string[] = [];
    let ended = false;
    let markClosed!: () => void;
    const closed = new Promise<void>((resolve) => (markClosed = resolve));
    const finish = (): void => {
      if (ended) return;
      ended = true;
      markClosed();
    };
    reply.stream({
      write: (text) => {
        if (ended) return false;
        chunks.push(text);
        return true;
      },
      end: finish,
      closed,
    });
    return {
      status: reply.status,
      headers: reply.headers,
      chunks,
      close: finish,
      get ended() {
        return ended;
      },
    };
  }
}
