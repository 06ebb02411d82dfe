// The simulation's single event queue: a binary min-heap ordered by (virtual time, insertion
// sequence), so events at the same millisecond run in the order they were scheduled and a run
// replays exactly. Cancelled events stay in the heap and are skipped when they surface.

export interface ScheduledEvent {
  readonly atMs: number;
  readonly seq: number;
  readonly run: () => void;
  cancelled: boolean;
}

/** What the network, kv and hosts need from the simulation's time. */
export interface Scheduler {
  /** Virtual milliseconds since the simulation started. */
  elapsedMs(): number;
  /** Runs `run` after `delayMs` virtual milliseconds (rounded up to a whole millisecond). */
  after(delayMs: number, run: () => void): ScheduledEvent;
  cancel(event: ScheduledEvent): void;
}

function before(x: ScheduledEvent, y: ScheduledEvent): boolean {
  return x.atMs < y.atMs || (x.atMs === y.atMs && x.seq < y.seq);
}

export class EventQueue {
  private readonly heap: ScheduledEvent[] = [];
  private nextSeq = 0;
  private liveCount = 0;

  /** Number of scheduled, not cancelled events. */
  get size(): number {
    return this.liveCount;
  }

  push(atMs: number, run: () => void): ScheduledEvent {
    if (!Number.isFinite(atMs)) throw new RangeError(`event time must be finite, got ${atMs}`);
    const event: ScheduledEvent = { atMs, seq: this.nextSeq++, run, cancelled: false };
    this.heap.push(event);
    this.siftUp(this.heap.length - 1);
    this.liveCount++;
    return event;
  }

  cancel(event: ScheduledEvent): void {
    if (event.cancelled) return;
    event.cancelled = true;
    this.liveCount--;
  }

  /** Time of the next live event, or undefined when none is scheduled. */
  peekTimeMs(): number | undefined {
    this.dropCancelledTop();
    return this.heap[0]?.atMs;
  }

  /** Removes and returns the next live event. */
  pop(): ScheduledEvent | undefined {
    this.dropCancelledTop();
    const top = this.removeTop();
    if (top === undefined) return undefined;
    this.liveCount--;
    // A popped event counts as consumed: cancelling it later must not change the count.
    top.cancelled = true;
    return top;
  }

  private dropCancelledTop(): void {
    while (this.heap[0]?.cancelled === true) this.removeTop();
  }

  private removeTop(): ScheduledEvent | undefined {
    const top = this.heap[0];
    const last = this.heap.pop();
    if (top === undefined || last === undefined) return undefined;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  private siftUp(start: number): void {
    let i = start;
    const item = this.at(i);
    while (i > 0) {
      const parentIndex = (i - 1) >> 1;
      const parent = this.at(parentIndex);
      if (!before(item, parent)) break;
      this.heap[i] = parent;
      i = parentIndex;
    }
    this.heap[i] = item;
  }

  private siftDown(start: number): void {
    let i = start;
    const item = this.at(i);
    const n = this.heap.length;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && before(this.at(right), this.at(left)) ? right : left;
      if (!before(this.at(child), item)) break;
      this.heap[i] = this.at(child);
      i = child;
    }
    this.heap[i] = item;
  }

  private at(index: number): ScheduledEvent {
    const event = this.heap[index];
    if (event === undefined) throw new Error(`event heap index ${index} out of range`);
    return event;
  }
}
