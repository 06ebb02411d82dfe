// Why this file exists: the domain may not lean on Node's Buffer (it imports nothing of Node but
// node:crypto), yet it moves hashes and piece lists between bytes, hex and base64.

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

export function utf8Length(text: string): number {
  return encoder.encode(text).length;
}

/** Throws TypeError on bytes that are not valid UTF-8. */
export function fromUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

const HEX_DIGITS = '0123456789abcdef';

export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += HEX_DIGITS[byte >> 4]! + HEX_DIGITS[byte & 15]!;
  return out;
}

/** Lower-case hex of an exact byte length, or null. */
export function fromHex(text: string, lengthBytes?: number): Uint8Array | null {
  if (text.length % 2 !== 0 || !/^[0-9a-f]*$/.test(text)) return null;
  if (lengthBytes !== undefined && text.length !== lengthBytes * 2) return null;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function isHex(text: unknown, lengthBytes: number): text is string {
  return typeof text === 'string' && text.length === lengthBytes * 2 && /^[0-9a-f]*$/.test(text);
}

const BASE64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const BASE64_CODES = Uint8Array.from(BASE64_ALPHABET, (c) => c.charCodeAt(0));
/** Char code → its 6 bits, or 255 for a code outside the alphabet. */
const BASE64_VALUES = new Uint8Array(128).fill(255);
for (let i = 0; i < 64; i++) BASE64_VALUES[BASE64_CODES[i]!] = i;
const PAD = 61; // '='
const ascii = new TextDecoder('latin1');

/**
 * Padded base64. Written byte by byte into ASCII and decoded once: piece lists are up to 160 KiB
 * and every node encodes each one it applies (btoa over a spread string cost a quarter of a
 * node's time in issue 20's scale build).
 */
export function toBase64(bytes: Uint8Array): string {
  const n = bytes.length;
  const out = new Uint8Array(Math.ceil(n / 3) * 4);
  let o = 0;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out[o++] = BASE64_CODES[v >> 18]!;
    out[o++] = BASE64_CODES[(v >> 12) & 63]!;
    out[o++] = BASE64_CODES[(v >> 6) & 63]!;
    out[o++] = BASE64_CODES[v & 63]!;
  }
  if (i < n) {
    const two = i + 1 < n;
    const v = (bytes[i]! << 16) | (two ? bytes[i + 1]! << 8 : 0);
    out[o++] = BASE64_CODES[v >> 18]!;
    out[o++] = BASE64_CODES[(v >> 12) & 63]!;
    out[o++] = two ? BASE64_CODES[(v >> 6) & 63]! : PAD;
    out[o++] = PAD;
  }
  return ascii.decode(out);
}

/**
 * Canonical base64 (padded, no whitespace, unused bits zero: re-encoding gives the same text),
 * or null.
 */
export function fromBase64(text: string): Uint8Array | null {
  const length = text.length;
  if (length % 4 !== 0) return null;
  const pads = length === 0 ? 0 : text.charCodeAt(length - 1) !== PAD ? 0 : text.charCodeAt(length - 2) === PAD ? 2 : 1;
  const out = new Uint8Array((length / 4) * 3 - pads);
  const full = length - (pads === 0 ? 0 : 4);
  let o = 0;
  for (let i = 0; i < full; i += 4) {
    const a = sixBits(text, i);
    const b = sixBits(text, i + 1);
    const c = sixBits(text, i + 2);
    const d = sixBits(text, i + 3);
    if ((a | b | c | d) > 63) return null;
    const v = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = v >> 16;
    out[o++] = (v >> 8) & 255;
    out[o++] = v & 255;
  }
  if (pads > 0) {
    const a = sixBits(text, full);
    const b = sixBits(text, full + 1);
    const c = pads === 1 ? sixBits(text, full + 2) : 0;
    if ((a | b | c) > 63) return null;
    // The bits past the last byte must be zero, or two texts would name the same bytes.
    if (pads === 2 ? (b & 15) !== 0 : (c & 3) !== 0) return null;
    out[o++] = (a << 2) | (b >> 4);
    if (pads === 1) out[o++] = ((b & 15) << 4) | (c >> 2);
  }
  return out;
}

function sixBits(text: string, at: number): number {
  const code = text.charCodeAt(at);
  return code < 128 ? BASE64_VALUES[code]! : 255;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
