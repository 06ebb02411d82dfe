// The piece picker, the scheduler's pure core: rarest first after random first pieces, started
// pieces finished first, strict endgame with cancels, released requests reassigned, parole for
// a failed piece with several authors — and, over random swarms (fast-check), a download driven
// only by the picker always completes with every piece from a peer that holds it.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Bitfield } from '../../src/torrent/bitfield.js';
import { BLOCK_LENGTH_BYTES, PiecePicker, PieceState, type BlockRef } from '../../src/actors/piece-picker.js';
import { SeededRng } from '../../src/world/rng.js';

const PIECE = 4 * BLOCK_LENGTH_BYTES; // small pieces keep the tests readable

function picker(pieces: number, options: { have?: number[]; randomFirstPieces?: number; seed?: number } = {}): PiecePicker {
  return new PiecePicker({
    sizeBytes: pieces * PIECE,
    pieceLengthBytes: PIECE,
    have: (i) => options.have?.includes(i) ?? false,
    rng: new SeededRng(options.seed ?? 1),
    randomFirstPieces: options.randomFirstPieces ?? 0,
  });
}

function bits(pieces: number, held: number[] | 'all'): Bitfield {
  if (held === 'all') return Bitfield.full(pieces);
  const b = new Bitfield(pieces);
  for (const i of held) b.set(i);
  return b;
}

function deliver(p: PiecePicker, peer: string, blocks: readonly BlockRef[]): number[] {
  const complete: number[] = [];
  for (const b of blocks) {
    const verdict = p.onBlock(peer, b.pieceIndex, b.beginBytes, b.lengthBytes);
    if (verdict.accepted && verdict.pieceComplete) complete.push(b.pieceIndex);
  }
  return complete;
}

/** The picker's piece states as the page's map reads them: `v`, `f`, `-`. */
function states(p: PiecePicker): string {
  return new TextDecoder('latin1').decode(p.pieceStates());
}

