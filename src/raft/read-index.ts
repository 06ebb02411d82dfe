// Why this file exists: the leader's queue of linearizable reads (§6.4). A read is stamped with
// the commit index when it arrives; it is released once a quorum has answered a heartbeat
// carrying its context, which proves the leader still led when the read arrived. A quorum's
// answer releases every earlier read too.

import type { NodeId } from './types.js';

export interface PendingRead {
  context: string;
  index: number;
  /** Who asked: the leader itself, or a follower that forwarded its client's read. */
  from: NodeId;
  acks: Set<NodeId>;
}

export class ReadIndexQueue {
  private pending: PendingRead[] = [];

  constructor(
    private readonly self: NodeId,
    private readonly quorum: number,
  ) {}

  add(context: string, index: number, from: NodeId): PendingRead {
    const read: PendingRead = { context, index, from, acks: new Set([this.self]) };
    this.pending.push(read);
    return read;
  }

  /** A heartbeat answer carrying `context`: the reads it releases, oldest first. */
  ack(context: string, from: NodeId): PendingRead[] {
    const at = this.pending.findIndex((read) => read.context === context);
    if (at === -1) return [];
    const read = this.pending[at]!;
    read.acks.add(from);
    if (read.acks.size < this.quorum) return [];
    return this.pending.splice(0, at + 1);
  }

  /** The context of the newest waiting read, to send with the next heartbeat. */
  newestContext(): string | null {
    return this.pending[this.pending.length - 1]?.context ?? null;
  }

  clear(): void {
    this.pending = [];
  }
}
