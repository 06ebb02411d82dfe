// bench/store-open: how long a node's tracker store (format 3) takes to open, and what its
// projection costs in memory (issue 20). The store is built directly, through the real apply
// path into LevelDB, with the scale benchmark's world (bench/lib/scale-plan.mjs: users, each
// logged in once; groups; members who joined and were accepted; files shared with their piece
// lists, each held by its sharer's session, which stays open); then each open runs in a fresh
// process, as a restart does: `TrackerStore.open` as a node opens it (every record but the
// groups' files) timed, then every group's files read (`ensureAllGroups`), records/s over both. With --expose-gc (the open processes have it) the live heap is
// measured after the open and again after dropping each part of the projection in turn
// (holders, files, sessions and refresh credentials, users, the rest), so each part's bytes
// are what it alone keeps alive.
//
//   node bench/store-open.mjs [--size 0.05] [--opens 3] [--dir DIR [--reuse]] [--seed 1]
//
// --size is a fraction of the full size (100,000 users, 10,000 groups, 1,000,000 files).
// --dir keeps the store there (built unless --reuse finds one).

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { drawPlan, fileMetaOf, groupName, sizeAt, userName } from './lib/scale-plan.mjs';

const dist = new URL('../dist/', import.meta.url);
const { TrackerStore } = await import(new URL('log/store/tracker-store.js', dist));
const { createRealWorld } = await import(new URL('world/real/real-world.js', dist));
const { RULES_VERSION } = await import(new URL('log/domain/rules.js', dist));
const { NO_HOLDERS } = await import(new URL('log/domain/state.js', dist));

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const at = args.indexOf(name);
  return at === -1 ? fallback : args[at + 1];
};
const phase = arg('--phase', 'all');
const fraction = Number(arg('--size', '0.05'));
const opens = Number(arg('--opens', '3'));
const seed = arg('--seed', '1');
const kvFactory = createRealWorld().kv;
const MiB = 1024 * 1024;
const int = (n) => Math.round(n).toLocaleString('en-US');
const mib = (bytes) => `${(bytes / MiB).toFixed(1)} MiB`;

const sha256 = (text) => createHash('sha256').update(text).digest('hex');
const password = { algorithm: 'scrypt', costN: 16, blockSizeR: 8, parallelP: 1, salt: '11'.repeat(16), hash: '22'.repeat(32) };
/** Load slots of the scale bench: 4 processes x 64 clients, each with its cached reply. */
const CLIENTS = 256;

/** The scale bench's writes, in its order (phase by phase), as proposed entries. */
function* workload(size) {
  const { root, groupOf, sharerOf } = drawPlan(seed, size);
  let index = 0;
  let timeMs = 1_800_000_000_000;
  const entry = (command) => ({ index: ++index, term: 1, timeMs: (timeMs += 3), clientId: `scale-${index % 4}-${index % 64}`, requestId: index, rulesVersion: RULES_VERSION, command });
  const auth = (u) => ({ sessionId: `s${sha256(`session ${u}`).slice(0, 22)}`, tokenHash: sha256(`token ${u}`) });
  const credentialsIndex = new Uint32Array(size.users);
  for (let u = 0; u < size.users; u++) {
    const created = entry({ type: 'CreateUser', user: userName(u), password });
    credentialsIndex[u] = created.index;
    yield created;
    yield entry({
      type: 'OpenSession',
      user: userName(u),
      ...auth(u),
      observed: { host: '127.0.0.1', port: 40_000 + (u % 20_000) },
      reachable: false,
      credentialsIndex: credentialsIndex[u],
      refreshHash: sha256(`refresh ${u}`),
    });
  }
  for (let g = 0; g < size.groups; g++) yield entry({ type: 'CreateGroup', auth: auth(g), group: groupName(g) });
  for (let u = size.groups; u < size.users; u++) yield entry({ type: 'RequestJoin', auth: auth(u), group: groupName(groupOf[u]) });
  for (let u = size.groups; u < size.users; u++) yield entry({ type: 'AcceptRequest', auth: auth(groupOf[u]), group: groupName(groupOf[u]), user: userName(u) });
  for (let f = 0; f < size.files; f++) {
    const u = sharerOf[f];
    yield entry({ type: 'ShareFile', auth: auth(u), group: groupName(groupOf[u]), file: fileMetaOf(root, f) });
  }
}

async function build(dir, size) {
  const kv = await kvFactory.open(dir, { createIfMissing: true });
  const store = await TrackerStore.open(kv, { snapshotEveryEntries: 50_000 });
  const startedMs = performance.now();
  let batch = [];
  let refused = 0;
  const flush = async () => {
    for (const applied of await store.apply(batch, { sync: false })) if (applied.reply?.error) refused++;
    batch = [];
  };
  for (const e of workload(size)) {
    batch.push(e);
    if (batch.length === 64) await flush();
  }
  await flush();
  await store.snapshot();
  await store.quiesce();
  await kv.close();
  console.log(`store-open: built ${int(store.appliedIndex)} entries in ${((performance.now() - startedMs) / 1000).toFixed(1)} s (${refused} refused)`);
  if (refused > 0) throw new Error('the workload had refused writes: the store is not the intended one');
}

