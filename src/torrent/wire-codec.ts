// Why this file exists: the peer-to-peer wire of DESIGN.md §6 — BitTorrent v1 (BEP 3): the
// 68-byte handshake with the BEP 10 extension bit, then length-prefixed messages, and the BEP 10
// extension handshake that carries our access ticket. Bytes from a peer are untrusted (§7): the
// decoder checks every frame's announced length against a per-message limit as soon as the
// length and message id arrive — before buffering the body — so a peer can make us hold at most
// one maximum frame. Piece blocks come out as views of the pushed bytes (no copy) when the frame
// arrived in one chunk, so they can go straight to disk.

import { bdecode, bencode, BencodeError } from './bencode.js';
import type { BencodeDict, BencodeValue } from './bencode.js';

export const PROTOCOL = 'BitTorrent protocol';
export const HANDSHAKE_BYTES = 68;
export const BLOCK_BYTES = 16 * 1024;
export const MAX_EXTENDED_PAYLOAD_BYTES = 64 * 1024;
export const MAX_TICKET_BYTES = 1024;
export const MAX_CLIENT_VERSION_BYTES = 256;
/** What our extension handshakes say we are (BEP 10 `v`). */
export const CLIENT_VERSION = 'clique 0.1';
export const MAX_EXTENSION_NAMES = 64;
/** Default for WireDecoder's maxPieces: 131072 pieces of 512 KiB (64 GiB), a 16 KiB bitfield. */
export const DEFAULT_MAX_PIECES = 1 << 17;
export const TICKET_KEY = 'clique_ticket';
/** A serving peer that refuses a ticket says why (an error code) under this key, then closes. */
export const REFUSED_KEY = 'clique_refused';
export const MAX_REFUSED_BYTES = 64;

const PSTR = new TextEncoder().encode(PROTOCOL);
const EXTENSION_BYTE = 5;
const EXTENSION_BIT = 0x10;
const HEADER_BYTES = 4;
const MAX_U32 = 0xffff_ffff;

export type WireErrorCode = 'BAD_HANDSHAKE' | 'FRAME_TOO_LARGE' | 'BAD_MESSAGE' | 'UNKNOWN_MESSAGE';

