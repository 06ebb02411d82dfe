// Why this file exists: how Raft messages leave and arrive, whatever carries them (simulated
// packets in src/sim, framed TCP between tracker processes). Delivery is best effort: messages
// may be lost, duplicated or reordered, and the core copes.

import type { Message } from '../raft/types.js';

export interface RaftTransport {
  send(message: Message): void;
  /** The handler for messages addressed to this node; set once. */
  onMessage(handler: (message: Message) => void): void;
  close(): void;
}
