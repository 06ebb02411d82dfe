// The page's pure parts, without a browser: the SSE parser (chunks split anywhere, any line
// ending, comments), reading a WebEvent, the answer envelope, the token fragment, routes, sizes,
// where a piece sits on the piece map, the timeline a page keeps (read whole once, then only
// what is new), the list_members shape the page declares, and the stream's back-off when the
// peer refuses it for too many pages.

import { describe, expect, it } from 'vitest';
import type { TimelineEntry } from '../../src/peer/web/web-api.js';
import { ApiError, unwrapAnswer, type ApiClient } from '../../src/web/api.js';
import { FIRST_RETRY_MS, LAST_RETRY_MS, parseWebEvent, runEventStream, type RetryTimer, type StreamDownCause } from '../../src/web/event-stream.js';
import { formatBytes, formatDuration, percent } from '../../src/web/format.js';
import { CELL_COLOURS, cellMark, pieceCounts, pieceLayout } from '../../src/web/parts/piece-layout.js';
import { parseRoute, routeHash } from '../../src/web/route.js';
import { SseParser } from '../../src/web/sse.js';
import { appendEntries, TimelineFeed } from '../../src/web/timeline-feed.js';
import { tokenOfFragment } from '../../src/web/token.js';

describe('the page, pure parts', () => {
  it('parses SSE split at any byte, with \\n, \\r\\n or \\r endings, comments and multi-line data', () => {
    const text = ': hello\r\n\r\nevent: status\r\ndata: {"a":\r\ndata: 1}\r\n\r\n: keep-alive\n\nevent: news\rdata: x\r\rdata:no-space\n\n';
    for (let cut = 0; cut <= text.length; cut++) {
      const parser = new SseParser();
      const messages = [...parser.feed(text.slice(0, cut)), ...parser.feed(text.slice(cut))];
      expect(messages, `cut at ${cut}`).toEqual([
        { event: 'status', data: '{"a":\n1}' },
        { event: 'news', data: 'x' },
        { event: 'message', data: 'no-space' },
      ]);
    }
  });

  it('takes only the WebEvents it knows, whose SSE name matches their type', () => {
    expect(parseWebEvent('cluster', '{"type":"cluster","cluster":{"nodes":[],"leader":null}}')).toEqual({ type: 'cluster', cluster: { nodes: [], leader: null } });
    expect(parseWebEvent('message', '{"type":"news","line":{"index":1,"line":"x"}}')?.type).toBe('news');
    expect(parseWebEvent('news', '{"type":"cluster"}')).toBeNull();
    expect(parseWebEvent('later', '{"type":"later"}')).toBeNull();
    expect(parseWebEvent('status', 'not json')).toBeNull();
  });

  it('unwraps answers: the result, or an ApiError with the code', () => {
    expect(unwrapAnswer({ ok: true, command: 'x', result: [1] }, 200)).toEqual([1]);
    expect(() => unwrapAnswer({ ok: false, command: 'x', error: { code: 'NOT_A_MEMBER', message: 'no' } }, 409)).toThrow(new ApiError('NOT_A_MEMBER', 'no', 409));
    expect(() => unwrapAnswer(null, 502)).toThrow(ApiError);
  });

  it('reads the token from the fragment, and routes from the hash', () => {
    expect(tokenOfFragment('#token=abc-123')).toBe('abc-123');
    expect(tokenOfFragment('#/groups')).toBeNull();
    expect(tokenOfFragment('#token=')).toBeNull();
    for (const route of [{ view: 'groups' }, { view: 'group', group: 'a b/c' }, { view: 'timeline', group: 'x' }, { view: 'downloads' }, { view: 'cluster' }] as const) expect(parseRoute(routeHash(route))).toEqual(route);
    expect(parseRoute('')).toEqual({ view: 'groups' });
    expect(parseRoute('#/group/')).toEqual({ view: 'groups' });
  });

  it('falls back to the groups view for a fragment with a malformed escape, instead of throwing', () => {
    for (const hash of ['#/group/%E0', '#/timeline/%E0%A4', '#/group/%', '#/group/100%']) expect(parseRoute(hash), hash).toEqual({ view: 'groups' });
    expect(parseRoute('#/group/caf%C3%A9')).toEqual({ view: 'group', group: 'café' });
  });

  it('writes sizes, durations and percentages', () => {
    expect([formatBytes(0), formatBytes(1023), formatBytes(1536), formatBytes(734_003_200)]).toEqual(['0 B', '1023 B', '1.50 KiB', '700.0 MiB']);
    expect([formatDuration(null), formatDuration(45), formatDuration(185), formatDuration(7_620)]).toEqual(['—', '45 s', '3 min 05 s', '2 h 07 min']);
    expect([percent(1, 3), percent(5, 0), percent(9, 4)]).toEqual([33, 0, 100]);
  });

  it('lays pieces out in cells, one a piece while they fit, and marks a cell by its pieces', () => {
    const few = pieceLayout(40, 600);
    expect(few.piecesPerCell).toBe(1);
    expect(few.columns * few.cellPx).toBeLessThanOrEqual(600);
    expect(few.rows).toBe(Math.ceil(40 / few.columns));
    const many = pieceLayout(100_000, 320);
    expect(many.rows).toBeLessThanOrEqual(40);
    expect(many.piecesPerCell * many.columns * many.rows).toBeGreaterThanOrEqual(100_000);
    expect([cellMark('vvff--', 0, 2), cellMark('vvff--', 1, 2), cellMark('vvff--', 2, 2)]).toEqual(['v', 'f', '-']);
    expect(pieceCounts('vvf---')).toEqual({ v: 2, f: 1, '-': 3 });
  });

  it('draws a cell in flight only when one of its pieces is; verified and missing without one is partly verified', () => {
    expect([cellMark('v-', 0, 2), cellMark('-v', 0, 2), cellMark('vv-v', 0, 4)]).toEqual(['p', 'p', 'p']);
    expect([cellMark('vf', 0, 2), cellMark('-f', 0, 2), cellMark('v-f', 0, 3)]).toEqual(['f', 'f', 'f']);
    expect([cellMark('--', 0, 2), cellMark('vv', 0, 2)]).toEqual(['-', 'v']);
    // The last cell may hold fewer pieces; it is verified when those are.
    expect(cellMark('vvvvv', 1, 3)).toBe('v');
    // A complete download is drawn only in the verified colour, however many pieces a cell holds.
    const complete = 'v'.repeat(1001);
    for (const perCell of [1, 2, 7, 64]) {
      const cells = Math.ceil(complete.length / perCell);
      expect(new Set(Array.from({ length: cells }, (_, cell) => CELL_COLOURS[cellMark(complete, cell, perCell)])), `${perCell} a cell`).toEqual(new Set(['#2e7d32']));
    }
    // The colours the end-to-end test counts stay what they were; partly verified is its own.
    expect(CELL_COLOURS).toEqual({ v: '#2e7d32', f: '#e69500', '-': '#dde1e6', p: '#a5d6a7' });
  });
});

