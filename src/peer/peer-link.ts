// Why this file exists: one connection to one peer about one file, carrying both directions as
// in BitTorrent: whoever dialed, each end may fetch from the other and serve it over the same
// link, so a peer that cannot accept connections still serves the peers it dialed. The link
// routes what arrives to the side it concerns (bitfield, have and chokes to our fetching;
// interest, requests and cancels to our serving; blocks straight to the download), and closes
// when neither side has anything left to do on it.

import type { WireEvent } from '../torrent/wire-codec.js';
import { formatNetAddress } from '../world/net-address.js';
import type { Timer, World } from '../world/world.js';
import { toActorEvent, type WireActorEvent } from '../actors/wire-events.js';
import type { PeerWire } from './peer-wire.js';

/** Our fetching over a link (the download's). */
export interface FetchSide {
  message(event: WireActorEvent): void;
  /** A piece block: a view valid only during this call. */
  block(pieceIndex: number, beginBytes: number, block: Uint8Array): void;
  /** Everything decoded from one read has been handed over. */
  readEnd(): void;
  /** The link is gone. */
  closed(reason: string | null): void;
}

/** Our serving over a link (the host's). */
export interface ServeSide {
  message(event: WireActorEvent): void;
  drain(): void;
  closed(reason: string | null): void;
}

/** How long the other side has to read a refusal before a link we end is cut. */
const CLOSE_GRACE_MS = 5_000;

export class PeerLink {
  fetch: FetchSide | null = null;
  serve: ServeSide | null = null;
  /** Our ticket went out in an extension handshake on this link. */
  ticketSent = false;
  private isClosed = false;
  private grace: Timer | null = null;

  constructor(
    private readonly world: World,
    /** Unique among the host's links (the upload choker's key). */
    readonly id: string,
    readonly wire: PeerWire,
    readonly fileId: string,
    /** Hex peer id from the other side's handshake. */
    readonly remotePeerId: string,
    readonly dialedByUs: boolean,
    /** The port the other side listens on, from its extension handshake (BEP 10 `p`), when it said. */
    public remoteListenPort: number | null,
    /** Their extension handshakes after the first (a ticket, a refusal): the host's to read. */
    private readonly onExtended: (link: PeerLink, event: Extract<WireActorEvent, { type: 'EXTENDED' }>) => void,
    private readonly onClosed: (link: PeerLink, reason: string | null) => void,
  ) {}

  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * The other side as a place to fetch from: the address we see it at and the port it listens
   * on (what the tracker lists), whoever dialed.
   */
  get peerKey(): string {
    return formatNetAddress({ host: this.wire.remote.host, port: this.remoteListenPort ?? this.wire.remote.port });
  }

  /** A decoded wire event, routed to the side it concerns. */
  message(event: Exclude<WireEvent, { type: 'piece' }>): void {
    if (this.isClosed) return;
    const actorEvent = toActorEvent(event);
    switch (actorEvent.type) {
      case 'HANDSHAKE':
        this.close('PROTOCOL: second handshake');
        return;
      case 'EXTENDED':
        if (actorEvent.extId === 0) this.onExtended(this, actorEvent);
        return;
      case 'BITFIELD':
      case 'HAVE':
      case 'CHOKE':
      case 'UNCHOKE':
        this.fetch?.message(actorEvent);
        return;
      case 'INTERESTED':
      case 'NOT_INTERESTED':
      case 'REQUEST':
      case 'CANCEL':
        // Without a serving side (we refused them, or stopped sharing), there is nothing to answer.
        this.serve?.message(actorEvent);
        return;
      case 'KEEP_ALIVE':
        this.fetch?.message(actorEvent);
        this.serve?.message(actorEvent);
        return;
      case 'CLOSED':
        return;
    }
  }

  block(pieceIndex: number, beginBytes: number, block: Uint8Array): void {
    // A block nobody asked for on a link we do not fetch over is dropped, like an unwanted one.
    this.fetch?.block(pieceIndex, beginBytes, block);
  }

  readEnd(): void {
    this.fetch?.readEnd();
  }

  drain(): void {
    this.serve?.drain();
  }

  /** The wire is gone: both sides hear it, once. */
  wireClosed(reason: string | null): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.grace?.cancel();
    const { fetch, serve } = this;
    this.fetch = null;
    this.serve = null;
    fetch?.closed(reason);
    serve?.closed(reason);
    this.onClosed(this, reason);
  }

  /** Our fetching is over; they stop counting us as interested, and the link goes if we serve them nothing. */
  endFetch(reason: string): void {
    const fetching = this.fetch !== null;
    this.fetch = null;
    if (this.serve === null) this.end(reason);
    else if (fetching) this.wire.send({ type: 'not-interested' });
  }

  /** Our serving is over; they are choked for good, and the link goes if we fetch nothing over it. */
  endServe(reason: string): void {
    const serving = this.serve !== null;
    this.serve = null;
    if (this.fetch === null) this.end(reason);
    else if (serving) this.wire.send({ type: 'choke' });
  }

  /** Closes at once: the link is unsound (a protocol error, silence, a ban, a duplicate). */
  close(reason: string): void {
    this.wire.close(reason);
  }

  /** Closes once what is queued (a refusal) has gone, or after a grace period if they never close. */
  private end(reason: string): void {
    if (this.isClosed || this.grace !== null) return;
    this.wire.end(reason);
    this.grace = this.world.clock.setTimer(CLOSE_GRACE_MS, () => this.wire.close(reason));
  }
}
