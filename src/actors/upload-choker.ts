// Why this file exists: uploading to everyone at once serves nobody well, so a peer serves a
// bounded number of interested downloaders (BEP 3 choking, as in libtorrent's seeding mode):
// `slots` regular slots go to the peers we upload to fastest, recomputed every rechoke round,
// plus one optimistic slot that rotates to a random other peer every few rounds so newcomers
// get a chance. A free slot is filled at once, not at the next round. The slot table is
// mutable context owned by this actor alone; the io reports every choke change.

import { setup } from 'xstate';

export interface UploadChokerIo {
  setChoked(peerKey: string, choked: boolean): void;
  /** Bytes sent to the peer so far (the choker takes differences between rounds). */
  uploadedBytes(peerKey: string): number;
  randomInt(bound: number): number;
}

export interface UploadChokerInput {
  io: UploadChokerIo;
  slots?: number;
  rechokeMs?: number;
  /** Rounds between optimistic rotations. */
  optimisticEveryRounds?: number;
}

interface PeerSlot {
  interested: boolean;
  unchoked: boolean;
  uploadedAtLastRound: number;
}

interface Context {
  io: UploadChokerIo;
  slots: number;
  rechokeMs: number;
  optimisticEveryRounds: number;
  peers: Map<string, PeerSlot>;
  optimistic: string | null;
  round: number;
}

export type UploadChokerEvent = { type: 'INTERESTED'; peerKey: string } | { type: 'NOT_INTERESTED'; peerKey: string } | { type: 'GONE'; peerKey: string };

function setChoked(context: Context, peerKey: string, choked: boolean): void {
  const peer = context.peers.get(peerKey);
  if (!peer || peer.unchoked === !choked) return;
  peer.unchoked = !choked;
  context.io.setChoked(peerKey, choked);
}

/** Unchokes waiting interested peers while slots (regular + optimistic) are free. */
function fillSlots(context: Context): void {
  let unchoked = [...context.peers.values()].filter((p) => p.unchoked).length;
  for (const [key, peer] of context.peers) {
    if (unchoked >= context.slots + 1) return;
    if (peer.interested && !peer.unchoked) {
      setChoked(context, key, false);
      unchoked++;
    }
  }
}

function rechoke(context: Context): void {
  context.round++;
  const interested = [...context.peers].filter(([, p]) => p.interested);
  const rated = interested.map(([key, p]) => {
    const uploaded = context.io.uploadedBytes(key);
    const rate = uploaded - p.uploadedAtLastRound;
    return { key, rate, tie: context.io.randomInt(1 << 30) };
  });
  for (const [key, p] of context.peers) p.uploadedAtLastRound = context.io.uploadedBytes(key);
  rated.sort((a, b) => b.rate - a.rate || a.tie - b.tie);
  const regular = new Set(rated.slice(0, context.slots).map((r) => r.key));
  const others = rated.filter((r) => !regular.has(r.key)).map((r) => r.key);
  const rotate = context.round % context.optimisticEveryRounds === 0 || context.optimistic === null || !others.includes(context.optimistic);
  if (rotate) context.optimistic = others.length === 0 ? null : others[context.io.randomInt(others.length)]!;
  for (const key of context.peers.keys()) setChoked(context, key, !(regular.has(key) || key === context.optimistic));
}

export const uploadChokerMachine = setup({
  types: { context: {} as Context, events: {} as UploadChokerEvent, input: {} as UploadChokerInput },
  delays: { rechoke: ({ context }) => context.rechokeMs },
}).createMachine({
  id: 'uploadChoker',
  context: ({ input }) => ({
    io: input.io,
    slots: input.slots ?? 4,
    rechokeMs: input.rechokeMs ?? 10_000,
    optimisticEveryRounds: input.optimisticEveryRounds ?? 3,
    peers: new Map(),
    optimistic: null,
    round: 0,
  }),
  initial: 'running',
  states: {
    running: {
      after: { rechoke: { target: 'running', reenter: true, actions: ({ context }) => rechoke(context) } },
      on: {
        INTERESTED: {
          actions: ({ context, event }) => {
            const peer = context.peers.get(event.peerKey) ?? { interested: false, unchoked: false, uploadedAtLastRound: context.io.uploadedBytes(event.peerKey) };
            peer.interested = true;
            context.peers.set(event.peerKey, peer);
            fillSlots(context);
          },
        },
        NOT_INTERESTED: {
          actions: ({ context, event }) => {
            const peer = context.peers.get(event.peerKey);
            if (!peer) return;
            peer.interested = false;
            setChoked(context, event.peerKey, true);
            fillSlots(context);
          },
        },
        GONE: {
          actions: ({ context, event }) => {
            context.peers.delete(event.peerKey);
            if (context.optimistic === event.peerKey) context.optimistic = null;
            fillSlots(context);
          },
        },
      },
    },
  },
});
