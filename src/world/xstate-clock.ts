// XState v5 actors schedule delayed events (`after`, delayed sendTo) on a Clock with
// setTimeout/clearTimeout. This adapter puts those timers on the World's clock, so actors run
// on virtual time inside a simulation (DESIGN.md §3: "XState actors get a clock built on the
// World's timers").

import type { ActorOptions, AnyActorLogic } from 'xstate';
import type { Clock, Timer } from './world.js';

/** XState's Clock interface (not exported by name from 'xstate'). */
export type XStateClock = NonNullable<ActorOptions<AnyActorLogic>['clock']>;

export function xstateClock(clock: Clock): XStateClock {
  const timers = new Map<number, Timer>();
  let nextId = 1;
  return {
    setTimeout: (fire: () => void, timeoutMs: number): number => {
      const id = nextId++;
      const timer = clock.setTimer(timeoutMs, () => {
        timers.delete(id);
        fire();
      });
      timers.set(id, timer);
      return id;
    },
    clearTimeout: (id: unknown): void => {
      if (typeof id !== 'number') return;
      timers.get(id)?.cancel();
      timers.delete(id);
    },
  };
}
