// Why this file exists: the peer wire (DESIGN.md §6) carries bencoded dictionaries — the BEP 10
// extension handshake with our access ticket. Everything read from a socket is untrusted, so the
// decoder accepts only canonical bencode (no leading zeros, no "-0", dictionary keys sorted by
// raw bytes and unique, nothing after the value), bounds depth and sizes, and fails only with a
// BencodeError. Byte strings decode as views into the input (no copy); dictionary keys are
// UTF-8 strings (a key that is not valid UTF-8 is refused).

export type BencodeValue = number | Uint8Array | BencodeValue[] | BencodeDict;
export type BencodeDict = Map<string, BencodeValue>;

export type BencodeErrorCode =
  | 'SYNTAX' // not bencode at all
  | 'TRUNCATED' // the input ends inside a value
  | 'NON_CANONICAL' // leading zeros, "-0", unsorted or repeated keys
  | 'LIMIT' // too deep, too long, too many items
  | 'TRAILING' // bytes after the value
  | 'UNSUPPORTED'; // valid bencode we do not represent (integer beyond 2^53, non-UTF-8 key), or an unencodable value

export class BencodeError extends Error {
  override name = 'BencodeError';
  constructor(
    readonly code: BencodeErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface BencodeLimits {
  /** Nesting of lists and dictionaries; a top-level list is depth 1. */
  maxDepth: number;
  maxInputBytes: number;
  maxStringBytes: number;
  /** Values of any kind in the whole input. */
  maxItems: number;
}

export const DEFAULT_BENCODE_LIMITS: Readonly<BencodeLimits> = {
  maxDepth: 32,
  maxInputBytes: 1024 * 1024,
  maxStringBytes: 1024 * 1024,
  maxItems: 65_536,
};

const I = 0x69; // 'i'
const L = 0x6c; // 'l'
const D = 0x64; // 'd'
const E = 0x65; // 'e'
const COLON = 0x3a;
const MINUS = 0x2d;
const ZERO = 0x30;
const MAX_INT_DIGITS = 16; // Number.MAX_SAFE_INTEGER has 16 digits
const MAX_LENGTH_DIGITS = 10;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const LONE_SURROGATE = /\p{Cs}/u;

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

// ---------------------------------------------------------------------------------------------
// Encoding

class Writer {
  private buf = new Uint8Array(256);
  private pos = 0;

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  ascii(text: string): void {
    this.ensure(text.length);
    for (let i = 0; i < text.length; i++) this.buf[this.pos++] = text.charCodeAt(i);
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

/** Canonical bencode of `value`. Throws BencodeError('UNSUPPORTED' / 'LIMIT') for what cannot be encoded. */
export function bencode(value: BencodeValue, maxDepth = DEFAULT_BENCODE_LIMITS.maxDepth): Uint8Array {
  const w = new Writer();
  encodeValue(w, value, 0, maxDepth);
  return w.result();
}

function encodeString(w: Writer, bytes: Uint8Array): void {
  w.ascii(String(bytes.length));
  w.byte(COLON);
  w.bytes(bytes);
}

function encodeValue(w: Writer, value: BencodeValue, depth: number, maxDepth: number): void {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new BencodeError('UNSUPPORTED', `${value} is not a safe integer`);
    w.byte(I);
    w.ascii(String(value === 0 ? 0 : value)); // -0 encodes as 0
    w.byte(E);
  } else if (value instanceof Uint8Array) {
    encodeString(w, value);
  } else if (Array.isArray(value)) {
    if (depth >= maxDepth) throw new BencodeError('LIMIT', `nesting deeper than ${maxDepth}`);
    w.byte(L);
    for (const item of value) encodeValue(w, item, depth + 1, maxDepth);
    w.byte(E);
  } else if (value instanceof Map) {
    if (depth >= maxDepth) throw new BencodeError('LIMIT', `nesting deeper than ${maxDepth}`);
    const entries: [Uint8Array, BencodeValue][] = [];
    for (const [key, item] of value) {
      if (typeof key !== 'string' || LONE_SURROGATE.test(key)) throw new BencodeError('UNSUPPORTED', 'dictionary key is not a well-formed string');
      entries.push([utf8Encoder.encode(key), item]);
    }
    entries.sort((a, b) => compareBytes(a[0], b[0]));
    w.byte(D);
    for (const [key, item] of entries) {
      encodeString(w, key);
      encodeValue(w, item, depth + 1, maxDepth);
    }
    w.byte(E);
  } else {
    throw new BencodeError('UNSUPPORTED', `cannot bencode a ${typeof value}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** Decodes exactly one canonical value filling `bytes`. Throws only BencodeError. */
export function bdecode(bytes: Uint8Array, limits: Partial<BencodeLimits> = {}): BencodeValue {
  const parser = new Parser(bytes, { ...DEFAULT_BENCODE_LIMITS, ...limits });
  return parser.document();
}

/** bdecode(), with a refusal as a value. */
export function tryBdecode(bytes: Uint8Array, limits: Partial<BencodeLimits> = {}): BencodeValue | BencodeError {
  try {
    return bdecode(bytes, limits);
  } catch (error) {
    if (error instanceof BencodeError) return error;
    throw error;
  }
}

class Parser {
  private pos = 0;
  private items = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly limits: BencodeLimits,
  ) {}

  document(): BencodeValue {
    if (this.bytes.length > this.limits.maxInputBytes) {
      throw new BencodeError('LIMIT', `input of ${this.bytes.length} bytes exceeds ${this.limits.maxInputBytes}`);
    }
    const value = this.value(0);
    if (this.pos !== this.bytes.length) throw new BencodeError('TRAILING', `${this.bytes.length - this.pos} bytes after the value`);
    return value;
  }

  private peek(): number {
    const b = this.bytes[this.pos];
    if (b === undefined) throw new BencodeError('TRUNCATED', 'input ends inside a value');
    return b;
  }

  private value(depth: number): BencodeValue {
    if (++this.items > this.limits.maxItems) throw new BencodeError('LIMIT', `more than ${this.limits.maxItems} items`);
    const b = this.peek();
    if (b === I) return this.integer();
    if (b >= ZERO && b <= ZERO + 9) return this.string();
    if (b !== L && b !== D) throw new BencodeError('SYNTAX', `unexpected byte 0x${b.toString(16)} at ${this.pos}`);
    if (depth >= this.limits.maxDepth) throw new BencodeError('LIMIT', `nesting deeper than ${this.limits.maxDepth}`);
    this.pos++;
    return b === L ? this.list(depth + 1) : this.dict(depth + 1);
  }

  /** Digits up to `end`; canonical (no leading zero unless the number is 0). */
  private digits(end: number, maxDigits: number): number {
    const start = this.pos;
    let n = 0;
    for (;;) {
      const b = this.peek();
      if (b === end) break;
      if (b < ZERO || b > ZERO + 9) throw new BencodeError('SYNTAX', `unexpected byte 0x${b.toString(16)} in a number at ${this.pos}`);
      if (this.pos - start >= maxDigits) throw new BencodeError('LIMIT', `number longer than ${maxDigits} digits at ${start}`);
      n = n * 10 + (b - ZERO);
      this.pos++;
    }
    const count = this.pos - start;
    if (count === 0) throw new BencodeError('SYNTAX', `empty number at ${start}`);
    if (count > 1 && this.bytes[start] === ZERO) throw new BencodeError('NON_CANONICAL', `leading zero at ${start}`);
    this.pos++; // the terminator
    return n;
  }

  private integer(): number {
    this.pos++; // 'i'
    const negative = this.peek() === MINUS;
    if (negative) this.pos++;
    const at = this.pos;
    const n = this.digits(E, MAX_INT_DIGITS);
    if (negative && n === 0) throw new BencodeError('NON_CANONICAL', `"-0" at ${at}`);
    if (!Number.isSafeInteger(n)) throw new BencodeError('UNSUPPORTED', `integer beyond 2^53 at ${at}`);
    return negative ? -n : n;
  }

  private string(): Uint8Array {
    const at = this.pos;
    const length = this.digits(COLON, MAX_LENGTH_DIGITS);
    if (length > this.limits.maxStringBytes) throw new BencodeError('LIMIT', `byte string of ${length} bytes at ${at}`);
    if (length > this.bytes.length - this.pos) throw new BencodeError('TRUNCATED', `byte string of ${length} bytes at ${at} runs past the end`);
    const out = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  private list(depth: number): BencodeValue[] {
    const out: BencodeValue[] = [];
    while (this.peek() !== E) out.push(this.value(depth));
    this.pos++;
    return out;
  }

  private dict(depth: number): BencodeDict {
    const out: BencodeDict = new Map();
    let previous: Uint8Array | null = null;
    while (this.peek() !== E) {
      const at = this.pos;
      const b = this.peek();
      if (b < ZERO || b > ZERO + 9) throw new BencodeError('SYNTAX', `dictionary key at ${at} is not a byte string`);
      if (++this.items > this.limits.maxItems) throw new BencodeError('LIMIT', `more than ${this.limits.maxItems} items`);
      const key = this.string();
      if (previous !== null && compareBytes(previous, key) >= 0) throw new BencodeError('NON_CANONICAL', `dictionary key at ${at} is out of order or repeated`);
      previous = key;
      out.set(keyText(key, at), this.value(depth));
    }
    this.pos++;
    return out;
  }
}

function keyText(key: Uint8Array, at: number): string {
  // Short ASCII keys (all real ones) skip the decoder; the spread is safe at this size.
  let ascii = key.length <= 64;
  for (let i = 0; ascii && i < key.length; i++) if (key[i]! >= 0x80) ascii = false;
  if (ascii) return String.fromCharCode(...key);
  try {
    return utf8Decoder.decode(key);
  } catch {
    throw new BencodeError('UNSUPPORTED', `dictionary key at ${at} is not UTF-8`);
  }
}
