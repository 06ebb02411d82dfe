// Why this file exists: a snapshot moves between tracker nodes outside the Raft core, as etcd's
// does (the core only says who needs one and hears how it went): at a million files the store is
// gigabytes, which neither side may hold in memory nor move inside the Ready loop. The leader
// reads its store through one iterator (snapshot-stream.ts) and sends chunks of records, a few
// unacknowledged at a time; the follower writes each into a generation of its own beside its
// store and acknowledges it once written. When the last is durable, the follower steps an
// InstallSnapshot into its core, whose Ready then makes the new generation current. Any gap,
// timeout, new term or error ends the transfer: the leader reports it failed and the core asks
// for another.

import { decodeBlob, encodeBlob } from '../log/store/snapshot-blob.js';
import { metaOfRecord, StoreIntake, type StreamedStoreMeta } from '../log/store/snapshot-stream.js';
import type { TrackerStore } from '../log/store/tracker-store.js';
import type { KvEntry, KvStore, Timer, World } from '../world/world.js';
import type { NodeId, SnapshotMeta } from '../raft/types.js';

/** One chunk of records (an encodeBlob), the `seq`th of transfer `transferId`, begun in `term`. */
export interface SnapshotChunk {
  transferId: string;
  term: number;
  /** The sender's count of transfers it began: of two from one sender in one term, the higher is newer. */
  ordinal: number;
  seq: number;
  records: Uint8Array;
  done: boolean;
}

/** Chunk `seq` is written (the last one: durable and handed to the core), or the transfer is over. */
export interface SnapshotAck {
  transferId: string;
  seq: number;
  ok: boolean;
}

export interface SnapshotWire {
  sendSnapshotChunk(to: NodeId, chunk: SnapshotChunk): void;
  sendSnapshotAck(to: NodeId, ack: SnapshotAck): void;
}

export const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
/** Chunks in flight per transfer: enough to keep a link busy, little to hold (they are kept for resending). */
const WINDOW_CHUNKS = 4;
/** Resend rounds without an acknowledgement before the transfer has failed. */
const QUIET_ROUNDS_TO_FAIL = 15;
/** A transfer that has heard nothing from its sender for this long is abandoned by the receiver (its copy dropped). */
const RECEIVE_IDLE_MS = 120_000;

/** What the leader's side needs of its node. */
export interface SenderHost {
  world: World;
  wire: SnapshotWire;
  store(): TrackerStore;
  /** Still the leader in `term`: a transfer of an older term is worthless. */
  leadsIn(term: number): boolean;
  term(): number;
  report(to: NodeId, outcome: { sent: true; meta: SnapshotMeta } | { sent: false }): void;
  log(event: string, fields: Record<string, unknown>): void;
}

interface Outgoing {
  transferId: string;
  ordinal: number;
  /** The highest chunk the follower has written (-1: none). */
  acked: number;
  /** Sent and not yet acknowledged, oldest first: sent again when acknowledgements stop (go-back-N). */
  inflight: SnapshotChunk[];
  wake: (() => void) | null;
  failed: boolean;
}

/** The leader's transfers, one per follower at a time. */
export class SnapshotSender {
  private readonly transfers = new Map<NodeId, Outgoing>();
  private started = 0;
  /** The applied index of each transfer under way: the Raft log is kept from there (TrackerNode.maybeCompact). */
  readonly floors = new Map<NodeId, number>();

  constructor(
    private readonly host: SenderHost,
    /** Unacknowledged chunks go again after this long (the caller's: two election timeouts). */
    private readonly resendMs: number,
    private readonly chunkBytes = SNAPSHOT_CHUNK_BYTES,
  ) {}

  start(to: NodeId): void {
    if (this.transfers.has(to)) return; // one at a time; the core asks again if it fails
    const ordinal = ++this.started;
    const transferId = `${this.host.term()}.${ordinal}.${this.host.world.rng.float().toString(36).slice(2, 10)}`;
    const transfer: Outgoing = { transferId, ordinal, acked: -1, inflight: [], wake: null, failed: false };
    this.transfers.set(to, transfer);
    void this.run(to, transfer).then(
      (meta) => this.finish(to, transfer, meta),
      (error: unknown) => {
        this.host.log('snapshot_send_failed', { to, reason: error instanceof Error ? error.message.slice(0, 200) : String(error) });
        this.finish(to, transfer, null);
      },
    );
  }

  onAck(from: NodeId, ack: SnapshotAck): void {
    const transfer = this.transfers.get(from);
    if (!transfer || transfer.transferId !== ack.transferId) return;
    if (!ack.ok) transfer.failed = true;
    else if (ack.seq > transfer.acked) {
      transfer.acked = ack.seq;
      while (transfer.inflight.length > 0 && transfer.inflight[0]!.seq <= ack.seq) transfer.inflight.shift();
    } else return; // a repeated acknowledgement: nothing moved
    transfer.wake?.();
  }

