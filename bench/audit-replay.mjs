// bench/audit-replay: 1,000,000 events written through the real apply path into LevelDB, then
// replayed from disk the way `clique audit` does it, without and with --verify. Prints events/s
// and peak RSS of each phase (each phase in its own process, so peak RSS is its own).
// Goal (issue 3): >= 1,000,000 events/s without --verify.
// Goal (issue 19): replay, without and with --verify, at least half the speed of a bare scan of
// the same store in the same run: every segment read the way the replay reads it (same range,
// same chunk of segments per read, next chunk in flight), split into its lines, nothing else.
// "With --verify" is `clique audit --verify` with a history to print (verify, then the audit's
// replay); "--verify alone" is the checks only (what `clique audit --verify` does by itself).
//
//   node bench/audit-replay.mjs [--events N] [--dir DIR [--reuse]]

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = new URL('../dist/', import.meta.url);
const { TrackerStore } = await import(new URL('log/store/tracker-store.js', dist));
const { auditStore } = await import(new URL('log/store/audit.js', dist));
const { verifyStore } = await import(new URL('log/store/verify.js', dist));
const { segmentsFrom, SEGMENTS_PER_READ } = await import(new URL('log/store/layout.js', dist));
const { createRealWorld } = await import(new URL('world/real/real-world.js', dist));
const { hashPieces, infoHash, PIECE_LENGTH_BYTES } = await import(new URL('torrent/infohash.js', dist));
const { toBase64 } = await import(new URL('torrent/bytes.js', dist));
const { RULES_VERSION } = await import(new URL('log/domain/rules.js', dist));

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const at = args.indexOf(name);
  return at === -1 ? fallback : args[at + 1];
};
const phase = arg('--phase', 'all');
const targetEvents = Number(arg('--events', '1000000'));
const kvFactory = createRealWorld().kv;

const sha256 = (text) => createHash('sha256').update(text).digest('hex');
const password = { algorithm: 'scrypt', costN: 16384, blockSizeR: 8, parallelP: 1, salt: '11'.repeat(16), hash: '22'.repeat(32) };

/** A valid, busy tracker history: users, sessions, groups, joins, shares, holders, leaves, some refusals. */
function* workload() {
  const USERS = 20_000;
  const GROUPS = 2_000;
  let index = 0;
  let timeMs = 1_700_000_000_000;
  const entry = (command) => ({ index: ++index, term: 1, timeMs: (timeMs += 3), clientId: `c${index % 64}`, requestId: index, rulesVersion: RULES_VERSION, command });
  const auth = (u) => ({ sessionId: `session-${u}-0001`, tokenHash: sha256(`token-${u}`) });
  for (let u = 0; u < USERS; u++) yield entry({ type: 'CreateUser', user: `user${u}`, password });
  for (let u = 0; u < USERS; u++) {
    yield entry({ type: 'OpenSession', user: `user${u}`, sessionId: auth(u).sessionId, tokenHash: auth(u).tokenHash, observed: { host: `10.0.${u >> 8}.${u & 255}`, port: 6881 }, reachable: true, credentialsIndex: u + 1 });
  }
  for (let g = 0; g < GROUPS; g++) yield entry({ type: 'CreateGroup', auth: auth(g % USERS), group: `group${g}` });
  const files = [];
  for (let f = 0; f < 64; f++) {
    const bytes = Buffer.alloc(100_000 + f * 20_000, f);
    const pieces = hashPieces(bytes);
    files.push({ name: `file${f}.bin`, sizeBytes: bytes.length, pieceLengthBytes: PIECE_LENGTH_BYTES, pieces: toBase64(pieces), fileId: infoHash({ name: `file${f}.bin`, sizeBytes: bytes.length, pieceLengthBytes: PIECE_LENGTH_BYTES, pieces }) });
  }
  for (let round = 0; ; round++) {
    for (let g = 0; g < GROUPS; g++) {
      const owner = g % USERS;
      const joiner = (g * 7919 + round * 104_729 + 1) % USERS;
      const group = `group${g}`;
      yield entry({ type: 'RequestJoin', auth: auth(joiner), group });
      yield entry({ type: 'AcceptRequest', auth: auth(owner), group, user: `user${joiner}` });
      const file = files[(g + round) % files.length];
      yield entry({ type: 'ShareFile', auth: auth(joiner), group, file });
      yield entry({ type: 'HoldPartial', auth: auth(owner), group, fileId: file.fileId });
      yield entry({ type: 'AcceptRequest', auth: auth(joiner), group, user: `user${owner}` }); // refused: not the owner
      if (round % 3 === 2) yield entry({ type: 'LeaveGroup', auth: auth(joiner), group });
    }
  }
}