describe('piece picker', () => {
  it('picks the rarest piece first, and keeps to it until it is fully requested', () => {
    const p = picker(4);
    p.addPeer('a', bits(4, 'all'));
    p.addPeer('b', bits(4, [0, 1, 3]));
    p.addPeer('c', bits(4, [0, 1]));
    // availability: 0→3, 1→3, 2→1, 3→2
    const first = p.pick('a', 4);
    expect(first.map((b) => b.pieceIndex)).toEqual([2, 2, 2, 2]);
    expect(first.map((b) => b.beginBytes)).toEqual([0, 1, 2, 3].map((i) => i * BLOCK_LENGTH_BYTES));
    expect(p.pick('a', 1)[0]!.pieceIndex).toBe(3);
  });

  it('takes the first pieces at random, then turns to rarest first', () => {
    const firsts = new Set<number>();
    for (let seed = 1; seed <= 20; seed++) {
      const p = picker(8, { randomFirstPieces: 2, seed });
      p.addPeer('a', bits(8, 'all'));
      p.addPeer('b', bits(8, [0, 1, 2, 3, 4, 5, 6])); // piece 7 is the rarest
      firsts.add(p.pick('a', 1)[0]!.pieceIndex);
    }
    expect(firsts.size).toBeGreaterThan(3);

    const p = picker(8, { randomFirstPieces: 1, have: [0] });
    p.addPeer('a', bits(8, 'all'));
    p.addPeer('b', bits(8, [0, 1, 2, 3, 4, 5, 6]));
    expect(p.pick('a', 1)[0]!.pieceIndex).toBe(7);
  });

  it("finishes a started piece (its owner choked us) before starting a new one", () => {
    const p = picker(3);
    p.addPeer('a', bits(3, 'all'));
    p.addPeer('b', bits(3, 'all'));
    const started = p.pick('a', 2); // half of a piece
    deliver(p, 'a', started.slice(0, 1));
    const { released } = p.releaseRequests('a');
    expect(released).toEqual([started[1]]);
    const next = p.pick('b', 3);
    expect(next.map((b) => [b.pieceIndex, b.beginBytes / BLOCK_LENGTH_BYTES])).toEqual([
      [started[0]!.pieceIndex, 1],
      [started[0]!.pieceIndex, 2],
      [started[0]!.pieceIndex, 3],
    ]);
  });

  it('enters endgame only when every missing block is requested, and cancels the duplicates', () => {
    const p = picker(2);
    p.addPeer('a', bits(2, 'all'));
    p.addPeer('b', bits(2, 'all'));
    const fromA = p.pick('a', 7); // all but one block
    expect(p.endgameRequests).toBe(0);
    const fromB = p.pick('b', 8);
    expect(fromB).toHaveLength(1 + 7); // the last open block, then duplicates of a's
    expect(p.endgameRequests).toBe(7);
    const verdict = p.onBlock('b', fromA[0]!.pieceIndex, fromA[0]!.beginBytes, fromA[0]!.lengthBytes);
    expect(verdict).toMatchObject({ accepted: true, cancels: [{ peer: 'a', block: fromA[0] }] });
    // a's copy arrives after the cancel: its request is gone, so it is not taken.
    expect(p.onBlock('a', fromA[0]!.pieceIndex, fromA[0]!.beginBytes, fromA[0]!.lengthBytes)).toEqual({ accepted: false, reason: 'unrequested' });
  });

  it('refuses blocks nobody asked for (or asked of another peer), of the wrong shape, or for pieces we hold', () => {
    const p = picker(2, { have: [1] });
    p.addPeer('a', bits(2, 'all'));
    expect(p.onBlock('a', 0, 0, BLOCK_LENGTH_BYTES)).toEqual({ accepted: false, reason: 'unrequested' });
    p.pick('a', 1);
    expect(p.onBlock('a', 0, 100, BLOCK_LENGTH_BYTES)).toEqual({ accepted: false, reason: 'bad-shape' });
    expect(p.onBlock('a', 0, 0, 10)).toEqual({ accepted: false, reason: 'bad-shape' });
    expect(p.onBlock('a', 1, 0, BLOCK_LENGTH_BYTES)).toEqual({ accepted: false, reason: 'unrequested' });
    // A block of a piece in progress that was asked of another peer is refused too.
    p.addPeer('b', bits(2, 'all'));
    expect(p.onBlock('b', 0, 0, BLOCK_LENGTH_BYTES)).toEqual({ accepted: false, reason: 'unrequested' });
    expect(p.onBlock('a', 0, 0, BLOCK_LENGTH_BYTES)).toMatchObject({ accepted: true });
  });

  it('blames the sole author of a bad piece; a piece from several authors goes on parole to one peer', () => {
    const p = picker(1);
    p.addPeer('liar', bits(1, 'all'));
    p.addPeer('honest', bits(1, 'all'));
    const [piece] = deliver(p, 'liar', p.pick('liar', 4));
    expect(piece).toBe(0);
    expect(p.onPieceFailed(0)).toEqual({ contributors: ['liar'], soleAuthor: 'liar' });

    const a = p.pick('liar', 2);
    const b = p.pick('honest', 2);
    deliver(p, 'liar', a);
    deliver(p, 'honest', b);
    expect(p.onPieceFailed(0)).toEqual({ contributors: ['liar', 'honest'], soleAuthor: undefined });
    // On parole the whole piece goes to the first peer that asks, and to no one else.
    expect(p.pick('honest', 8)).toHaveLength(4);
    expect(p.pick('liar', 8)).toEqual([]);
  });

  it('a parole piece whose author leaves starts over (its bytes are to be discarded)', () => {
    const p = picker(1);
    p.addPeer('a', bits(1, 'all'));
    p.addPeer('b', bits(1, 'all'));
    deliver(p, 'a', p.pick('a', 2));
    deliver(p, 'b', p.pick('b', 2));
    p.onPieceFailed(0);
    deliver(p, 'a', p.pick('a', 1));
    expect(p.removePeer('a')).toEqual([0]);
    expect(p.pick('b', 8)).toHaveLength(4);
  });

  it("tells each piece's state: verified, in flight (requested, partly received, awaiting its verdict) or missing", () => {
    const p = picker(5, { have: [4] });
    expect(states(p)).toBe('----v');
    p.addPeer('a', bits(5, 'all'));
    p.addPeer('b', bits(5, 'all'));
    const fromA = p.pick('a', 5); // a whole piece and one block of the next
    const [first, second] = [fromA[0]!.pieceIndex, fromA[4]!.pieceIndex];
    const at = (text: string, i: number): string => text[i]!;
    expect(at(states(p), first)).toBe('f');
    expect(at(states(p), second)).toBe('f'); // requested, nothing received yet
    expect(deliver(p, 'a', fromA.slice(0, 4))).toEqual([first]);
    expect(at(states(p), first)).toBe('f'); // waiting for its SHA1 verdict
    p.onPieceVerified(first);
    expect(at(states(p), first)).toBe('v');
    // A piece begun whose requests are all released, with nothing received, is missing again.
    p.releaseRequests('a');
    expect(at(states(p), second)).toBe('-');
    // One block received, the rest released: still in flight (its bytes are kept).
    const fromB = p.pick('b', 2);
    expect(fromB.every((b) => b.pieceIndex === second)).toBe(true);
    deliver(p, 'b', fromB.slice(0, 1));
    p.releaseRequests('b');
    expect(at(states(p), second)).toBe('f');
    // A piece that failed its hash is missing until it is asked for again.
    const rest = p.pick('b', 3);
    expect(deliver(p, 'b', rest)).toEqual([second]);
    expect(p.onPieceFailed(second).contributors).toEqual(['b']);
    expect(at(states(p), second)).toBe('-');
    expect(states(p).split('').filter((c) => c === 'v')).toHaveLength(p.verifiedCount);

    // The caller's array is filled and returned (no allocation), and must have one byte a piece.
    const out = new Uint8Array(5);
    expect(p.pieceStates(out)).toBe(out);
    expect(out[first]).toBe(PieceState.verified);
    expect(out[4]).toBe(PieceState.verified);
    expect(out[second]).toBe(PieceState.missing);
    expect(() => p.pieceStates(new Uint8Array(4))).toThrow(/4 bytes for 5 pieces/);
    expect(states(picker(0))).toBe('');
  });

  it('over random swarms, delivery driven by the picker completes with every block from a peer that holds it', () => {
    const pieces = fc.integer({ min: 1, max: 12 });
    const scenario = pieces.chain((count) =>
      fc.record({
        count: fc.constant(count),
        seed: fc.nat(),
        peers: fc.array(fc.uniqueArray(fc.nat({ max: count - 1 }), { minLength: 1, maxLength: count }), { minLength: 1, maxLength: 5 }),
        steps: fc.array(fc.record({ peer: fc.nat({ max: 4 }), want: fc.integer({ min: 1, max: 12 }), action: fc.constantFrom('deliver', 'deliver', 'deliver', 'choke', 'leave-and-return') }), {
          maxLength: 60,
        }),
      }),
    );
    fc.assert(
      fc.property(scenario, ({ count, seed, peers, steps }) => {
        // Make sure every piece is held by someone.
        const holders = peers.map((held) => bits(count, held));
        for (let i = 0; i < count; i++) if (!holders.some((h) => h.has(i))) holders[0]!.set(i);
        const p = new PiecePicker({ sizeBytes: count * PIECE - 1, pieceLengthBytes: PIECE, have: () => false, rng: new SeededRng(seed) });
        holders.forEach((h, i) => p.addPeer(`p${i}`, h));
        const verify = (done: number[]): void => done.forEach((i) => p.onPieceVerified(i));
        const play = (peer: string, want: number, action: string): void => {
          const blocks = p.pick(peer, want);
          const seen = new Set(blocks.map((b) => `${b.pieceIndex}:${b.beginBytes}`));
          expect(seen.size).toBe(blocks.length); // never the same block twice in one pick
          for (const b of blocks) expect(holders[Number(peer.slice(1))]!.has(b.pieceIndex)).toBe(true);
          if (action === 'deliver') verify(deliver(p, peer, blocks));
          else if (action === 'choke') p.releaseRequests(peer);
          else {
            p.removePeer(peer);
            p.addPeer(peer, holders[Number(peer.slice(1))]!);
          }
        };
        const verifiedInStates = (): number => p.pieceStates().filter((state) => state === PieceState.verified).length;
        for (const step of steps) {
          play(`p${step.peer % holders.length}`, step.want, step.action);
          expect(verifiedInStates()).toBe(p.verifiedCount);
        }
        // Then everyone delivers everything until done.
        for (let round = 0; round < 4 * count + 10 && !p.complete; round++) {
          holders.forEach((_, i) => {
            p.releaseRequests(`p${i}`);
            play(`p${i}`, 64, 'deliver');
          });
        }
        expect(p.complete).toBe(true);
        expect(states(p)).toBe('v'.repeat(count));
      }),
      { numRuns: 300 },
    );
  });
});
