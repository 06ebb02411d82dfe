// Why this file exists: the connection actors speak in events; the wire speaks in decoded
// messages. This maps one onto the other (piece blocks never become events: their bytes go
// from the socket to the store) and names the timers both connection kinds share.

import type { WireEvent } from '../torrent/wire-codec.js';

export type WireActorEvent =
  | { type: 'HANDSHAKE'; infoHash: Uint8Array; peerId: Uint8Array; extensions: boolean }
  | { type: 'EXTENDED'; extId: number; payload: Uint8Array }
  | { type: 'BITFIELD'; bitfield: Uint8Array }
  | { type: 'HAVE'; pieceIndex: number }
  | { type: 'CHOKE' }
  | { type: 'UNCHOKE' }
  | { type: 'INTERESTED' }
  | { type: 'NOT_INTERESTED' }
  | { type: 'REQUEST'; pieceIndex: number; beginBytes: number; lengthBytes: number }
  | { type: 'CANCEL'; pieceIndex: number; beginBytes: number; lengthBytes: number }
  | { type: 'KEEP_ALIVE' }
  /** The connection is gone; reason null for an orderly close by the other side. */
  | { type: 'CLOSED'; reason: string | null };

export function toActorEvent(event: Exclude<WireEvent, { type: 'piece' }>): WireActorEvent {
  switch (event.type) {
    case 'handshake':
      return { type: 'HANDSHAKE', infoHash: event.infoHash, peerId: event.peerId, extensions: event.extensions };
    case 'extended':
      return { type: 'EXTENDED', extId: event.extId, payload: event.payload };
    case 'bitfield':
      return { type: 'BITFIELD', bitfield: event.bitfield };
    case 'have':
      return { type: 'HAVE', pieceIndex: event.index };
    case 'choke':
      return { type: 'CHOKE' };
    case 'unchoke':
      return { type: 'UNCHOKE' };
    case 'interested':
      return { type: 'INTERESTED' };
    case 'not-interested':
      return { type: 'NOT_INTERESTED' };
    case 'request':
      return { type: 'REQUEST', pieceIndex: event.index, beginBytes: event.begin, lengthBytes: event.length };
    case 'cancel':
      return { type: 'CANCEL', pieceIndex: event.index, beginBytes: event.begin, lengthBytes: event.length };
    case 'keep-alive':
      return { type: 'KEEP_ALIVE' };
  }
}

export interface ConnectionTimings {
  /** From connect to the other side's handshake. */
  handshakeTimeoutMs: number;
  /** From the handshake to the ticket (serving side) or to the bitfield (fetching side). */
  accessTimeoutMs: number;
  /** Nothing received for this long closes the connection. */
  idleTimeoutMs: number;
  /** We send a keep-alive after this long without sending anything. */
  keepAliveMs: number;
  /** How often the idle and keep-alive checks run. */
  tickMs: number;
}

export const DEFAULT_CONNECTION_TIMINGS: Readonly<ConnectionTimings> = {
  handshakeTimeoutMs: 10_000,
  accessTimeoutMs: 10_000,
  idleTimeoutMs: 120_000,
  keepAliveMs: 60_000,
  tickMs: 5_000,
};

/** What both connection kinds need for the idle and keep-alive checks. */
export interface LivenessIo {
  /** Monotonic milliseconds: only differences mean anything. */
  monotonicMs(): number;
  lastReceivedAtMs(): number;
  lastSentAtMs(): number;
  sendKeepAlive(): void;
}

export function isIdle(io: LivenessIo, timings: ConnectionTimings): boolean {
  return io.monotonicMs() - io.lastReceivedAtMs() >= timings.idleTimeoutMs;
}

export function idleReason(timings: ConnectionTimings): string {
  return `IDLE: nothing received for ${timings.idleTimeoutMs} ms`;
}

/** Sends a keep-alive when we have been quiet for keepAliveMs. */
export function keepAlive(io: LivenessIo, timings: ConnectionTimings): void {
  if (io.monotonicMs() - io.lastSentAtMs() >= timings.keepAliveMs) io.sendKeepAlive();
}
