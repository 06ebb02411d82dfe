// Why this file exists: one download's brain (DESIGN.md §5 "scheduler"). It decides which
// blocks to ask of which peer (through the piece picker: random first pieces, rarest first,
// started pieces first, strict endgame with cancels), keeps each peer's request pipeline as
// deep as its measured rate needs, takes requests back from peers that choke us or stall,
// sends complete pieces to verification, and answers a failed piece with strikes and, after a
// few, a ban. Block bytes never come here: the data plane asks the picker whether a block is
// wanted (a synchronous check, because the bytes cannot wait), stores it, and after each read
// from the socket sends one BLOCKS event: the bytes accepted, the pieces they completed, and the
// duplicate requests to cancel.

import { setup } from 'xstate';
import { BLOCK_LENGTH_BYTES, type BlockRef, type PiecePicker } from './piece-picker.js';
import type { Bitfield } from '../torrent/bitfield.js';

export interface SchedulerIo {
  /** Monotonic milliseconds: only differences mean anything. */
  monotonicMs(): number;
  /**
   * False while the download holds too many bytes in memory (the disk is behind): no new pieces
   * are begun. `nothingRequested()`: no request is outstanding with any peer (memory held only
   * by pieces that cannot progress must not stop the download for good); asked only when short.
   */
  mayStartPieces(nothingRequested: () => boolean): boolean;
  request(peer: string, blocks: readonly BlockRef[]): void;
  /**
   * For a download that holds requests back (a download limit): since when `peer` has had the
   * requests outstanding with it, so it is snubbed only for a wait that is its own. Without it,
   * requests are taken to go out when made.
   */
  requestsSentAtMs?(peer: string): number;
  cancel(peer: string, block: BlockRef): void;
  setInterested(peer: string, interested: boolean): void;
  /** Hash the piece; the answer comes back as PIECE_VERIFIED or PIECE_FAILED. */
  verify(pieceIndex: number): void;
  /** Forget the received bytes of a piece that starts over. */
  discard(pieceIndex: number): void;
  ban(peer: string, reason: string): void;
  completed(): void;
}

export interface SchedulerTimings {
  tickMs: number;
  /** A peer with requests outstanding and no block for this long is snubbed: its requests go elsewhere. */
  snubTimeoutMs: number;
  /** A peer's pipeline holds about this much time of its measured rate. */
  requestQueueMs: number;
  initialDepth: number;
  maxDepth: number;
}

export const DEFAULT_SCHEDULER_TIMINGS: Readonly<SchedulerTimings> = {
  tickMs: 1_000,
  snubTimeoutMs: 15_000,
  requestQueueMs: 1_000,
  initialDepth: 32,
  maxDepth: 256,
};

const MIN_DEPTH = 4;

/** A peer whose proven-bad pieces reach this count is banned for the download. */
export const BAN_STRIKES = 2;

export interface SchedulerInput {
  io: SchedulerIo;
  picker: PiecePicker;
  timings?: Partial<SchedulerTimings>;
}

interface Pipeline {
  unchoked: boolean;
  interested: boolean;
  snubbed: boolean;
  depth: number;
  lastBlockAtMs: number;
  windowBytes: number;
  rateBytesPerSecond: number;
}

export interface SchedulerCounters {
  piecesVerified: number;
  piecesFailed: number;
  strikes: number;
  bans: number;
  snubs: number;
  parolePieces: number;
  cancelsSent: number;
}

export interface SchedulerContext {
  io: SchedulerIo;
  picker: PiecePicker;
  timings: SchedulerTimings;
  pipelines: Map<string, Pipeline>;
  bytesFromPeer: Map<string, number>;
  strikes: Map<string, number>;
  banned: Map<string, string>;
  counters: SchedulerCounters;
  failure: string | null;
}

export type SchedulerEvent =
  | { type: 'PEER_JOINED'; peer: string; bitfield: Bitfield }
  | { type: 'PEER_HAVE'; peer: string; pieceIndex: number }
  | { type: 'PEER_CHOKED'; peer: string }
  | { type: 'PEER_UNCHOKED'; peer: string }
  | { type: 'PEER_GONE'; peer: string }
  | { type: 'BLOCKS'; peer: string; bytes: number; completedPieces: readonly number[]; cancels: ReadonlyArray<{ peer: string; block: BlockRef }> }
  | { type: 'PIECE_VERIFIED'; pieceIndex: number }
  | { type: 'PIECE_FAILED'; pieceIndex: number }
  /** Memory was freed (a piece was written out): requests may resume. */
  | { type: 'CAPACITY' }
  | { type: 'FAIL'; reason: string };

