import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['spec/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Real-process suites (spec/**/*.process.test.ts) are run serially by their own project later.
    pool: 'forks',
  },
});
