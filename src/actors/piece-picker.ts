// Why this file exists: which block to ask of which peer decides how fast a swarm download is
// and whether a liar can be caught (issue 6 "scheduler"). This is the pure core of the
// scheduler actor, after libtorrent's piece picker: a few random first pieces, then rarest
// first; pieces already started are finished before new ones are begun; a peer keeps to "its"
// pieces so a bad piece has one author; strict endgame (duplicate requests only when every
// missing block is requested) with cancels; a failed piece from several peers is re-fetched
// from one peer alone ("parole"), so that strikes only ever fall on a proven author.
// No IO, no clock: the caller feeds it peers, blocks and verdicts, and an rng for ties.

import { Bitfield } from '../torrent/bitfield.js';

export const BLOCK_LENGTH_BYTES = 16 * 1024;
export const DEFAULT_RANDOM_FIRST_PIECES = 4;
const MAX_ENDGAME_COPIES = 2;

export interface BlockRef {
  pieceIndex: number;
  beginBytes: number;
  lengthBytes: number;
}

export interface PickerRng {
  int(bound: number): number;
}

export interface PiecePickerOptions {
  sizeBytes: number;
  pieceLengthBytes: number;
  /** Pieces held already (verified), e.g. after a resume. */
  have: (pieceIndex: number) => boolean;
  rng: PickerRng;
  randomFirstPieces?: number;
}

/**
 * A block is open (null), requested from one peer (its key) or, in endgame, from several (their
 * set), or received (true). One peer is the common case and costs no allocation.
 */
type BlockState = null | string | Set<string> | true;

/** The peers a requested block is asked of. */
function requesters(slot: string | Set<string>): Iterable<string> {
  return typeof slot === 'string' ? [slot] : slot;
}

function requestedBy(slot: string | Set<string>, peer: string): boolean {
  return typeof slot === 'string' ? slot === peer : slot.has(peer);
}

function requesterCount(slot: string | Set<string>): number {
  return typeof slot === 'string' ? 1 : slot.size;
}

/** Requested or received. */
function isTaken(slot: BlockState): boolean {
  return slot !== null;
}

/** The slot without `peer` (null when nobody is left). */
function withoutRequester(slot: string | Set<string>, peer: string): BlockState {
  if (typeof slot === 'string') return slot === peer ? null : slot;
  slot.delete(peer);
  return slot.size === 0 ? null : slot.size === 1 ? slot.values().next().value! : slot;
}

interface PartialPiece {
  readonly blocks: BlockState[];
  receivedCount: number;
  /** Peers that delivered at least one block of this piece. */
  readonly contributors: Set<string>;
  /** The peer that began it: it prefers to finish it, others help only after new pieces run out. */
  owner: string | undefined;
  /** After a failure with several authors: the piece comes whole from one peer. */
  readonly parole: boolean;
}

interface PeerState {
  readonly bitfield: Bitfield;
  /** Outstanding requests, by block key. */
  readonly requests: Map<string, BlockRef>;
}

/** The common verdict (accepted, piece not complete, nothing to cancel), shared: no allocation per block. */
const ACCEPTED: BlockVerdict = Object.freeze({ accepted: true as const, pieceComplete: false, cancels: Object.freeze([]) as unknown as Array<{ peer: string; block: BlockRef }> });

export type BlockVerdict =
  | { accepted: false; reason: 'unrequested' | 'duplicate' | 'bad-shape' }
  | { accepted: true; pieceComplete: boolean; cancels: Array<{ peer: string; block: BlockRef }> };

export interface PieceFailure {
  contributors: string[];
  /** Exactly one peer sent every block: it is the proven author. */
  soleAuthor: string | undefined;
}

/**
 * A piece's state in `pieceStates()`, one byte a piece. The codes are the characters of the
 * page's piece map (`v`, `f`, `-`), so a map is the bytes read as text, with no translation.
 */
export const PieceState = {
  /** Verified (its SHA1 matched). */
  verified: 0x76,
  /** In flight: some block requested or received and not yet verified, or the whole piece waiting for its SHA1 verdict. */
  inFlight: 0x66,
  /** Missing: nothing of it asked for or held. */
  missing: 0x2d,
} as const;
export type PieceState = (typeof PieceState)[keyof typeof PieceState];

function blockKey(pieceIndex: number, beginBytes: number): string {
  return `${pieceIndex}:${beginBytes}`;
}