const used = () => {
  globalThis.gc();
  globalThis.gc();
  return process.memoryUsage().heapUsed;
};

/** One open, in this (fresh) process: time, records/s, and what each part of the projection keeps alive. */
async function openOnce(dir) {
  const kv = await kvFactory.open(dir, { createIfMissing: false });
  let records = 0;
  for await (const chunk of kv.iterate({ gte: 'st:', lt: 'st:~' }, 4096)) records += chunk.length;
  const baseline = used();
  const startedMs = performance.now();
  // As a node opens it: every group's files left on disk, then read group by group.
  const store = await TrackerStore.open(kv, { filesOnDemand: true });
  const withoutFilesMs = performance.now() - startedMs;
  const groupsOnDisk = store.groupsWithFilesOnDisk;
  await store.ensureAllGroups();
  const ms = performance.now() - startedMs;
  const state = store.state;
  const all = used();
  let files = 0;
  let holders = 0;
  for (const group of state.groups.values()) {
    files += group.files.size;
    for (const file of group.files.values()) holders += file.holders.size;
  }
  // Drop the parts one by one; each difference is what that part alone keeps alive.
  for (const group of state.groups.values()) for (const file of group.files.values()) file.holders = NO_HOLDERS;
  for (const session of state.sessions.values()) session.holdings = new Set();
  const withoutHolders = used();
  for (const group of state.groups.values()) {
    group.files.clear();
    group.fileNames.clear();
  }
  const withoutFiles = used();
  const sessions = state.sessions.size;
  const refreshes = state.refreshes.size;
  state.sessions.clear();
  state.refreshes.clear();
  const withoutSessions = used();
  const users = state.users.size;
  state.users.clear();
  const withoutUsers = used();
  const result = {
    ms,
    withoutFilesMs,
    groupsOnDisk,
    records,
    heap: all - baseline,
    holders,
    holderBytes: all - withoutHolders,
    files,
    fileBytes: withoutHolders - withoutFiles,
    sessions,
    refreshes,
    sessionBytes: withoutFiles - withoutSessions,
    users,
    userBytes: withoutSessions - withoutUsers,
    restBytes: withoutUsers - baseline,
    rss: process.memoryUsage().rss,
  };
  await kv.close();
  return result;
}

if (phase === 'open') {
  console.log(JSON.stringify(await openOnce(arg('--dir', ''))));
} else {
  const size = sizeAt(fraction);
  const given = arg('--dir', null);
  const dir = given ?? mkdtempSync(join(tmpdir(), 'clique-store-open-'));
  const reuse = args.includes('--reuse') && existsSync(join(dir, 'CURRENT'));
  console.log(`store-open: size ${fraction}: ${int(size.users)} users, ${int(size.groups)} groups, ${int(size.files)} files; store in ${dir}${reuse ? ' (reused)' : ''}`);
  try {
    if (!reuse) await build(dir, size);
    for (let i = 0; i < opens; i++) {
      const run = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--phase', 'open', '--dir', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
      if (run.status !== 0) throw new Error(`the open process exited with ${run.status}`);
      const r = JSON.parse(run.stdout.trim().split('\n').pop());
      console.log(
        `store-open: open ${i + 1}: ${int(r.withoutFilesMs)} ms without the files (what a node's restart waits for), then the files of ${int(r.groupsOnDisk)} groups, ${int(r.ms)} ms in all for ${int(r.records)} records, ${int((r.records * 1000) / r.ms)} records/s, ${((r.ms * 1000) / r.records).toFixed(2)} µs a record; ` +
          `projection ${mib(r.heap)} of heap (RSS then ${mib(r.rss)}): ` +
          `${int(r.holders)} holders ${mib(r.holderBytes)} (${int(r.holderBytes / r.holders)} B each), ` +
          `${int(r.files)} files ${mib(r.fileBytes)} (${int(r.fileBytes / r.files)} B each), ` +
          `${int(r.sessions)} sessions + ${int(r.refreshes)} refresh credentials ${mib(r.sessionBytes)} (${int(r.sessionBytes / r.sessions)} B a session), ` +
          `${int(r.users)} users ${mib(r.userBytes)} (${int(r.userBytes / r.users)} B each), the rest (groups, replies) ${mib(r.restBytes)}`,
      );
    }
  } finally {
    if (given === null) rmSync(dir, { recursive: true, force: true });
  }
}
