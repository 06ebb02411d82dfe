// isCanonicalJsonOf(value, text) is canonicalJson(value) === text without making the string:
// true for the value's own canonical text, false for any other text, and the CanonicalError
// canonicalJson throws when the value cannot be encoded.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isCanonicalJsonOf } from '../../src/log/store/canonical-match.js';
import { canonicalJson } from '../../src/torrent/canonical.js';

const value = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string({ unit: 'binary', maxLength: 8 }),
    fc.constantFrom('"', '\\', '\n', '\u2028', '\ud800', '😀', 'é'),
    fc.maxSafeInteger(),
    fc.constant(-0),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string({ unit: 'binary', maxLength: 4 }), tie('value'), { maxKeys: 4 }),
  ),
})).value;

function outcome(run: () => boolean): boolean | string {
  try {
    return run();
  } catch (error) {
    return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  }
}

describe('isCanonicalJsonOf', () => {
  it('holds for the canonical text of any value', () => {
    fc.assert(
      fc.property(value, (v) => {
        expect(isCanonicalJsonOf(v, canonicalJson(v))).toBe(true);
      }),
      { numRuns: 2_000 },
    );
  });

  it('is canonicalJson(value) === text for texts close to it', () => {
    const near = fc.tuple(value, fc.nat(), fc.string({ unit: 'binary', maxLength: 2 }), fc.nat({ max: 2 })).map(([v, at, insert, cut]) => {
      const canonical = canonicalJson(v);
      const where = at % (canonical.length + 1);
      return { v, text: canonical.slice(0, where) + insert + canonical.slice(where + cut) };
    });
    fc.assert(
      fc.property(near, ({ v, text }) => {
        expect(isCanonicalJsonOf(v, text)).toBe(canonicalJson(v) === text);
      }),
      { numRuns: 3_000 },
    );
  });

  it('throws what canonicalJson throws for a value it cannot encode', () => {
    // Each bad value, with the canonical text of what comes before it (the walk must get there).
    const cases: Array<[unknown, string]> = [
      [1.5, ''],
      [Number.MAX_SAFE_INTEGER + 1, ''],
      [Number.NaN, ''],
      [undefined, ''],
      [() => 1, ''],
      [10n, ''],
      [{ a: undefined }, '{"a":'],
      [[1, undefined], '[1,'],
      [{ a: { b: 0.1 } }, '{"a":{"b":'],
    ];
    for (const [bad, before] of cases) {
      const expected = outcome(() => canonicalJson(bad) === '');
      expect(typeof expected).toBe('string');
      expect(outcome(() => isCanonicalJsonOf(bad, before))).toBe(expected);
      expect(outcome(() => isCanonicalJsonOf(bad, `x${before}`))).toBe(before === '' ? expected : false);
    }
  });
});
