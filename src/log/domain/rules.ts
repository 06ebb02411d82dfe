// Why this file exists: entries outlive the code that wrote them. A Raft entry proposed by an
// older build may be decided after an upgrade (it was committed, or still in the log, when the
// node restarted), so every entry carries the version of the rules it was proposed under, and
// is read by those rules: an older command is brought into today's shape only where the old
// rules and today's decide the same; a version this build does not know is refused
// (STORE_VERSION), never decided again under other rules.
//
//   1  before observed addresses: OpenSession and RenewSession carried `address`, the
//      `host:port` text the client chose.
//   2  OpenSession and RenewSession carry `observed: {host, port}`, filled in by the receiving
//      node (the source IP it saw and the port the peer listens on).

import { parseNetAddress } from '../../world/net-address.js';
import { parseCommand, type Command } from './commands.js';
import { domainError, type DomainError } from './errors.js';

export const RULES_VERSION = 2;
/** The version of entries that carry none: everything written before versions were recorded. */
export const FIRST_RULES_VERSION = 1;

export class RulesVersionError extends Error {
  override name = 'RulesVersionError';
  readonly code = 'STORE_VERSION';
}

/** An untrusted command read by the rules of `rulesVersion`, in today's shape, or the refusal those rules give. */
export function commandUnderRules(rulesVersion: number, raw: unknown): Command | DomainError {
  switch (rulesVersion) {
    case 1:
      return fromVersion1(raw);
    case 2:
      return parseCommand(raw);
    default:
      throw new RulesVersionError(`an entry of rules version ${String(rulesVersion)}; this build knows 1 to ${RULES_VERSION}: run a newer build`);
  }
}

/**
 * Version 1 took the address the client named; a malformed one was BAD_ADDRESS. Read into
 * today's shape, it gives the same events (SessionOpened's address is the same text).
 */
function fromVersion1(raw: unknown): Command | DomainError {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return parseCommand(raw);
  const { address, ...rest } = raw as Record<string, unknown>;
  if (rest.type !== 'OpenSession' && rest.type !== 'RenewSession') return parseCommand(raw);
  if (typeof address !== 'string' || 'observed' in rest) return domainError('BAD_COMMAND', `${rest.type} of rules version 1 takes an address string`);
  try {
    return parseCommand({ ...rest, observed: parseNetAddress(address) });
  } catch {
    return domainError('BAD_ADDRESS', `peer address ${JSON.stringify(address.slice(0, 40))} is not host:port`);
  }
}
