// The simulated file system: one in-memory directory tree per host that outlives crashes.
// Simplifications, on purpose: directory operations (mkdir, rename, unlink, creating a file's
// name) are durable at once; file contents are durable only once synced, and a crash reverts
// every file to its last synced bytes — a file never synced vanishes (its name goes too).

import { posix } from 'node:path';
import { SimFile, SimFileHandle } from './sim-file.js';
import { WorldError, type FileHandle, type FileStat, type FileSystem, type WorldErrorCode } from '../world.js';

interface Directory {
  readonly kind: 'dir';
  readonly entries: Map<string, Entry>;
}
interface FileEntry {
  readonly kind: 'file';
  readonly file: SimFile;
}
type Entry = Directory | FileEntry;

interface FsHostLife {
  readonly name: string;
  readonly handles: Set<SimFileHandle>;
}

function fsError(code: WorldErrorCode, syscall: string, path: string): WorldError {
  return new WorldError(code, `${code}: ${syscall} '${path}'`);
}

function newDirectory(): Directory {
  return { kind: 'dir', entries: new Map() };
}

/** Absolute, normalised path components: "a/b/../c" -> ["a", "c"]. */
function components(path: string): string[] {
  return posix
    .resolve('/', path)
    .split('/')
    .filter((part) => part !== '');
}

export class SimFs {
  private readonly roots = new Map<string, Directory>();
  private readonly lives = new Map<string, FsHostLife>();

  /** The FileSystem of the current incarnation of `hostName`. */
  fileSystemFor(hostName: string): FileSystem {
    let life = this.lives.get(hostName);
    if (life === undefined) {
      life = { name: hostName, handles: new Set() };
      this.lives.set(hostName, life);
    }
    const boundLife = life;
    const root = (): Directory => {
      if (this.lives.get(hostName) !== boundLife) throw new WorldError('CRASHED', `host ${hostName} crashed`);
      return this.rootOf(hostName);
    };
    return {
      open: async (path, mode) => this.open(root(), boundLife, path, mode),
      readFile: async (path) => this.fileAt(root(), path, 'open').read(0, Number.MAX_SAFE_INTEGER),
      writeFile: async (path, bytes, options) => {
        const file = this.createOrTruncate(root(), path);
        file.replace(bytes);
        if (options?.sync === true) file.sync();
      },
      rename: async (from, to) => this.rename(root(), from, to),
      renameNoReplace: async (from, to) => {
        const target = this.parentOf(root(), to, 'rename');
        if (target.dir.entries.has(target.name)) throw fsError('EEXIST', 'rename', to);
        this.rename(root(), from, to);
      },
      unlink: async (path) => this.unlink(root(), path),
      mkdir: async (path, options) => this.mkdir(root(), path, options?.recursive ?? false),
      readdir: async (path) => this.readdir(root(), path),
      stat: async (path) => this.stat(root(), path),
      // The simulated disk has no symbolic links: the normalised path, if something is there.
      realpath: async (path) => {
        if (this.lookup(root(), path, 'realpath') === undefined) throw fsError('ENOENT', 'realpath', path);
        return `/${components(path).join('/')}`;
      },
    };
  }

  /** Reverts every file of the host to its synced bytes, removes never-synced files, kills open handles. */
  crashHost(hostName: string): void {
    const life = this.lives.get(hostName);
    this.lives.delete(hostName);
    for (const handle of life?.handles ?? []) handle.markCrashed();
    const root = this.roots.get(hostName);
    if (root !== undefined) revertTree(root);
  }

  private rootOf(hostName: string): Directory {
    let root = this.roots.get(hostName);
    if (root === undefined) {
      root = newDirectory();
      this.roots.set(hostName, root);
    }
    return root;
  }

  private open(root: Directory, life: FsHostLife, path: string, mode: 'r' | 'r+' | 'w+'): FileHandle {
    const file = mode === 'w+' ? this.createOrTruncate(root, path) : this.fileAt(root, path, 'open');
    const handle = new SimFileHandle(file, mode !== 'r', path, (closed) => life.handles.delete(closed));
    life.handles.add(handle);
    return handle;
  }

  /** The entry at `path`, undefined when missing; ENOTDIR when a parent component is a file. */
  private lookup(root: Directory, path: string, syscall: string): Entry | undefined {
    let entry: Entry = root;
    for (const part of components(path)) {
      if (entry.kind !== 'dir') throw fsError('ENOTDIR', syscall, path);
      const next = entry.entries.get(part);
      if (next === undefined) return undefined;
      entry = next;
    }
    return entry;
  }

