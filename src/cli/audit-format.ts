// Why this file exists: the audit's text form, one entry a line, readable by a person and safe
// for a terminal: every string that came from the log is shown quoted if it holds anything but
// plain name characters, so a crafted name cannot move the cursor or forge a line.

import type { Event } from '../log/domain/events.js';
import type { GroupDetail } from '../log/domain/queries.js';
import type { AuditRecord } from '../log/store/audit.js';
import { formatNetAddress, type NetAddress } from '../world/net-address.js';

export function shown(value: unknown): string {
  if (typeof value === 'string') return /^[A-Za-z0-9._@:+-]+$/.test(value) ? value : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  return JSON.stringify(value);
}

export function formatTime(timeMs: number): string {
  return new Date(timeMs).toISOString().replace('T', ' ').replace('Z', '');
}

/** Fields in the order a reader wants them; secrets' hashes and piece lists are never shown. */
const FIELD_ORDER = ['group', 'user', 'owner', 'by', 'reporter', 'reporters', 'from', 'to', 'name', 'sizeBytes', 'fileId', 'sessionId', 'address', 'complete', 'pieceIndex', 'expectedSha1', 'receivedSha1', 'command', 'code', 'message'];
const HIDDEN_FIELDS = new Set(['password', 'pieces', 'tokenHash', 'pieceLengthBytes']);

function fieldRank(key: string): number {
  const rank = FIELD_ORDER.indexOf(key);
  return rank === -1 ? FIELD_ORDER.length : rank;
}

function formatEvent(event: Event): string {
  const { type, ...fields } = event;
  const parts = Object.entries(fields)
    .filter(([key]) => !HIDDEN_FIELDS.has(key))
    .sort(([a], [b]) => fieldRank(a) - fieldRank(b))
    .map(([key, value]) => `${key}=${Array.isArray(value) ? value.map(shown).join(',') : shown(value)}`);
  return parts.length === 0 ? type : `${type}(${parts.join(' ')})`;
}

function isNetAddress(value: unknown): value is NetAddress {
  return typeof value === 'object' && value !== null && typeof (value as NetAddress).host === 'string' && typeof (value as NetAddress).port === 'number';
}

/** The arguments worth showing for a request: names, not secrets. */
function formatRequest(record: AuditRecord): string {
  const request = record.request;
  if (!request) return '';
  const parts: string[] = [];
  for (const key of ['group', 'user', 'holder', 'name', 'address', 'sessionId', 'fileId'] as const) {
    if (typeof request[key] === 'string') parts.push(shown(request[key]));
    // Rules version 2 logins record the observed address as {host, port}; shown as version 1 showed its text.
    if (key === 'address' && isNetAddress(request.observed)) parts.push(shown(formatNetAddress(request.observed)));
  }
  if (typeof request.pieceIndex === 'number') parts.push(`piece ${request.pieceIndex}`);
  const file = request.file as { name?: unknown; sizeBytes?: unknown } | undefined;
  if (file && typeof file === 'object') parts.push(`${shown(file.name)} (${shown(file.sizeBytes)} B)`);
  return parts.join(' ');
}

export function formatRecord(record: AuditRecord): string {
  const head = `#${record.index} t${record.term} ${formatTime(record.timeMs)} ${shown(record.actor ?? '?')}`;
  const asked = `${record.command}${formatRequest(record) ? ' ' + formatRequest(record) : ''}`;
  switch (record.outcome) {
    case 'noop':
      return `${head} (leader no-op)`;
    case 'duplicate':
      return `${head} ${asked} -> retry, answered from the reply cache`;
    case 'rejected':
      return `${head} ${asked} -> DENIED ${record.error?.code ?? '?'}: ${record.error?.message ?? ''}`;
    case 'applied':
      return `${head} ${asked} -> ${record.events.length === 0 ? '(no change)' : record.events.map(formatEvent).join(', ')}`;
  }
}

export function formatGroup(detail: GroupDetail | null, groupId: string, asOfIndex: number): string[] {
  if (!detail) return [`group ${shown(groupId)} as of #${asOfIndex}: does not exist`];
  const lines = [`group ${shown(detail.group)} as of #${asOfIndex} (created at #${detail.createdIndex})`, `  owner: ${shown(detail.owner)}`];
  lines.push(`  members: ${detail.members.map((m) => `${shown(m.user)} (#${m.joinedIndex})`).join(', ') || '(none)'}`);
  lines.push(`  pending: ${detail.requests.map((r) => `${shown(r.user)} (#${r.requestedIndex})`).join(', ') || '(none)'}`);
  if (detail.files.length === 0) lines.push('  files: (none)');
  for (const file of detail.files) {
    lines.push(
      `  file ${shown(file.name)} ${file.sizeBytes} B id ${file.fileId} sharers ${file.sharers.map(shown).join(',') || '-'} holders ${file.completeHolders} complete, ${file.partialHolders} partial`,
    );
  }
  return lines;
}
