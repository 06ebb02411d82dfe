// Why this file exists: one attempt at a download, set going (DESIGN.md §5). It takes an access
// ticket and renews it at half its life, opens the piece store and starts the data plane
// (`Download`) on the holders given, serves what it verifies and tells the tracker it holds part
// of the file, asks holders behind routers to dial back, and reports holders banned for pieces
// that failed their SHA1. What comes after the attempt is `downloads.ts`'s business.

import type { FileDetail } from '../log/domain/queries.js';
import type { SessionCredential } from '../tracker/client-protocol.js';
import type { FileMeta } from '../torrent/file-meta.js';
import { ticketLifetimeMs } from '../torrent/ticket.js';
import { parseNetAddress } from '../world/net-address.js';
import type { Timer } from '../world/world.js';
import { Download, type HolderBan } from './download.js';
import type { DownloadsIo } from './downloads.js';
import { PieceStoreError } from './piece-store.js';

/** A download asks holders behind routers to dial it back at most this often. */
const DIAL_BACK_AGAIN_MS = 3_000;
/** A ticket renewal that could not be made is tried again after this long. */
const RENEWAL_RETRY_MS = 5_000;
const MIN_RENEWAL_DELAY_MS = 250;

export type StopReason = 'pause' | 'wait' | 'suspend' | 'cancel';

/** One run of the data plane for a download. */
export interface Attempt {
  download: Download;
  renew: Timer | null;
  /** We told the tracker we hold part of the file (we did not already serve it complete). */
  holdsPartial: boolean;
  /** How many holders it was given to ask. */
  asked: number;
  /** Who held or shared the file when it began (users), for a waiting message. */
  holders: string[];
  /** Set when it is stopped on purpose: what for. */
  stopFor: StopReason | null;
  /** Settles once the attempt's end is handled. */
  ended: Promise<void>;
}

export type AttemptHolder = FileDetail['holders'][number] & { keyFingerprint: string };

export interface AttemptSpec {
  group: string;
  meta: FileMeta;
  destination: string;
  /** What the tracker said of the file. */
  detail: FileDetail;
  /** The holders to ask (pinned to their keys, none banned before). */
  holders: readonly AttemptHolder[];
  label: () => string;
  /** A holder's key was banned: later attempts do not ask it. */
  banned: (keyFingerprint: string, reason: string) => void;
  /** Whether the attempt is still the download's (its ticket is renewed only then). */
  isCurrent: (attempt: Attempt) => boolean;
  /** A ticket was renewed (a counter for the simulation's coverage). */
  renewed: () => void;
}

/** Half the ticket's lifetime (at least MIN_RENEWAL_DELAY_MS); a ticket that does not parse is renewed soon. */
function renewalDelayMs(ticket: string): number {
  const lifetimeMs = ticketLifetimeMs(ticket);
  return Math.max(MIN_RENEWAL_DELAY_MS, lifetimeMs === null ? RENEWAL_RETRY_MS : lifetimeMs / 2);
}

