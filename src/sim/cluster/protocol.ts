// Why this file exists: what travels between simulated hosts as packets: Raft messages between
// tracker nodes, and a minimal request/response protocol between clients and nodes (the real
// client protocol over TCP comes with the tracker processes).

import type { Command } from '../../log/domain/commands.js';
import type { SnapshotAck, SnapshotChunk } from '../../tracker/snapshot-transfer.js';
import type { Message } from '../../raft/types.js';

export type ClientRequestOp = { type: 'write'; command: Command } | { type: 'read'; group: string };

export type ClientResponseOutcome =
  | { type: 'applied'; index: number; code: string }
  | { type: 'read'; value: string }
  | { type: 'not-leader'; leader: string | null }
  | { type: 'lost' };

export type Packet =
  | { kind: 'raft'; message: Message }
  /** A snapshot transfer between nodes (snapshot-transfer.ts), beside Raft's messages. */
  | { kind: 'snapshotChunk'; chunk: SnapshotChunk }
  | { kind: 'snapshotAck'; ack: SnapshotAck }
  | { kind: 'request'; attempt: number; clientId: string; requestId: number; op: ClientRequestOp }
  | { kind: 'response'; attempt: number; outcome: ClientResponseOutcome };
