// `npm run bench`: runs every benchmark in turn; each prints its own figures.
// Record results in bench/RESULTS.md with the date, the machine and the command.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// Raft runs twice: without TLS on either side, and with TLS on both (issue 19). Scale and online
// run at small sizes here (a few minutes each); their defaults, the full sizes (scale up
// to 1,000,000 files, about 50 minutes; online at 10,000 peers, about 13), are run by hand (issue 20).
const benches = [
  ['audit-replay.mjs'],
  ['sim-speed.mjs'],
  ['raft.mjs'],
  ['raft.mjs', '--tls'],
  ['scale.mjs', '--sizes', '0.001,0.01'],
  ['online.mjs', '--peers', '2000'],
  ['swarm.mjs'],
  ['flash-crowd.mjs'],
  ['multihost.mjs'],
];
let failed = 0;
for (const [bench, ...own] of benches) {
  console.log(`== ${[bench, ...own].join(' ')}`);
  const result = spawnSync(process.execPath, [fileURLToPath(new URL(bench, import.meta.url)), ...own, ...process.argv.slice(2)], { stdio: 'inherit' });
  if (result.status !== 0) failed++;
}
process.exitCode = failed === 0 ? 0 : 1;
