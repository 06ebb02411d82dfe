// Why this file exists: how Raft messages leave and arrive, whatever carries them (simulated
// packets in src/sim, framed TCP between tracker processes). Delivery is best effort: messages
// may be lost, duplicated or reordered, and the core copes.

import type { Message, NodeId } from '../raft/types.js';
import type { SnapshotAck, SnapshotChunk, SnapshotWire } from './snapshot-transfer.js';

/** Raft messages, and beside them the snapshot transfers the core leaves to its node (snapshot-transfer.ts). */
export interface RaftTransport extends SnapshotWire {
  send(message: Message): void;
  /** The handler for messages addressed to this node; set once. */
  onMessage(handler: (message: Message) => void): void;
  onSnapshotChunk(handler: (from: NodeId, chunk: SnapshotChunk) => void): void;
  onSnapshotAck(handler: (from: NodeId, ack: SnapshotAck) => void): void;
  close(): void;
}
