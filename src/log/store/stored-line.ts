// Why this file exists: one stored line, `<64 hex hash> <replay JSON>\t<command JSON>`, parsed
// for replay (the replay JSON only) while its hash, its hashed body and its command stay where
// they are — in the segment's bytes, or in the decoded line — until a reader asks for them.
// A line read from bytes gives exactly what the decoded line gives: where the bytes are not the
// plain case (an ASCII hash and its space, then a tab), the line is decoded and parsed as text.

import { chainHash, chainHashOfBytes, decodeReplay, decodeReplayBytes, HASH_HEX_LENGTH, LineFormatError, type StoredOutcome } from './chain.js';

const SPACE = 0x20;
const TAB = 0x09;
const FIRST_NON_ASCII = 0x80;
/** The hashed body starts after the hash and its space. */
const BODY_OFFSET = HASH_HEX_LENGTH + 1;

export class StoreCorruptError extends Error {
  override name = 'StoreCorruptError';
  constructor(
    readonly index: number,
    reason: string,
  ) {
    super(`entry #${index}: ${reason}`);
  }
}

/** A parsed line: its entry, and its hash, body and command read from where the line is kept. */
export class ParsedLine {
  constructor(
    readonly entry: StoredOutcome,
    /** The segment's bytes, or the decoded line. */
    private readonly source: Buffer | string,
    /** Where the line starts in source (it ends at `end`), and where its tab is. */
    private readonly start: number,
    private readonly tab: number,
    private readonly end: number,
  ) {}

  /** The stored chain hash of this entry. */
  get hash(): string {
    return typeof this.source === 'string' ? this.source.slice(this.start, this.start + HASH_HEX_LENGTH) : this.source.toString('latin1', this.start, this.start + HASH_HEX_LENGTH);
  }

  /** The hashed text: everything after the space. */
  get body(): string {
    return typeof this.source === 'string' ? this.source.slice(this.start + BODY_OFFSET, this.end) : this.source.toString('utf8', this.start + BODY_OFFSET, this.end);
  }

  /** chainHash(previousHex, body), from the bytes where the line has them. */
  chainHash(previousHex: string): string {
    return typeof this.source === 'string' ? chainHash(previousHex, this.body) : chainHashOfBytes(previousHex, this.source, this.start + BODY_OFFSET, this.end);
  }

  /** The command's JSON text (replay never needs it). */
  commandJson(): string {
    return typeof this.source === 'string' ? this.source.slice(this.tab + 1, this.end) : this.source.toString('utf8', this.tab + 1, this.end);
  }
}

/** Parses one decoded line without checking its hash (replay); throws StoreCorruptError. */
export function parseLine(line: string, expectedIndex: number): ParsedLine {
  if (line.length <= BODY_OFFSET || line.charCodeAt(HASH_HEX_LENGTH) !== SPACE) throw new StoreCorruptError(expectedIndex, 'line is not `<hash> <entry>`');
  const tab = line.indexOf('\t', BODY_OFFSET);
  if (tab === -1) throw new StoreCorruptError(expectedIndex, 'line has no command part');
  try {
    return new ParsedLine(decodeReplay(line.slice(BODY_OFFSET, tab), expectedIndex), line, 0, tab, line.length);
  } catch (error) {
    if (error instanceof LineFormatError) throw new StoreCorruptError(expectedIndex, error.message);
    throw error;
  }
}

/**
 * Parses the line at bytes[start, end) of a segment read by segmentBytes (so valid UTF-8):
 * exactly parseLine of the decoded line.
 */
export function parseLineAt(bytes: Buffer, start: number, end: number, expectedIndex: number): ParsedLine {
  const body = start + BODY_OFFSET;
  // The plain case: the first 65 bytes are ASCII (so characters and bytes count alike), the 65th a space.
  let plain = end > body && bytes[start + HASH_HEX_LENGTH] === SPACE;
  for (let i = start; plain && i < body; i++) plain = bytes[i]! < FIRST_NON_ASCII;
  const tab = plain ? bytes.indexOf(TAB, body) : -1;
  if (tab === -1 || tab >= end) return parseLine(bytes.toString('utf8', start, end), expectedIndex);
  try {
    return new ParsedLine(decodeReplayBytes(bytes, body, tab, expectedIndex), bytes, start, tab, end);
  } catch (error) {
    if (error instanceof LineFormatError) throw new StoreCorruptError(expectedIndex, error.message);
    throw error;
  }
}
