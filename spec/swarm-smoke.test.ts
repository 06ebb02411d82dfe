import { describe, expect, it } from 'vitest';
import { runSwarm } from '../src/sim/swarm/sim-swarm.js';

describe('swarm smoke', () => {
  it('one seeder, one leecher', async () => {
    const result = await runSwarm({ seed: 1, sizeBytes: 3 * 524288 + 100, holders: [{ pieces: 'all' }] });
    console.log(result.outcome, result.counters, result.elapsedMs);
    expect(result.outcome).toEqual({ state: 'complete' });
    expect(Buffer.from(result.destinationBytes!).equals(Buffer.from(result.original))).toBe(true);
  });
});
