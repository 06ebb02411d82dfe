// Why this file exists: one-shot commands (`clique list_files friends`, as transmission-remote
// drives a running daemon) reach the shell that runs on a home through `<home>/control.sock`, a
// Unix socket only its owner may open (mode 0600). One JSON line a command each way: the request
// `{"line":"list_files friends"}`, the answer as `--json` prints it plus the text a person reads.
// The same handler is what a web page's API would wrap. A local socket, not a network: it is not
// part of the simulated World.

import { createConnection, createServer, type Socket } from 'node:net';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createInterface } from 'node:readline';

export const CONTROL_SOCKET = 'control.sock';

export type ControlAnswer = { ok: true; command: string; result: unknown; text: string } | { ok: false; command: string; error: { code: string; message: string } };

/** Requests larger than this are not commands: the connection is closed. */
const MAX_REQUEST_BYTES = 64 * 1024;

export interface ControlServer {
  readonly path: string;
  close(): Promise<void>;
}

/** Whether something answers at `path` (a running shell); a stale socket file does not. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Serves `run` on `<home>/control.sock`; a socket file left by a dead shell is replaced. */
export async function serveControl(path: string, run: (line: string) => Promise<ControlAnswer | null>): Promise<ControlServer> {
  if (await answers(path)) throw new Error(`${path}: another shell answers there`);
  try {
    unlinkSync(path);
  } catch {
    // nothing was there
  }
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const lines = createInterface({ input: socket, crlfDelay: Infinity });
    let chain = Promise.resolve();
    lines.on('line', (text) => {
      chain = chain.then(async () => {
        if (text.length > MAX_REQUEST_BYTES) return void socket.destroy();
        const line = parseRequest(text);
        const answer = line === null ? { ok: false as const, command: '', error: { code: 'BAD_REQUEST', message: 'a request is one JSON line {"line": "…"}' } } : await run(line);
        if (!socket.destroyed) socket.write(`${JSON.stringify(answer ?? { ok: true, command: '', result: null, text: '' })}\n`);
      });
    });
  });
  // Owner-only at once. Connecting needs write permission on the socket, which the usual umask
  // (022) never gives others even before the chmod; the process-wide umask is not touched.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  chmodSync(path, 0o600);
  return {
    path,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function parseRequest(text: string): string | null {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === 'object' && value !== null && typeof (value as { line?: unknown }).line === 'string') return (value as { line: string }).line;
  } catch {
    // not JSON
  }
  return null;
}

/**
 * Sends one command line to the shell at `path`; null when no shell answers there. Only a socket
 * of our own user, that no one else may write to, is trusted with a command.
 */
export function askControl(path: string, line: string): Promise<ControlAnswer | null> {
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return Promise.resolve(null);
  }
  const ours = stat.isSocket() && (process.getuid === undefined || stat.uid === process.getuid()) && (stat.mode & 0o022) === 0;
  if (!ours) return Promise.reject(new Error(`${path} is not this user's shell (owner ${stat.uid}, mode ${(stat.mode & 0o777).toString(8)}): not used`));
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let connected = false;
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (!connected && (error.code === 'ENOENT' || error.code === 'ECONNREFUSED')) resolve(null);
      else reject(error);
    });
    socket.once('connect', () => {
      connected = true;
      const lines = createInterface({ input: socket, crlfDelay: Infinity });
      lines.once('line', (text) => {
        socket.destroy();
        resolve(JSON.parse(text) as ControlAnswer);
      });
      socket.once('close', () => reject(new Error('the shell closed the control socket without answering')));
      socket.write(`${JSON.stringify({ line })}\n`);
    });
  });
}
