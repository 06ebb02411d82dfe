// `npm run bench`: runs every benchmark in turn; each prints its own figures.
// Record results in bench/RESULTS.md with the date, the machine and the command.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// Raft runs twice: without TLS on either side, and with TLS on both (issue 19).
const benches = [['audit-replay.mjs'], ['sim-speed.mjs'], ['raft.mjs'], ['raft.mjs', '--tls'], ['swarm.mjs'], ['flash-crowd.mjs'], ['multihost.mjs']];
let failed = 0;
for (const [bench, ...own] of benches) {
  console.log(`== ${[bench, ...own].join(' ')}`);
  const result = spawnSync(process.execPath, [fileURLToPath(new URL(bench, import.meta.url)), ...own, ...process.argv.slice(2)], { stdio: 'inherit' });
  if (result.status !== 0) failed++;
}
process.exitCode = failed === 0 ? 0 : 1;
