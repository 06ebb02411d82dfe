// The replay record reader (replay-record.ts) is JSON.parse of the record's text, read from bytes:
// on canonical records written the way the store writes them, on records that are almost
// canonical (a float, a sign, a space, an escape, a long number), and on garbage — the same
// value with the same property order, or a throw exactly where JSON.parse throws.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseReplayRecord } from '../../src/log/store/replay-record.js';
import { canonicalJson } from '../../src/torrent/canonical.js';

/**
 * What JSON.parse makes of the text, or that it throws; JSON.stringify keeps property order. The
 * text is what its UTF-8 reads back as (a lone surrogate has no UTF-8: it is stored as U+FFFD).
 */
function viaJsonParse(text: string): { value: string } | { throws: true } {
  try {
    return { value: JSON.stringify(JSON.parse(Buffer.from(text, 'utf8').toString('utf8'))) };
  } catch {
    return { throws: true };
  }
}

/** The same, read from the middle of a buffer (bytes around it must not be read). */
function viaReader(text: string, before = '1,', after = ',1]\t{"type":"X"}'): { value: string } | { throws: true } {
  const bytes = Buffer.from(before + text + after, 'utf8');
  const start = Buffer.byteLength(before);
  try {
    return { value: JSON.stringify(parseReplayRecord(bytes, start, start + Buffer.byteLength(text))) };
  } catch (error) {
    expect(error).toBeInstanceOf(SyntaxError);
    return { throws: true };
  }
}

const text = fc.string({ unit: 'binary', maxLength: 12 });
const integer = fc.oneof(fc.nat({ max: 20 }), fc.maxSafeNat());
const event = fc.dictionary(fc.oneof(fc.constantFrom('type', 'group', 'user', 'by', '__proto__', '1', 'a"b'), text), fc.oneof(text, integer, fc.boolean(), fc.constant(null), fc.array(text, { maxLength: 2 })), { maxKeys: 6 });
const record = fc.tuple(integer, integer, integer, integer, fc.option(text), fc.option(integer), fc.array(event, { maxLength: 3 }));

describe('parseReplayRecord', () => {
  it('is JSON.parse on canonical records, property order included', () => {
    fc.assert(
      fc.property(record, (fields) => {
        const canonical = canonicalJson(fields);
        expect(viaReader(canonical)).toEqual(viaJsonParse(canonical));
        expect(viaReader(canonical, '', '')).toEqual(viaJsonParse(canonical));
      }),
      { numRuns: 2_000 },
    );
  });

  it('is JSON.parse on records that are almost canonical', () => {
    const variants = [
      '[1,2,3,4,null,null,[]]',
      '[1,2,3,4,"c",5,[{"type":"X","a":1}]]',
      '[1.0,2,3,4,null,null,[]]',
      '[1,2e0,3,4,null,null,[]]',
      '[1,-2,3,4,null,null,[]]',
      '[1,-0,3,4,null,null,[]]',
      '[1,02,3,4,null,null,[]]',
      '[1,2,3,1234567890123456,null,null,[]]',
      '[1,2,3,12345678901234567890,null,null,[]]',
      '[1,2,3,999999999999999,null,null,[]]',
      '[ 1,2,3,4,null,null,[]]',
      '[1,2,3,4, null,null,[]]',
      '[1,2,3,4,null,null,[] ]',
      '[1,2,3,4,null,null, []]',
      '[1,2,3,4,"a\\"b",null,[]]',
      '[1,2,3,4,"a\\u0041",null,[]]',
      '[1,2,3,4,"a\tb",null,[]]',
      '[1,2,3,4,"zoë 😀",null,[{"user":"zoë"}]]',
      '[1,2,3,4,null,null,[],[]]',
      '[1,2,3,4,null,null,[1],[2]]',
      '[1,2,3,4,null,null,[]',
      '[1,2,3,4,null,null]',
      '[1,2,3,4,null]',
      '[1,2,3,4,nul,null,[]]',
      '[1,2,3,4,true,null,[]]',
      '[1,2,3,4,null,"r",[]]',
      '[1,2,3,4,null,null,{}]',
      '[1,2,3,4,null,null,"[]"]',
      '[1,2,3,4,null,null,[{"__proto__":1,"b":2,"1":3,"a":4}]]',
      '[1,2,3,4,null,null,[{"a":1,"a":2}]]',
      '[]',
      '[',
      ']',
      '',
      '{}',
      '[1,2,3,4,null,null,[]]]',
    ];
    for (const variant of variants) expect(viaReader(variant), variant).toEqual(viaJsonParse(variant));
  });

  it('is JSON.parse on garbage and on damaged records', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (garbage) => {
        expect(viaReader(garbage)).toEqual(viaJsonParse(garbage));
      }),
      { numRuns: 2_000 },
    );
    const damaged = fc.tuple(record, fc.nat(), fc.string({ unit: 'binary', maxLength: 3 }), fc.nat({ max: 3 })).map(([fields, at, insert, cut]) => {
      const canonical = canonicalJson(fields);
      const where = at % (canonical.length + 1);
      return canonical.slice(0, where) + insert + canonical.slice(where + cut);
    });
    fc.assert(
      fc.property(damaged, (variant) => {
        expect(viaReader(variant)).toEqual(viaJsonParse(variant));
      }),
      { numRuns: 3_000 },
    );
  });
});
