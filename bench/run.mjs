// `npm run bench`: runs every benchmark in turn; each prints its own figures.
// Record results in bench/RESULTS.md with the date, the machine and the command.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const benches = ['audit-replay.mjs', 'sim-speed.mjs', 'raft.mjs', 'swarm.mjs', 'flash-crowd.mjs', 'multihost.mjs'];
let failed = 0;
for (const bench of benches) {
  console.log(`== ${bench}`);
  const result = spawnSync(process.execPath, [fileURLToPath(new URL(bench, import.meta.url)), ...process.argv.slice(2)], { stdio: 'inherit' });
  if (result.status !== 0) failed++;
}
process.exitCode = failed === 0 ? 0 : 1;