describe('the timeline a page keeps', () => {
  const entry = (index: number, user = `u${index}`): TimelineEntry => ({ index, timeMs: index * 1000, event: { type: 'JoinRequested', group: 'friends', user } });

  /** An api whose group_timeline reads wait until the test answers them. */
  function fakeApi() {
    const reads: Array<{ args: readonly string[]; answer(entries: TimelineEntry[]): Promise<void>; fail(error: Error): Promise<void> }> = [];
    const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 0));
    const command = (name: string, args: readonly string[] = []): Promise<unknown> => {
      expect(name).toBe('group_timeline');
      return new Promise((resolve, reject) => {
        reads.push({
          args,
          answer: (entries) => (resolve({ group: 'friends', entries }), settle()),
          fail: (error) => (reject(error), settle()),
        });
      });
    };
    return { api: { command: command as ApiClient['command'] }, reads };
  }

  it('appends only entries after the last index held, in index order', () => {
    expect(appendEntries([entry(3), entry(5)], [entry(5), entry(9), entry(7)]).map((e) => e.index)).toEqual([3, 5, 7, 9]);
    expect(appendEntries([], [entry(6), entry(2), entry(2, 'x')]).map((e) => [e.index, e.event.type === 'JoinRequested' ? e.event.user : ''])).toEqual([
      [2, 'u2'],
      [2, 'x'],
      [6, 'u6'],
    ]);
  });

  it('reads the whole history first, then only what is after its last index; news during a read asks once more after it', async () => {
    const { api, reads } = fakeApi();
    const feed = new TimelineFeed(api, 'friends');
    feed.refresh();
    expect(feed.get()).toEqual({ entries: null, error: null, loading: true });
    expect(reads.map((r) => r.args)).toEqual([['friends']]);
    // Two news lines while the first read is on its way: one more read, after it.
    feed.refresh();
    feed.refresh();
    expect(reads).toHaveLength(1);
    await reads[0]!.answer([entry(3), entry(5)]);
    expect(reads.map((r) => r.args)).toEqual([['friends'], ['friends', '--after', '5']]);
    expect(feed.get().loading).toBe(true);
    await reads[1]!.answer([entry(6)]);
    expect(reads).toHaveLength(2);
    expect(feed.get()).toEqual({ entries: [entry(3), entry(5), entry(6)], error: null, loading: false });

    // A failed read keeps what was shown; the next news asks again after the same index.
    feed.refresh();
    await reads[2]!.fail(new ApiError('UNREACHABLE', 'the peer did not answer', 0));
    expect(feed.get()).toEqual({ entries: [entry(3), entry(5), entry(6)], error: 'UNREACHABLE: the peer did not answer', loading: false });
    feed.refresh();
    expect(reads[3]!.args).toEqual(['friends', '--after', '6']);
    await reads[3]!.answer([entry(8)]);
    expect(feed.get()).toEqual({ entries: [entry(3), entry(5), entry(6), entry(8)], error: null, loading: false });
  });

  it('reads the whole history again while it has none, and drops answers once closed', async () => {
    const { api, reads } = fakeApi();
    const feed = new TimelineFeed(api, 'friends');
    feed.refresh();
    await reads[0]!.fail(new ApiError('NOT_A_MEMBER', 'not yet', 409));
    feed.refresh();
    expect(reads[1]!.args).toEqual(['friends']);
    let told = 0;
    feed.subscribe(() => told++);
    feed.close();
    await reads[1]!.answer([entry(3)]);
    expect(told).toBe(0);
    expect(feed.get().entries).toBeNull();
    feed.refresh();
    expect(reads).toHaveLength(2);
  });
});

