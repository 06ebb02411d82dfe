// The layering rules of DESIGN.md §2, checked on the source: the domain imports nothing of
// Node but node:crypto and nothing outside itself; production code reaches time, randomness,
// the network and the disk only through the World.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = new URL('../src/', import.meta.url).pathname;

function sources(dir: string): string[] {
  return readdirSync(join(SRC, dir), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

function importsOf(file: string): string[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm), ...text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]!);
}

describe('layering', () => {
  it('src/log/domain imports nothing of Node but node:crypto, and nothing of ours outside it', () => {
    const files = sources('log/domain');
    expect(files.length).toBeGreaterThan(5);
    for (const file of files) {
      for (const specifier of importsOf(file)) {
        const allowed = specifier === 'node:crypto' || (specifier.startsWith('./') && !specifier.includes('..'));
        expect(allowed, `${file} imports ${specifier}`).toBe(true);
      }
    }
  });

  it('production code outside src/sim touches no clock, timer, randomness, socket or file directly', () => {
    const forbidden = /\b(Date\.now|new Date\(\)|Math\.random|setTimeout|setInterval|setImmediate)\b|from ['"]node:(fs|net|fs\/promises|dgram|timers)['"]|from ['"](level|classic-level|memory-level)['"]/;
    for (const file of sources('.').filter((f) => !f.startsWith('sim/'))) {
      const text = readFileSync(join(SRC, file), 'utf8');
      expect(forbidden.exec(text)?.[0], file).toBeUndefined();
    }
  });
});
