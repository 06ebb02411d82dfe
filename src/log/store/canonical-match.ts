// Why this file exists: `--verify` compares every stored snapshot with the replayed state, and
// canonicalJson of a whole projection is a string of tens of MiB built by concatenation: making
// it, and flattening it to compare, was most of verify's time and garbage. This walks a value
// exactly as canonicalJson does and compares each piece with the stored text as it goes, so
// no large string is ever made. It answers canonicalJson(value) === text, and throws the
// CanonicalError canonicalJson would throw wherever it reaches the value that cannot be encoded.

import { CanonicalError } from '../../torrent/canonical.js';

const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const COMMA = 0x2c;
const COLON = 0x3a;
const QUOTE = 0x22;
/** What JSON.stringify writes other than as itself: quote, backslash, control characters, surrogates (escaped when lone). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

class Cursor {
  at = 0;
  constructor(readonly text: string) {}

  /** JSON.stringify(value) at the cursor, without making it when the value needs no escapes. */
  string(value: string): boolean {
    if (NEEDS_ESCAPE.test(value)) return this.piece(JSON.stringify(value));
    const at = this.at;
    if (this.text.charCodeAt(at) !== QUOTE || !this.text.startsWith(value, at + 1) || this.text.charCodeAt(at + 1 + value.length) !== QUOTE) return false;
    this.at = at + value.length + 2;
    return true;
  }

  piece(expected: string): boolean {
    if (!this.text.startsWith(expected, this.at)) return false;
    this.at += expected.length;
    return true;
  }

  char(code: number): boolean {
    if (this.text.charCodeAt(this.at) !== code) return false;
    this.at++;
    return true;
  }
}

/** canonicalJson(value) matched piece by piece against the text at the cursor; false at the first difference. */
function matches(value: unknown, cursor: Cursor): boolean {
  switch (typeof value) {
    case 'string':
      return cursor.string(value);
    case 'number':
      if (!Number.isSafeInteger(value)) throw new CanonicalError(`not a safe integer: ${value}`);
      return cursor.piece(Object.is(value, -0) ? '0' : String(value));
    case 'boolean':
      return cursor.piece(value ? 'true' : 'false');
    case 'object': {
      if (value === null) return cursor.piece('null');
      if (Array.isArray(value)) {
        if (!cursor.char(OPEN_BRACKET)) return false;
        for (let i = 0; i < value.length; i++) {
          if ((i > 0 && !cursor.char(COMMA)) || !matches(value[i], cursor)) return false;
        }
        return cursor.char(CLOSE_BRACKET);
      }
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      if (!cursor.char(OPEN_BRACE)) return false;
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!;
        if ((i > 0 && !cursor.char(COMMA)) || !cursor.string(key) || !cursor.char(COLON) || !matches(record[key], cursor)) return false;
      }
      return cursor.char(CLOSE_BRACE);
    }
    default:
      throw new CanonicalError(`cannot encode a ${typeof value}`);
  }
}

/** Whether canonicalJson(value) === text, without making canonicalJson(value). */
export function isCanonicalJsonOf(value: unknown, text: string): boolean {
  const cursor = new Cursor(text);
  return matches(value, cursor) && cursor.at === text.length;
}
