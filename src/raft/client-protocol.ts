// Why this file exists: what clients and tracker nodes say to each other over framed TCP.
// Requests carry an id the response echoes; writes carry (clientId, requestId) so a retry
// through any node applies once. A node that does not lead answers NOT_LEADER with a hint.

export type ClientQuery = { name: 'group'; group: string } | { name: 'listGroups' };

export type ClientRequest = { id: number } & (
  | { type: 'status' }
  | { type: 'submit'; clientId: string; requestId: number; command: unknown }
  | { type: 'read'; query: ClientQuery }
);

export interface LeaderHint {
  id: string;
  client: string;
}

export type ClientResponse = { id: number } & (
  | { ok: true; result: unknown }
  | { ok: false; error: { code: string; message: string }; leader: LeaderHint | null }
);

export interface NodeStatus {
  id: string;
  role: string;
  term: number;
  leader: string | null;
  commit: number;
  applied: number;
  lastIndex: number;
  snapshotIndex: number;
}

/** What a write's response carries: where it applied, and the domain's refusal if any. */
export interface SubmitResult {
  index: number;
  error: { code: string; message: string } | null;
}

export function isClientRequest(value: unknown): value is ClientRequest {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  if (!Number.isSafeInteger(r.id)) return false;
  switch (r.type) {
    case 'status':
      return true;
    case 'submit':
      return typeof r.clientId === 'string' && r.clientId.length > 0 && r.clientId.length <= 64 && Number.isSafeInteger(r.requestId) && 'command' in r;
    case 'read': {
      const q = r.query as Record<string, unknown> | null;
      return typeof q === 'object' && q !== null && (q.name === 'listGroups' || (q.name === 'group' && typeof q.group === 'string'));
    }
    default:
      return false;
  }
}
