// Why this file exists: a file's piece list (20 bytes of SHA1 a piece, about 2.7 KB for an
// average file) is most of what the tracker knows about it, and a million files' lists do not fit
// in a node's memory. So the projection keeps none: lists are content-addressed by file id (the
// id is the info-hash of the list), written once by the store with the entry that first shares
// the file, and never changed. decide needs one only to check a report's evidence; the store
// looks it up before deciding such an entry, so every node decides from the same bytes.

import { infoHash } from '../../torrent/infohash.js';
import type { Event } from './events.js';
import type { FileRecord } from './state.js';

/** The piece lists at hand while entries are decided: file id → the list, base64 as FileMeta carries it. */
export interface PieceLists {
  get(fileId: string): string | undefined;
}

/** The file whose piece list deciding this (untrusted) command needs, or null. */
export function pieceListNeeded(command: unknown): { group: string; fileId: string } | null {
  if (typeof command !== 'object' || command === null) return null;
  const { type, group, fileId } = command as { type?: unknown; group?: unknown; fileId?: unknown };
  return type === 'ReportHolder' && typeof group === 'string' && typeof fileId === 'string' ? { group, fileId } : null;
}

/**
 * Whether a list read back from disk is the file's: its info-hash is the file's id. A list that
 * is not (a flipped bit) must stop the node rather than decide a report differently from the
 * others or be served to downloaders.
 */
export function listFitsFile(file: Pick<FileRecord, 'fileId' | 'name' | 'sizeBytes' | 'pieceLengthBytes'>, list: Uint8Array): boolean {
  return infoHash({ name: file.name, sizeBytes: file.sizeBytes, pieceLengthBytes: file.pieceLengthBytes, pieces: list }) === file.fileId;
}

/** The piece lists an applied entry's events bring in: [file id, base64 list]. */
export function pieceListsShared(events: readonly Event[]): [string, string][] {
  const out: [string, string][] = [];
  for (const event of events) if (event.type === 'FileShared') out.push([event.fileId, event.pieces]);
  return out;
}

/** Every list ever shared, in memory: for tests, simulations and the reference model. */
export class MemoryPieceLists implements PieceLists {
  private readonly lists = new Map<string, string>();

  get(fileId: string): string | undefined {
    return this.lists.get(fileId);
  }

  /** Keeps the lists an applied entry's events brought. */
  record(events: readonly Event[]): void {
    for (const [fileId, pieces] of pieceListsShared(events)) this.lists.set(fileId, pieces);
  }
}
