// The real World's HTTP adapter (the web page's server): a body over the limit is answered 413,
// chunked or not, without the handler; a handler's failure is a bare 500 that tells the asker
// nothing of it; a streamed answer whose reader stopped reading is ended once about a MiB waits,
// so a stalled page cannot make the peer hold its stream for ever.

import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { realHttp } from '../../src/world/real/real-http.js';
import type { HttpHandler, HttpStream, Listener } from '../../src/world/world.js';

const listeners: Listener[] = [];
afterEach(async () => {
  for (const listener of listeners.splice(0)) await listener.close();
});

async function serve(handler: HttpHandler, maxBodyBytes = 1024): Promise<number> {
  const listener = await realHttp().listen({ host: '127.0.0.1', port: 0 }, { maxBodyBytes }, handler);
  listeners.push(listener);
  return listener.address.port;
}

/** Sends raw bytes and gives what came back until the server closed. */
function raw(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let text = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
}

describe('the real HTTP adapter', () => {
  it('answers 413 to a body over the limit, declared or chunked, without calling the handler', async () => {
    let called = 0;
    const port = await serve(async () => {
      called++;
      return { status: 200, headers: {}, body: 'ok' };
    });
    const declared = await raw(port, `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n${'a'.repeat(2000)}`);
    expect(declared).toMatch(/^HTTP\/1\.1 413 /);
    const chunk = 'b'.repeat(1500);
    const chunked = await raw(port, `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n`);
    expect(chunked).toMatch(/^HTTP\/1\.1 413 /);
    expect(called).toBe(0);
  });

  it('answers a failing handler with a bare 500', async () => {
    const port = await serve(async () => {
      throw new Error('secret detail');
    });
    const answer = await raw(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 500 /);
    expect(answer).not.toContain('secret');
  });

  it('ends a stream whose reader stopped reading', async () => {
    let stream: HttpStream | null = null;
    const port = await serve(async () => ({ status: 200, headers: { 'content-type': 'text/event-stream' }, stream: (out) => (stream = out) }));
    const socket = connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    socket.pause(); // a reader that never reads
    while (stream === null) await new Promise((resolve) => setTimeout(resolve, 5));
    const chunk = 'x'.repeat(64 * 1024);
    let writtenBytes = 0;
    while ((stream as HttpStream).write(chunk)) {
      writtenBytes += chunk.length;
      expect(writtenBytes, 'still buffering').toBeLessThan(256 * 1024 * 1024);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await (stream as HttpStream).closed;
    expect((stream as HttpStream).write('more')).toBe(false);
    socket.destroy();
  });
});