async function generate(dir) {
  const kv = await kvFactory.open(dir, { createIfMissing: true });
  const store = await TrackerStore.open(kv, { snapshotEveryEntries: 50_000 });
  let events = 0;
  let batch = [];
  const started = performance.now();
  for (const entry of workload()) {
    batch.push(entry);
    if (batch.length === 1000) {
      for (const applied of await store.apply(batch, { sync: false })) events += applied.entry.events.length;
      batch = [];
      if (events >= targetEvents) break;
    }
  }
  await store.snapshot();
  const seconds = (performance.now() - started) / 1000;
  await kv.close();
  return { events, entries: store.appliedIndex, seconds };
}

async function replay(dir, verify, history = true) {
  const kv = await kvFactory.open(dir, { createIfMissing: false });
  const started = performance.now();
  let verified = null;
  if (verify) verified = await verifyStore(kv);
  if (!history) {
    // `clique audit --verify` alone: the checks, no history (verify replays the archive itself).
    const seconds = (performance.now() - started) / 1000;
    await kv.close();
    return { seconds, lastIndex: verified.entries, verified: verified.ok ? 'ok' : `FAILED at #${verified.index}` };
  }
  let events = 0;
  // The audit's replay from genesis; a group filter that matches nothing keeps printing out of the figure.
  const result = await auditStore(kv, { group: '(none)' }, () => {});
  for (const group of result.state.groups.values()) events += 0 * group.members.size;
  const seconds = (performance.now() - started) / 1000;
  await kv.close();
  return { seconds, lastIndex: result.lastIndex, verified: verified && (verified.ok ? 'ok' : `FAILED at #${verified.index}`) };
}

/**
 * The bare scan: the replay's reads and line split, nothing else (lines and bytes counted so
 * nothing is optimised away). 'lines': each segment split at its newline bytes and each line
 * decoded, the cheapest way to its lines as text (V8 makes a string of a whole 512 KiB segment
 * slowly); 'whole': each segment decoded whole and split, as the replay read before issue 19.
 */
async function scan(dir, how) {
  const kv = await kvFactory.open(dir, { createIfMissing: false });
  const decoder = new TextDecoder();
  const started = performance.now();
  let lines = 0;
  let bytes = 0;
  let chars = 0;
  const iterator = kv.iterate(segmentsFrom(1), SEGMENTS_PER_READ)[Symbol.asyncIterator]();
  let pending = iterator.next();
  for (;;) {
    const chunk = await pending;
    if (chunk.done) break;
    pending = iterator.next();
    for (const [, value] of chunk.value) {
      bytes += value.length;
      if (how === 'whole') {
        lines += decoder.decode(value).split('\n').length;
        continue;
      }
      const segment = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      for (let start = 0; ; ) {
        const newline = segment.indexOf(10, start);
        const end = newline === -1 ? segment.length : newline;
        chars += segment.toString('utf8', start, end).length;
        lines++;
        if (newline === -1) break;
        start = newline + 1;
      }
    }
  }
  const seconds = (performance.now() - started) / 1000;
  await kv.close();
  return { seconds, lines, bytes, chars };
}

const rssMiB = () => (process.resourceUsage().maxRSS / 1024).toFixed(0);

