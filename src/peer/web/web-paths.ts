// Why this file exists: the page names files on this machine (a file to share, a directory to
// download into), and whoever holds its token must not reach beyond the web roots (by default
// the user's home directory and the directory the peer started in). A path is judged after
// every symbolic link and `..` is resolved, so a link inside a root that points out is refused.

import { PeerError } from '../peer-node.js';
import type { World } from '../../world/world.js';
import type { PathCompletion } from './web-api.js';

/** At most this many entries in one completion answer. */
const MAX_COMPLETIONS = 50;
const MAX_PATH_CHARACTERS = 4_096;

function within(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith('/') ? root : `${root}/`);
}

function parentOf(path: string): string {
  const cut = path.replace(/\/+$/, '').lastIndexOf('/');
  return cut <= 0 ? '/' : path.slice(0, cut);
}

export class WebRoots {
  private constructor(
    private readonly world: World,
    /** Real paths, absolute. */
    readonly roots: readonly string[],
    /** What a relative path is relative to: the peer's working directory, as in the shell. */
    private readonly cwd: string,
  ) {}

  /** The roots as given, resolved; a root that does not exist is left out (`missing` names them). */
  static async resolve(world: World, given: readonly string[], cwd: string): Promise<WebRoots & { missing: string[] }> {
    const roots: string[] = [];
    const missing: string[] = [];
    for (const root of given) {
      const real = await world.fs.realpath(root).catch(() => null);
      if (real === null) missing.push(root);
      else if (!roots.includes(real)) roots.push(real);
    }
    return Object.assign(new WebRoots(world, roots, cwd), { missing });
  }

  /** A path as typed: absolute, or relative to the working directory (as the shell reads it). */
  private absolute(path: string): string {
    if (path.length === 0 || path.length > MAX_PATH_CHARACTERS || path.includes('\u0000')) throw new PeerError('BAD_ARGUMENTS', 'not a path');
    return path.startsWith('/') ? path : `${this.cwd.replace(/\/+$/, '')}/${path}`;
  }

  private inside(real: string): boolean {
    return this.roots.some((root) => within(real, root));
  }

  /**
   * The real path of `path`, which must lie under a root. A path that does not exist yet (a
   * download's destination) is judged by its nearest existing directory; a name that exists but
   * does not resolve (a link to nowhere) is refused, since it could point anywhere later.
   */
  async confine(path: string): Promise<string> {
    const absolute = this.absolute(path);
    const outside = (): PeerError => new PeerError('OUTSIDE_WEB_ROOT', `${path} is outside the web roots (${this.roots.join(', ') || 'none'}); start the shell with --web-root DIR to allow it`);
    let existing = absolute.replace(/\/+$/, '') || '/';
    const rest: string[] = [];
    for (;;) {
      const real = await this.world.fs.realpath(existing).catch(() => null);
      if (real !== null) {
        if (!this.inside(real) || rest.includes('..') || rest.includes('.')) throw outside();
        return [real === '/' ? '' : real, ...rest].join('/') || '/';
      }
      if (existing === '/') throw outside();
      const parent = parentOf(existing);
      const name = existing.slice(parent.length).replace(/^\/+/, '');
      const names = await this.world.fs.readdir(parent).catch(() => null);
      if (names?.includes(name)) throw new PeerError('OUTSIDE_WEB_ROOT', `${path}: ${name} is a link that leads nowhere`);
      rest.unshift(name);
      existing = parent;
    }
  }

  /**
   * Entries whose path starts with `prefix`, under the roots; the roots themselves for an empty
   * prefix. In a directory above a root, only the next step towards each root is offered.
   */
  async complete(prefix: string): Promise<PathCompletion> {
    if (prefix === '') return { entries: this.roots.map((root) => ({ path: `${root}/`, directory: true })) };
    const absolute = this.absolute(prefix);
    const directory = absolute.endsWith('/') ? absolute.replace(/\/+$/, '') || '/' : parentOf(absolute);
    const start = absolute.endsWith('/') ? '' : absolute.slice(absolute.lastIndexOf('/') + 1);
    const real = await this.world.fs.realpath(directory).catch(() => null);
    if (real === null) return { entries: [] };
    const base = real === '/' ? '' : real;
    if (!this.inside(real)) {
      // Above the roots: the next component of each root below here, nothing else is read.
      const steps = new Set<string>();
      for (const root of this.roots) if (within(root, real) && root !== real) steps.add(root.slice(base.length + 1).split('/')[0]!);
      return { entries: [...steps].filter((name) => name.startsWith(start)).sort().map((name) => ({ path: `${base}/${name}/`, directory: true })) };
    }
    const names = await this.world.fs.readdir(real).catch(() => [] as string[]);
    const entries: PathCompletion['entries'] = [];
    for (const name of names) {
      if (!name.startsWith(start) || (name.startsWith('.') && !start.startsWith('.'))) continue;
      const path = `${base}/${name}`;
      const target = await this.world.fs.realpath(path).catch(() => null);
      if (target === null || !this.inside(target)) continue;
      const stat = await this.world.fs.stat(path);
      entries.push({ path: stat?.isDirectory ? `${path}/` : path, directory: stat?.isDirectory === true });
      if (entries.length >= MAX_COMPLETIONS) break;
    }
    return { entries };
  }
}
