// Why this file exists: replay parses the replay JSON of every stored line,
// `[v,index,term,timeMs,clientId,requestId,events]`, and parsing it was the largest cost of replay
// after the reads. It is read here straight from the segment's bytes: the six leading scalars of
// a canonical record by hand, and only the events made a string and given to JSON.parse. The
// result is exactly JSON.parse of the record's text — the same values, the same property order —
// and anything the hand reader is not sure of (a float, a sign, an escape, a space, a long
// number) sends the whole text to JSON.parse, so a record that is not canonical parses, or
// fails, as it always did.

const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const LETTER_N = 0x6e;
const FIRST_PRINTABLE = 0x20;
/** Up to 15 digits a decimal integer is read exactly, without rounding. */
const MAX_EXACT_DIGITS = 15;
/** The scalars before the events. */
const LEADING_SCALARS = 6;
const CLIENT_ID_FIELD = 4;
const REQUEST_ID_FIELD = 5;

/** What the last scan read, and where it ended (-1: the hand reader is not sure). */
let scannedValue: number | string | null = null;
let scannedEnd = -1;

/** A canonical non-negative integer at `at`: no sign, no leading zero, at most 15 digits. */
function scanInteger(bytes: Uint8Array, at: number, end: number): void {
  let i = at;
  let value = 0;
  for (; i < end && bytes[i]! >= DIGIT_0 && bytes[i]! <= DIGIT_9; i++) value = value * 10 + (bytes[i]! - DIGIT_0);
  const digits = i - at;
  scannedValue = value;
  scannedEnd = digits > 0 && digits <= MAX_EXACT_DIGITS && (digits === 1 || bytes[at] !== DIGIT_0) ? i : -1;
}

/** `null` at `at`. */
function scanNull(bytes: Uint8Array, at: number, end: number): boolean {
  if (at + 4 > end || bytes[at] !== LETTER_N || bytes[at + 1] !== 0x75 || bytes[at + 2] !== 0x6c || bytes[at + 3] !== 0x6c) return false;
  scannedValue = null;
  scannedEnd = at + 4;
  return true;
}

/** A string without escapes or control characters at `at` (its bytes are valid UTF-8: multi-byte characters are all >= 0x80). */
function scanString(bytes: Buffer, at: number, end: number): void {
  scannedEnd = -1;
  if (bytes[at] !== QUOTE) return;
  for (let i = at + 1; i < end; i++) {
    const byte = bytes[i]!;
    if (byte === QUOTE) {
      scannedValue = bytes.toString('utf8', at + 1, i);
      scannedEnd = i + 1;
      return;
    }
    if (byte < FIRST_PRINTABLE || byte === BACKSLASH) return;
  }
}

function scanField(bytes: Buffer, field: number, at: number, end: number): void {
  if (field === CLIENT_ID_FIELD) {
    if (!scanNull(bytes, at, end)) scanString(bytes, at, end);
  } else if (field === REQUEST_ID_FIELD) {
    if (!scanNull(bytes, at, end)) scanInteger(bytes, at, end);
  } else {
    scanInteger(bytes, at, end);
  }
}

function parseWhole(bytes: Buffer, start: number, end: number): unknown {
  return JSON.parse(bytes.toString('utf8', start, end));
}

/**
 * Exactly JSON.parse of the text of bytes[start, end) (valid UTF-8), for a stored replay record
 * read fast: throws SyntaxError where JSON.parse throws.
 */
export function parseReplayRecord(bytes: Buffer, start: number, end: number): unknown {
  if (end - start < 2 || bytes[start] !== OPEN_BRACKET || bytes[end - 1] !== CLOSE_BRACKET) return parseWhole(bytes, start, end);
  const record: unknown[] = new Array<unknown>(LEADING_SCALARS + 1);
  let at = start + 1;
  for (let field = 0; field < LEADING_SCALARS; field++) {
    scanField(bytes, field, at, end);
    if (scannedEnd === -1 || bytes[scannedEnd] !== COMMA) return parseWhole(bytes, start, end);
    record[field] = scannedValue;
    at = scannedEnd + 1;
  }
  if (bytes[at] !== OPEN_BRACKET) return parseWhole(bytes, start, end);
  try {
    record[LEADING_SCALARS] = JSON.parse(bytes.toString('utf8', at, end - 1));
  } catch {
    // Not one JSON value between the sixth comma and the closing bracket: JSON.parse says what it is.
    return parseWhole(bytes, start, end);
  }
  return record;
}