export class WireError extends Error {
  override name = 'WireError';
  constructor(
    readonly code: WireErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

export interface HandshakeInit {
  infoHash: Uint8Array;
  peerId: Uint8Array;
  extensions: boolean;
}

export interface Handshake extends HandshakeInit {
  /** The 8 reserved bytes as received; `extensions` is reserved[5] & 0x10. */
  reserved: Uint8Array;
}

export type WireMessage =
  | { type: 'keep-alive' }
  | { type: 'choke' }
  | { type: 'unchoke' }
  | { type: 'interested' }
  | { type: 'not-interested' }
  | { type: 'have'; index: number }
  | { type: 'bitfield'; bitfield: Uint8Array }
  | { type: 'request'; index: number; begin: number; length: number }
  | { type: 'piece'; index: number; begin: number; block: Uint8Array }
  | { type: 'cancel'; index: number; begin: number; length: number }
  | { type: 'extended'; extId: number; payload: Uint8Array };

export type WireEvent = ({ type: 'handshake' } & Handshake) | WireMessage;

const ID = { choke: 0, unchoke: 1, interested: 2, 'not-interested': 3, have: 4, bitfield: 5, request: 6, piece: 7, cancel: 8, extended: 20 } as const;

// ---------------------------------------------------------------------------------------------
// Handshake

export function encodeHandshake(h: HandshakeInit): Uint8Array {
  if (h.infoHash.length !== 20 || h.peerId.length !== 20) throw new WireError('BAD_HANDSHAKE', 'infoHash and peerId must be 20 bytes');
  const out = new Uint8Array(HANDSHAKE_BYTES);
  out[0] = PSTR.length;
  out.set(PSTR, 1);
  if (h.extensions) out[1 + PSTR.length + EXTENSION_BYTE] = EXTENSION_BIT;
  out.set(h.infoHash, 28);
  out.set(h.peerId, 48);
  return out;
}

/** Exactly 68 bytes; copies the fields out. Throws WireError('BAD_HANDSHAKE'). */
export function decodeHandshake(bytes: Uint8Array): Handshake {
  if (bytes.length !== HANDSHAKE_BYTES) throw new WireError('BAD_HANDSHAKE', `handshake of ${bytes.length} bytes`);
  if (bytes[0] !== PSTR.length) throw new WireError('BAD_HANDSHAKE', `pstrlen ${bytes[0]}`);
  for (let i = 0; i < PSTR.length; i++) if (bytes[1 + i] !== PSTR[i]) throw new WireError('BAD_HANDSHAKE', 'not "BitTorrent protocol"');
  const reserved = bytes.slice(20, 28);
  return {
    infoHash: bytes.slice(28, 48),
    peerId: bytes.slice(48, 68),
    extensions: (reserved[EXTENSION_BYTE]! & EXTENSION_BIT) !== 0,
    reserved,
  };
}

// ---------------------------------------------------------------------------------------------
// Messages

function checkU32(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > MAX_U32) throw new WireError('BAD_MESSAGE', `${what} ${value} is not a u32`);
}

function checkRequestLength(length: number): void {
  if (!Number.isInteger(length) || length < 1 || length > BLOCK_BYTES) throw new WireError('BAD_MESSAGE', `request length ${length} is not 1..${BLOCK_BYTES}`);
}

function frame(id: number, bodyBytes: number): { out: Uint8Array; view: DataView } {
  const out = new Uint8Array(HEADER_BYTES + 1 + bodyBytes);
  const view = new DataView(out.buffer);
  view.setUint32(0, 1 + bodyBytes);
  out[4] = id;
  return { out, view };
}

/** The 13 bytes before a piece's block, for writev-style sends of the block without a copy. */
export function encodePieceHeader(index: number, begin: number, blockLength: number): Uint8Array {
  checkU32(index, 'index');
  checkU32(begin, 'begin');
  if (!Number.isInteger(blockLength) || blockLength < 1 || blockLength > BLOCK_BYTES) throw new WireError('BAD_MESSAGE', `block of ${blockLength} bytes`);
  const out = new Uint8Array(13);
  const view = new DataView(out.buffer);
  view.setUint32(0, 9 + blockLength);
  out[4] = ID.piece;
  view.setUint32(5, index);
  view.setUint32(9, begin);
  return out;
}

/** Many request messages in one array (one allocation for a pipeline refill). */
export function encodeRequests(requests: ReadonlyArray<{ pieceIndex: number; beginBytes: number; lengthBytes: number }>): Uint8Array {
  const out = new Uint8Array(17 * requests.length);
  const view = new DataView(out.buffer);
  requests.forEach((r, i) => {
    checkU32(r.pieceIndex, 'index');
    checkU32(r.beginBytes, 'begin');
    checkRequestLength(r.lengthBytes);
    const at = 17 * i;
    view.setUint32(at, 13);
    out[at + 4] = ID.request;
    view.setUint32(at + 5, r.pieceIndex);
    view.setUint32(at + 9, r.beginBytes);
    view.setUint32(at + 13, r.lengthBytes);
  });
  return out;
}

/** One message with its length prefix. Throws WireError('BAD_MESSAGE') on out-of-range fields. */
export function encodeMessage(m: WireMessage): Uint8Array {
  switch (m.type) {
    case 'keep-alive':
      return new Uint8Array(HEADER_BYTES);
    case 'choke':
    case 'unchoke':
    case 'interested':
    case 'not-interested':
      return frame(ID[m.type], 0).out;
    case 'have': {
      checkU32(m.index, 'index');
      const { out, view } = frame(ID.have, 4);
      view.setUint32(5, m.index);
      return out;
    }
    case 'bitfield': {
      if (m.bitfield.length > MAX_U32 - 1) throw new WireError('BAD_MESSAGE', 'bitfield too large');
      const { out } = frame(ID.bitfield, m.bitfield.length);
      out.set(m.bitfield, 5);
      return out;
    }
    case 'request':
    case 'cancel': {
      checkU32(m.index, 'index');
      checkU32(m.begin, 'begin');
      checkRequestLength(m.length);
      const { out, view } = frame(ID[m.type], 12);
      view.setUint32(5, m.index);
      view.setUint32(9, m.begin);
      view.setUint32(13, m.length);
      return out;
    }
    case 'piece': {
      const header = encodePieceHeader(m.index, m.begin, m.block.length);
      const out = new Uint8Array(header.length + m.block.length);
      out.set(header);
      out.set(m.block, header.length);
      return out;
    }
    case 'extended': {
      if (!Number.isInteger(m.extId) || m.extId < 0 || m.extId > 255) throw new WireError('BAD_MESSAGE', `extended id ${m.extId}`);
      if (m.payload.length > MAX_EXTENDED_PAYLOAD_BYTES) throw new WireError('FRAME_TOO_LARGE', `extended payload of ${m.payload.length} bytes`);
      const { out } = frame(ID.extended, 1 + m.payload.length);
      out[5] = m.extId;
      out.set(m.payload, 6);
      return out;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Incremental decoder

export interface WireDecoderOptions {
  /** Largest piece count accepted; bounds the bitfield at ceil(maxPieces / 8) bytes. */
  maxPieces?: number;
  /**
   * The caller reuses the arrays it pushes (a reused read buffer) and uses what push() returns
   * before pushing again: the decoder then keeps a copy of the unconsumed bytes, never a view of
   * the pushed array, and assembles a frame split across pushes in a buffer of its own that the
   * next push reuses. No allocation per read, however the reads fall.
   */
  copyRemainder?: boolean;
}

const KEEP_ALIVE: WireMessage = Object.freeze({ type: 'keep-alive' });
const SIMPLE: readonly WireMessage[] = [{ type: 'choke' }, { type: 'unchoke' }, { type: 'interested' }, { type: 'not-interested' }].map((m) =>
  Object.freeze(m as WireMessage),
);

/**
 * Feed it bytes as they arrive; it gives back the handshake, then messages. A bad stream
 * throws a WireError (tryPush returns it); the decoder then refuses everything after.
 */
export class WireDecoder {
  /** Largest value a length prefix may announce (over all message kinds). */
  readonly maxFrameBytes: number;
  private readonly maxBitfieldBytes: number;
  private chunks: Uint8Array[] = [];
  private head = 0; // bytes of chunks[0] already consumed
  private buffered = 0;
  private handshakeDone = false;
  private frameLength = -1; // -1: waiting for a length prefix
  private frameChecked = false;
  private failure: WireError | null = null;
  private readonly copyRemainder: boolean;
  /** copyRemainder mode: two buffers for the unconsumed tail (alternating), one for a split frame. */
  private tails: [Uint8Array, Uint8Array] | null = null;
  private tailIndex = 0;
  private assembly: Uint8Array | null = null;

  constructor(options: WireDecoderOptions = {}) {
    this.copyRemainder = options.copyRemainder ?? false;
    const maxPieces = options.maxPieces ?? DEFAULT_MAX_PIECES;
    if (!Number.isSafeInteger(maxPieces) || maxPieces < 1) throw new RangeError(`maxPieces ${maxPieces}`);
    this.maxBitfieldBytes = Math.ceil(maxPieces / 8);
    this.maxFrameBytes = Math.max(1 + this.maxBitfieldBytes, 9 + BLOCK_BYTES, 2 + MAX_EXTENDED_PAYLOAD_BYTES);
  }

  /** Bytes held waiting for the rest of a handshake or frame (at most maxFrameBytes + 4). */
  bufferedBytes(): number {
    return this.buffered;
  }

  push(bytes: Uint8Array): WireEvent[] {
    if (this.failure) throw this.failure;
    if (bytes.length > 0) {
      this.chunks.push(bytes);
      this.buffered += bytes.length;
    }
    const out: WireEvent[] = [];
    try {
      if (!this.handshakeDone) {
        if (this.buffered > 0 && this.byteAt(0) !== PSTR.length) throw new WireError('BAD_HANDSHAKE', `pstrlen ${this.byteAt(0)}`);
        if (this.buffered < HANDSHAKE_BYTES) return out;
        out.push({ type: 'handshake', ...decodeHandshake(this.take(HANDSHAKE_BYTES)) });
        this.handshakeDone = true;
      }
      for (;;) {
        if (this.frameLength < 0) {
          if (this.buffered < HEADER_BYTES) break;
          const length = ((this.byteAt(0) << 24) | (this.byteAt(1) << 16) | (this.byteAt(2) << 8) | this.byteAt(3)) >>> 0;
          if (length > this.maxFrameBytes) throw new WireError('FRAME_TOO_LARGE', `frame of ${length} bytes announced; the limit is ${this.maxFrameBytes}`);
          this.skip(HEADER_BYTES);
          if (length === 0) {
            out.push(KEEP_ALIVE);
            continue;
          }
          this.frameLength = length;
          this.frameChecked = false;
        }
        if (!this.frameChecked) {
          if (this.buffered < 1) break;
          this.checkFrame(this.byteAt(0), this.frameLength);
          this.frameChecked = true;
        }
        if (this.buffered < this.frameLength) break;
        const body = this.take(this.frameLength);
        this.frameLength = -1;
        out.push(this.parse(body));
      }
      return out;
    } catch (error) {
      if (!(error instanceof WireError)) throw error;
      this.failure = error;
      this.chunks = [];
      this.head = 0;
      this.buffered = 0;
      throw error;
    } finally {
      // Every way out (the early return inside the handshake too) keeps no view of `bytes`.
      if (this.copyRemainder && this.buffered > 0) this.keepTail();
    }
  }

  /** push(), with a refusal as a value: the caller logs it and closes the connection. */
  tryPush(bytes: Uint8Array): WireEvent[] | WireError {
    try {
      return this.push(bytes);
    } catch (error) {
      if (error instanceof WireError) return error;
      throw error;
    }
  }

  /** The stream ended: throws if it stopped inside the handshake or a frame. */
  end(): void {
    if (this.failure) throw this.failure;
    if (this.buffered === 0 && this.frameLength < 0) return;
    const error = this.handshakeDone
      ? new WireError('BAD_MESSAGE', 'stream ended inside a frame')
      : new WireError('BAD_HANDSHAKE', `stream ended after ${this.buffered} handshake bytes`);
    this.failure = error;
    throw error;
  }

  /** Refuses a frame from its length and id alone, before its body is buffered. */
  private checkFrame(id: number, length: number): void {
    switch (id) {
      case ID.choke:
      case ID.unchoke:
      case ID.interested:
      case ID['not-interested']:
        return exact(id, length, 1);
      case ID.have:
        return exact(id, length, 5);
      case ID.request:
      case ID.cancel:
        return exact(id, length, 13);
      case ID.bitfield:
        if (length > 1 + this.maxBitfieldBytes) throw new WireError('FRAME_TOO_LARGE', `bitfield of ${length - 1} bytes; the limit is ${this.maxBitfieldBytes}`);
        return;
      case ID.piece:
        if (length > 9 + BLOCK_BYTES) throw new WireError('FRAME_TOO_LARGE', `piece block of ${length - 9} bytes`);
        if (length < 10) throw new WireError('BAD_MESSAGE', `piece frame of ${length} bytes`);
        return;
      case ID.extended:
        if (length > 2 + MAX_EXTENDED_PAYLOAD_BYTES) throw new WireError('FRAME_TOO_LARGE', `extended payload of ${length - 2} bytes`);
        if (length < 2) throw new WireError('BAD_MESSAGE', 'extended message without an id');
        return;
      default:
        throw new WireError('UNKNOWN_MESSAGE', `message id ${id}`);
    }
  }

  private parse(body: Uint8Array): WireMessage {
    const id = body[0]!;
    if (id <= ID['not-interested']) return SIMPLE[id]!;
    const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
    switch (id) {
      case ID.have:
        return { type: 'have', index: view.getUint32(1) };
      case ID.bitfield:
        return { type: 'bitfield', bitfield: body.slice(1) };
      case ID.request:
      case ID.cancel: {
        const length = view.getUint32(9);
        if (length < 1 || length > BLOCK_BYTES) throw new WireError('BAD_MESSAGE', `request length ${length} is not 1..${BLOCK_BYTES}`);
        return { type: id === ID.request ? 'request' : 'cancel', index: view.getUint32(1), begin: view.getUint32(5), length };
      }
      case ID.piece:
        return { type: 'piece', index: view.getUint32(1), begin: view.getUint32(5), block: body.subarray(9) };
      default: // ID.extended: checkFrame let nothing else through
        return { type: 'extended', extId: body[1]!, payload: body.slice(2) };
    }
  }

  private byteAt(offset: number): number {
    let at = this.head + offset;
    for (const chunk of this.chunks) {
      if (at < chunk.length) return chunk[at]!;
      at -= chunk.length;
    }
    throw new RangeError('byteAt past the buffered bytes'); // unreachable: callers check `buffered`
  }

  private skip(count: number): void {
    this.buffered -= count;
    while (count > 0) {
      const chunk = this.chunks[0]!;
      const left = chunk.length - this.head;
      if (count < left) {
        this.head += count;
        return;
      }
      count -= left;
      this.chunks.shift();
      this.head = 0;
    }
  }

  /** Copies the unconsumed bytes into the tail buffer not in use (they may lie in the other). */
  private keepTail(): void {
    const size = this.maxFrameBytes + HEADER_BYTES + HANDSHAKE_BYTES;
    this.tails ??= [new Uint8Array(size), new Uint8Array(size)];
    this.tailIndex ^= 1;
    const tail = this.tails[this.tailIndex]!;
    let filled = 0;
    for (const [i, chunk] of this.chunks.entries()) {
      const part = i === 0 ? chunk.subarray(this.head) : chunk;
      tail.set(part, filled);
      filled += part.length;
    }
    this.chunks = [tail.subarray(0, filled)];
    this.head = 0;
  }

  /** The next `count` bytes: a view when they lie in one chunk, else one copy. */
  private take(count: number): Uint8Array {
    const first = this.chunks[0]!;
    if (first.length - this.head >= count) {
      const out = first.subarray(this.head, this.head + count);
      this.skip(count);
      return out;
    }
    // A frame split across pushes: in copyRemainder mode, assembled in a reused buffer.
    if (this.copyRemainder) this.assembly ??= new Uint8Array(this.maxFrameBytes + HEADER_BYTES + HANDSHAKE_BYTES);
    const out = this.copyRemainder ? this.assembly!.subarray(0, count) : new Uint8Array(count);
    let filled = 0;
    let index = 0;
    let head = this.head;
    while (filled < count) {
      const chunk = this.chunks[index]!;
      const used = Math.min(chunk.length - head, count - filled);
      out.set(chunk.subarray(head, head + used), filled);
      filled += used;
      head += used;
      if (head === chunk.length) {
        index++;
        head = 0;
      }
    }
    this.chunks.splice(0, index); // one splice, not a shift per chunk: many tiny chunks stay linear
    this.head = head;
    this.buffered -= count;
    return out;
  }
}

function exact(id: number, length: number, expected: number): void {
  if (length !== expected) throw new WireError('BAD_MESSAGE', `message ${id} of ${length} bytes; it has ${expected}`);
}

// ---------------------------------------------------------------------------------------------
// BEP 10 extension handshake (extended message id 0)

export interface ExtendedHandshake {
  /** Extension name → the id the sender wants to receive it under (0 = disabled). */
  m: Record<string, number>;
  /** Our access ticket (DESIGN.md §7), under "clique_ticket". */
  ticket?: string;
  /** Client name and version. */
  v?: string;
  /** Why the serving peer refuses this connection (an error code such as TICKET_EXPIRED). */
  refused?: string;
  /** The TCP port the sender listens on (BEP 10 `p`): where others dial it, whoever dialed this connection. */
  p?: number;
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function textBytes(text: string, max: number, what: string): Uint8Array {
  const bytes = utf8.encode(text);
  if (bytes.length > max) throw new WireError('BAD_MESSAGE', `${what} of ${bytes.length} bytes; the limit is ${max}`);
  return bytes;
}

function checkExtensionIds(entries: [string, unknown][]): void {
  if (entries.length > MAX_EXTENSION_NAMES) throw new WireError('BAD_MESSAGE', `more than ${MAX_EXTENSION_NAMES} extensions`);
  for (const [name, id] of entries) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 255) {
      // The name is the peer's text: quoted, escaped and cut, so it cannot reach a terminal raw.
      throw new WireError('BAD_MESSAGE', `extension ${JSON.stringify(name.slice(0, 32))} has a bad id`);
    }
  }
}

function isPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65_535;
}

/** The bencoded payload of extended message 0. Throws WireError('BAD_MESSAGE') on bad fields. */
export function encodeExtendedHandshake(h: ExtendedHandshake): Uint8Array {
  const entries = Object.entries(h.m);
  checkExtensionIds(entries);
  const dict: BencodeDict = new Map<string, BencodeValue>([['m', new Map<string, BencodeValue>(entries)]]);
  if (h.ticket !== undefined) dict.set(TICKET_KEY, textBytes(h.ticket, MAX_TICKET_BYTES, 'ticket'));
  if (h.v !== undefined) dict.set('v', textBytes(h.v, MAX_CLIENT_VERSION_BYTES, 'client version'));
  if (h.refused !== undefined) dict.set(REFUSED_KEY, textBytes(h.refused, MAX_REFUSED_BYTES, 'refusal'));
  if (h.p !== undefined) {
    if (!isPort(h.p)) throw new WireError('BAD_MESSAGE', `listen port ${h.p} is not 1–65535`);
    dict.set('p', h.p);
  }
  try {
    return bencode(dict);
  } catch (error) {
    if (error instanceof BencodeError) throw new WireError('BAD_MESSAGE', `extended handshake: ${error.message}`);
    throw error;
  }
}

function readText(value: BencodeValue | undefined, max: number, what: string): string | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof Uint8Array)) throw new WireError('BAD_MESSAGE', `${what} is not a byte string`);
  if (value.length > max) throw new WireError('BAD_MESSAGE', `${what} of ${value.length} bytes; the limit is ${max}`);
  try {
    return utf8Strict.decode(value);
  } catch {
    throw new WireError('BAD_MESSAGE', `${what} is not UTF-8`);
  }
}

