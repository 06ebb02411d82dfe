// Why this file exists: our fetching side of a link to a holder (DESIGN.md §5). The link has
// checked the handshake and sent our ticket; the serving side answers it with its bitfield or a
// refusal code. After that it follows their choke state and what they have, and keeps the link
// alive or ends it when it goes silent. Which blocks to request is not its business: it tells
// the download's scheduler, which asks. Its end is the link's end only when the link is unsound
// (a protocol error, silence); a refusal or no answer ends only our fetching, so the link can
// go on carrying what we serve them.

import { assign, setup } from 'xstate';
import { decodeExtendedHandshake, WireError } from '../torrent/wire-codec.js';
import { idleReason, isIdle, keepAlive, type ConnectionTimings, type LivenessIo, type WireActorEvent } from './wire-events.js';

export interface FetchConnectionIo extends LivenessIo {
  /** Null when the bitfield fits our file (length, spare bits), else why not. */
  bitfieldError(bitfield: Uint8Array): string | null;
  /** The holder let us in: its pieces. */
  joined(bitfield: Uint8Array): void;
  have(pieceIndex: number): void;
  choked(): void;
  unchoked(): void;
  /**
   * Our fetching is over (`reason` null after an orderly close by them). `fatal`: the link is
   * unsound and goes too; otherwise only our fetching ends.
   */
  close(reason: string | null, fatal: boolean): void;
}

export interface FetchConnectionInput {
  io: FetchConnectionIo;
  timings: ConnectionTimings;
}

interface Context {
  io: FetchConnectionIo;
  timings: ConnectionTimings;
  reason: string | null;
  /** Whether the end takes the link with it. */
  fatal: boolean;
  peerChoking: boolean;
}

/** Events beside the wire's: the download is done with this peer (complete, stopped). */
export type FetchConnectionEvent = WireActorEvent | { type: 'STOP'; reason: string };

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
    events: {} as FetchConnectionEvent,
    input: {} as FetchConnectionInput,
  },
  delays: {
    accessTimeout: ({ context }) => context.timings.accessTimeoutMs,
    tick: ({ context }) => context.timings.tickMs,
  },
  actions: {
    closeWire: ({ context }) => context.io.close(context.reason, context.fatal),
    /** The first reason wins: ours (a timeout, a refusal) over the socket's. */
    rememberClose: assign({ reason: ({ context, event }) => context.reason ?? (event as Extract<WireActorEvent, { type: 'CLOSED' }>).reason }),
  },
}).createMachine({
  id: 'fetchConnection',
  context: ({ input }) => ({ io: input.io, timings: input.timings, reason: null, fatal: false, peerChoking: true }),
  initial: 'awaitingAccess',
  on: {
    CLOSED: { target: '.closed', actions: 'rememberClose' },
    STOP: { target: '.closed', actions: assign({ reason: ({ context, event }) => context.reason ?? event.reason }) },
  },
  states: {
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
            actions: assign({ reason: ({ context, event }) => `PROTOCOL: ${context.io.bitfieldError(event.bitfield)}`, fatal: true }),
          },
          { target: 'active', actions: ({ context, event }) => context.io.joined(event.bitfield) },
        ],
        KEEP_ALIVE: {},
        CLOSED: { target: 'closed', actions: 'rememberClose' },
        STOP: { target: 'closed', actions: assign({ reason: ({ event }) => event.reason }) },
        '*': { target: 'closed', actions: assign({ reason: 'PROTOCOL: message before the bitfield', fatal: true }) },
      },
    },
    active: {
      after: {
        tick: [
          {
            guard: ({ context }) => isIdle(context.io, context.timings),
            target: 'closed',
            actions: assign({ reason: ({ context }) => idleReason(context.timings), fatal: true }),
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
        KEEP_ALIVE: {},
        // They stopped serving us on the open link (our ticket expired, our user left the group): we stop too.
        EXTENDED: [
          {
            guard: ({ event }) => event.extId === 0 && refusalOf(event.payload) !== null,
            target: 'closed',
            actions: assign({ reason: ({ event }) => refusalOf(event.payload) }),
          },
          {},
        ],
        BITFIELD: { target: 'closed', actions: assign({ reason: 'PROTOCOL: second bitfield', fatal: true }) },
      },
    },
    closed: { type: 'final', entry: 'closeWire' },
  },
});
