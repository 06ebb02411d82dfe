// Why this file exists: child processes are the one thing only the real machine has (a local
// cluster's tracker nodes, started by `clique cluster up` or in the background by `npm start`,
// and found again by their pids for `clique cluster down`). Like sockets and files they stay
// behind this floor, so nothing above it imports node:child_process.

import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile, realpath } from 'node:fs/promises';

export interface ChildHandle {
  readonly pid: number;
  /** Resolves once the process has exited, with its exit code (null when a signal ended it). */
  readonly exited: Promise<number | null>;
  /** Sends SIGTERM; resolves once the process has exited (at once if it already has). */
  stop(): Promise<void>;
}

function handleOf(child: ReturnType<typeof spawn>): ChildHandle {
  if (child.pid === undefined) throw new Error(`cannot start ${process.execPath}`);
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else {
      child.once('exit', (code) => resolve(code));
      child.once('error', () => resolve(null));
    }
  });
  return {
    pid: child.pid,
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Starts `node <args>` with the running Node binary; its standard error goes to `onStderr`. */
export function spawnNode(args: readonly string[], onStderr: (bytes: Uint8Array) => void): ChildHandle {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (chunk: Uint8Array) => onStderr(chunk));
  return handleOf(child);
}

/**
 * Starts `node <args>` on its own: a process group of its own (a Ctrl-C at our terminal does not
 * reach it), its standard output and error appended to `logPath`, nothing holding our process
 * open. It outlives us.
 */
export function spawnDetachedNode(args: readonly string[], logPath: string): ChildHandle {
  const log = openSync(logPath, 'a', 0o644);
  try {
    const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', log, log] });
    child.unref();
    return handleOf(child);
  } finally {
    closeSync(log);
  }
}

/**
 * The command line of a running process, or null when no process has that pid (or only its
 * exit status is left, a zombie). From /proc where there is one, else from `ps`.
 */
export async function commandLineOf(pid: number): Promise<string[] | null> {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  if (process.platform === 'linux') {
    try {
      const words = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter((word) => word.length > 0);
      return words.length === 0 ? null : words;
    } catch {
      return null;
    }
  }
  return new Promise((resolve) => {
    execFile('ps', ['-o', 'args=', '-p', String(pid)], (error, stdout) => {
      const words = error ? [] : stdout.trim().split(/\s+/).filter((word) => word.length > 0);
      resolve(words.length === 0 || stdout.includes('<defunct>') ? null : words);
    });
  });
}

/** The path with symbolic links resolved (the path itself if it cannot be): two spellings of one file compare equal. */
export async function canonicalPath(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    return path;
  }
}

/** Sends a signal; false when no process has that pid. */
export function signalProcess(pid: number, signal: 'SIGTERM' | 'SIGKILL'): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** This process's id (what a lock file names). */
export function ownPid(): number {
  return process.pid;
}