export class PiecePicker {
  readonly pieceCount: number;
  private readonly have: Bitfield;
  private readonly availability: Int32Array;
  private readonly partial = new Map<number, PartialPiece>();
  /** Pieces fully received and waiting for their SHA1 verdict. */
  private readonly verifying = new Set<number>();
  private readonly peers = new Map<string, PeerState>();
  private readonly parolePieces = new Set<number>();
  /** Contributors of pieces waiting for their verdict. */
  private readonly pendingContributors = new Map<number, string[]>();
  private readonly randomFirstPieces: number;
  /** Duplicate requests made in endgame (a coverage counter). */
  endgameRequests = 0;

  constructor(private readonly options: PiecePickerOptions) {
    const { sizeBytes, pieceLengthBytes } = options;
    this.pieceCount = sizeBytes === 0 ? 0 : Math.ceil(sizeBytes / pieceLengthBytes);
    this.have = new Bitfield(this.pieceCount);
    for (let i = 0; i < this.pieceCount; i++) if (options.have(i)) this.have.set(i);
    this.availability = new Int32Array(this.pieceCount);
    this.randomFirstPieces = options.randomFirstPieces ?? DEFAULT_RANDOM_FIRST_PIECES;
  }

  get complete(): boolean {
    return this.have.complete;
  }

  get verifiedCount(): number {
    return this.have.count;
  }

  pieceLengthBytes(pieceIndex: number): number {
    return Math.min(this.options.pieceLengthBytes, this.options.sizeBytes - pieceIndex * this.options.pieceLengthBytes);
  }

  blockCount(pieceIndex: number): number {
    return Math.ceil(this.pieceLengthBytes(pieceIndex) / BLOCK_LENGTH_BYTES);
  }

  hasPiece(pieceIndex: number): boolean {
    return this.have.has(pieceIndex);
  }

  /**
   * Every piece's state, a `PieceState` byte each, written into `out` (reused by a caller that
   * asks often: no allocation) or a new array. O(pieces) plus the blocks of the pieces begun.
   * A piece begun whose every request was released, with nothing received, is missing again.
   */
  pieceStates(out: Uint8Array = new Uint8Array(this.pieceCount)): Uint8Array {
    if (out.length !== this.pieceCount) throw new Error(`pieceStates: ${out.length} bytes for ${this.pieceCount} pieces`);
    for (let i = 0; i < this.pieceCount; i++) out[i] = this.have.has(i) ? PieceState.verified : PieceState.missing;
    for (const i of this.verifying) out[i] = PieceState.inFlight;
    for (const [i, piece] of this.partial) {
      if (piece.receivedCount > 0 || piece.blocks.some(isTaken)) out[i] = PieceState.inFlight;
    }
    return out;
  }

  // ---- peers ----

  addPeer(peer: string, bitfield: Bitfield): void {
    if (this.peers.has(peer)) throw new Error(`peer ${peer} added twice`);
    if (bitfield.pieceCount !== this.pieceCount) throw new Error('bitfield of another size');
    this.peers.set(peer, { bitfield, requests: new Map() });
    for (const i of bitfield.indices()) this.availability[i]!++;
  }

  /** The peer announced a piece; true when that makes it interesting to us. */
  peerHave(peer: string, pieceIndex: number): boolean {
    const state = this.peers.get(peer);
    if (!state || !state.bitfield.set(pieceIndex)) return false;
    this.availability[pieceIndex]!++;
    return !this.have.has(pieceIndex);
  }

  /** The peer is gone; returns the parole pieces that start over (see releaseRequests). */
  removePeer(peer: string): number[] {
    const state = this.peers.get(peer);
    if (!state) return [];
    const { resetPieces } = this.releaseRequests(peer);
    for (const i of state.bitfield.indices()) this.availability[i]!--;
    this.peers.delete(peer);
    return resetPieces;
  }

  /**
   * The peer choked us or stalled: its outstanding blocks go back to the pool. A parole piece
   * it was sending starts over (resetPieces: the caller discards their received bytes).
   */
  releaseRequests(peer: string): { released: BlockRef[]; resetPieces: number[] } {
    const state = this.peers.get(peer);
    if (!state) return { released: [], resetPieces: [] };
    const released = [...state.requests.values()];
    for (const block of released) {
      const piece = this.partial.get(block.pieceIndex);
      const blockIndex = block.beginBytes / BLOCK_LENGTH_BYTES;
      const slot = piece?.blocks[blockIndex];
      if (piece && slot !== undefined && slot !== null && slot !== true) piece.blocks[blockIndex] = withoutRequester(slot, peer);
    }
    state.requests.clear();
    const resetPieces: number[] = [];
    for (const [index, piece] of this.partial) {
      if (piece.owner !== peer) continue;
      piece.owner = undefined;
      // A parole piece must keep one author: what this peer sent is discarded.
      if (piece.parole) {
        this.resetPiece(index);
        resetPieces.push(index);
      }
    }
    return { released, resetPieces };
  }

