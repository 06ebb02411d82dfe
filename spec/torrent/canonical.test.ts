// Canonical JSON: one byte-exact encoding on every node; sorted keys, integers only.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CanonicalError, canonicalJson } from '../../src/torrent/canonical.js';

/** Canonical JSON takes integers only, and only safe ones. */
function onlySafeIntegers(value: unknown): boolean {
  if (typeof value === 'number') return Number.isSafeInteger(value);
  if (Array.isArray(value)) return value.every(onlySafeIntegers);
  if (typeof value === 'object' && value !== null) return Object.values(value).every(onlySafeIntegers);
  return true;
}

describe('canonical JSON', () => {
  it('sorts keys at every depth and is stable under key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: null, y: true }], c: 'x' } })).toBe('{"a":{"c":"x","d":[3,{"y":true,"z":null}]},"b":1}');
    fc.assert(
      fc.property(fc.jsonValue({ noUnicodeString: false }).filter(onlySafeIntegers), (value) => {
        const text = canonicalJson(value);
        expect(canonicalJson(JSON.parse(text))).toBe(text);
        const shuffled = JSON.parse(JSON.stringify(value), (_key, v: unknown) =>
          v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).reverse()) : v,
        ) as unknown;
        expect(canonicalJson(shuffled)).toBe(text);
      }),
    );
  });

  it.each([[1.5], [NaN], [Infinity], [2 ** 53], [undefined], [{ a: undefined }], [10n], [() => 1]])('refuses %s', (value) => {
    expect(() => canonicalJson(value)).toThrow(CanonicalError);
  });
});
