// Segments are read as bytes now (segment-bytes.ts, stored-line.ts): every line must read exactly
// as it read when the segment was decoded whole and split — the same lines, entries (property
// order included), hashes, bodies, commands, chain links, and the same error for a bad line —
// for intact segments with any text in them and for damaged ones: flipped bytes, invalid UTF-8,
// a byte order mark, a lost tab or space, non-ASCII where the hash goes.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chainHash, encodeLine, type StoredEntry } from '../../src/log/store/chain.js';
import { GENESIS_HASH } from '../../src/log/store/layout.js';
import { lineCount, segmentBytes } from '../../src/log/store/segment-bytes.js';
import { parseLine, parseLineAt, type ParsedLine } from '../../src/log/store/stored-line.js';

const decoder = new TextDecoder('utf-8', { fatal: false });

/** Everything a reader can ask of a parsed line, or the error it threw. */
function readOut(parse: () => ParsedLine, previous: string): unknown {
  try {
    const line = parse();
    return { entry: JSON.stringify(line.entry), keys: Object.keys(line.entry), hash: line.hash, body: line.body, command: line.commandJson(), link: line.chainHash(previous) };
  } catch (error) {
    return { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
}

/** The old reading (decode the segment, split it, parse each line as text) against the byte reading. */
function expectSameReading(value: Uint8Array): void {
  const lines = decoder.decode(value).split('\n');
  const { bytes, starts } = segmentBytes(value);
  expect(starts.length - 1).toBe(lines.length);
  expect(lineCount(value)).toBe(lines.length);
  let previous = GENESIS_HASH;
  for (let i = 0; i < lines.length; i++) {
    const start = starts[i]!;
    const end = starts[i + 1]! - 1;
    expect(bytes.toString('utf8', start, end)).toBe(lines[i]);
    const old = readOut(() => parseLine(lines[i]!, 1 + i), previous);
    expect(readOut(() => parseLineAt(bytes, start, end, 1 + i), previous)).toEqual(old);
    // The old chain link of a line: chainHash over its decoded body.
    if (!('error' in (old as object))) expect((old as { link: string }).link).toBe(chainHash(previous, lines[i]!.slice(65)));
    previous = (old as { hash?: string }).hash ?? previous;
  }
}

const text = fc.string({ unit: 'binary', maxLength: 10 });
const jsonValue = fc.oneof(text, fc.nat(), fc.boolean(), fc.constant(null));
const event = fc.dictionary(fc.oneof(fc.constantFrom('type', 'group', 'user', 'message'), text), jsonValue, { maxKeys: 5 });
const entryFields = fc.record({
  term: fc.nat({ max: 9 }),
  clientId: fc.option(text),
  requestId: fc.option(fc.nat()),
  events: fc.array(event, { maxLength: 3 }),
  command: fc.oneof(fc.constant(null), fc.dictionary(text, jsonValue, { maxKeys: 4 })),
});

/** The fields of a stored entry other than its numbering; events are any JSON objects (replay reads them as given). */
interface EntryFields {
  term: number;
  clientId: string | null;
  requestId: number | null;
  events: Array<Record<string, unknown>>;
  command: unknown;
}

/** A segment of chained lines as the store writes them, from index 1. */
function segmentOf(fields: EntryFields[]): Buffer {
  let previous = GENESIS_HASH;
  const lines = fields.map((f, i) => {
    const entry = { ...f, v: 1, index: 1 + i, timeMs: 1_700_000_000_000 + i } as unknown as StoredEntry;
    const { line, hash } = encodeLine(previous, entry);
    previous = hash;
    return line;
  });
  return Buffer.from(lines.join('\n'), 'utf8');
}

const segment = fc.array(entryFields, { minLength: 1, maxLength: 6 }).map(segmentOf);

const damage = fc.oneof(
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(([at, xor]) => (b: Buffer) => {
    const out = Buffer.from(b);
    const where = at % out.length;
    out[where] = out[where]! ^ xor;
    return out;
  }),
  fc.tuple(fc.nat(), fc.constantFrom([0xff], [0x80], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xef, 0xbb, 0xbf], [0x0a], [0x09], [0x20], [0xc3, 0xa9])).map(([at, insert]) => (b: Buffer) => {
    const where = at % (b.length + 1);
    return Buffer.concat([b.subarray(0, where), Buffer.from(insert), b.subarray(where)]);
  }),
  fc.constant((b: Buffer) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b])),
  fc.constant((b: Buffer) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf]), b])),
  fc.nat().map((at) => (b: Buffer) => {
    const out = Buffer.from(b);
    const tab = out.indexOf(0x09, at % out.length);
    if (tab !== -1) out[tab] = 0x20;
    return out;
  }),
  fc.nat({ max: 64 }).map((at) => (b: Buffer) => Buffer.concat([b.subarray(0, at), Buffer.from('é'), b.subarray(at + 2)])),
);

describe('a segment read as bytes', () => {
  it('reads every line of an intact segment as the decoded segment did, whatever text it holds', () => {
    fc.assert(fc.property(segment, (value) => expectSameReading(value)), { numRuns: 500 });
  });

  it('reads a damaged segment as the decoded segment did, line by line, errors included', () => {
    fc.assert(
      fc.property(segment, fc.array(damage, { minLength: 1, maxLength: 3 }), (value, damages) => {
        expectSameReading(damages.reduce((bytes, hurt) => hurt(bytes), value));
      }),
      { numRuns: 3_000 },
    );
  });

  it('reads an empty segment and empty lines as the decoded segment did', () => {
    for (const value of ['', '\n', '\n\n', 'x', 'x\n', '\ufeff', '\ufeff\ufeffx']) expectSameReading(Buffer.from(value, 'utf8'));
  });
});