  /** Every transfer fails (the node stops). */
  stop(): void {
    for (const transfer of this.transfers.values()) {
      transfer.failed = true;
      transfer.wake?.();
    }
  }

  private finish(to: NodeId, transfer: Outgoing, meta: StreamedStoreMeta | null): void {
    if (this.transfers.get(to) !== transfer) return;
    this.transfers.delete(to);
    this.floors.delete(to);
    this.host.report(to, meta === null ? { sent: false } : { sent: true, meta });
  }

  private async run(to: NodeId, transfer: Outgoing): Promise<StreamedStoreMeta | null> {
    const term = this.host.term();
    const startedMs = this.host.world.clock.monotonicMs();
    const stream = this.host.store().exportRecords(this.chunkBytes);
    try {
      let next = await stream.next(); // the iterator's snapshot is taken here
      if (next.done) throw new Error('the store is empty');
      const meta = metaOfRecord(next.value[0]);
      this.floors.set(to, meta.index);
      this.host.log('snapshot_send_started', { to, index: meta.index });
      let seq = 0;
      let bytes = 0;
      while (!next.done) {
        const records: KvEntry[] = next.value;
        next = await stream.next(); // one ahead: the chunk before the end says it is the last
        if (!(await this.waitUntil(to, transfer, term, () => transfer.inflight.length < WINDOW_CHUNKS))) return null;
        const chunk: SnapshotChunk = { transferId: transfer.transferId, term, ordinal: transfer.ordinal, seq, records: encodeBlob(records), done: next.done === true };
        bytes += chunk.records.length;
        transfer.inflight.push(chunk);
        this.host.wire.sendSnapshotChunk(to, chunk);
        seq++;
      }
      // Every chunk acknowledged: the last one only once the follower's copy is durable.
      if (!(await this.waitUntil(to, transfer, term, () => transfer.inflight.length === 0))) return null;
      this.host.log('snapshot_sent', { to, index: meta.index, chunks: seq, bytes, ms: Math.round(this.host.world.clock.monotonicMs() - startedMs) });
      return meta;
    } finally {
      await stream.return(undefined);
    }
  }

  /** Waits for `ready`, resending what is unacknowledged when acknowledgements stop; false if the transfer is over. */
  private async waitUntil(to: NodeId, transfer: Outgoing, term: number, ready: () => boolean): Promise<boolean> {
    let quietRounds = 0;
    for (;;) {
      if (transfer.failed || !this.host.leadsIn(term)) return false;
      if (ready()) return true;
      const acked = transfer.acked;
      let timer: Timer | null = null;
      await new Promise<void>((resolve) => {
        transfer.wake = resolve;
        timer = this.host.world.clock.setTimer(this.resendMs, resolve);
      });
      (timer as Timer | null)?.cancel();
      transfer.wake = null;
      if (transfer.acked !== acked || transfer.failed) {
        quietRounds = 0;
        continue;
      }
      if (++quietRounds >= QUIET_ROUNDS_TO_FAIL) throw new Error(`no acknowledgement of chunk ${acked + 1} in ${QUIET_ROUNDS_TO_FAIL} rounds of ${this.resendMs} ms`);
      for (const chunk of transfer.inflight) this.host.wire.sendSnapshotChunk(to, chunk); // lost on the way, or its answer was
    }
  }
}

/** What the follower's side needs of its node. */
export interface ReceiverHost {
  world: World;
  wire: SnapshotWire;
  storeKv: KvStore;
  /** The node's current term: a transfer begun in an older one is refused. */
  term(): number;
  /** The whole store is staged and durable: step the core's InstallSnapshot; true if the core will install it. */
  staged(from: NodeId, term: number, meta: StreamedStoreMeta, intake: StoreIntake): boolean;
  log(event: string, fields: Record<string, unknown>): void;
  /** Test-only (snapshot-test-switch.ts): after writing this many chunks of a transfer, take no more. */
  stallAfterChunks?: number;
}

interface Incoming {
  from: NodeId;
  transferId: string;
  term: number;
  ordinal: number;
  /** The next chunk to take, and the last one written (-1: none). */
  nextSeq: number;
  writtenSeq: number;
  intake: Promise<StoreIntake>;
  /** Chunks are written one after another. */
  writing: Promise<void>;
  over: boolean;
  /** Abandons the transfer when its sender has gone quiet (RECEIVE_IDLE_MS). */
  idle: Timer | null;
  /** Test-only: stopped on purpose (stallAfterChunks). */
  stalled?: boolean;
}

/**
 * The follower's side: one transfer at a time; a newer one (its chunk 0: a later term, or the
 * same sender's later ordinal) replaces the one under way. Chunks are taken in order: a repeated
 * one or one after a gap is answered with the last one written, so the leader resends from there.
 */
