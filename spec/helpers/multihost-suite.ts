// The vitest side of the multi-host harness (netns.ts stays free of vitest, so benchmarks can
// build labs too): a describe() that runs a suite where namespaces can be made, skips it with
// the reason elsewhere, and fails it under CI=true.

import { beforeAll, describe } from 'vitest';
import { netnsAvailable, type Availability } from './netns.js';

/** What a multi-host suite does: run; skip (no harness here); or fail (no harness, and CI=true says it must run). */
export function multiHostPlan(available: Availability, env: NodeJS.ProcessEnv): 'run' | 'skip' | 'fail' {
  if (available.ok) return 'run';
  return env.CI === 'true' ? 'fail' : 'skip';
}

/**
 * A describe() for suites that need the harness: without it the suite is skipped with the reason
 * printed, or, when CI=true, every test in it fails with that reason.
 */
export function describeMultiHost(name: string, body: () => void): void {
  const available = netnsAvailable();
  const plan = multiHostPlan(available, process.env);
  if (plan === 'skip' && !available.ok) console.warn(`${name}: skipped: multi-host harness unavailable: ${available.reason}`);
  describe.skipIf(plan === 'skip')(name, () => {
    beforeAll(() => {
      if (!available.ok) throw new Error(`multi-host harness unavailable: ${available.reason}`);
    });
    body();
  });
}

