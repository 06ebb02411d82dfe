// Why this file exists: the connection we open to a holder to fetch a file (DESIGN.md §5). It
// owns that connection's protocol: the other side's handshake must name our file; a serving
// peer answers our ticket with its bitfield or with a refusal code; after that it follows their
// choke state and what they have, and keeps the link alive or drops it when it goes silent.
// Which blocks to request is not its business: it tells the download's scheduler, which asks.

import { assign, setup } from 'xstate';
import { decodeExtendedHandshake, WireError } from '../torrent/wire-codec.js';
import { idleReason, isIdle, keepAlive, type ConnectionTimings, type LivenessIo, type WireActorEvent } from './wire-events.js';

export interface FetchConnectionIo extends LivenessIo {
  /** Null when the handshake is for our file; otherwise why not. */
  checkHandshake(infoHash: Uint8Array, peerId: Uint8Array): string | null;
  /** Null when the bitfield fits our file (length, spare bits), else why not. */
  bitfieldError(bitfield: Uint8Array): string | null;
  /** The holder let us in: its pieces. */
  joined(bitfield: Uint8Array): void;
  have(pieceIndex: number): void;
  choked(): void;
  unchoked(): void;
  /** Closes the wire; the download hears `reason` (null after an orderly close). */
  close(reason: string | null): void;
}

export interface FetchConnectionInput {
  io: FetchConnectionIo;
  timings: ConnectionTimings;
}

interface Context {
  io: FetchConnectionIo;
  timings: ConnectionTimings;
  reason: string | null;
  peerChoking: boolean;
}

/** A refusal from the serving peer ("REFUSED TICKET_EXPIRED"), a bad payload, or null. */
function refusalOf(payload: Uint8Array): string | null {
  try {
    const handshake = decodeExtendedHandshake(payload);
    if (handshake.refused === undefined) return null;
    // The code is the peer's text: only a plain upper-snake word is repeated.
    return /^[A-Z][A-Z0-9_]{0,63}$/.test(handshake.refused) ? `REFUSED ${handshake.refused}` : 'REFUSED (with an unreadable code)';
  } catch (error) {
    if (error instanceof WireError) return `PROTOCOL: ${error.message}`;
    throw error;
  }
}

export const fetchConnectionMachine = setup({
  types: {
    context: {} as Context,
    events: {} as WireActorEvent,
    input: {} as FetchConnectionInput,
  },
  delays: {
    handshakeTimeout: ({ context }) => context.timings.handshakeTimeoutMs,
    accessTimeout: ({ context }) => context.timings.accessTimeoutMs,
    tick: ({ context }) => context.timings.tickMs,
  },
  actions: {
    closeWire: ({ context }) => context.io.close(context.reason),
    /** The first reason wins: ours (a timeout, a refusal) over the socket's. */
    rememberClose: assign({ reason: ({ context, event }) => context.reason ?? (event as Extract<WireActorEvent, { type: 'CLOSED' }>).reason }),
  },
}).createMachine({
  id: 'fetchConnection',
  context: ({ input }) => ({ io: input.io, timings: input.timings, reason: null, peerChoking: true }),
  initial: 'handshaking',
  on: {
    CLOSED: { target: '.closed', actions: 'rememberClose' },
  },
  states: {
    handshaking: {
      after: { handshakeTimeout: { target: 'closed', actions: assign({ reason: 'HANDSHAKE_TIMEOUT' }) } },
      on: {
        HANDSHAKE: [
          {
            guard: ({ context, event }) => context.io.checkHandshake(event.infoHash, event.peerId) !== null,
            target: 'closed',
            actions: assign({ reason: ({ context, event }) => context.io.checkHandshake(event.infoHash, event.peerId) }),
          },
          { target: 'awaitingAccess' },
        ],
        // CLOSED is named here too: the wildcard below would otherwise take it first.
        CLOSED: { target: 'closed', actions: 'rememberClose' },
        '*': { target: 'closed', actions: assign({ reason: 'PROTOCOL: message before the handshake' }) },
      },
    },
    awaitingAccess: {
      after: { accessTimeout: { target: 'closed', actions: assign({ reason: 'ACCESS_TIMEOUT: no answer to our ticket' }) } },
      on: {
        EXTENDED: [
          {
            guard: ({ event }) => event.extId === 0 && refusalOf(event.payload) !== null,
            target: 'closed',
            actions: assign({ reason: ({ event }) => refusalOf(event.payload) }),
          },
          {},
        ],
        BITFIELD: [
          {
            guard: ({ context, event }) => context.io.bitfieldError(event.bitfield) !== null,
            target: 'closed',
            actions: assign({ reason: ({ context, event }) => `PROTOCOL: ${context.io.bitfieldError(event.bitfield)}` }),
          },
          { target: 'active', actions: ({ context, event }) => context.io.joined(event.bitfield) },
        ],
        KEEP_ALIVE: {},
        CLOSED: { target: 'closed', actions: 'rememberClose' },
        '*': { target: 'closed', actions: assign({ reason: 'PROTOCOL: message before the bitfield' }) },
      },
    },
    active: {
      after: {
        tick: [
          {
            guard: ({ context }) => isIdle(context.io, context.timings),
            target: 'closed',
            actions: assign({ reason: ({ context }) => idleReason(context.timings) }),
          },
          { target: 'active', reenter: true, actions: ({ context }) => keepAlive(context.io, context.timings) },
        ],
      },
      on: {
        HAVE: { actions: ({ context, event }) => context.io.have(event.pieceIndex) },
        CHOKE: {
          guard: ({ context }) => !context.peerChoking,
          actions: [assign({ peerChoking: true }), ({ context }) => context.io.choked()],
        },
        UNCHOKE: {
          guard: ({ context }) => context.peerChoking,
          actions: [assign({ peerChoking: false }), ({ context }) => context.io.unchoked()],
        },
        // They do not fetch over this connection: interest and requests are ignored.
        INTERESTED: {},
        NOT_INTERESTED: {},
        REQUEST: {},
        CANCEL: {},
        KEEP_ALIVE: {},
        EXTENDED: {},
        HANDSHAKE: { target: 'closed', actions: assign({ reason: 'PROTOCOL: second handshake' }) },
        BITFIELD: { target: 'closed', actions: assign({ reason: 'PROTOCOL: second bitfield' }) },
      },
    },
    closed: { type: 'final', entry: 'closeWire' },
  },
});