if (phase === 'generate') {
  const r = await generate(arg('--dir'));
  console.log(JSON.stringify({ ...r, peakRssMiB: rssMiB() }));
} else if (phase === 'scan' || phase === 'scan-whole') {
  const r = await scan(arg('--dir'), phase === 'scan' ? 'lines' : 'whole');
  console.log(JSON.stringify({ ...r, peakRssMiB: rssMiB() }));
} else if (phase === 'replay' || phase === 'verify' || phase === 'verify-only') {
  const r = await replay(arg('--dir'), phase !== 'replay', phase !== 'verify-only');
  console.log(JSON.stringify({ ...r, peakRssMiB: rssMiB() }));
} else {
  const dir = arg('--dir') ?? mkdtempSync(join(tmpdir(), 'clique-bench-audit-'));
  const self = fileURLToPath(import.meta.url);
  const run = (p) => {
    const out = spawnSync(process.execPath, [self, '--phase', p, '--dir', dir, '--events', String(targetEvents)], { encoding: 'utf8' });
    if (out.status !== 0) throw new Error(`${p} failed: ${out.stderr}`);
    return JSON.parse(out.stdout.trim().split('\n').pop());
  };
  try {
    // --reuse: a --dir generated by an earlier run (its figures kept beside it) is read again, not rewritten.
    const genFile = `${dir}.generated.json`;
    const gen = args.includes('--reuse') ? JSON.parse(readFileSync(genFile, 'utf8')) : run('generate');
    if (arg('--dir') !== undefined) writeFileSync(genFile, JSON.stringify(gen));
    console.log(`audit-replay: wrote ${gen.events} events in ${gen.entries} entries through apply in ${gen.seconds.toFixed(2)} s (${Math.round(gen.events / gen.seconds)} events/s, peak RSS ${gen.peakRssMiB} MiB)`);
    const bestOf3 = (p) => [run(p), run(p), run(p)].sort((a, b) => a.seconds - b.seconds)[0];
    const scanned = (p) => {
      const best = bestOf3(p);
      if (best.lines !== gen.entries) throw new Error(`${p} read ${best.lines} lines of ${gen.entries} entries`);
      const how = p === 'scan' ? 'lines split at newline bytes, each decoded' : 'segments decoded whole, then split';
      console.log(`audit-replay: bare scan${p === 'scan' ? '              ' : ' (whole)      '} ${Math.round(gen.events / best.seconds)} events/s (${Math.round(best.lines / best.seconds)} lines/s, ${(best.bytes / 2 ** 20).toFixed(0)} MiB in ${best.seconds.toFixed(2)} s, best of 3, peak RSS ${best.peakRssMiB} MiB; ${how})`);
      return best;
    };
    const bare = scanned('scan');
    const whole = scanned('scan-whole');
    const scanRate = Math.round(gen.events / bare.seconds);
    const labels = { replay: 'replay without --verify', verify: 'replay with --verify   ', 'verify-only': '--verify alone         ' };
    for (const p of ['replay', 'verify', 'verify-only']) {
      const best = bestOf3(p);
      if (best.lastIndex !== gen.entries) throw new Error(`${p} replayed ${best.lastIndex} of ${gen.entries} entries`);
      const label = labels[p];
      const rate = Math.round(gen.events / best.seconds);
      const ratio = rate / scanRate;
      const goal3 = p === 'replay' ? ` goal >= 1000000: ${rate >= 1_000_000 ? 'met' : 'MISSED'};` : '';
      console.log(`audit-replay: ${label} ${rate} events/s (${best.seconds.toFixed(2)} s, best of 3, peak RSS ${best.peakRssMiB} MiB${best.verified ? `, verify ${best.verified}` : ''})${goal3} ${ratio.toFixed(2)}x bare scan (${(whole.seconds / best.seconds).toFixed(2)}x the whole-segment scan), goal >= 0.5x bare scan: ${ratio >= 0.5 ? 'met' : 'MISSED'}`);
    }
  } finally {
    if (arg('--dir') === undefined) rmSync(dir, { recursive: true, force: true });
  }
}
