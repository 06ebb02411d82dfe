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
//   3  ... and `reachable`, whether that node could dial the peer there. Version 2 knew no such
//      thing: every peer counted as reachable, and its logins read as such.
//   4  ... and may carry `keyFingerprint`, the peer's TLS key. Version 3 knew no keys: its
//      logins read as sessions without one (they get no tickets).
//   5  RemoveMember, the owner's removal of a member. Versions up to 4 knew no such command:
//      theirs is the BAD_COMMAND any unknown command got. Logins read as in version 4.
//   6  ReportHolder, a downloader's report of a holder that sent pieces failing their SHA1.
//      Versions up to 5 knew no such command (BAD_COMMAND). Enough reports delist the holder
//      (HolderDelisted); no entry of an older version can make a report, so their ShareFile
//      and queries decide as before.
//   7  ShareFile names hold no invisible or direction-changing character and leave room for
//      `.part` (checkSharedFileName). Older entries keep the names they were allowed.

import { parseNetAddress } from '../../world/net-address.js';
import { parseCommand, type Command } from './commands.js';
import { domainError, isDomainError, type DomainError } from './errors.js';
import { checkSharedFileName } from './names.js';

export const RULES_VERSION = 7;
/** The last version whose logins differ from the ones before it. */
const LOGIN_RULES_VERSION = 4;
/** The version that brought RemoveMember. */
const REMOVE_MEMBER_RULES_VERSION = 5;
/** The version that brought ReportHolder. */
const REPORT_HOLDER_RULES_VERSION = 6;
/** The version from which shared names are checked for deceptive characters and room for `.part`. */
const SHARED_NAMES_RULES_VERSION = 7;
/** The version of entries that carry none: everything written before versions were recorded. */
export const FIRST_RULES_VERSION = 1;

export class RulesVersionError extends Error {
  override name = 'RulesVersionError';
  readonly code = 'STORE_VERSION';
}

type Raw = Record<string, unknown>;
/** A command brought up a version, or the refusal the older rules gave it. */
type Upgraded = { command: Raw } | { refusal: DomainError };

/** An untrusted command read by the rules of `rulesVersion`, in today's shape, or the refusal those rules give. */
export function commandUnderRules(rulesVersion: number, raw: unknown): Command | DomainError {
  const command = commandUpgraded(rulesVersion, raw);
  if (rulesVersion < SHARED_NAMES_RULES_VERSION || isDomainError(command) || command.type !== 'ShareFile') return command;
  return checkSharedFileName(command.file.name) ?? command;
}

function commandUpgraded(rulesVersion: number, raw: unknown): Command | DomainError {
  if (!Number.isInteger(rulesVersion) || rulesVersion < FIRST_RULES_VERSION || rulesVersion > RULES_VERSION) {
    throw new RulesVersionError(`an entry of rules version ${String(rulesVersion)}; this build knows ${FIRST_RULES_VERSION} to ${RULES_VERSION}: run a newer build`);
  }
  if (rulesVersion < REMOVE_MEMBER_RULES_VERSION && isRecordOfType(raw, 'RemoveMember')) return domainError('BAD_COMMAND', 'unknown command "RemoveMember"');
  if (rulesVersion < REPORT_HOLDER_RULES_VERSION && isRecordOfType(raw, 'ReportHolder')) return domainError('BAD_COMMAND', 'unknown command "ReportHolder"');
  const login = sessionOpening(raw);
  if (login === null || rulesVersion >= LOGIN_RULES_VERSION) return parseCommand(raw);
  const version2 = rulesVersion === 1 ? fromVersion1(login) : { command: login };
  if ('refusal' in version2) return version2.refusal;
  const version3 = rulesVersion <= 2 ? fromVersion2(version2.command) : version2;
  if ('refusal' in version3) return version3.refusal;
  const version4 = fromVersion3(version3.command);
  return 'refusal' in version4 ? version4.refusal : parseCommand(version4.command);
}

function isRecordOfType(raw: unknown, type: string): boolean {
  return typeof raw === 'object' && raw !== null && !Array.isArray(raw) && (raw as Raw).type === type;
}

/** OpenSession and RenewSession are what the versions tell apart; null for every other command. */
function sessionOpening(raw: unknown): Raw | null {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  const type = (raw as Raw).type;
  return type === 'OpenSession' || type === 'RenewSession' ? (raw as Raw) : null;
}

/** Version 1 took the address the client named; a malformed one was BAD_ADDRESS. */
function fromVersion1(raw: Raw): Upgraded {
  const { address, ...rest } = raw;
  if (typeof address !== 'string' || 'observed' in rest || 'reachable' in rest) return { refusal: domainError('BAD_COMMAND', `${String(rest.type)} of rules version 1 takes an address string`) };
  try {
    return { command: { ...rest, observed: parseNetAddress(address) } };
  } catch {
    return { refusal: domainError('BAD_ADDRESS', `peer address ${JSON.stringify(address.slice(0, 40))} is not host:port`) };
  }
}

/** Versions up to 3 had no peer keys. */
function fromVersion3(raw: Raw): Upgraded {
  if ('keyFingerprint' in raw) return { refusal: domainError('BAD_COMMAND', `${String(raw.type)} of rules version 3 has no keyFingerprint field`) };
  return { command: raw };
}

/** Versions 1 and 2 had no reachability: every session opened as reachable. */
function fromVersion2(raw: Raw): Upgraded {
  if ('reachable' in raw) return { refusal: domainError('BAD_COMMAND', `${String(raw.type)} of rules version 2 has no reachable field`) };
  return { command: { ...raw, reachable: true } };
}
