// Why this file exists: `clique audit` — read a stopped node's store offline and tell its history
// (who, what, when, at which index, denied attempts included), a group's or user's state as of
// an index, the first bad entry (--verify) and the first divergence from another store (--against).

import { groupDetail, listGroups, sessionsOf } from '../log/domain/queries.js';
import { auditStore, type AuditFilter, type AuditRecord } from '../log/store/audit.js';
import { ownCurrentGeneration } from '../log/store/generations.js';
import { compareStores, verifyStore, type CompareResult, type VerifyResult } from '../log/store/verify.js';
import { isWorldError, type KvFactory, type KvStore } from '../world/world.js';
import { formatGroup, formatRecord, shown } from './audit-format.js';
import { CliError, EXIT_FAILED, EXIT_OK } from './exit-codes.js';

export interface AuditOptions extends AuditFilter {
  data: string;
  json: boolean;
  verify: boolean;
  against?: string;
}

/** Buffered writes: an audit may print a million lines. */
export interface LineSink {
  line(text: string): void;
  flush(): void;
}

/** Opens a tracker store read for the audit: `dir` itself, or the store inside a node's data directory (`dir/tracker`). */
export async function openStoreForAudit(kv: KvFactory, dir: string): Promise<KvStore> {
  try {
    try {
      return await ownCurrentGeneration(await kv.open(dir, { createIfMissing: false }));
    } catch (error) {
      if (!isWorldError(error, 'NOT_FOUND')) throw error;
      return await ownCurrentGeneration(await kv.open(`${dir.replace(/\/+$/, '')}/tracker`, { createIfMissing: false }));
    }
  } catch (error) {
    if (isWorldError(error, 'LOCKED')) {
      throw new CliError('STORE_LOCKED', `${dir} is in use by a running tracker; stop that node, or ask the live cluster with --cluster FILE`);
    }
    if (isWorldError(error, 'NOT_FOUND')) throw new CliError('STORE_NOT_FOUND', `no tracker store at ${dir}`);
    throw error;
  }
}

export async function runAudit(kv: KvFactory, options: AuditOptions, out: LineSink): Promise<number> {
  const store = await openStoreForAudit(kv, options.data);
  try {
    const other = options.against === undefined ? null : await openStoreForAudit(kv, options.against);
    try {
      const verify = options.verify ? await verifyStore(store) : null;
      const against = other ? await compareStores(store, other) : null;
      const checksOnly = (options.verify || other !== null) && options.group === undefined && options.user === undefined && options.asOfIndex === undefined;
      const failed = (verify !== null && !verify.ok) || (against !== null && against.diverged);
      const checks: Checks = { verify, against, checksOnly };
      if (options.json) await printJson(store, options, checks, out);
      else await printText(store, options, checks, out);
      return failed ? EXIT_FAILED : EXIT_OK;
    } finally {
      await other?.close();
    }
  } finally {
    await store.close();
  }
}

function verifyLine(verify: VerifyResult): string {
  return verify.ok
    ? `verify ok: ${verify.entries} entries, chain head ${verify.chainHead}`
    : `verify FAILED at entry #${verify.index}: ${verify.reason} (${verify.entries} entries before it hold)`;
}

function againstLine(against: CompareResult, other: string): string {
  return against.diverged
    ? `against ${other}: first divergence at entry #${against.index} (${against.compared} entries agree before it)`
    : `against ${other}: no divergence in ${against.compared} common entries`;
}

/** The results of --verify and --against; checksOnly when no history was asked for. */
interface Checks {
  verify: VerifyResult | null;
  against: CompareResult | null;
  checksOnly: boolean;
}

async function printText(store: KvStore, options: AuditOptions, { verify, against, checksOnly }: Checks, out: LineSink): Promise<void> {
  if (verify) out.line(verifyLine(verify));
  if (against) out.line(againstLine(against, options.against ?? ''));
  if (checksOnly) return out.flush();
  const result = await auditStore(store, options, (record) => out.line(formatRecord(record)));
  out.line(`-- ${result.lastIndex} of ${result.appliedIndex} applied entries replayed`);
  if (options.group !== undefined) for (const line of formatGroup(groupDetail(result.state, options.group), options.group, result.lastIndex)) out.line(line);
  if (options.user !== undefined) {
    const user = options.user;
    const exists = result.state.users.has(user);
    out.line(`user ${shown(user)} as of #${result.lastIndex}: ${exists ? 'registered' : 'does not exist'}`);
    for (const group of listGroups(result.state, user)) if (group.relation !== 'none') out.line(`  ${group.relation} of ${shown(group.group)}`);
    for (const session of sessionsOf(result.state, user)) out.line(`  session ${shown(session.sessionId)} at ${shown(session.address)} since #${session.openedIndex}`);
  }
  out.flush();
}

async function printJson(store: KvStore, options: AuditOptions, { verify, against, checksOnly }: Checks, out: LineSink): Promise<void> {
  out.line(`{"store":${JSON.stringify(options.data)},"verify":${JSON.stringify(verify)},"against":${JSON.stringify(against)},"entries":[`);
  let first = true;
  const onRecord = (record: AuditRecord): void => {
    out.line((first ? '' : ',') + JSON.stringify(record));
    first = false;
  };
  if (checksOnly) {
    out.line('],"appliedIndex":null,"asOfIndex":null,"group":null,"user":null}');
    return out.flush();
  }
  const result = await auditStore(store, options, onRecord);
  const group = options.group === undefined ? null : groupDetail(result.state, options.group);
  const user =
    options.user === undefined
      ? null
      : {
          user: options.user,
          exists: result.state.users.has(options.user),
          groups: listGroups(result.state, options.user).filter((g) => g.relation !== 'none'),
          sessions: sessionsOf(result.state, options.user),
        };
  out.line(`],"appliedIndex":${result.appliedIndex},"asOfIndex":${result.lastIndex},"group":${JSON.stringify(group)},"user":${JSON.stringify(user)}}`);
  out.flush();
}