function fill(context: SchedulerContext, peer: string): void {
  const pipeline = context.pipelines.get(peer);
  if (!pipeline?.unchoked || !pipeline.interested) return;
  const outstanding = context.picker.outstanding(peer);
  const want = pipeline.depth - outstanding;
  // Refill in batches of a quarter of the depth (fewer, larger writes); never let it run dry.
  if (want <= 0 || (outstanding > 0 && want < Math.ceil(pipeline.depth / 4))) return;
  const nothingRequested = (): boolean => ![...context.pipelines.keys()].some((p) => context.picker.outstanding(p) > 0);
  const blocks = context.picker.pick(peer, want, context.io.mayStartPieces(nothingRequested));
  if (blocks.length > 0) context.io.request(peer, blocks);
}

function fillAll(context: SchedulerContext): void {
  for (const peer of context.pipelines.keys()) fill(context, peer);
}

function updateInterest(context: SchedulerContext, peer: string): void {
  const pipeline = context.pipelines.get(peer);
  if (!pipeline) return;
  const interesting = context.picker.isInteresting(peer);
  if (interesting === pipeline.interested) return;
  pipeline.interested = interesting;
  context.io.setInterested(peer, interesting);
}

function discardAll(context: SchedulerContext, pieces: readonly number[]): void {
  for (const pieceIndex of pieces) context.io.discard(pieceIndex);
}

function ban(context: SchedulerContext, peer: string, reason: string): void {
  if (context.banned.has(peer)) return;
  context.banned.set(peer, reason);
  context.counters.bans++;
  discardAll(context, context.picker.removePeer(peer));
  context.pipelines.delete(peer);
  context.io.ban(peer, reason);
}

function onTick(context: SchedulerContext): void {
  const nowMs = context.io.monotonicMs();
  const { timings } = context;
  for (const [peer, pipeline] of context.pipelines) {
    pipeline.rateBytesPerSecond = 0.5 * pipeline.rateBytesPerSecond + (0.5 * pipeline.windowBytes * 1000) / timings.tickMs;
    pipeline.windowBytes = 0;
    // The pipeline holds requestQueueMs of the measured rate; with no data this round it stays.
    if (!pipeline.snubbed && pipeline.rateBytesPerSecond > 0) {
      const depth = Math.ceil((pipeline.rateBytesPerSecond * timings.requestQueueMs) / 1000 / BLOCK_LENGTH_BYTES);
      pipeline.depth = Math.min(timings.maxDepth, Math.max(MIN_DEPTH, depth));
    }
    // A snubbed peer keeps one request; if that one stalls too, it goes elsewhere as well.
    const waitingSinceMs = Math.max(pipeline.lastBlockAtMs, context.io.requestsSentAtMs?.(peer) ?? -Infinity);
    if (context.picker.outstanding(peer) > 0 && nowMs - waitingSinceMs >= timings.snubTimeoutMs) {
      if (!pipeline.snubbed) context.counters.snubs++;
      pipeline.snubbed = true;
      pipeline.depth = 1;
      pipeline.lastBlockAtMs = nowMs;
      const { released, resetPieces } = context.picker.releaseRequests(peer);
      discardAll(context, resetPieces);
      for (const block of released) context.io.cancel(peer, block);
    }
    updateInterest(context, peer);
  }
  fillAll(context);
}

function onBlocks(context: SchedulerContext, event: Extract<SchedulerEvent, { type: 'BLOCKS' }>): void {
  context.bytesFromPeer.set(event.peer, (context.bytesFromPeer.get(event.peer) ?? 0) + event.bytes);
  for (const { peer, block } of event.cancels) {
    context.counters.cancelsSent++;
    context.io.cancel(peer, block);
  }
  for (const pieceIndex of event.completedPieces) context.io.verify(pieceIndex);
  const pipeline = context.pipelines.get(event.peer);
  if (!pipeline) return;
  pipeline.lastBlockAtMs = context.io.monotonicMs();
  pipeline.windowBytes += event.bytes;
  if (pipeline.snubbed) {
    pipeline.snubbed = false;
    pipeline.depth = context.timings.initialDepth;
  }
  fill(context, event.peer);
  for (const { peer } of event.cancels) fill(context, peer);
}