/** Takes a ticket and starts the data plane; a refusal of the store (a bad name, a file at the destination) is returned. */
export async function startAttempt(io: DownloadsIo, session: SessionCredential, spec: AttemptSpec): Promise<Attempt | PieceStoreError> {
  const { group, meta, detail, holders } = spec;
  const { world } = io;
  const keyless = detail.holders.filter((h) => h.keyFingerprint === null).length;
  if (keyless > 0) io.log?.(`${keyless} holder(s) of ${meta.name} logged in without a peer key: skipped`);
  const first = await io.ticket(session, group, meta.fileId);
  let ticket = first.ticket;
  // Holders the tracker could not dial are behind routers: if we can be dialed they are asked
  // to dial us (reversal); if none can be dialed and nobody links to us, the attempt says so.
  const cannotDial = holders.filter((h) => !h.reachable);
  const weCanBeDialed = io.reachable();
  let askedAtMs = -Infinity;
  const askDialBack = (): void => {
    const current = io.session();
    if (cannotDial.length === 0 || !weCanBeDialed || current === null || world.clock.monotonicMs() - askedAtMs < DIAL_BACK_AGAIN_MS) return;
    askedAtMs = world.clock.monotonicMs();
    io.dialBack(current, group, meta.fileId).then(
      ({ asked }) => io.log?.(`asked ${asked.join(', ') || 'nobody'} to dial back for ${meta.name}`),
      (error: unknown) => io.log?.(`could not ask for a dial back: ${error instanceof Error ? error.message : String(error)}`),
    );
  };
  const download = await Download.start(world, {
    meta,
    destinationPath: spec.destination,
    journal: io.home(),
    peerId: io.peerId,
    ticket: () => ticket,
    holders: holders.map((h) => ({ address: parseNetAddress(h.address), keyFingerprint: h.keyFingerprint })),
    ...(holders.length > 0 && cannotDial.length === holders.length ? { unreachable: { users: [...new Set(cannotDial.map((h) => h.user))], weCanBeDialed } } : {}),
    onLinkLost: askDialBack,
    onBan: (ban) => {
      for (const holder of ban.holders) if (holder.keyFingerprint !== null) spec.banned(holder.keyFingerprint, ban.reason);
      reportBan(io, group, meta, detail.holders, ban);
    },
    host: io.host,
    downloadLimiter: io.downloadLimiter,
    label: spec.label,
    ...(io.log ? { log: io.log } : {}),
    ...(io.trace ? { trace: io.trace } : {}),
  });
  if (download instanceof PieceStoreError) return download;
  // Serve what we verify at once, and tell the tracker we hold part of it — unless we already
  // serve this file complete (then that share stays, whatever becomes of this attempt).
  const holdsPartial = holders.length > 0 && !io.host.isSharing(meta.fileId);
  if (holdsPartial) {
    io.host.share({ meta, group, source: download.store });
    io.command(session, { type: 'HoldPartial', group, fileId: meta.fileId }).catch(() => undefined);
  }
  const attempt: Attempt = {
    download,
    renew: null,
    holdsPartial,
    asked: holders.length,
    holders: [...new Set([...detail.holders.map((h) => h.user), ...detail.sharers])],
    stopFor: null,
    ended: Promise.resolve(),
  };
  const renew = (delayMs: number): void => {
    attempt.renew = world.clock.setTimer(delayMs, () => {
      const current = io.session();
      if (!spec.isCurrent(attempt)) return;
      if (current === null) return renew(RENEWAL_RETRY_MS);
      io.ticket(current, group, meta.fileId).then(
        (fresh) => {
          ticket = fresh.ticket;
          spec.renewed();
          // The open links hear it too: their serving sides check expiry at every request.
          download.ticketRenewed();
          renew(renewalDelayMs(fresh.ticket));
        },
        (error: unknown) => {
          io.log?.(`ticket renewal for ${meta.name}: ${error instanceof Error ? error.message : String(error)}`);
          renew(RENEWAL_RETRY_MS);
        },
      );
    });
  };
  renew(renewalDelayMs(first.ticket));
  askDialBack();
  return attempt;
}

/**
 * A download banned a peer for pieces that failed their SHA1: each user the tracker listed
 * with that key is reported, with the evidence, so that reports from several members stop
 * the tracker listing it (DESIGN.md §7).
 */
function reportBan(io: DownloadsIo, group: string, meta: FileMeta, listed: ReadonlyArray<{ user: string; keyFingerprint: string | null }>, ban: HolderBan): void {
  const session = io.session();
  if (session === null) return;
  const keys = new Set(ban.holders.map((h) => h.keyFingerprint).filter((k): k is string => k !== null));
  const users = [...new Set(listed.filter((h) => h.keyFingerprint !== null && keys.has(h.keyFingerprint)).map((h) => h.user))];
  for (const holder of users) {
    const { pieceIndex, expectedSha1, receivedSha1 } = ban;
    io.command(session, { type: 'ReportHolder', group, fileId: meta.fileId, holder, pieceIndex, expectedSha1, receivedSha1 }).then(
      () => io.log?.(`reported ${holder} to the tracker: piece ${pieceIndex} of ${meta.name} came with SHA1 ${receivedSha1}, not ${expectedSha1}`),
      (error: unknown) => io.log?.(`could not report ${holder}: ${error instanceof Error ? error.message : String(error)}`),
    );
  }
}
