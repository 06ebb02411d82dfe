// Why this file exists: the peer's web page is browser code (Preact, TSX) that tsc does not
// compile; this bundles it with esbuild into dist/web/ — index.html, app.js, app.css (minified,
// with source maps) — everything the page needs, from this origin alone (the server sets
// `Content-Security-Policy: default-src 'self'`). The peer serves dist/web/ (beside dist/cli/
// and dist/peer/). `npm run build` runs it.

import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const source = `${root}src/web/`;
const out = `${root}dist/web/`;

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

await build({
  absWorkingDir: root,
  entryPoints: [
    { in: `${source}main.tsx`, out: 'app' },
    { in: `${source}app.css`, out: 'app' },
  ],
  outdir: out,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  tsconfig: `${source}tsconfig.json`,
  minify: true,
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
});

copyFileSync(`${source}index.html`, `${out}index.html`);