  private fileAt(root: Directory, path: string, syscall: string): SimFile {
    const entry = this.lookup(root, path, syscall);
    if (entry === undefined) throw fsError('ENOENT', syscall, path);
    if (entry.kind === 'dir') throw fsError('EISDIR', syscall, path);
    return entry.file;
  }

  /** The directory that holds `path` and the name inside it. */
  private parentOf(root: Directory, path: string, syscall: string): { dir: Directory; name: string } {
    const parts = components(path);
    const name = parts.pop();
    if (name === undefined) throw fsError('EISDIR', syscall, path); // the root itself
    const parent = this.lookup(root, `/${parts.join('/')}`, syscall);
    if (parent === undefined) throw fsError('ENOENT', syscall, path);
    if (parent.kind !== 'dir') throw fsError('ENOTDIR', syscall, path);
    return { dir: parent, name };
  }

  private createOrTruncate(root: Directory, path: string): SimFile {
    const { dir, name } = this.parentOf(root, path, 'open');
    const existing = dir.entries.get(name);
    if (existing?.kind === 'dir') throw fsError('EISDIR', 'open', path);
    if (existing !== undefined) {
      existing.file.truncate(0);
      return existing.file;
    }
    const file = new SimFile();
    dir.entries.set(name, { kind: 'file', file });
    return file;
  }

  private rename(root: Directory, from: string, to: string): void {
    const source = this.parentOf(root, from, 'rename');
    const target = this.parentOf(root, to, 'rename');
    const moving = source.dir.entries.get(source.name);
    if (moving === undefined) throw fsError('ENOENT', 'rename', from);
    const replaced = target.dir.entries.get(target.name);
    if (replaced === moving) return;
    if (moving.kind === 'dir') {
      const fromParts = components(from);
      const toParts = components(to);
      if (fromParts.every((part, i) => toParts[i] === part)) throw new Error(`EINVAL: rename '${from}' into itself ('${to}')`);
      if (replaced?.kind === 'file') throw fsError('ENOTDIR', 'rename', to);
      if (replaced?.kind === 'dir' && replaced.entries.size > 0) throw fsError('ENOTEMPTY', 'rename', to);
    } else if (replaced?.kind === 'dir') {
      throw fsError('EISDIR', 'rename', to);
    }
    // One step, durable at once: the old name disappears and the new one points at the entry.
    source.dir.entries.delete(source.name);
    target.dir.entries.set(target.name, moving);
  }

  private unlink(root: Directory, path: string): void {
    const { dir, name } = this.parentOf(root, path, 'unlink');
    const entry = dir.entries.get(name);
    if (entry === undefined) throw fsError('ENOENT', 'unlink', path);
    if (entry.kind === 'dir') throw fsError('EISDIR', 'unlink', path);
    dir.entries.delete(name);
  }

  private mkdir(root: Directory, path: string, recursive: boolean): void {
    if (!recursive) {
      const { dir, name } = this.parentOf(root, path, 'mkdir');
      if (dir.entries.has(name)) throw fsError('EEXIST', 'mkdir', path);
      dir.entries.set(name, newDirectory());
      return;
    }
    let dir = root;
    const parts = components(path);
    for (const [index, part] of parts.entries()) {
      const next: Entry = dir.entries.get(part) ?? newDirectory();
      if (next.kind !== 'dir') throw fsError(index === parts.length - 1 ? 'EEXIST' : 'ENOTDIR', 'mkdir', path);
      dir.entries.set(part, next);
      dir = next;
    }
  }

  private readdir(root: Directory, path: string): string[] {
    const entry = this.lookup(root, path, 'scandir');
    if (entry === undefined) throw fsError('ENOENT', 'scandir', path);
    if (entry.kind !== 'dir') throw fsError('ENOTDIR', 'scandir', path);
    return [...entry.entries.keys()].sort();
  }

  private stat(root: Directory, path: string): FileStat | null {
    let entry: Entry | undefined;
    try {
      entry = this.lookup(root, path, 'stat');
    } catch (error) {
      if (error instanceof WorldError && error.code === 'ENOTDIR') return null;
      throw error;
    }
    if (entry === undefined) return null;
    return entry.kind === 'dir' ? { sizeBytes: 0, isDirectory: true } : { sizeBytes: entry.file.sizeBytes, isDirectory: false };
  }
}

function revertTree(dir: Directory): void {
  for (const [name, entry] of [...dir.entries]) {
    if (entry.kind === 'dir') revertTree(entry);
    else if (entry.file.everSynced) entry.file.revertToDurable();
    else dir.entries.delete(name);
  }
}
