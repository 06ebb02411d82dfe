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
  ) {}

  /** The roots as given, resolved; a root that does not exist is left out. */
  static async resolve(world: World, given: readonly string[]): Promise<WebRoots> {
    const roots: string[] = [];
    for (const root of given) {
      const real = await world.fs.realpath(root).catch(() => null);
      if (real !== null && !roots.includes(real)) roots.push(real);
    }
    return new WebRoots(world, roots);
  }

  /** A path as typed: absolute, or relative to the first root. */
  private absolute(path: string): string {
    if (path.length === 0 || path.length > MAX_PATH_CHARACTERS || path.includes('\u0000')) throw new PeerError('BAD_ARGUMENTS', 'not a path');
    if (path.startsWith('/')) return path;
    if (this.roots[0] === undefined) throw new PeerError('OUTSIDE_WEB_ROOT', 'the page may use no directory here (no --web-root exists)');
    return `${this.roots[0]}/${path}`;
  }

  /**
   * The real path of `path`, which must lie under a root. A path that does not exist yet (a
   * download's destination) is judged by its nearest existing directory.
   */
  async confine(path: string): Promise<string> {
    const absolute = this.absolute(path);
    let existing = absolute;
    let rest = '';
    for (;;) {
      const real = await this.world.fs.realpath(existing).catch(() => null);
      if (real !== null) {
        const full = rest === '' ? real : `${real === '/' ? '' : real}/${rest}`;
        if (!this.roots.some((root) => within(real, root))) throw new PeerError('OUTSIDE_WEB_ROOT', `${path} is outside the web roots (${this.roots.join(', ') || 'none'}); start the shell with --web-root DIR to allow it`);
        if (rest.split('/').includes('..')) throw new PeerError('OUTSIDE_WEB_ROOT', `${path} climbs out of an existing directory`);
        return full;
      }
      if (existing === '/') throw new PeerError('OUTSIDE_WEB_ROOT', `${path} is outside the web roots`);
      const name = existing.slice(parentOf(existing).length).replace(/^\/+/, '');
      rest = rest === '' ? name : `${name}/${rest}`;
      existing = parentOf(existing);
    }
  }

  /** Entries whose path starts with `prefix` (in its directory), under the roots; the roots themselves for an empty prefix. */
  async complete(prefix: string): Promise<PathCompletion> {
    if (prefix === '') return { entries: this.roots.map((root) => ({ path: `${root}/`, directory: true })) };
    const absolute = this.absolute(prefix);
    const directory = absolute.endsWith('/') ? absolute.replace(/\/+$/, '') || '/' : parentOf(absolute);
    const start = absolute.endsWith('/') ? '' : absolute.slice(absolute.lastIndexOf('/') + 1);
    const real = await this.world.fs.realpath(directory).catch(() => null);
    if (real === null) return { entries: [] };
    const names = await this.world.fs.readdir(real).catch(() => [] as string[]);
    const entries: PathCompletion['entries'] = [];
    for (const name of names) {
      if (!name.startsWith(start) || (name.startsWith('.') && !start.startsWith('.'))) continue;
      const path = `${real === '/' ? '' : real}/${name}`;
      const target = await this.world.fs.realpath(path).catch(() => null);
      if (target === null || !this.roots.some((root) => within(target, root) || within(root, target))) continue;
      const stat = await this.world.fs.stat(path);
      entries.push({ path: stat?.isDirectory ? `${path}/` : path, directory: stat?.isDirectory === true });
      if (entries.length >= MAX_COMPLETIONS) break;
    }
    return { entries };
  }
}
