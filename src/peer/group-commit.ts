// Why this file exists: a verified piece counts only once its bytes are synced and journaled,
// and one fsync per 512 KiB piece would cap a download at the disk's sync rate. Group commit:
// items added while a commit runs wait for the next one, which takes them all at once, so
// under load many pieces share one fsync and one journal batch, and with no load nothing waits
// for a timer.

export class GroupCommit<T> {
  private pending: T[] = [];
  private waiters: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];
  private running: Promise<void> | null = null;

  constructor(private readonly commit: (items: readonly T[]) => Promise<void>) {}

  /** Resolves once `item` has been committed (with whatever else was pending). */
  add(item: T): Promise<void> {
    const done = new Promise<void>((resolve, reject) => {
      this.pending.push(item);
      this.waiters.push({ resolve, reject });
    });
    if (this.running === null) this.running = this.loop();
    return done;
  }

  /** Resolves when nothing is pending or running. */
  async drain(): Promise<void> {
    while (this.running !== null) await this.running;
  }

  private async loop(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const items = this.pending;
        const waiters = this.waiters;
        this.pending = [];
        this.waiters = [];
        try {
          await this.commit(items);
          for (const waiter of waiters) waiter.resolve();
        } catch (error) {
          for (const waiter of waiters) waiter.reject(error);
        }
      }
    } finally {
      this.running = null;
    }
  }
}
