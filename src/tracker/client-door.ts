// Why this file exists: the client port is open to anyone who can reach it, so everything a
// stranger can make a node hold is bounded here (DESIGN.md §7), each by a number stated in the
// README:
//   - connections in all (at most MAX_CONNECTIONS, fewer if the process may not open that many
//     files: checked at start, see connectionCap), and connections not yet logged in per source
//     address (an IPv6 source by its /64). A connection that has logged in leaves its source's count, so many users
//     behind one carrier-grade NAT still get in; what a stranger holds is capped. Counted from
//     the TCP accept, before the TLS handshake, so half-open sockets count too;
//   - connections idle past a timeout (no complete request, nothing in flight, no push channel);
//   - bytes buffered for unfinished frames, in all: over the bound, the stranger (a connection
//     not logged in) holding the most is cut first, and a logged-in one only if no stranger
//     holds any.

import type { NetAddress } from '../world/world.js';
import { sourceKey } from './login-guard.js';
import { formatNetAddress } from '../world/net-address.js';

/**
 * Client connections a node holds at most. Issue 20: 10,000 online peers hold one connection
 * each (their push stream, spread over the nodes) and, at the leader, the short-lived ones of
 * their tickets and commands; after a failover the survivors take the dead node's share too.
 * At 4,096 a survivor refused thousands at 3,000 peers.
 */
export const MAX_CONNECTIONS = 16_384;
/**
 * Open files a node keeps for everything but client connections: its two LevelDB stores (up to
 * 100 table files each, real-kv.ts, and their logs), the links to the other nodes, its log and
 * the rest of Node, with room to spare.
 */
export const RESERVED_FILE_DESCRIPTORS = 2_560;
/** However low the open file limit, a node takes this many clients (and says its limit is too low). */
const MIN_CONNECTIONS = 64;

/** The connection cap for a process that may hold `openFileLimit` open files (null: unbounded). */
export function connectionCap(openFileLimit: number | null): number {
  if (openFileLimit === null) return MAX_CONNECTIONS;
  return Math.max(MIN_CONNECTIONS, Math.min(MAX_CONNECTIONS, openFileLimit - RESERVED_FILE_DESCRIPTORS));
}
export const MAX_UNAUTHENTICATED_PER_SOURCE = 32;
export const IDLE_TIMEOUT_MS = 60_000;
/** A frame may announce up to this much. */
export const MAX_REQUEST_BYTES = 2 * 1024 * 1024;
/** Bytes of unfinished frames held across all connections. */
export const MAX_BUFFERED_BYTES = 32 * 1024 * 1024;

/** One connection as the door sees it. */
export interface Doorway {
  readonly source: string;
  loggedIn: boolean;
  bufferedBytes: number;
  /** Cuts the connection (the door has decided it must go). */
  cut(reason: string): void;
}

export class ClientDoor {
  private connections = 0;
  private readonly strangersBySource = new Map<string, number>();
  /** Admitted connections by remote address, until they close. */
  private readonly byRemote = new Map<string, Doorway>();
  private bufferedBytes = 0;
  /** Connections admitted since the node started (each a full TLS handshake): how often clients come back. */
  private admitted = 0;

  constructor(
    private readonly refused: (remote: NetAddress, reason: string) => void,
    /** Connections held at most (connectionCap of the process's open file limit). */
    readonly maxConnections = MAX_CONNECTIONS,
  ) {}

  /** At TCP accept: null refuses the connection; otherwise the function to call when it closes. */
  admit(remote: NetAddress): (() => void) | null {
    const source = sourceKey(remote.host);
    if (this.connections >= this.maxConnections) return this.refuse(remote, `too many connections (${this.maxConnections})`);
    const strangers = this.strangersBySource.get(source) ?? 0;
    if (strangers >= MAX_UNAUTHENTICATED_PER_SOURCE) return this.refuse(remote, `too many connections not logged in from ${source} (${MAX_UNAUTHENTICATED_PER_SOURCE})`);
    this.connections++;
    this.admitted++;
    this.strangersBySource.set(source, strangers + 1);
    const key = formatNetAddress(remote);
    const doorway: Doorway = { source, loggedIn: false, bufferedBytes: 0, cut: () => {} };
    this.byRemote.set(key, doorway);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.connections--;
      if (!doorway.loggedIn) this.leaveSource(source);
      this.buffer(doorway, 0);
      if (this.byRemote.get(key) === doorway) this.byRemote.delete(key);
    };
  }

  /** The admitted connection from `remote` (after its handshake), for the server to keep. */
  doorwayOf(remote: NetAddress, cut: (reason: string) => void): Doorway {
    const doorway = this.byRemote.get(formatNetAddress(remote));
    if (doorway === undefined) throw new Error(`a connection from ${formatNetAddress(remote)} that the door did not admit`);
    doorway.cut = cut;
    return doorway;
  }

  /** The connection proved a session (or logged in): it no longer counts against its source. */
  loggedIn(doorway: Doorway): void {
    if (doorway.loggedIn) return;
    doorway.loggedIn = true;
    this.leaveSource(doorway.source);
  }

  /** The connection now holds `bytes` of an unfinished frame; over the total, someone is cut. */
  buffer(doorway: Doorway, bytes: number): void {
    this.bufferedBytes += bytes - doorway.bufferedBytes;
    doorway.bufferedBytes = bytes;
    while (this.bufferedBytes > MAX_BUFFERED_BYTES) {
      let victim: Doorway | null = null;
      for (const other of this.byRemote.values()) {
        if (other.bufferedBytes === 0) continue;
        const before = victim === null || (victim.loggedIn && !other.loggedIn) || (victim.loggedIn === other.loggedIn && other.bufferedBytes > victim.bufferedBytes);
        if (before) victim = other;
      }
      if (victim === null) throw new Error('buffered bytes counted that no connection holds');
      const held = victim.bufferedBytes;
      this.bufferedBytes -= held;
      victim.bufferedBytes = 0;
      victim.cut(`bytes buffered for unfinished frames over ${MAX_BUFFERED_BYTES} in all (it held ${held})`);
    }
  }

  get totals(): { connections: number; admitted: number; bufferedBytes: number; maxConnections: number } {
    return { connections: this.connections, admitted: this.admitted, bufferedBytes: this.bufferedBytes, maxConnections: this.maxConnections };
  }

  private refuse(remote: NetAddress, reason: string): null {
    this.refused(remote, reason);
    return null;
  }

  private leaveSource(source: string): void {
    const left = (this.strangersBySource.get(source) ?? 1) - 1;
    if (left <= 0) this.strangersBySource.delete(source);
    else this.strangersBySource.set(source, left);
  }
}
