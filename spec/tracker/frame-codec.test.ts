// The tracker's frame codec: every message round-trips whatever the chunking; oversized
// lengths are refused before buffering; garbage is refused, never crashes.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder, FrameError } from '../../src/tracker/frame-codec.js';
import { splitAt } from '../helpers/streams.js';


const message = fc.record({
  type: fc.string(),
  term: fc.nat(),
  data: fc.uint8Array({ maxLength: 300 }),
  entries: fc.array(fc.record({ index: fc.nat(), term: fc.nat(), data: fc.option(fc.string()) }), { maxLength: 5 }),
});

describe('frame codec', () => {
  it('round-trips any sequence of messages however the bytes are cut', () => {
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 10 }), (messages, cuts) => {
        const stream = Buffer.concat(messages.map((m) => encodeFrame(m)));
        const decoder = new FrameDecoder();
        const out = splitAt(new Uint8Array(stream), cuts).flatMap((part) => decoder.push(part));
        expect(out).toEqual(messages);
        expect(decoder.bufferedBytes()).toBe(0);
      }),
    );
  });

  it('refuses an oversized length prefix before buffering the body', () => {
    const decoder = new FrameDecoder(1024);
    expect(() => decoder.push(Uint8Array.from([0xff, 0xff, 0xff, 0xff]))).toThrow(/limit is 1024/);
    expect(() => encodeFrame({ big: 'x'.repeat(2000) }, 1024)).toThrow(FrameError);
  });

  it('refuses bodies that are not JSON objects', () => {
    for (const body of ['not json', '[1,2]', '42', 'null', '\xff\xfe']) {
      const bytes = Buffer.from(body, 'latin1');
      const frame = Buffer.concat([Buffer.from([0, 0, 0, bytes.length]), bytes]);
      expect(() => new FrameDecoder().push(frame)).toThrow(FrameError);
    }
  });

  it('never throws anything but FrameError on random bytes, and holds at most one frame', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }), (chunks) => {
        const decoder = new FrameDecoder(4096);
        try {
          for (const chunk of chunks) decoder.push(chunk);
          expect(decoder.bufferedBytes()).toBeLessThanOrEqual(4096 + 4);
        } catch (error) {
          expect(error).toBeInstanceOf(FrameError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
