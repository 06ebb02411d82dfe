// RefreshMap: the refresh credentials with a per-user index, so a login finds the user's oldest
// credential without walking everyone's. It must stay what the plain map was: the same entries
// in the same order, and each user's credentials oldest first, through sets, deletes and clears.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RefreshMap, type RefreshRecord } from '../../src/log/domain/state.js';

type Op = { kind: 'set'; hash: number; user: number } | { kind: 'delete'; hash: number } | { kind: 'clear' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('set' as const), hash: fc.nat(10), user: fc.nat(4) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('delete' as const), hash: fc.nat(10) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
);

describe('RefreshMap', () => {
  it('holds what a plain map holds, and each user’s credentials in the map’s order', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
        const plain = new Map<string, RefreshRecord>();
        const indexed = new RefreshMap();
        ops.forEach((o, i) => {
          if (o.kind === 'set') {
            const record = { user: `u${o.user}`, sessionId: `s${i}`, issuedIndex: i };
            plain.set(`h${o.hash}`, record);
            indexed.set(`h${o.hash}`, record);
          } else if (o.kind === 'delete') expect(indexed.delete(`h${o.hash}`)).toBe(plain.delete(`h${o.hash}`));
          else {
            plain.clear();
            indexed.clear();
          }
          expect([...indexed]).toEqual([...plain]);
          for (let user = 0; user <= 4; user++) {
            expect([...indexed.ofUser(`u${user}`)]).toEqual([...plain].filter(([, r]) => r.user === `u${user}`).map(([hash]) => hash));
          }
        });
      }),
      { numRuns: 300 },
    );
    expect(new RefreshMap([['a', { user: 'u', sessionId: 's', issuedIndex: 1 }]]).ofUser('u')).toEqual(new Set(['a']));
  });
});
