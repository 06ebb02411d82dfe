// Why this file exists: the leader's view of each follower (etcd-io/raft's tracker/progress.go):
// probe (one append at a time until we find where logs match), replicate (a pipeline bounded by
// an in-flight window of messages and bytes), snapshot (the caller is sending it a snapshot).

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** In-flight appends in replicate state, oldest first: (last index, bytes) per message. */
class Inflights {
  private readonly lastIndexes: number[] = [];
  private readonly sizes: number[] = [];
  private bytes = 0;

  constructor(
    private readonly maxMessages: number,
    private readonly maxBytes: number,
  ) {}

  full(): boolean {
    return this.lastIndexes.length >= this.maxMessages || this.bytes >= this.maxBytes;
  }

  add(lastIndex: number, bytes: number): void {
    this.lastIndexes.push(lastIndex);
    this.sizes.push(bytes);
    this.bytes += bytes;
  }

  /** Frees every message whose entries are all acknowledged up to `index`. */
  freeTo(index: number): void {
    while (this.lastIndexes.length > 0 && this.lastIndexes[0]! <= index) {
      this.lastIndexes.shift();
      this.bytes -= this.sizes.shift()!;
    }
  }

  /** Frees the oldest message: a heartbeat answer shows the follower lives, though its acks were lost. */
  freeFirstOne(): void {
    if (this.lastIndexes.length === 0) return;
    this.lastIndexes.shift();
    this.bytes -= this.sizes.shift()!;
  }

  reset(): void {
    this.lastIndexes.length = 0;
    this.sizes.length = 0;
    this.bytes = 0;
  }

  count(): number {
    return this.lastIndexes.length;
  }
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** Probe state: an append is out; wait for its answer (or a heartbeat answer) before the next. */
  probeSent = false;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** Snapshot state: the log's snapshot index when the transfer was asked for (the follower needs at least it). */
  pendingSnapshot = 0;
  readonly inflights: Inflights;

  constructor(next: number, maxInflightMessages: number, maxInflightBytes: number) {
    this.next = next;
    this.inflights = new Inflights(maxInflightMessages, maxInflightBytes);
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') this.next = Math.max(this.match + 1, this.pendingSnapshot + 1);
    else this.next = this.match + 1;
    this.state = 'probe';
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.probeSent = false;
    this.inflights.reset();
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.state = 'snapshot';
    this.pendingSnapshot = snapshotIndex;
    this.inflights.reset();
  }

  /** An acknowledgement up to `index`; false when it is stale. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /** A rejection of the append at `rejected`; `hint` is where the follower suggests to look. False when stale. */
  maybeDecreaseTo(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  /** Book-keeping after an append carrying entries up to `lastIndex` was sent. */
  sentEntries(lastIndex: number, bytes: number): void {
    if (this.state === 'replicate') {
      if (lastIndex >= this.next) {
        this.inflights.add(lastIndex, bytes);
        this.next = lastIndex + 1;
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }
}
