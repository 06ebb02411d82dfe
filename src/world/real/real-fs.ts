// The real FileSystem over node:fs/promises. Node's error codes that the World names become
// WorldErrors; others (EACCES, ENOSPC, ...) pass through unchanged. To match the simulation's
// "directory operations are durable at once", rename and a synced writeFile also fsync the
// directories they change.

import { link, open as openFile, mkdir, readdir, readFile, realpath, rename, stat, unlink, type FileHandle as NodeFileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { dirname } from 'node:path';
import { WorldError, type FileHandle, type FileStat, type FileSystem, type WorldErrorCode } from '../world.js';

/**
 * Opening to write never follows a symbolic link at the last component (it fails with ELOOP):
 * a link planted where a download's .part goes cannot make it write elsewhere.
 */
const OPEN_FLAGS: Readonly<Record<'r' | 'r+' | 'w+', number>> = {
  r: constants.O_RDONLY,
  'r+': constants.O_RDWR | constants.O_NOFOLLOW,
  'w+': constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
};

const MAPPED_CODES: readonly WorldErrorCode[] = ['ENOENT', 'EEXIST', 'ENOTDIR', 'EISDIR', 'ENOTEMPTY', 'EBADF'];

function codeOf(error: unknown): unknown {
  return typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
}

function mapError(error: unknown): unknown {
  const code = codeOf(error);
  const known = MAPPED_CODES.find((candidate) => candidate === code);
  if (known === undefined) return error;
  return new WorldError(known, error instanceof Error ? error.message : String(error));
}

async function mapped<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw mapError(error);
  }
}

/** fsync a directory so the names in it are durable. */
async function syncDirectory(path: string): Promise<void> {
  const handle = await openFile(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

class RealFileHandle implements FileHandle {
  constructor(private readonly handle: NodeFileHandle) {}

  read(positionBytes: number, lengthBytes: number): Promise<Uint8Array> {
    return mapped(async () => {
      const out = new Uint8Array(lengthBytes);
      let filled = 0;
      while (filled < lengthBytes) {
        const { bytesRead } = await this.handle.read(out, filled, lengthBytes - filled, positionBytes + filled);
        if (bytesRead === 0) break; // end of file: a short read
        filled += bytesRead;
      }
      return filled === lengthBytes ? out : out.slice(0, filled);
    });
  }

  write(positionBytes: number, bytes: Uint8Array): Promise<void> {
    return mapped(async () => {
      let written = 0;
      while (written < bytes.length) {
        const { bytesWritten } = await this.handle.write(bytes, written, bytes.length - written, positionBytes + written);
        written += bytesWritten;
      }
    });
  }

  truncate(sizeBytes: number): Promise<void> {
    return mapped(() => this.handle.truncate(sizeBytes));
  }

  sizeBytes(): Promise<number> {
    return mapped(async () => (await this.handle.stat()).size);
  }

  /** fdatasync: the data and what is needed to read it back (the size), not the timestamps. */
  sync(): Promise<void> {
    return mapped(() => this.handle.datasync());
  }

  close(): Promise<void> {
    return mapped(() => this.handle.close());
  }
}

export function realFileSystem(): FileSystem {
  return {
    open: (path, mode) => mapped(async () => new RealFileHandle(await openFile(path, OPEN_FLAGS[mode]))),
    readFile: (path) =>
      mapped(async () => {
        const buffer = await readFile(path);
        return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
      }),
    writeFile: (path, bytes, options) =>
      mapped(async () => {
        const handle = await openFile(path, 'w', options?.mode);
        try {
          await handle.writeFile(bytes);
          if (options?.sync === true) await handle.sync();
        } finally {
          await handle.close();
        }
        if (options?.sync === true) await syncDirectory(dirname(path));
      }),
    rename: (from, to) =>
      mapped(async () => {
        await rename(from, to);
        await syncDirectory(dirname(to));
        if (dirname(from) !== dirname(to)) await syncDirectory(dirname(from));
      }),
    // A hard link fails with EEXIST if anything is at `to`, in one step; then the old name goes.
    // A file system without hard links gets a check before the rename (a narrow race).
    renameNoReplace: (from, to) =>
      mapped(async () => {
        try {
          await link(from, to);
        } catch (error) {
          if (!isErrnoCode(error, ['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EMLINK'])) throw error;
          if ((await stat(to).catch(() => null)) !== null) throw Object.assign(new Error(`EEXIST: file already exists, rename '${from}' -> '${to}'`), { code: 'EEXIST' });
          await rename(from, to);
          await syncDirectory(dirname(to));
          return;
        }
        await unlink(from);
        await syncDirectory(dirname(to));
        if (dirname(from) !== dirname(to)) await syncDirectory(dirname(from));
      }),
    unlink: (path) => mapped(() => unlink(path)),
    mkdir: (path, options) =>
      mapped(async () => {
        await mkdir(path, { recursive: options?.recursive ?? false });
      }),
    readdir: (path) => mapped(async () => (await readdir(path)).sort()),
    stat: (path) =>
      mapped(async (): Promise<FileStat | null> => {
        try {
          const info = await stat(path);
          return { sizeBytes: info.size, isDirectory: info.isDirectory() };
        } catch (error) {
          const code = codeOf(error);
          if (code === 'ENOENT' || code === 'ENOTDIR') return null;
          throw error;
        }
      }),
    realpath: (path) => mapped(() => realpath(path)),
  };
}

function isErrnoCode(error: unknown, codes: readonly string[]): boolean {
  return typeof error === 'object' && error !== null && codes.includes(String((error as { code?: unknown }).code));
}
