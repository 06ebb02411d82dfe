// Stores written by earlier builds live under spec/fixtures as LevelDB directories. Opening one
// rewrites it (LevelDB compacts its log, this build may upgrade it), so tests open copies.

import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { createRealWorld } from '../../src/world/real/real-world.js';
import type { KvStore } from '../../src/world/world.js';

/** `copy(name)` opens a fresh copy of the fixture store at `fixtureUrl`; all are removed after the file's tests. */
export function fixtureStoreCopies(fixtureUrl: URL): (name: string) => Promise<KvStore> {
  const root = mkdtempSync(join(tmpdir(), 'clique-fixture-store-'));
  const kvFactory = createRealWorld().kv;
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  return (name) => {
    const dir = join(root, name);
    cpSync(fixtureUrl.pathname, dir, { recursive: true });
    return kvFactory.open(dir, { createIfMissing: false });
  };
}
