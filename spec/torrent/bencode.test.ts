// The peer's bencode (src/peer/bencode.ts): canonical encoding round-trips; anything
// non-canonical, truncated, too deep or trailing is refused with its code; random bytes only
// ever produce a BencodeError, and whatever decodes re-encodes to the very same bytes.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bdecode, bencode, BencodeError, tryBdecode } from '../../src/torrent/bencode.js';
import type { BencodeErrorCode, BencodeValue } from '../../src/torrent/bencode.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const latin1 = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const ascii = (b: Uint8Array): string => String.fromCharCode(...b);

const { value: bvalue } = fc.letrec<{ value: BencodeValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.maxSafeInteger(),
    fc.uint8Array({ maxLength: 40 }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc
      .array(fc.tuple(fc.string({ unit: 'binary', maxLength: 8 }), tie('value')), { maxLength: 5 })
      .map((entries) => new Map(entries)),
  ),
}));

function codeOf(input: Uint8Array): BencodeErrorCode | 'ok' {
  const result = tryBdecode(input);
  return result instanceof BencodeError ? result.code : 'ok';
}

describe('bencode', () => {
  it('encodes the BEP 3 examples, dictionary keys sorted by raw bytes', () => {
    expect(ascii(bencode(42))).toBe('i42e');
    expect(ascii(bencode(-3))).toBe('i-3e');
    expect(ascii(bencode(0))).toBe('i0e');
    expect(ascii(bencode(text('spam')))).toBe('4:spam');
    expect(ascii(bencode([text('spam'), 42]))).toBe('l4:spami42ee');
    const dict = new Map<string, BencodeValue>([
      ['foo', 42],
      ['bar', text('spam')],
      ['Z', 1], // 'Z' (0x5a) sorts before 'b'
      ['é', 2], // 0xc3 0xa9 sorts after every ASCII key
    ]);
    expect(bencode(dict)).toEqual(latin1('d1:Zi1e3:bar4:spam3:fooi42e2:\xc3\xa9i2ee'));
    const bom = new Map<string, BencodeValue>([['\ufeffk', 1]]); // a leading BOM is part of the key
    expect(bdecode(bencode(bom))).toEqual(bom);
    expect(bdecode(latin1('d3:bar4:spam3:fooi42ee'))).toEqual(new Map<string, BencodeValue>([['bar', text('spam')], ['foo', 42]]));
  });

  it('round-trips any value, and decoding then encoding gives back the same bytes', () => {
    fc.assert(
      fc.property(bvalue, (value) => {
        const bytes = bencode(value);
        const decoded = bdecode(bytes);
        expect(decoded).toEqual(value);
        expect(bencode(decoded)).toEqual(bytes);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses non-canonical, malformed, truncated and trailing input with its code', () => {
    const cases: [string, BencodeErrorCode][] = [
      ['i03e', 'NON_CANONICAL'],
      ['i-0e', 'NON_CANONICAL'],
      ['i00e', 'NON_CANONICAL'],
      ['03:abc', 'NON_CANONICAL'],
      ['d1:bi1e1:ai2ee', 'NON_CANONICAL'], // unsorted
      ['d1:ai1e1:ai2ee', 'NON_CANONICAL'], // repeated
      ['d2:abi1e1:ai2ee', 'NON_CANONICAL'], // "a" < "ab"
      ['ie', 'SYNTAX'],
      ['i-e', 'SYNTAX'],
      ['i--1e', 'SYNTAX'],
      ['i1.5e', 'SYNTAX'],
      ['i+1e', 'SYNTAX'],
      ['x', 'SYNTAX'],
      [':abc', 'SYNTAX'],
      ['di1ei2ee', 'SYNTAX'], // integer key
      ['', 'TRUNCATED'],
      ['i12', 'TRUNCATED'],
      ['4:spa', 'TRUNCATED'],
      ['l4:spam', 'TRUNCATED'],
      ['d3:foo', 'TRUNCATED'],
      ['5', 'TRUNCATED'],
      ['i1ei2e', 'TRAILING'],
      ['4:spamx', 'TRAILING'],
      ['lee', 'TRAILING'],
      ['i9007199254740992e', 'UNSUPPORTED'], // 2^53
      ['i99999999999999999e', 'LIMIT'], // 17 digits
      ['d2:\xff\xfei1ee', 'UNSUPPORTED'], // key not UTF-8
      ['99999999999:x', 'LIMIT'],
    ];
    for (const [input, code] of cases) expect([input, codeOf(latin1(input))]).toEqual([input, code]);
    expect(codeOf(latin1('i9007199254740991e'))).toBe('ok');
    expect(codeOf(latin1('i-9007199254740991e'))).toBe('ok');
  });

  it('bounds depth, input size, string size and item count', () => {
    const nested = (n: number) => latin1('l'.repeat(n) + 'e'.repeat(n));
    expect(codeOf(nested(32))).toBe('ok');
    expect(codeOf(nested(33))).toBe('LIMIT');
    expect(codeOf(nested(100_000))).toBe('LIMIT'); // no stack overflow
    expect((tryBdecode(latin1('5:abcde'), { maxStringBytes: 4 }) as BencodeError).code).toBe('LIMIT');
    expect((tryBdecode(latin1('i1e'), { maxInputBytes: 2 }) as BencodeError).code).toBe('LIMIT');
    expect((tryBdecode(latin1('li1ei2ei3ee'), { maxItems: 3 }) as BencodeError).code).toBe('LIMIT');
    expect(tryBdecode(latin1('li1ei2ei3ee'), { maxItems: 4 })).toEqual([1, 2, 3]);
  });

  it('refuses to encode what it cannot represent, with a BencodeError', () => {
    for (const bad of [1.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN, Infinity]) expect(() => bencode(bad)).toThrow(BencodeError);
    expect(() => bencode(new Map([['\ud800', 1]]))).toThrow(BencodeError);
    expect(() => bencode({ a: 1 } as unknown as BencodeValue)).toThrow(BencodeError);
    const cyclic: BencodeValue[] = [];
    cyclic.push(cyclic);
    expect(() => bencode(cyclic)).toThrow(BencodeError);
  });

  it('on random and mutated input, throws only BencodeError, and what decodes is canonical', () => {
    const mutated = fc
      .tuple(bvalue, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete')), { minLength: 1, maxLength: 3 }))
      .map(([value, edits]) => {
        const bytes = [...bencode(value)];
        for (const [at, byte, kind] of edits) {
          const i = at % (bytes.length + 1);
          if (kind === 'insert') bytes.splice(i, 0, byte);
          else if (kind === 'delete') bytes.splice(i, 1);
          else if (i < bytes.length) bytes[i] = byte;
        }
        return Uint8Array.from(bytes);
      });
    const alphabet = fc.uint8Array({ maxLength: 40 }).map((b) => b.map((x) => 'ilde0123456789:-x'.charCodeAt(x % 17)));
    fc.assert(
      fc.property(fc.oneof(mutated, alphabet, fc.uint8Array({ maxLength: 40 })), (input) => {
        let decoded: BencodeValue;
        try {
          decoded = bdecode(input);
        } catch (error) {
          expect(error).toBeInstanceOf(BencodeError);
          return;
        }
        expect(bencode(decoded)).toEqual(input);
      }),
      { numRuns: 10_000 },
    );
  });
});