/** Parses extended message 0's payload; unknown keys are ignored (BEP 10). Throws WireError('BAD_MESSAGE'). */
export function decodeExtendedHandshake(payload: Uint8Array): ExtendedHandshake {
  let root: BencodeValue;
  try {
    root = bdecode(payload, { maxInputBytes: MAX_EXTENDED_PAYLOAD_BYTES, maxDepth: 8, maxItems: 1024 });
  } catch (error) {
    if (error instanceof BencodeError) throw new WireError('BAD_MESSAGE', `extended handshake: ${error.code}: ${error.message}`);
    throw error;
  }
  if (!(root instanceof Map)) throw new WireError('BAD_MESSAGE', 'extended handshake is not a dictionary');
  const m = root.get('m');
  if (!(m instanceof Map)) throw new WireError('BAD_MESSAGE', 'extended handshake has no "m" dictionary');
  const entries = [...m];
  checkExtensionIds(entries);
  const out: ExtendedHandshake = { m: Object.fromEntries(entries) as Record<string, number> };
  const ticket = readText(root.get(TICKET_KEY), MAX_TICKET_BYTES, 'ticket');
  if (ticket !== undefined) out.ticket = ticket;
  const v = readText(root.get('v'), MAX_CLIENT_VERSION_BYTES, 'client version');
  if (v !== undefined) out.v = v;
  const refused = readText(root.get(REFUSED_KEY), MAX_REFUSED_BYTES, 'refusal');
  if (refused !== undefined) out.refused = refused;
  const p = root.get('p');
  if (p !== undefined) {
    if (!isPort(p)) throw new WireError('BAD_MESSAGE', 'listen port "p" is not an integer 1–65535');
    out.p = p;
  }
  return out;
}
