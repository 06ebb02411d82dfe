// XState actors scheduled on the World's clock run on virtual time and stop cleanly.

import { describe, expect, it } from 'vitest';
import { createActor, createMachine } from 'xstate';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import { xstateClock } from '../../src/world/xstate-clock.js';

const machine = createMachine({
  initial: 'waiting',
  states: {
    waiting: { after: { 1000: 'timedOut' }, on: { ANSWER: 'answered' } },
    timedOut: {},
    answered: {},
  },
});

describe('xstateClock', () => {
  it('fires `after` transitions at the virtual deadline', async () => {
    const sim = new SimWorld({ seed: 1 });
    const actor = createActor(machine, { clock: xstateClock(sim.forHost('h').clock) }).start();
    await sim.runFor(999);
    expect(actor.getSnapshot().value).toBe('waiting');
    await sim.runFor(1);
    expect(actor.getSnapshot().value).toBe('timedOut');
  });

  it('cancels the delayed event when the state is left', async () => {
    const sim = new SimWorld({ seed: 1 });
    const actor = createActor(machine, { clock: xstateClock(sim.forHost('h').clock) }).start();
    await sim.runFor(500);
    actor.send({ type: 'ANSWER' });
    expect(await sim.runUntilIdle()).toBe(0);
    expect(actor.getSnapshot().value).toBe('answered');
  });

  it('follows a fast host clock', async () => {
    const sim = new SimWorld({ seed: 1 });
    sim.setClockSkew('h', 0, 1_000_000); // the host's clock runs twice as fast
    const actor = createActor(machine, { clock: xstateClock(sim.forHost('h').clock) }).start();
    await sim.runFor(500);
    expect(actor.getSnapshot().value).toBe('timedOut');
  });
});
