// Why this file exists: one place where a World connection meets the BitTorrent codec. It
// decodes what arrives (refusing bad streams with a reason), hands piece blocks to the data
// plane and everything else to the connection actor, encodes what we send, and tracks the
// times and byte counts the actors' timers and the counters need. It decides nothing. With a
// trace hook it also tells, per connection, the messages that shape a conversation (handshakes,
// bitfields, chokes and interest; not the bulk of requests and blocks), for golden traces.

import type { Connection, NetAddress, NetError, World } from '../world/world.js';
import { toHex } from '../torrent/bytes.js';
import { decodeExtendedHandshake, encodeExtendedHandshake, encodeHandshake, encodeMessage, encodePieceHeader, encodeRequests, WireDecoder, WireError } from '../torrent/wire-codec.js';
import type { ExtendedHandshake, HandshakeInit, WireEvent, WireMessage } from '../torrent/wire-codec.js';
import { formatNetAddress } from '../world/net-address.js';

export interface PeerWireHandlers {
  /** Every decoded event except piece blocks. */
  message(event: Exclude<WireEvent, { type: 'piece' }>): void;
  /** A piece block: `block` is a view of the received bytes, valid only during this call. */
  block(pieceIndex: number, beginBytes: number, block: Uint8Array): void;
  /** Everything decoded from one read has been handed over (a point to act on a batch of blocks). */
  readEnd?(): void;
  /** The connection is gone (exactly once); reason null for an orderly close. */
  closed(reason: string | null): void;
  /** The send queue drained below its high-water mark. */
  drain?(): void;
}

function describe(error: NetError | null): string | null {
  return error === null ? null : `${error.code}: ${error.message}`;
}

function setBits(bytes: Uint8Array): number {
  let count = 0;
  for (const byte of bytes) for (let bit = byte; bit !== 0; bit &= bit - 1) count++;
  return count;
}

function describeExtended(handshake: ExtendedHandshake): string {
  if (handshake.refused !== undefined) return `extended refused ${handshake.refused}`;
  return handshake.ticket === undefined ? 'extended' : 'extended with ticket';
}

/** The trace's words for a message, or null for the bulk (requests, blocks, haves, keep-alives). */
function traceOf(message: WireEvent): string | null {
  switch (message.type) {
    case 'handshake':
      return `handshake ${toHex(message.infoHash).slice(0, 8)} from peer ${toHex(message.peerId).slice(0, 8)}`;
    case 'extended':
      try {
        return describeExtended(decodeExtendedHandshake(message.payload));
      } catch {
        return `extended ${message.extId} (unreadable)`;
      }
    case 'bitfield':
      return `bitfield ${setBits(message.bitfield)} pieces`;
    case 'choke':
    case 'unchoke':
    case 'interested':
    case 'not-interested':
      return message.type;
    default:
      return null;
  }
}

export class PeerWire {
  readonly remote: NetAddress;
  readonly remoteKey: string;
  /** SHA-256 (hex) of the key the other side's TLS certificate carries (null: it showed none). */
  readonly remoteKeyFingerprint: string | null;
  bytesReceived = 0;
  bytesSent = 0;
  lastReceivedAtMs: number;
  lastSentAtMs: number;
  private readonly decoder: WireDecoder;
  private handlers: PeerWireHandlers | undefined;
  private closeReason: string | null = null;
  private isClosed = false;
  private readonly trace: ((line: string) => void) | null;

  constructor(
    private readonly world: World,
    private readonly connection: Connection,
    options: { maxPieces: number; reusedReadBuffer?: boolean; trace?: (line: string) => void },
  ) {
    this.trace = options.trace ?? null;
    this.remote = connection.remote;
    this.remoteKey = formatNetAddress(connection.remote);
    this.remoteKeyFingerprint = connection.peer?.keyFingerprint ?? null;
    this.decoder = new WireDecoder({ maxPieces: Math.max(1, options.maxPieces), copyRemainder: options.reusedReadBuffer ?? false });
    this.lastReceivedAtMs = this.lastSentAtMs = world.clock.monotonicMs();
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Starts delivery. Call once. */
  attach(handlers: PeerWireHandlers): void {
    this.handlers = handlers;
    this.connection.attach({
      data: (bytes) => this.receive(bytes),
      close: (error) => this.finish(this.closeReason ?? describe(error)),
      drain: () => this.handlers?.drain?.(),
    });
  }

  sendHandshake(handshake: HandshakeInit): void {
    this.trace?.(`${this.remoteKey} > handshake ${toHex(handshake.infoHash).slice(0, 8)} from peer ${toHex(handshake.peerId).slice(0, 8)}`);
    this.write(encodeHandshake(handshake));
  }

  sendExtendedHandshake(handshake: ExtendedHandshake): void {
    this.trace?.(`${this.remoteKey} > ${describeExtended(handshake)}`);
    this.write(encodeMessage({ type: 'extended', extId: 0, payload: encodeExtendedHandshake(handshake) }));
  }

  /** False when the send queue is above its high-water mark (wait for drain). */
  send(message: WireMessage): boolean {
    if (this.trace !== null && message.type !== 'extended') {
      const words = traceOf(message);
      if (words !== null) this.trace(`${this.remoteKey} > ${words}`);
    }
    return this.write(encodeMessage(message));
  }

  /** A piece message: its 13-byte header and the block leave together, the block uncopied. */
  sendPiece(pieceIndex: number, beginBytes: number, block: Uint8Array): boolean {
    if (this.isClosed) return false;
    const header = encodePieceHeader(pieceIndex, beginBytes, block.length);
    this.bytesSent += header.length + block.length;
    this.lastSentAtMs = this.world.clock.monotonicMs();
    return this.connection.writeAll([header, block]);
  }

  /** A batch of requests in one write. */
  sendRequests(blocks: ReadonlyArray<{ pieceIndex: number; beginBytes: number; lengthBytes: number }>): boolean {
    return this.write(encodeRequests(blocks));
  }


  /** Closes the connection, remembering why (the reason reaches `closed`). */
  close(reason: string): void {
    if (this.isClosed) return;
    this.closeReason ??= reason;
    this.connection.destroy();
  }

  /** Sends what is queued, then closes. */
  end(reason: string): void {
    if (this.isClosed) return;
    this.closeReason ??= reason;
    this.connection.end();
  }

  private write(bytes: Uint8Array): boolean {
    if (this.isClosed) return false;
    this.bytesSent += bytes.length;
    this.lastSentAtMs = this.world.clock.monotonicMs();
    return this.connection.write(bytes);
  }

  private receive(bytes: Uint8Array): void {
    if (this.isClosed || this.closeReason !== null) return;
    this.bytesReceived += bytes.length;
    this.lastReceivedAtMs = this.world.clock.monotonicMs();
    const events = this.decoder.tryPush(bytes);
    if (events instanceof WireError) {
      this.close(`WIRE_${events.code}: ${events.message}`);
      return;
    }
    for (const event of events) {
      if (this.closeReason !== null) break;
      if (event.type === 'piece') {
        this.handlers!.block(event.index, event.begin, event.block);
        continue;
      }
      if (this.trace !== null) {
        const words = traceOf(event);
        if (words !== null) this.trace(`${this.remoteKey} < ${words}`);
      }
      this.handlers!.message(event);
    }
    // Also after a close in mid-read: blocks already taken must be reported.
    this.handlers!.readEnd?.();
  }

  private finish(reason: string | null): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.trace?.(`${this.remoteKey} closed${reason === null ? '' : ` ${reason}`}`);
    this.handlers?.closed(reason);
  }
}
