// Why this file exists: events are the facts the tracker's history is made of. They are plain
// data, replayed by every node and by the audit; an entry's format version (see entry.ts) says
// how to read them, so old logs stay readable when events change.

import type { CommandType, PasswordRecord } from './commands.js';
import type { DomainErrorCode } from './errors.js';

export type Event =
  | { type: 'UserRegistered'; user: string; password: PasswordRecord }
  /** `reachable: false` when the peer could not be dialed at its address (absent: it could, or nobody asked). */
  /** `keyFingerprint`: the peer's TLS key (absent for sessions opened before keys). */
  | { type: 'SessionOpened'; sessionId: string; user: string; tokenHash: string; address: string; reachable?: false; refreshHash?: string; keyFingerprint?: string }
  /** The peer of an open session is now reached at another address (and could, or could not, be dialed there). */
  | { type: 'SessionMoved'; sessionId: string; user: string; address: string; reachable: boolean }
  /** A refresh credential is used up (a renewal) or withdrawn (a logout). */
  | { type: 'RefreshRevoked'; refreshHash: string; user: string }
  | { type: 'SessionClosed'; sessionId: string; user: string }
  | { type: 'SessionExpired'; sessionId: string; user: string }
  | { type: 'GroupCreated'; group: string; owner: string }
  | { type: 'JoinRequested'; group: string; user: string }
  | { type: 'JoinAccepted'; group: string; user: string; by: string }
  | { type: 'JoinRejected'; group: string; user: string; by: string }
  | { type: 'MemberLeft'; group: string; user: string }
  /** The owner `by` removed `user`; what the user held or shared in the group went just before. */
  | { type: 'MemberRemoved'; group: string; user: string; by: string }
  | { type: 'OwnershipTransferred'; group: string; from: string; to: string }
  | { type: 'GroupDeleted'; group: string }
  | {
      type: 'FileShared';
      group: string;
      fileId: string;
      name: string;
      sizeBytes: number;
      pieceLengthBytes: number;
      pieces: string;
      user: string;
    }
  | { type: 'SharerAdded'; group: string; fileId: string; user: string }
  | { type: 'SharerRemoved'; group: string; fileId: string; user: string }
  | { type: 'FileUnshared'; group: string; fileId: string; name: string }
  | { type: 'HolderAdded'; group: string; fileId: string; sessionId: string; user: string; complete: boolean }
  | { type: 'HolderRemoved'; group: string; fileId: string; sessionId: string; user: string }
  /** `reporter` banned `user`, a holder of the file, for a piece that failed its SHA1 (hex hashes: the file's and what arrived). */
  | { type: 'HolderReported'; group: string; fileId: string; user: string; reporter: string; pieceIndex: number; expectedSha1: string; receivedSha1: string }
  /** Enough members reported `user`: the tracker stops listing it as a holder of the file for 24 h (from this entry's time). */
  | { type: 'HolderDelisted'; group: string; fileId: string; user: string; reporters: string[] }
  /** `user` shared the file anew: its delisting and the reports against it for the file are gone. */
  | { type: 'HolderReinstated'; group: string; fileId: string; user: string }
  | {
      type: 'CommandRejected';
      /** The refused command's type, or its raw type text for an unknown command (bounded). */
      command: CommandType | string;
      user: string | null;
      group: string | null;
      code: DomainErrorCode;
      message: string;
    };

export type EventType = Event['type'];
export type EventOf<T extends EventType> = Extract<Event, { type: T }>;
