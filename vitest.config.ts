import { defineConfig } from 'vitest/config';

// Two groups, one after the other: the in-process suites (in parallel), then the real-process
// suites (spec/**/*.process.test.ts) and the browser suites (spec/**/*.browser.test.ts: a real
// chromium), one file at a time so real processes never compete.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['spec/**/*.test.ts'], exclude: ['spec/**/*.process.test.ts', 'spec/**/*.browser.test.ts'], sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: { name: 'process', include: ['spec/**/*.process.test.ts', 'spec/**/*.browser.test.ts'], fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
