// Why this file exists: the real Clock's setDeadline, for the real World's own sockets too
// (real-tls.ts, real-net.ts) without their importing the World that imports them.

import type { Timer } from '../world.js';

/**
 * A timeout judged after the I/O already waiting (Clock.setDeadline): due in the timers phase, it
 * fires in the check phase (setImmediate), which follows the poll phase that reads the sockets.
 */
export function realDeadline(delayMs: number, fire: () => void): Timer {
  if (!Number.isFinite(delayMs)) throw new RangeError(`timer delay must be finite, got ${delayMs}`);
  let immediate: NodeJS.Immediate | null = null;
  const handle = setTimeout(() => (immediate = setImmediate(fire)), Math.max(0, delayMs));
  return {
    cancel: () => {
      clearTimeout(handle);
      if (immediate !== null) clearImmediate(immediate);
    },
  };
}