describe('the live stream, refused for too many pages', () => {
  const tooMany = () => new Response(JSON.stringify({ ok: false, command: 'events', error: { code: 'TOO_MANY_PAGES', message: 'this peer serves 16 pages already' } }), { status: 503, headers: { 'content-type': 'application/json' } });
  /** A stream that sends one comment and then ends. */
  const briefStream = () => new Response(new ReadableStream({ start: (c) => (c.enqueue(new TextEncoder().encode(': hello\n\n')), c.close()) }), { status: 200 });
  const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 10));

  function run(answers: Array<() => Response>) {
    const waits: number[] = [];
    const downs: Array<{ cause: StreamDownCause; reason: string }> = [];
    let opens = 0;
    let pending: (() => void) | null = null;
    let asked = 0;
    const timer: RetryTimer = (ms, retry) => {
      waits.push(ms);
      pending = retry;
      return () => (pending = null);
    };
    const api = { events: async () => answers[Math.min(asked++, answers.length - 1)]!() };
    const stop = runEventStream(api, { onOpen: () => opens++, onEvent: () => undefined, onDown: (_ms, reason, cause) => downs.push({ cause, reason }), onUnauthorized: () => undefined }, timer);
    /** Lets the pending retry run (as its timer would), then waits for its answer. */
    const fire = async () => {
      const retry = pending;
      pending = null;
      retry?.();
      await settle();
    };
    return { waits, downs, stop, fire, asked: () => asked, opens: () => opens };
  }

  it('backs off, doubling, on each 503 (never retrying at once), says why, and resets only when a stream opens', async () => {
    const stream = run([tooMany, tooMany, tooMany, tooMany, tooMany, tooMany, tooMany, briefStream, tooMany]);
    await settle();
    for (let i = 0; i < 6; i++) await stream.fire();
    expect(stream.asked()).toBe(7);
    expect(stream.waits).toEqual([1, 2, 4, 8, 16, 30, 30].map((s) => Math.min(LAST_RETRY_MS, s * FIRST_RETRY_MS)));
    expect(stream.downs.every((d) => d.cause === 'too-many-pages' && d.reason === 'HTTP 503 TOO_MANY_PAGES')).toBe(true);
    // A stream opens (and ends): the back-off starts again at 1 s, and the cause is an ordinary drop.
    await stream.fire();
    expect(stream.opens()).toBe(1);
    expect(stream.waits.at(-1)).toBe(FIRST_RETRY_MS);
    expect(stream.downs.at(-1)?.cause).toBe('failed');
    // Refused again: 2 s, not 1 s — the refusal did not reset it.
    await stream.fire();
    expect(stream.waits.at(-1)).toBe(2 * FIRST_RETRY_MS);
    expect(stream.downs.at(-1)?.cause).toBe('too-many-pages');
    stream.stop();
    await stream.fire();
    expect(stream.asked()).toBe(9);
  });

  it('takes another refusal (a 503 without the code, a 500) as an ordinary failure', async () => {
    const stream = run([() => new Response('busy', { status: 503 }), () => new Response('{"ok":false,"command":"events","error":{"code":"INTERNAL","message":"x"}}', { status: 500 })]);
    await settle();
    await stream.fire();
    expect(stream.downs).toEqual([
      { cause: 'failed', reason: 'HTTP 503' },
      { cause: 'failed', reason: 'HTTP 500 INTERNAL' },
    ]);
    expect(stream.waits).toEqual([FIRST_RETRY_MS, 2 * FIRST_RETRY_MS]);
    stream.stop();
  });
});

