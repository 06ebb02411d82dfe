// Why this file exists: the domain's base64 (piece lists travel and sit on disk in it) is its
// own table code, not Node's Buffer; it must agree with Buffer on every input and refuse every
// text that is not the one canonical spelling of its bytes.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromBase64, toBase64 } from '../../src/torrent/bytes.js';

describe('base64', () => {
  it('encodes as Buffer does, and decodes its own text back', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const text = toBase64(bytes);
        expect(text).toBe(Buffer.from(bytes).toString('base64'));
        expect(fromBase64(text)).toEqual(bytes);
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts a text exactly when it is the canonical encoding of some bytes', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=- \né';
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...alphabet), { maxLength: 16 }), (chars) => {
        const text = chars.join('');
        const decoded = Buffer.from(text, 'base64');
        const canonical = decoded.toString('base64') === text;
        const ours = fromBase64(text);
        expect(ours !== null).toBe(canonical);
        if (ours !== null) expect(Buffer.from(ours).equals(decoded)).toBe(true);
      }),
      { numRuns: 20000 },
    );
  });

  it('refuses padding in the middle, non-zero spare bits and stray characters', () => {
    for (const bad of ['QQ==QQ==', 'QR==', 'QUF=', 'QUI', 'QU I', 'QUJD\n', 'Q===', '====', 'é===']) expect(fromBase64(bad)).toBeNull();
    expect(fromBase64('')).toEqual(new Uint8Array(0));
    expect(fromBase64('QQ==')).toEqual(Uint8Array.of(65));
  });
});
