// Why this file exists: the web page's server on the machine. node:http (or node:https with the
// peer's key) reads each request whole, bounded, and hands it to a handler that knows nothing of
// Node; the same handler runs in the simulation (sim-http.ts). A streamed answer (the page's live
// events) is written as it comes and ends when either side stops.

import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { NetFailure, netErrorCodeOf } from '../net-error.js';
import type { HttpHandler, HttpListenOptions, HttpReply, HttpRequest, HttpServers, HttpStream, Listener, NetAddress } from '../world.js';

/** How long a client may take to send a request's headers and body. */
const REQUEST_TIMEOUT_MS = 30_000;
/** A streamed answer whose reader has fallen this far behind is ended: a stalled reader holds no more. */
const MAX_STREAM_BUFFER_BYTES = 1024 * 1024;

function readBody(request: IncomingMessage, maxBodyBytes: number): Promise<Uint8Array | 'too large'> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers['content-length'] ?? '0');
    if (declared > maxBodyBytes) return resolve('too large');
    const chunks: Buffer[] = [];
    let sizeBytes = 0;
    const onData = (chunk: Buffer): void => {
      sizeBytes += chunk.length;
      if (sizeBytes <= maxBodyBytes) return void chunks.push(chunk);
      // Stop keeping it; the answer (413) says why, and the connection closes after it.
      request.off('data', onData);
      request.resume();
      resolve('too large');
    };
    request.on('data', onData);
    request.on('end', () => resolve(new Uint8Array(Buffer.concat(chunks))));
    request.on('error', reject);
  });
}

function headersOf(request: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  return headers;
}

function remoteOf(socket: Socket): NetAddress {
  const host = (socket.remoteAddress ?? '0.0.0.0').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
  return { host, port: socket.remotePort ?? 0 };
}

function send(response: ServerResponse, reply: HttpReply): void {
  if ('body' in reply) {
    response.writeHead(reply.status, { ...reply.headers, 'content-length': String(Buffer.byteLength(reply.body)) });
    response.end(reply.body);
    return;
  }
  response.writeHead(reply.status, reply.headers);
  response.flushHeaders();
  let markClosed!: () => void;
  const closed = new Promise<void>((resolve) => (markClosed = resolve));
  response.once('close', markClosed);
  const out: HttpStream = {
    write: (text) => {
      if (response.destroyed || response.writableEnded) return false;
      if (response.writableLength > MAX_STREAM_BUFFER_BYTES) {
        response.destroy();
        return false;
      }
      response.write(text);
      return true;
    },
    end: () => response.end(),
    closed,
  };
  reply.stream(out);
}

async function serve(handler: HttpHandler, options: HttpListenOptions, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const body = await readBody(request, options.maxBodyBytes);
  if (body === 'too large') {
    response.writeHead(413, { 'content-type': 'text/plain', connection: 'close' });
    response.end('request body too large\n', () => request.socket.destroy());
    return;
  }
  const asked: HttpRequest = { method: request.method ?? 'GET', target: request.url ?? '/', headers: headersOf(request), body, remote: remoteOf(request.socket) };
  send(response, await handler(asked));
}

export function realHttp(): HttpServers {
  return {
    listen: (address, options, handler) =>
      new Promise<Listener>((resolve, reject) => {
        const onRequest = (request: IncomingMessage, response: ServerResponse): void => {
          // The detail of a failure is not for whoever asked (anyone who can reach the port).
          serve(handler, options, request, response).catch(() => {
            if (response.headersSent) return void response.destroy();
            response.writeHead(500, { 'content-type': 'text/plain' });
            response.end('internal error\n');
          });
        };
        const server: Server = options.tls ? createHttpsServer({ key: options.tls.keyPem, cert: options.tls.certificatePem, minVersion: 'TLSv1.2' }, onRequest) : createHttpServer(onRequest);
        server.requestTimeout = REQUEST_TIMEOUT_MS;
        server.headersTimeout = REQUEST_TIMEOUT_MS;
        server.once('error', (error) => reject(new NetFailure(netErrorCodeOf(error), `cannot listen on ${address.host}:${address.port}: ${error.message}`)));
        server.listen({ host: address.host, port: address.port }, () => {
          const bound = server.address();
          if (bound === null || typeof bound === 'string') throw new Error('an HTTP server has an address object');
          server.on('error', () => {});
          resolve({
            address: { host: address.host, port: bound.port },
            // Live streams would keep it open for ever: every connection ends with it.
            close: () =>
              new Promise<void>((done) => {
                server.close(() => done());
                server.closeAllConnections();
              }),
          });
        });
      }),
  };
}