export class SnapshotReceiver {
  private current: Incoming | null = null;
  /** The last transfer that finished: its last chunk, sent again because our answer was lost, is answered again. */
  private finished: { from: NodeId; transferId: string; lastSeq: number } | null = null;
  /** Generations are handed out one after another, each above the last (two intakes never share one). */
  private allocating: Promise<number> = Promise.resolve(0);

  constructor(private readonly host: ReceiverHost) {}

  onChunk(from: NodeId, chunk: SnapshotChunk): void {
    const answer = (seq: number, ok: boolean): void => this.host.wire.sendSnapshotAck(from, { transferId: chunk.transferId, seq, ok });
    if (chunk.term < this.host.term()) return answer(chunk.seq, false);
    const done = this.finished;
    if (done !== null && done.from === from && done.transferId === chunk.transferId) return answer(done.lastSeq, true);
    let transfer = this.current;
    if (transfer === null || transfer.from !== from || transfer.transferId !== chunk.transferId) {
      if (chunk.seq !== 0) {
        // Chunk 0 may only be late (packets reorder); from WINDOW_CHUNKS on, chunk 0 was answered
        // by a life of ours that is gone, and the sender had better start over.
        if (chunk.seq >= WINDOW_CHUNKS) answer(chunk.seq, false);
        return;
      }
      if (transfer !== null && !newer(chunk, from, transfer)) return answer(chunk.seq, false); // a late first chunk of an older transfer
      if (transfer) this.abandon(transfer);
      transfer = { from, transferId: chunk.transferId, term: chunk.term, ordinal: chunk.ordinal, nextSeq: 0, writtenSeq: -1, intake: this.beginIntake(), writing: Promise.resolve(), over: false, idle: null };
      this.current = transfer;
    }
    if (transfer.over) return answer(chunk.seq, false);
    this.stayAwake(transfer); // only a transfer still under way needs its idle timer
    if (this.host.stallAfterChunks !== undefined && chunk.seq >= this.host.stallAfterChunks) {
      if (!transfer.stalled) {
        const stalled = transfer;
        stalled.stalled = true;
        void stalled.writing.then(() => this.host.log('snapshot_receive_stalled', { from, chunksWritten: stalled.writtenSeq + 1 }));
      }
      return;
    }
    if (chunk.seq !== transfer.nextSeq) {
      if (transfer.writtenSeq >= 0) answer(transfer.writtenSeq, true);
      return;
    }
    transfer.nextSeq++;
    const active = transfer;
    active.writing = active.writing.then(async () => {
      if (active.over) return;
      try {
        const intake = await active.intake;
        await intake.write(decodeBlob(chunk.records));
        if (chunk.done) {
          const meta = await intake.finish();
          active.over = true;
          active.idle?.cancel();
          if (this.current === active) this.current = null;
          this.finished = { from, transferId: active.transferId, lastSeq: chunk.seq };
          const installing = this.host.staged(from, active.term, meta, intake);
          if (!installing) void intake.abandon().catch(() => undefined);
          this.host.log('snapshot_received', { from, index: meta.index, chunks: chunk.seq + 1, installing });
        }
        active.writtenSeq = chunk.seq;
        answer(chunk.seq, true);
      } catch (error) {
        this.host.log('snapshot_receive_failed', { from, reason: error instanceof Error ? error.message.slice(0, 200) : String(error) });
        this.abandon(active);
        answer(chunk.seq, false);
      }
    });
  }

  private beginIntake(): Promise<StoreIntake> {
    const previous = this.allocating;
    const intake = previous.then((above) => StoreIntake.begin(this.host.storeKv, above));
    this.allocating = intake.then(
      (begun) => begun.generation,
      () => previous,
    );
    return intake;
  }

  /** (Re)arms the transfer's idle timer: a sender gone for good must not leave its copy on disk. */
  private stayAwake(transfer: Incoming): void {
    transfer.idle?.cancel();
    transfer.idle = this.host.world.clock.setTimer(RECEIVE_IDLE_MS, () => {
      if (transfer.over) return;
      this.host.log('snapshot_receive_abandoned', { from: transfer.from, chunksWritten: transfer.writtenSeq + 1, idleMs: RECEIVE_IDLE_MS });
      this.abandon(transfer);
    });
  }

  private abandon(transfer: Incoming): void {
    transfer.idle?.cancel();
    if (transfer.over) return;
    transfer.over = true;
    if (this.current === transfer) this.current = null;
    void transfer.writing.then(() => transfer.intake).then((intake) => intake.abandon()).catch(() => undefined);
  }
}

/** Whether `chunk` (a first chunk) begins a newer transfer than `current`. */
function newer(chunk: SnapshotChunk, from: NodeId, current: Incoming): boolean {
  if (chunk.term !== current.term) return chunk.term > current.term;
  return from !== current.from || chunk.ordinal > current.ordinal;
}
