// Why this file exists: our serving side of a link (DESIGN.md §5, §7), begun when the other
// side sends a ticket. Nothing of the file leaves before the ticket is verified — signature,
// validity window with ±30 s skew, file, group, and the peer id of this very handshake; a
// refusal is logged with its code and told to the other side, and our serving ends. Once in,
// it tells the upload choker of the peer's interest, honours choke and unchoke, queues requests
// while unchoked (the upload queue reads and sends the bytes), and announces pieces we verify
// later. The ticket is checked again at every request: one that has expired (with the same
// ±30 s) ends our serving, and a renewed ticket sent on the open link extends it. A peer the
// host was told left its group (a kick) is refused at once (REVOKE).

import { assign, setup } from 'xstate';
import { TICKET_CLOCK_SKEW_MS, type TicketCheck } from '../torrent/ticket.js';
import { decodeExtendedHandshake, WireError } from '../torrent/wire-codec.js';
import { idleReason, isIdle, keepAlive, type ConnectionTimings, type LivenessIo, type WireActorEvent } from './wire-events.js';

export interface ServeConnectionIo extends LivenessIo {
  /** Wall-clock time: a ticket's expiry is a wall-clock instant (the tracker's), checked with ±30 s of skew. */
  wallMs(): number;
  /** Verifies a ticket against this connection (its handshake's peer id, our file and group, now). */
  checkTicket(ticket: string | undefined): TicketCheck | { ok: false; code: 'TICKET_MISSING' | 'KICKED'; message: string };
  /** Sends our bitfield: they are in. */
  admit(): void;
  /** Logs the refusal, sends it in an extension handshake, and ends our serving. */
  refuse(code: string, message: string): void;
  interested(isInterested: boolean): void;
  sendChoke(): void;
  sendUnchoke(): void;
  sendHave(pieceIndex: number): void;
  queueRequest(pieceIndex: number, beginBytes: number, lengthBytes: number): void;
  cancelRequest(pieceIndex: number, beginBytes: number, lengthBytes: number): void;
  /** Drops every queued request (we choked them). */
  dropRequests(): void;
  close(reason: string | null): void;
}

export interface ServeConnectionInput {
  io: ServeConnectionIo;
  timings: ConnectionTimings;
}

/** Events from the upload choker, the piece store and the host (a kick), beside the wire's. */
export type ServeConnectionEvent =
  | WireActorEvent
  | { type: 'CHOKE_PEER' }
  | { type: 'UNCHOKE_PEER' }
  | { type: 'PIECE_AVAILABLE'; pieceIndex: number }
  /** Our serving ends now, with this refusal (the peer's user left the file's group, or was removed). */
  | { type: 'REVOKE'; code: string; message: string };

type Refusal = { code: string; message: string };

interface Context {
  io: ServeConnectionIo;
  timings: ConnectionTimings;
  reason: string | null;
  refusal: Refusal | null;
  amChoking: boolean;
  /** When the newest valid ticket they showed expires (the tracker's clock); null before one. */
  ticketExpiresMs: number | null;
}

function ticketOf(payload: Uint8Array): { ticket: string | undefined } | Refusal {
  try {
    return { ticket: decodeExtendedHandshake(payload).ticket };
  } catch (error) {
    if (error instanceof WireError) return { code: 'TICKET_MALFORMED', message: error.message };
    throw error;
  }
}

function checkAccess(io: ServeConnectionIo, payload: Uint8Array): Refusal | { expiresMs: number } {
  const parsed = ticketOf(payload);
  if ('code' in parsed) return parsed;
  const check = io.checkTicket(parsed.ticket);
  return check.ok ? { expiresMs: check.claims.expires } : { code: check.code, message: check.message };
}

/** The ticket's judgement as context: in, until when; or the refusal. */
function accessContext(io: ServeConnectionIo, payload: Uint8Array): Pick<Context, 'refusal'> | Pick<Context, 'ticketExpiresMs'> {
  const access = checkAccess(io, payload);
  return 'code' in access ? { refusal: access } : { ticketExpiresMs: access.expiresMs };
}

/** Their ticket has expired, with the same allowance for clock skew as when it was checked. */
function ticketExpired(context: Context): boolean {
  return context.ticketExpiresMs !== null && context.io.wallMs() - TICKET_CLOCK_SKEW_MS >= context.ticketExpiresMs;
}

/** A renewed ticket on the open link: it extends our serving, or (it does not hold) ends it. */
function renewedContext(context: Context, payload: Uint8Array): Partial<Context> {
  const parsed = ticketOf(payload);
  if (!('code' in parsed) && parsed.ticket === undefined) return {}; // a port, or their own refusal: not about our serving
  const access = accessContext(context.io, payload);
  if ('refusal' in access) return access;
  return { ticketExpiresMs: Math.max(context.ticketExpiresMs ?? 0, access.ticketExpiresMs ?? 0) };
}

