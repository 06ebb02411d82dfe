// The layering rules of DESIGN.md §2, checked on the source: every import points to the
// file's own layer or a lower floor (type-only imports too); the domain and src/torrent are
// pure; production code reaches time, randomness, processes, the network and the disk only
// through the World. `CLIQUE_LAYERING_TABLE=1` prints the folder-to-folder import counts.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importCounts, importsOf, layeringViolations, layerOf, sourcesOf } from './helpers/layering.js';

const SRC = new URL('../src/', import.meta.url).pathname;
const FIXTURE = new URL('./fixtures/layering/', import.meta.url).pathname;

describe('layering', () => {
  it('every file belongs to a layer, and every import points down or stays in its layer', () => {
    const files = sourcesOf(SRC);
    expect(files.length).toBeGreaterThan(100);
    expect(files.filter((file) => layerOf(file) === null)).toEqual([]);
    expect(layeringViolations(SRC)).toEqual([]);
    if (process.env.CLIQUE_LAYERING_TABLE === '1') {
      const rows = [...importCounts(SRC)].sort(([a], [b]) => a.localeCompare(b)).map(([arrow, count]) => `| ${arrow} | ${count} |`);
      console.log(['| from -> to | imports |', '| --- | --- |', ...rows].join('\n'));
    }
  });

  it('finds a planted upward import, type-only as it is', () => {
    expect(layeringViolations(FIXTURE)).toEqual(['tracker/node.ts -> ../peer/peer.js: tracker (floor 4) may not import peer (floor 5)']);
  });

  it('src/log/domain imports nothing of Node but node:crypto, and of ours only itself, src/torrent and the address parser', () => {
    const files = sourcesOf(SRC).filter((file) => file.startsWith('log/domain/'));
    expect(files.length).toBeGreaterThan(5);
    for (const imported of files.flatMap((file) => importsOf(SRC, file))) {
      // world/net-address.ts is pure parsing: the one address format, which the domain checks too.
      const allowed = imported.specifier === 'node:crypto' || imported.target?.startsWith('log/domain/') || imported.target?.startsWith('torrent/') || imported.target === 'world/net-address.ts';
      expect(allowed, `${imported.file} imports ${imported.specifier}`).toBe(true);
    }
  });

  it('src/torrent imports nothing but node:crypto and itself', () => {
    const files = sourcesOf(SRC).filter((file) => file.startsWith('torrent/'));
    expect(files.length).toBeGreaterThan(5);
    for (const imported of files.flatMap((file) => importsOf(SRC, file))) {
      const allowed = imported.specifier === 'node:crypto' || imported.target?.startsWith('torrent/');
      expect(allowed, `${imported.file} imports ${imported.specifier}`).toBe(true);
    }
  });

  it('src/web (the browser page) imports only itself, Preact, the page contract (type-only) and the pure timeline fold', () => {
    const files = sourcesOf(SRC).filter((file) => file.startsWith('web/'));
    expect(files.length).toBeGreaterThan(5);
    for (const imported of files.flatMap((file) => importsOf(SRC, file))) {
      const allowed =
        imported.specifier === 'preact' ||
        imported.specifier === 'preact/hooks' ||
        imported.target?.startsWith('web/') ||
        (imported.target === 'peer/web/web-api.ts' && imported.typeOnly) ||
        imported.target === 'log/domain/timeline.ts';
      expect(allowed, `${imported.file} imports ${imported.specifier}${imported.typeOnly ? ' (type-only)' : ''}`).toBe(true);
    }
    for (const file of files) expect(/\b(process\.|Buffer\b|require\()/.exec(readFileSync(join(SRC, file), 'utf8'))?.[0], `${file} reaches for Node`).toBeUndefined();
  });

  it('production code outside src/world/real and src/world/sim touches no clock, timer, randomness, process, socket or file directly', () => {
    const forbidden =
      /\b(Date\.now|new Date\(\)|Math\.random|performance\.now|process\.hrtime)\b|(?<![\w$])(setTimeout|setInterval|setImmediate)\s*\(|from ['"]node:(fs|net|tls|http|https|http2|child_process|fs\/promises|dgram|timers)['"]|from ['"](level|classic-level|memory-level)['"]/;
    // src/web is the browser page, not the peer: it runs outside any World (its only timers are
    // the stream's reconnect back-off and the pause before path completion; it formats times).
    const files = sourcesOf(SRC).filter((file) => !file.startsWith('world/real/') && !file.startsWith('world/sim/') && !file.startsWith('web/'));
    for (const file of files) {
      const text = readFileSync(join(SRC, file), 'utf8');
      expect(forbidden.exec(text)?.[0], file).toBeUndefined();
    }
  });
});
