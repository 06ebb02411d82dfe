// Why this file exists: a segment (up to 512 KiB of lines) used to become one string, split at
// its newlines. Making strings that large is V8's slow path — decoding them cost more than the
// rest of replay and their garbage drove the collector — so segments are now kept as bytes,
// their lines found by their newline bytes, and only the parts a reader asks for become
// strings. Everything read this way is exactly what decoding the segment and splitting it gave:
// a segment that is not valid UTF-8, or starts with a byte order mark (which the decoder drops),
// is first replaced by the UTF-8 of its decoded text, so its bytes always decode line by line to
// the old lines and hash to what the old lines hashed to.

import { isUtf8 } from 'node:buffer';

const NEWLINE = 0x0a;
const decoder = new TextDecoder('utf-8', { fatal: false });

/** A segment's bytes as decoding reads them, and where its lines start. */
export interface SegmentBytes {
  bytes: Buffer;
  /** Line i is bytes [starts[i], starts[i + 1] - 1): one start more than lines, one past the end. */
  starts: number[];
}

/**
 * Bytes whose UTF-8 decoding (whole, or in pieces cut at ASCII characters) is exactly what the
 * decoder makes of `value`: the value itself when it is valid UTF-8 without a byte order mark.
 */
export function asDecoded(value: Uint8Array): Buffer {
  const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const byteOrderMark = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
  return !byteOrderMark && isUtf8(bytes) ? bytes : Buffer.from(decoder.decode(value), 'utf8');
}

/** A stored segment's lines, without decoding it (the value is not copied; do not change it). */
export function segmentBytes(value: Uint8Array): SegmentBytes {
  const bytes = asDecoded(value);
  const starts = [0];
  for (let at = bytes.indexOf(NEWLINE); at !== -1; at = bytes.indexOf(NEWLINE, at + 1)) starts.push(at + 1);
  starts.push(bytes.length + 1);
  return { bytes, starts };
}

/** How many lines a stored segment holds (as many as its decoded text split at newlines). */
export function lineCount(value: Uint8Array): number {
  return segmentBytes(value).starts.length - 1;
}