  outstanding(peer: string): number {
    return this.peers.get(peer)?.requests.size ?? 0;
  }

  /** Does the peer hold a piece we still need? */
  isInteresting(peer: string): boolean {
    const state = this.peers.get(peer);
    if (!state) return false;
    for (let i = 0; i < this.pieceCount; i++) if (!this.have.has(i) && state.bitfield.has(i)) return true;
    return false;
  }

  /** Pieces we lack that no connected peer holds. */
  unavailablePieces(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.pieceCount; i++) if (!this.have.has(i) && this.availability[i] === 0) out.push(i);
    return out;
  }

  // ---- picking ----

  /**
   * Up to `maxBlocks` new requests for `peer`, in the order they should be sent. With
   * `startPieces` false (memory is short) only pieces already begun are asked for, so they can
   * finish and free their memory.
   */
  pick(peer: string, maxBlocks: number, startPieces = true): BlockRef[] {
    const state = this.peers.get(peer);
    const out: BlockRef[] = [];
    if (!state) return out;
    const take = (pieceIndex: number, piece: PartialPiece, duplicates: boolean): void => {
      for (let b = 0; b < piece.blocks.length && out.length < maxBlocks; b++) {
        const slot = piece.blocks[b]!;
        if (slot === true) continue;
        // In endgame a block is asked of at most two peers: enough to beat a slow one, little waste.
        if (slot !== null && (!duplicates || requestedBy(slot, peer) || requesterCount(slot) >= MAX_ENDGAME_COPIES)) continue;
        if (slot !== null) this.endgameRequests++;
        const block = this.blockRef(pieceIndex, b);
        if (slot === null) piece.blocks[b] = peer;
        else if (typeof slot === 'string') piece.blocks[b] = new Set([slot, peer]);
        else slot.add(peer);
        state.requests.set(blockKey(pieceIndex, block.beginBytes), block);
        out.push(block);
      }
    };
    const usable = (index: number, piece: PartialPiece): boolean =>
      state.bitfield.has(index) && !this.verifying.has(index) && (!piece.parole || piece.owner === undefined || piece.owner === peer);
    const adopt = (index: number, piece: PartialPiece): void => {
      if (piece.owner === undefined && (piece.parole ? piece.receivedCount === 0 : true)) piece.owner = peer;
      take(index, piece, false);
    };
    // 1. its own pieces; 2. orphaned ones (their owner left or choked us).
    for (const [index, piece] of this.partial) if (out.length < maxBlocks && piece.owner === peer && usable(index, piece)) take(index, piece, false);
    for (const [index, piece] of this.partial) if (out.length < maxBlocks && piece.owner === undefined && usable(index, piece)) adopt(index, piece);
    // 3. new pieces, random first, then rarest first.
    while (startPieces && out.length < maxBlocks) {
      const index = this.choosePiece(state.bitfield);
      if (index === undefined) break;
      const piece = this.startPiece(index, peer);
      take(index, piece, false);
    }
    // 4. help with other peers' pieces (never a parole piece: it has one author).
    for (const [index, piece] of this.partial) if (out.length < maxBlocks && !piece.parole && usable(index, piece)) take(index, piece, false);
    // 5. strict endgame: every missing block is requested; ask this peer too.
    if (out.length < maxBlocks && this.allMissingRequested()) {
      for (const [index, piece] of this.partial) if (out.length < maxBlocks && !piece.parole && usable(index, piece)) take(index, piece, true);
    }
    return out;
  }

  /** Two passes and one draw, no allocation: the rarest pieces are counted, then the k-th is taken. */
  private choosePiece(peerPieces: Bitfield): number | undefined {
    const random = this.have.count < this.randomFirstPieces;
    const eligible = (i: number): boolean => peerPieces.has(i) && !this.have.has(i) && !this.partial.has(i) && !this.verifying.has(i);
    let rarest = Infinity;
    let ties = 0;
    for (let i = 0; i < this.pieceCount; i++) {
      if (!eligible(i)) continue;
      const availability = random ? 0 : this.availability[i]!;
      if (availability < rarest) {
        rarest = availability;
        ties = 0;
      }
      if (availability === rarest) ties++;
    }
    if (ties === 0) return undefined;
    let k = this.options.rng.int(ties);
    for (let i = 0; i < this.pieceCount; i++) {
      if (eligible(i) && (random ? 0 : this.availability[i]!) === rarest && k-- === 0) return i;
    }
    return undefined; // unreachable: the second pass sees the same ties
  }

  private startPiece(pieceIndex: number, owner: string): PartialPiece {
    const piece: PartialPiece = {
      blocks: new Array<BlockState>(this.blockCount(pieceIndex)).fill(null),
      receivedCount: 0,
      contributors: new Set(),
      owner,
      parole: this.parolePieces.has(pieceIndex),
    };
    this.partial.set(pieceIndex, piece);
    return piece;
  }

  private allMissingRequested(): boolean {
    for (let i = 0; i < this.pieceCount; i++) {
      if (this.have.has(i) || this.verifying.has(i)) continue;
      const piece = this.partial.get(i);
      if (!piece || piece.blocks.some((slot) => slot === null)) return false;
    }
    return true;
  }

  private blockRef(pieceIndex: number, blockIndex: number): BlockRef {
    const beginBytes = blockIndex * BLOCK_LENGTH_BYTES;
    return { pieceIndex, beginBytes, lengthBytes: Math.min(BLOCK_LENGTH_BYTES, this.pieceLengthBytes(pieceIndex) - beginBytes) };
  }

  // ---- blocks and verdicts ----

  /**
   * A block arrived from `peer`. Accepted only when that peer has a request out for it (not
   * released by a choke or a snub, not cancelled) and the block is still missing: a peer cannot
   * slip bytes nobody asked it for into a piece others are filling, and so dodge its strikes.
   */
  onBlock(peer: string, pieceIndex: number, beginBytes: number, lengthBytes: number): BlockVerdict {
    const piece = this.partial.get(pieceIndex);
    const blockIndex = beginBytes / BLOCK_LENGTH_BYTES;
    const key = blockKey(pieceIndex, beginBytes);
    if (!piece) return { accepted: false, reason: 'unrequested' };
    if (!Number.isInteger(blockIndex) || blockIndex >= piece.blocks.length || this.blockRef(pieceIndex, blockIndex).lengthBytes !== lengthBytes) {
      return { accepted: false, reason: 'bad-shape' };
    }
    if (!(this.peers.get(peer)?.requests.delete(key) ?? false)) return { accepted: false, reason: 'unrequested' };
    const slot = piece.blocks[blockIndex]!;
    if (slot === true) return { accepted: false, reason: 'duplicate' };
    if (piece.parole && piece.owner !== peer) return { accepted: false, reason: 'unrequested' };
    let cancels: Array<{ peer: string; block: BlockRef }> | null = null;
    if (slot !== null) {
      for (const other of requesters(slot)) {
        if (other === peer) continue;
        const block = this.peers.get(other)?.requests.get(key);
        if (block) {
          this.peers.get(other)!.requests.delete(key);
          (cancels ??= []).push({ peer: other, block });
        }
      }
    }
    piece.blocks[blockIndex] = true;
    piece.receivedCount++;
    piece.contributors.add(peer);
    const pieceComplete = piece.receivedCount === piece.blocks.length;
    if (pieceComplete) {
      this.partial.delete(pieceIndex);
      this.verifying.add(pieceIndex);
      this.pendingContributors.set(pieceIndex, [...piece.contributors]);
    }
    if (!pieceComplete && cancels === null) return ACCEPTED;
    return { accepted: true, pieceComplete, cancels: cancels ?? [] };
  }

  onPieceVerified(pieceIndex: number): void {
    this.verifying.delete(pieceIndex);
    this.pendingContributors.delete(pieceIndex);
    this.parolePieces.delete(pieceIndex);
    this.have.set(pieceIndex);
  }

  /** The piece failed its hash: it is fetched again; a piece from several authors goes on parole. */
  onPieceFailed(pieceIndex: number): PieceFailure {
    this.verifying.delete(pieceIndex);
    const contributors = this.pendingContributors.get(pieceIndex) ?? [];
    this.pendingContributors.delete(pieceIndex);
    const soleAuthor = contributors.length === 1 ? contributors[0] : undefined;
    if (soleAuthor === undefined) this.parolePieces.add(pieceIndex);
    return { contributors, soleAuthor };
  }

  private resetPiece(pieceIndex: number): void {
    const piece = this.partial.get(pieceIndex);
    if (!piece) return;
    piece.blocks.forEach((slot, blockIndex) => {
      if (slot === null || slot === true) return;
      for (const peer of requesters(slot)) this.peers.get(peer)?.requests.delete(blockKey(pieceIndex, blockIndex * BLOCK_LENGTH_BYTES));
    });
    this.partial.delete(pieceIndex);
  }
}