function onPieceFailed(context: SchedulerContext, pieceIndex: number): void {
  context.counters.piecesFailed++;
  const failure = context.picker.onPieceFailed(pieceIndex);
  if (failure.soleAuthor === undefined) {
    context.counters.parolePieces++;
  } else {
    const strikes = (context.strikes.get(failure.soleAuthor) ?? 0) + 1;
    context.strikes.set(failure.soleAuthor, strikes);
    context.counters.strikes++;
    if (strikes >= BAN_STRIKES) ban(context, failure.soleAuthor, `BANNED: ${strikes} pieces from it failed their SHA1 (last: piece ${pieceIndex})`);
  }
  fillAll(context);
}

export const schedulerMachine = setup({
  types: { context: {} as SchedulerContext, events: {} as SchedulerEvent, input: {} as SchedulerInput },
  delays: { tick: ({ context }) => context.timings.tickMs },
  guards: {
    complete: ({ context }) => context.picker.complete,
  },
}).createMachine({
  id: 'scheduler',
  context: ({ input }) => ({
    io: input.io,
    picker: input.picker,
    timings: { ...DEFAULT_SCHEDULER_TIMINGS, ...input.timings },
    pipelines: new Map(),
    bytesFromPeer: new Map(),
    strikes: new Map(),
    banned: new Map(),
    counters: { piecesVerified: 0, piecesFailed: 0, strikes: 0, bans: 0, snubs: 0, parolePieces: 0, cancelsSent: 0 },
    failure: null,
  }),
  initial: 'downloading',
  states: {
    downloading: {
      always: { guard: 'complete', target: 'complete' },
      after: { tick: { target: 'downloading', reenter: true, actions: ({ context }) => onTick(context) } },
      on: {
        PEER_JOINED: {
          guard: ({ context, event }) => !context.banned.has(event.peer) && !context.pipelines.has(event.peer),
          actions: ({ context, event }) => {
            context.picker.addPeer(event.peer, event.bitfield);
            const t = context.timings;
            context.pipelines.set(event.peer, {
              unchoked: false,
              interested: false,
              snubbed: false,
              depth: t.initialDepth,
              lastBlockAtMs: context.io.monotonicMs(),
              windowBytes: 0,
              rateBytesPerSecond: 0,
            });
            updateInterest(context, event.peer);
          },
        },
        PEER_HAVE: {
          actions: ({ context, event }) => {
            if (context.picker.peerHave(event.peer, event.pieceIndex)) {
              updateInterest(context, event.peer);
              fill(context, event.peer);
            }
          },
        },
        PEER_UNCHOKED: {
          actions: ({ context, event }) => {
            const pipeline = context.pipelines.get(event.peer);
            if (!pipeline) return;
            pipeline.unchoked = true;
            pipeline.lastBlockAtMs = context.io.monotonicMs();
            fill(context, event.peer);
          },
        },
        PEER_CHOKED: {
          actions: ({ context, event }) => {
            const pipeline = context.pipelines.get(event.peer);
            if (!pipeline) return;
            pipeline.unchoked = false;
            discardAll(context, context.picker.releaseRequests(event.peer).resetPieces);
            fillAll(context);
          },
        },
        PEER_GONE: {
          actions: ({ context, event }) => {
            context.pipelines.delete(event.peer);
            discardAll(context, context.picker.removePeer(event.peer));
            fillAll(context);
          },
        },
        BLOCKS: { actions: ({ context, event }) => onBlocks(context, event) },
        CAPACITY: { actions: ({ context }) => fillAll(context) },
        PIECE_VERIFIED: {
          actions: ({ context, event }) => {
            context.counters.piecesVerified++;
            context.picker.onPieceVerified(event.pieceIndex);
            fillAll(context);
          },
        },
        PIECE_FAILED: { actions: ({ context, event }) => onPieceFailed(context, event.pieceIndex) },
        FAIL: { target: 'failed', actions: ({ context, event }) => void (context.failure = event.reason) },
      },
    },
    complete: { type: 'final', entry: ({ context }) => context.io.completed() },
    failed: { type: 'final' },
  },
});
