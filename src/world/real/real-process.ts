// Why this file exists: child processes are the one thing only the real machine has (a local
// cluster's tracker nodes, started by `clique cluster up`). Like sockets and files they stay
// behind this floor, so nothing above it imports node:child_process.

import { spawn } from 'node:child_process';

export interface ChildHandle {
  /** Sends SIGTERM; resolves once the process has exited (at once if it already has). */
  stop(): Promise<void>;
}

/** Starts `node <args>` with the running Node binary; its standard error goes to `onStderr`. */
export function spawnNode(args: readonly string[], onStderr: (bytes: Uint8Array) => void): ChildHandle {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr.on('data', (chunk: Uint8Array) => onStderr(chunk));
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
