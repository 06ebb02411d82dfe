// Why this file exists: a file's sharers are a SmallSet (one member in a field, a Set for more);
// it must behave as a Set in insertion order under any adds and deletes, and stay canonical so
// that states compare equal whatever path built them.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SmallSet } from '../../src/log/domain/small-set.js';

const op = fc.tuple(fc.constantFrom('add', 'delete'), fc.constantFrom('a', 'b', 'c', 'd'));

describe('SmallSet', () => {
  it('answers as a Set does after any adds and deletes, and equals one built from its members', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const small = new SmallSet<string>();
        const model = new Set<string>();
        for (const [kind, member] of ops) {
          if (kind === 'add') small.add(member);
          else expect(small.delete(member)).toBe(model.delete(member));
          if (kind === 'add') model.add(member);
          expect(small.size).toBe(model.size);
          expect([...small]).toEqual([...model]);
          for (const m of ['a', 'b', 'c', 'd']) expect(small.has(m)).toBe(model.has(m));
        }
        expect(small).toStrictEqual(new SmallSet(model));
      }),
      { numRuns: 2000 },
    );
  });
});
