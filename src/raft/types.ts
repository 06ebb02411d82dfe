// Why this file exists: the vocabulary of the consensus core — entries, hard state, messages and
// the Ready that hands IO to the caller. Plain data only: everything here crosses the wire or
// the disk, and the core itself never does either (etcd-io/raft's shape: step/tick in, Ready out).

export type NodeId = string;

/** A log entry. data null is a new leader's no-op; otherwise the application's command text. */
export interface Entry {
  index: number;
  term: number;
  data: string | null;
}

/** What must be on disk before any message that depends on it leaves (Raft §5, Figure 2). */
export interface HardState {
  term: number;
  vote: NodeId | null;
  commit: number;
}

export interface SnapshotMeta {
  index: number;
  term: number;
}


export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

interface Envelope {
  from: NodeId;
  to: NodeId;
  term: number;
}

export type Message = Envelope &
  (
    | { type: 'PreVote'; lastIndex: number; lastTerm: number }
    | { type: 'PreVoteResponse'; granted: boolean }
    | { type: 'Vote'; lastIndex: number; lastTerm: number; transfer: boolean }
    | { type: 'VoteResponse'; granted: boolean }
    | { type: 'Append'; prevIndex: number; prevTerm: number; entries: Entry[]; commit: number }
    /** success: index = the follower's match; failure: index = the rejected prevIndex, hint = the follower's last index. */
    | { type: 'AppendResponse'; success: boolean; index: number; hint: number }
    | { type: 'Heartbeat'; commit: number; context: string | null }
    | { type: 'HeartbeatResponse'; context: string | null }
    /**
     * The leader's snapshot, received whole by the caller's own transfer (never by the core: its
     * bytes are the store, gigabytes) and staged; stepped in "from" the leader, in the term the
     * transfer began in. Answered by an AppendResponse, as etcd-io/raft answers MsgSnap.
     */
    | { type: 'InstallSnapshot'; meta: SnapshotMeta }
    | { type: 'TimeoutNow' }
    /** A follower asks the leader for a read index on behalf of its client (§6.4). */
    | { type: 'ReadIndex'; context: string }
    | { type: 'ReadIndexResponse'; context: string; index: number; ok: boolean }
  );

export type MessageType = Message['type'];
export type MessageOf<T extends MessageType> = Extract<Message, { type: T }>;

/** A linearizable read may be served once the applied index reaches `index`. */
export interface ReadState {
  context: string;
  index: number;
}

/** Not persisted; for status displays and tests. */
export interface SoftState {
  role: Role;
  leader: NodeId | null;
}

/**
 * What the caller must do, in this order: persist hardState, snapshot and entries (synced),
 * then send messages, then apply committedEntries (and install the snapshot), then advance().
 * One exception: a leader's messages to followers may leave before its own entries are on disk
 * (see mayPrecedePersistence).
 */
export interface Ready {
  softState: SoftState;
  /** Present when it changed since the last Ready. */
  hardState: HardState | null;
  /** The snapshot received from the leader (staged by the caller): install it before applying anything after it. */
  snapshot: SnapshotMeta | null;
  /** Entries to append to stable storage; the first may overwrite a suffix of what is there. */
  entries: Entry[];
  messages: Message[];
  committedEntries: Entry[];
  readStates: ReadState[];
  /**
   * Followers too far behind for the log (it was compacted past them): the caller sends each a
   * snapshot of its state at any applied index from the log's snapshot index on, outside the
   * core, and says how it went with reportSnapshot(). Until then the core sends them nothing.
   */
  snapshotsToSend: NodeId[];
}

/**
 * A leader may replicate while it writes its own disk (Ongaro's thesis §10.2.1): it counts
 * itself toward a commit only once advance() says its entries are stable. Answers, votes and
 * vote requests wait for the write, since they promise what is on disk.
 */
export function mayPrecedePersistence(message: Message): boolean {
  return message.type === 'Append' || message.type === 'Heartbeat';
}