export const serveConnectionMachine = setup({
  types: {
    context: {} as Context,
    events: {} as ServeConnectionEvent,
    input: {} as ServeConnectionInput,
  },
  delays: {
    accessTimeout: ({ context }) => context.timings.accessTimeoutMs,
    tick: ({ context }) => context.timings.tickMs,
  },
  actions: {
    closeWire: ({ context }) => context.io.close(context.reason),
    /** The first reason wins: ours (a timeout, a refusal) over the socket's. */
    rememberClose: assign({ reason: ({ context, event }) => context.reason ?? (event as Extract<WireActorEvent, { type: 'CLOSED' }>).reason }),
  },
}).createMachine({
  id: 'serveConnection',
  context: ({ input }) => ({ io: input.io, timings: input.timings, reason: null, refusal: null, amChoking: true, ticketExpiresMs: null }),
  initial: 'awaitingTicket',
  on: {
    CLOSED: { target: '.closed', actions: 'rememberClose' },
  },
  states: {
    awaitingTicket: {
      after: { accessTimeout: { target: 'refused', actions: assign({ refusal: { code: 'TICKET_MISSING', message: 'no ticket in time' } }) } },
      on: {
        EXTENDED: {
          guard: ({ event }) => event.extId === 0,
          target: 'checkingTicket',
          actions: assign(({ context, event }) => accessContext(context.io, event.payload)),
        },
        REVOKE: { target: 'refused', actions: assign({ refusal: ({ event }) => ({ code: event.code, message: event.message }) }) },
        KEEP_ALIVE: {},
        CHOKE_PEER: {},
        UNCHOKE_PEER: {},
        PIECE_AVAILABLE: {},
        // A downloader that leaves before its ticket is no refusal (the wildcard would take CLOSED first).
        CLOSED: { target: 'closed', actions: 'rememberClose' },
        '*': { target: 'refused', actions: assign({ refusal: { code: 'TICKET_MISSING', message: 'a message came before the ticket' } }) },
      },
    },
    checkingTicket: {
      always: [{ guard: ({ context }) => context.refusal !== null, target: 'refused' }, { target: 'serving' }],
    },
    refused: {
      type: 'final',
      entry: [
        assign({ reason: ({ context }) => `REFUSED ${context.refusal!.code}` }),
        ({ context }) => context.io.refuse(context.refusal!.code, context.refusal!.message),
      ],
    },
    serving: {
      entry: ({ context }) => context.io.admit(),
      initial: 'live',
      states: {
        live: {
          after: {
            tick: [
              {
                guard: ({ context }) => isIdle(context.io, context.timings),
                target: '#serveConnection.closed',
                actions: assign({ reason: ({ context }) => idleReason(context.timings) }),
              },
              { target: 'live', reenter: true, actions: ({ context }) => keepAlive(context.io, context.timings) },
            ],
          },
        },
      },
      on: {
        INTERESTED: { actions: ({ context }) => context.io.interested(true) },
        NOT_INTERESTED: { actions: ({ context }) => context.io.interested(false) },
        UNCHOKE_PEER: {
          guard: ({ context }) => context.amChoking,
          actions: [assign({ amChoking: false }), ({ context }) => context.io.sendUnchoke()],
        },
        CHOKE_PEER: {
          guard: ({ context }) => !context.amChoking,
          actions: [assign({ amChoking: true }), ({ context }) => context.io.dropRequests(), ({ context }) => context.io.sendChoke()],
        },
        // Every request is checked against the ticket's expiry; BEP 3: requests from a choked peer are ignored.
        REQUEST: [
          {
            guard: ({ context }) => ticketExpired(context),
            target: '#serveConnection.refused',
            actions: assign({ refusal: { code: 'TICKET_EXPIRED', message: 'the ticket expired while the connection was open' } }),
          },
          {
            guard: ({ context }) => !context.amChoking,
            actions: ({ context, event }) => context.io.queueRequest(event.pieceIndex, event.beginBytes, event.lengthBytes),
          },
        ],
        REVOKE: { target: '#serveConnection.refused', actions: assign({ refusal: ({ event }) => ({ code: event.code, message: event.message }) }) },
        CANCEL: { actions: ({ context, event }) => context.io.cancelRequest(event.pieceIndex, event.beginBytes, event.lengthBytes) },
        PIECE_AVAILABLE: { actions: ({ context, event }) => context.io.sendHave(event.pieceIndex) },
        KEEP_ALIVE: {},
        HAVE: {},
        CHOKE: {},
        UNCHOKE: {},
        // A renewed ticket (the host hands on only extension handshakes that carry one).
        EXTENDED: [
          {
            guard: ({ context, event }) => event.extId === 0 && 'refusal' in renewedContext(context, event.payload),
            target: '#serveConnection.refused',
            actions: assign(({ context, event }) => renewedContext(context, event.payload)),
          },
          { guard: ({ event }) => event.extId === 0, actions: assign(({ context, event }) => renewedContext(context, event.payload)) },
          {},
        ],
        HANDSHAKE: { target: 'closed', actions: assign({ reason: 'PROTOCOL: second handshake' }) },
        BITFIELD: {},
      },
    },
    closed: { type: 'final', entry: 'closeWire' },
  },
});
