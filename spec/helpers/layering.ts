// Why this file exists: the floors of DESIGN.md §2 as data, and a reader of every import of a
// source tree (type-only and dynamic imports included), so the layering test can check the real
// tree and a planted fixture with the same code, and print the folder-to-folder counts.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

/** Each layer with its floor; a file may import its own layer or a strictly lower floor. */
export const LAYERS: ReadonlyArray<readonly [layer: string, floor: number]> = [
  ['world', 0],
  ['world/real', 1],
  ['world/sim', 1],
  ['torrent', 2],
  ['log', 3],
  ['raft', 3],
  ['actors', 3],
  ['tracker', 4],
  ['peer', 5],
  ['sim', 6],
  ['cli', 7],
  // The peer's web page, built for the browser: it may import only the page's contract
  // (src/peer/web/web-api.ts, type-only) and the pure timeline fold (src/log/domain/timeline.ts).
  ['web', 8],
];

export interface Import {
  /** The importing file, relative to the source root. */
  file: string;
  specifier: string;
  /** `import type …` / `export type … from` (erased when compiled: no code of the target runs). */
  typeOnly: boolean;
  /** For an import of our own code: the imported file, relative to the source root. */
  target: string | null;
}

/** Every .ts and .tsx file (the page's components are .tsx). */
export function sourcesOf(root: string, dir = '.'): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourcesOf(root, join(dir, entry.name)) : /\.tsx?$/.test(entry.name) ? [normalize(join(dir, entry.name))] : [],
  );
}

const STATIC = /^\s*(?:import|export)\s([^'"]*?)from\s+['"]([^'"]+)['"]/gm;
const BARE = /^\s*import\s+['"]([^'"]+)['"]/gm;
/** `import('…')`, both the dynamic import and the type expression. */
const DYNAMIC = /import\(\s*['"]([^'"]+)['"]\s*\)/g;

export function importsOf(root: string, file: string): Import[] {
  const text = readFileSync(join(root, file), 'utf8');
  const found = [
    ...[...text.matchAll(STATIC)].map((m) => ({ specifier: m[2]!, typeOnly: /^type\s/.test(m[1]!) })),
    ...[...text.matchAll(BARE), ...text.matchAll(DYNAMIC)].map((m) => ({ specifier: m[1]!, typeOnly: false })),
  ];
  return found.map(({ specifier, typeOnly }) => ({ file, specifier, typeOnly, target: specifier.startsWith('.') ? targetOf(root, file, specifier) : null }));
}

/** The file a relative specifier names: `./x.js` is x.ts, or x.tsx where that is the one there. */
function targetOf(root: string, file: string, specifier: string): string {
  const path = normalize(join(dirname(file), specifier));
  if (!path.endsWith('.js')) return path;
  const ts = path.replace(/\.js$/, '.ts');
  const tsx = `${ts}x`;
  return !existsSync(join(root, ts)) && existsSync(join(root, tsx)) ? tsx : ts;
}

/** The layer a file belongs to: the longest layer folder that holds it. */
export function layerOf(file: string): string | null {
  let best: string | null = null;
  for (const [layer] of LAYERS) if ((file.startsWith(`${layer}/`) || relative(layer, file) === '') && (best === null || layer.length > best.length)) best = layer;
  return best;
}

const floorOf = new Map(LAYERS);

/** Imports that point to an equal or higher floor of another layer, or out of the tree. */
export function layeringViolations(root: string): string[] {
  const out: string[] = [];
  for (const file of sourcesOf(root)) {
    const from = layerOf(file);
    for (const imported of importsOf(root, file)) {
      if (imported.target === null) continue;
      const to = layerOf(imported.target);
      if (from === null || to === null) {
        out.push(`${file} -> ${imported.specifier}: outside the layers`);
      } else if (from !== to && floorOf.get(to)! >= floorOf.get(from)!) {
        out.push(`${file} -> ${imported.specifier}: ${from} (floor ${floorOf.get(from)}) may not import ${to} (floor ${floorOf.get(to)})`);
      }
    }
  }
  return out;
}

/** How many imports go from each layer to each other layer. */
export function importCounts(root: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const file of sourcesOf(root)) {
    for (const imported of importsOf(root, file)) {
      if (imported.target === null) continue;
      const from = layerOf(file);
      const to = layerOf(imported.target);
      if (from === to) continue;
      const key = `${from} -> ${to}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return counts;
}
