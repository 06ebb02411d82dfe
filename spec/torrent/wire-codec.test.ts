// The peer wire codec (src/peer/wire-codec.ts): every message round-trips through the
// incremental decoder however the stream is cut; bad handshakes, garbage, truncated and
// oversized frames are refused with their code — oversized ones before the body arrives; and
// 100,000 fuzzed streams raise nothing but WireError while the decoder holds at most one frame.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encodeRequests,
  BLOCK_BYTES,
  decodeExtendedHandshake,
  decodeHandshake,
  encodeExtendedHandshake,
  encodeHandshake,
  encodeMessage,
  encodePieceHeader,
  MAX_EXTENDED_PAYLOAD_BYTES,
  WireDecoder,
  WireError,
} from '../../src/torrent/wire-codec.js';
import type { ExtendedHandshake, WireErrorCode, WireEvent, WireMessage } from '../../src/torrent/wire-codec.js';
import { splitAt } from '../helpers/streams.js';
import { concatBytes } from '../../src/torrent/bytes.js';

const MAX_PIECES = 1000; // a 125-byte bitfield at most
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const id20 = fc.uint8Array({ minLength: 20, maxLength: 20 });
const handshakeInit = fc.record({ infoHash: id20, peerId: id20, extensions: fc.boolean() });

const message: fc.Arbitrary<WireMessage> = fc.oneof(
  fc.constantFrom<WireMessage>({ type: 'keep-alive' }, { type: 'choke' }, { type: 'unchoke' }, { type: 'interested' }, { type: 'not-interested' }),
  fc.record({ type: fc.constant('have' as const), index: u32 }),
  fc.record({ type: fc.constant('bitfield' as const), bitfield: fc.uint8Array({ maxLength: Math.ceil(MAX_PIECES / 8) }) }),
  fc.record({ type: fc.constantFrom('request' as const, 'cancel' as const), index: u32, begin: u32, length: fc.integer({ min: 1, max: BLOCK_BYTES }) }),
  fc.record({ type: fc.constant('piece' as const), index: u32, begin: u32, block: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  fc.record({ type: fc.constant('extended' as const), extId: fc.integer({ min: 0, max: 255 }), payload: fc.uint8Array({ maxLength: 64 }) }),
);



function u32be(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

const HANDSHAKE = encodeHandshake({ infoHash: new Uint8Array(20).fill(1), peerId: new Uint8Array(20).fill(2), extensions: true });

/** Feeds the chunks after a fresh handshake; returns the messages, or the refusal's code. */
function decodeAfterHandshake(chunks: Uint8Array[], decoder = new WireDecoder({ maxPieces: MAX_PIECES })): WireEvent[] | WireErrorCode {
  const events = decoder.push(HANDSHAKE);
  expect(events).toHaveLength(1);
  const out: WireEvent[] = [];
  for (const chunk of chunks) {
    const result = decoder.tryPush(chunk);
    if (result instanceof WireError) return result.code;
    out.push(...result);
  }
  return out;
}

function frame(id: number, body: number[], length = 1 + body.length): Uint8Array {
  return concatBytes([u32be(length), Uint8Array.from([id, ...body])]);
}

describe('handshake', () => {
  it('is 68 bytes with the BEP 10 bit, and round-trips through decodeHandshake and the decoder', () => {
    fc.assert(
      fc.property(handshakeInit, fc.array(fc.nat(), { maxLength: 6 }), (init, cuts) => {
        const bytes = encodeHandshake(init);
        expect(bytes.length).toBe(68);
        expect(bytes[0]).toBe(19);
        expect(new TextDecoder().decode(bytes.subarray(1, 20))).toBe('BitTorrent protocol');
        expect(bytes[25]).toBe(init.extensions ? 0x10 : 0);
        const reserved = new Uint8Array(8);
        if (init.extensions) reserved[5] = 0x10;
        expect(decodeHandshake(bytes)).toEqual({ ...init, reserved });
        const decoder = new WireDecoder();
        const events = splitAt(bytes, cuts).flatMap((part) => decoder.push(part));
        expect(events).toEqual([{ type: 'handshake', ...init, reserved }]);
        expect(decoder.bufferedBytes()).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('reports reserved bits it does not know', () => {
    const bytes = encodeHandshake({ infoHash: new Uint8Array(20), peerId: new Uint8Array(20), extensions: false });
    bytes[27] = 0x05; // DHT and fast extension bits
    const decoded = decodeHandshake(bytes);
    expect(decoded.extensions).toBe(false);
    expect([...decoded.reserved]).toEqual([0, 0, 0, 0, 0, 0, 0, 5]);
  });

  it('refuses a bad pstrlen at the first byte, a bad pstr, and a wrong size', () => {
    expect(() => new WireDecoder().push(Uint8Array.from([18]))).toThrow(expect.objectContaining({ code: 'BAD_HANDSHAKE' }));
    const http = new TextEncoder().encode('GET / HTTP/1.1\r\n');
    expect(() => new WireDecoder().push(http)).toThrow(expect.objectContaining({ code: 'BAD_HANDSHAKE' }));
    const badPstr = HANDSHAKE.slice();
    badPstr[5] = badPstr[5]! ^ 0x20; // "BitTorrent" → "BitTOrrent"
    const decoder = new WireDecoder();
    expect(decoder.push(badPstr.subarray(0, 40))).toEqual([]);
    expect(() => decoder.push(badPstr.subarray(40))).toThrow(expect.objectContaining({ code: 'BAD_HANDSHAKE' }));
    expect(() => decoder.push(new Uint8Array(0))).toThrow(WireError); // stays refused
    expect(() => decodeHandshake(HANDSHAKE.subarray(0, 67))).toThrow(expect.objectContaining({ code: 'BAD_HANDSHAKE' }));
    expect(() => encodeHandshake({ infoHash: new Uint8Array(19), peerId: new Uint8Array(20), extensions: true })).toThrow(WireError);
  });

  it('refuses a stream that ends inside the handshake', () => {
    const decoder = new WireDecoder();
    decoder.push(HANDSHAKE.subarray(0, 30));
    expect(() => decoder.end()).toThrow(expect.objectContaining({ code: 'BAD_HANDSHAKE' }));
  });
});

describe('messages', () => {
  it('round-trip in any sequence however the byte stream is cut', () => {
    fc.assert(
      fc.property(fc.array(message, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), (messages, cuts) => {
        const stream = concatBytes(messages.map(encodeMessage));
        const decoder = new WireDecoder({ maxPieces: MAX_PIECES });
        expect(decodeAfterHandshake(splitAt(stream, cuts), decoder)).toEqual(messages);
        expect(decoder.bufferedBytes()).toBe(0);
        decoder.end();
      }),
      { numRuns: 3000 },
    );
  });

  it('decode alike from one reused read buffer (copyRemainder), the buffer scribbled over after each push', () => {
    fc.assert(
      fc.property(fc.array(message, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), (messages, cuts) => {
        const stream = concatBytes([HANDSHAKE, ...messages.map(encodeMessage)]);
        const decoder = new WireDecoder({ maxPieces: MAX_PIECES, copyRemainder: true });
        const readBuffer = new Uint8Array(stream.length + 1);
        const seen: unknown[] = [];
        for (const part of splitAt(stream, cuts)) {
          readBuffer.set(part);
          // Events are used before the next push, as the contract says: copy what they hold.
          for (const e of decoder.push(readBuffer.subarray(0, part.length))) seen.push(structuredClone(e));
          readBuffer.fill(0xee);
        }
        expect(seen.slice(1)).toEqual(messages);
        expect(decoder.bufferedBytes()).toBe(0);
      }),
      { numRuns: 3000 },
    );
  });

  it('encode a batch of requests as the same bytes as one message each', () => {
    const blocks = [{ pieceIndex: 0, beginBytes: 0, lengthBytes: 16384 }, { pieceIndex: 7, beginBytes: 16384, lengthBytes: 100 }];
    expect(encodeRequests(blocks)).toEqual(concatBytes(blocks.map((b) => encodeMessage({ type: 'request', index: b.pieceIndex, begin: b.beginBytes, length: b.lengthBytes }))));
    expect(() => encodeRequests([{ pieceIndex: 0, beginBytes: 0, lengthBytes: 16385 }])).toThrow(WireError);
  });

  it('have the BEP 3 byte layout', () => {
    expect([...encodeMessage({ type: 'keep-alive' })]).toEqual([0, 0, 0, 0]);
    expect([...encodeMessage({ type: 'not-interested' })]).toEqual([0, 0, 0, 1, 3]);
    expect([...encodeMessage({ type: 'have', index: 0x01020304 })]).toEqual([0, 0, 0, 5, 4, 1, 2, 3, 4]);
    expect([...encodeMessage({ type: 'request', index: 1, begin: 0x4000, length: 0x4000 })]).toEqual([0, 0, 0, 13, 6, 0, 0, 0, 1, 0, 0, 0x40, 0, 0, 0, 0x40, 0]);
    expect([...encodeMessage({ type: 'piece', index: 2, begin: 3, block: Uint8Array.from([9, 8]) })]).toEqual([0, 0, 0, 11, 7, 0, 0, 0, 2, 0, 0, 0, 3, 9, 8]);
    expect([...encodeMessage({ type: 'extended', extId: 0, payload: Uint8Array.from([0x64, 0x65]) })]).toEqual([0, 0, 0, 4, 20, 0, 0x64, 0x65]);
    expect([...encodePieceHeader(2, 3, 2)]).toEqual([0, 0, 0, 11, 7, 0, 0, 0, 2, 0, 0, 0, 3]);
  });

  it('deliver a piece block as a view of the pushed bytes when the frame came in one chunk', () => {
    const block = new Uint8Array(BLOCK_BYTES).fill(7);
    const chunk = concatBytes([encodeMessage({ type: 'have', index: 1 }), encodeMessage({ type: 'piece', index: 5, begin: 0, block })]);
    const events = decodeAfterHandshake([chunk]);
    expect(Array.isArray(events)).toBe(true);
    const piece = (events as WireEvent[])[1];
    expect(piece?.type).toBe('piece');
    if (piece?.type !== 'piece') return;
    expect(piece.block.buffer).toBe(chunk.buffer); // no copy
    expect(piece.block.byteOffset).toBe(9 + 13);
    expect(piece.block).toEqual(block);
  });

  it('refuse to encode out-of-range fields', () => {
    const bad: WireMessage[] = [
      { type: 'have', index: -1 },
      { type: 'have', index: 2 ** 32 },
      { type: 'request', index: 0, begin: 0, length: 0 },
      { type: 'cancel', index: 0, begin: 0, length: BLOCK_BYTES + 1 },
      { type: 'piece', index: 0, begin: 0, block: new Uint8Array(BLOCK_BYTES + 1) },
      { type: 'piece', index: 0, begin: 0, block: new Uint8Array(0) },
      { type: 'extended', extId: 256, payload: new Uint8Array(0) },
      { type: 'extended', extId: 1, payload: new Uint8Array(MAX_EXTENDED_PAYLOAD_BYTES + 1) },
    ];
    for (const m of bad) expect(() => encodeMessage(m), JSON.stringify(m.type)).toThrow(WireError);
  });

  it('refuse garbage, wrong sizes and unknown ids with their codes', () => {
    const cases: [string, Uint8Array, WireErrorCode][] = [
      ['choke of 2 bytes', frame(0, [0]), 'BAD_MESSAGE'],
      ['have of 4 bytes', frame(4, [0, 0, 1]), 'BAD_MESSAGE'],
      ['request of 12 bytes', frame(6, new Array<number>(11).fill(0)), 'BAD_MESSAGE'],
      ['request length 0', frame(6, [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]), 'BAD_MESSAGE'],
      ['request length 16385', frame(6, [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x40, 1]), 'BAD_MESSAGE'],
      ['cancel length 0', frame(8, [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]), 'BAD_MESSAGE'],
      ['piece without a block', frame(7, [0, 0, 0, 0, 0, 0, 0, 0]), 'BAD_MESSAGE'],
      ['extended without an id', frame(20, []), 'BAD_MESSAGE'],
      ['port (DHT, not offered)', frame(9, [0x1a, 0xe1]), 'UNKNOWN_MESSAGE'],
      ['id 255', frame(255, []), 'UNKNOWN_MESSAGE'],
      ['bitfield past maxPieces', frame(5, new Array<number>(Math.ceil(MAX_PIECES / 8) + 1).fill(0xff)), 'FRAME_TOO_LARGE'],
      ['piece block of 16385 bytes', frame(7, [], 9 + BLOCK_BYTES + 1), 'FRAME_TOO_LARGE'],
      ['extended payload of 64 KiB + 1', frame(20, [1], 2 + MAX_EXTENDED_PAYLOAD_BYTES + 1), 'FRAME_TOO_LARGE'],
      ['length 0xffffffff', u32be(0xffff_ffff), 'FRAME_TOO_LARGE'],
    ];
    for (const [name, bytes, code] of cases) expect([name, decodeAfterHandshake([bytes])]).toEqual([name, code]);
  });

  it('refuse an oversized length prefix before the body arrives, holding nothing', () => {
    // Only the 4-byte prefix (and for per-kind limits, the id byte) has arrived.
    for (const head of [u32be(0x7fff_ffff), concatBytes([u32be(9 + BLOCK_BYTES + 1), Uint8Array.of(7)]), concatBytes([u32be(200), Uint8Array.of(5)])]) {
      const decoder = new WireDecoder({ maxPieces: MAX_PIECES });
      decoder.push(HANDSHAKE);
      const result = decoder.tryPush(head);
      expect(result).toBeInstanceOf(WireError);
      expect((result as WireError).code).toBe('FRAME_TOO_LARGE');
      expect(decoder.bufferedBytes()).toBe(0);
    }
    // Per-kind limits hold even when a large bitfield raises the overall frame limit.
    const roomy = new WireDecoder({ maxPieces: 8 * 200_000 });
    expect(roomy.maxFrameBytes).toBe(1 + 200_000);
    roomy.push(HANDSHAKE);
    expect(roomy.tryPush(concatBytes([u32be(2 + MAX_EXTENDED_PAYLOAD_BYTES + 1), Uint8Array.of(20)]))).toEqual(expect.objectContaining({ code: 'FRAME_TOO_LARGE' }));
    expect(roomy.bufferedBytes()).toBe(0);
    // A frame at the limit is buffered only as it arrives.
    const decoder = new WireDecoder({ maxPieces: MAX_PIECES });
    decoder.push(HANDSHAKE);
    expect(decoder.push(concatBytes([u32be(9 + BLOCK_BYTES), Uint8Array.of(7)]))).toEqual([]);
    expect(decoder.bufferedBytes()).toBe(1); // the id byte; the 4-byte prefix is consumed
  });

  it('refuse a stream that ends inside a frame', () => {
    const decoder = new WireDecoder();
    decoder.push(HANDSHAKE);
    decoder.push(encodeMessage({ type: 'request', index: 1, begin: 2, length: 3 }).subarray(0, 7));
    expect(() => decoder.end()).toThrow(expect.objectContaining({ code: 'BAD_MESSAGE' }));
    const headerOnly = new WireDecoder();
    headerOnly.push(HANDSHAKE);
    headerOnly.push(u32be(5));
    expect(() => headerOnly.end()).toThrow(expect.objectContaining({ code: 'BAD_MESSAGE' }));
  });
});

describe('extension handshake', () => {
  const extended: fc.Arbitrary<ExtendedHandshake> = fc.record(
    {
      m: fc.dictionary(fc.string({ unit: 'binary', maxLength: 12 }), fc.integer({ min: 0, max: 255 }), { maxKeys: 6 }),
      ticket: fc.string({ unit: 'binary-ascii', maxLength: 1024 }),
      v: fc.string({ maxLength: 40 }),
      refused: fc.constantFrom('TICKET_EXPIRED', 'UNKNOWN_FILE', 'NO_TICKET'),
      p: fc.integer({ min: 1, max: 65535 }),
    },
    { requiredKeys: ['m'] },
  );

  it('round-trips m, the ticket, the client version, a refusal and the listen port', () => {
    fc.assert(
      fc.property(extended, (h) => {
        const payload = encodeExtendedHandshake(h);
        expect(decodeExtendedHandshake(payload)).toEqual(h);
        const events = decodeAfterHandshake([encodeMessage({ type: 'extended', extId: 0, payload })]);
        expect(events).toEqual([{ type: 'extended', extId: 0, payload }]);
      }),
      { numRuns: 500 },
    );
  });

  it('puts the ticket under "clique_ticket" and ignores keys it does not know', () => {
    const payload = encodeExtendedHandshake({ m: { ut_metadata: 1 }, ticket: 'T1', v: 'clique 0.1' });
    expect(new TextDecoder().decode(payload)).toBe('d13:clique_ticket2:T11:md11:ut_metadatai1ee1:v10:clique 0.1e');
    expect(decodeExtendedHandshake(encodeExtendedHandshake({ m: {}, ticket: '\ufeffT' })).ticket).toBe('\ufeffT');
    const withExtras = new TextEncoder().encode('d1:md6:ut_pexi2ee1:pi6881e4:reqqi250e6:yourip4:\x7f\x00\x00\x01e');
    expect(decodeExtendedHandshake(withExtras)).toEqual({ m: { ut_pex: 2 }, p: 6881 });
  });

  it('refuses wrong types, out-of-range ids, oversized tickets and bad bencode', () => {
    const refused = [
      'i1e', // not a dictionary
      'de', // no m
      'd1:mi1ee', // m not a dictionary
      'd1:md1:xi256eee', // id out of range
      'd1:md1:xi-1eee',
      'd1:md1:x1:aee', // id not an integer
      'd13:clique_ticketi5e1:mdee', // ticket not a byte string
      'd1:mde1:vle', // v not a byte string
      'd1:mdeee', // trailing byte
      'd1:mde', // truncated
      `d13:clique_ticket1025:${'a'.repeat(1025)}1:mdee`, // ticket over 1024 bytes
      'd1:mde1:pi0ee', // listen port 0
      'd1:mde1:pi65536ee', // listen port above 65535
      'd1:mde1:p4:6881e', // listen port not an integer
    ];
    for (const input of refused) {
      expect(() => decodeExtendedHandshake(new TextEncoder().encode(input)), input).toThrow(expect.objectContaining({ code: 'BAD_MESSAGE' }));
    }
    expect(decodeExtendedHandshake(new TextEncoder().encode(`d13:clique_ticket1024:${'a'.repeat(1024)}1:mdee`)).ticket).toHaveLength(1024);
    expect(() => encodeExtendedHandshake({ m: {}, ticket: 'a'.repeat(1025) })).toThrow(WireError);
    expect(() => encodeExtendedHandshake({ m: { x: 300 } })).toThrow(WireError);
    expect(() => encodeExtendedHandshake({ m: {}, p: 0 })).toThrow(WireError);
  });
});

describe('fuzzing (100,000 streams)', () => {
  const decoderOptions = { maxPieces: MAX_PIECES };
  const maxHeld = new WireDecoder(decoderOptions).maxFrameBytes + 4;

  /** Pushes every chunk; only WireError may escape, and the decoder never holds more than a frame. */
  function feed(decoder: WireDecoder, chunks: Uint8Array[]): boolean {
    for (const chunk of chunks) {
      try {
        decoder.push(chunk);
      } catch (error) {
        if (!(error instanceof WireError)) throw error;
        return false;
      }
      if (decoder.bufferedBytes() > maxHeld) throw new Error(`holding ${decoder.bufferedBytes()} bytes`);
    }
    return true;
  }

  // Random bytes mostly announce huge frames; mixing in plausible prefixes reaches the parsers.
  const plausibleFrame = fc
    .tuple(fc.integer({ min: 0, max: 40 }), fc.constantFrom(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 20, 255), fc.uint8Array({ maxLength: 40 }))
    .map(([length, id, rest]) => concatBytes([u32be(length), Uint8Array.of(id), rest]));
  const chunk = fc.oneof(fc.uint8Array({ maxLength: 48 }), plausibleFrame);

  it('random chunks after a valid handshake: 50,000 runs', () => {
    fc.assert(
      fc.property(fc.array(chunk, { maxLength: 8 }), (chunks) => {
        const decoder = new WireDecoder(decoderOptions);
        decoder.push(HANDSHAKE);
        feed(decoder, chunks);
      }),
      { numRuns: 50_000 },
    );
  });

  it('random mutations of valid streams, cut anywhere: 50,000 runs', () => {
    const edit = fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete', 'truncate'));
    fc.assert(
      fc.property(
        handshakeInit,
        fc.array(message, { minLength: 1, maxLength: 5 }),
        fc.array(edit, { minLength: 1, maxLength: 3 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (init, messages, edits, cuts) => {
          let stream = concatBytes([encodeHandshake(init), ...messages.map(encodeMessage)]);
          for (const [at, byte, kind] of edits) {
            const i = at % (stream.length + 1);
            if (kind === 'set' && i < stream.length) stream[i] = byte;
            else if (kind === 'insert') stream = concatBytes([stream.subarray(0, i), Uint8Array.of(byte), stream.subarray(i)]);
            else if (kind === 'delete') stream = concatBytes([stream.subarray(0, i), stream.subarray(i + 1)]);
            else if (kind === 'truncate') stream = stream.slice(0, i);
          }
          feed(new WireDecoder(decoderOptions), splitAt(stream, cuts));
        },
      ),
      { numRuns: 50_000 },
    );
  });
});
