// bench/sim-speed: how many 500-step fault schedules (3-node cluster, 4 clients, every safety
// check and the linearizability check included) one core runs per minute.
// Goal (issue 4): >= 1,000 schedules per minute.
//
//   node bench/sim-speed.mjs [--seconds 60]

const dist = new URL('../dist/', import.meta.url);
const { SimCluster } = await import(new URL('sim/cluster/sim-cluster.js', dist));
const { generateSchedule } = await import(new URL('sim/cluster/schedule.js', dist));
const { SeededRng } = await import(new URL('world/rng.js', dist));

const args = process.argv.slice(2);
const at = args.indexOf('--seconds');
const seconds = at === -1 ? 60 : Number(args[at + 1]);

let schedules = 0;
let failures = 0;
let steps = 0;
const started = performance.now();
while (performance.now() - started < seconds * 1000) {
  const seed = schedules + 1;
  const schedule = generateSchedule(new SeededRng(`schedule/${seed}`), 500, 3, 4);
  const result = await new SimCluster(schedule, { seed: String(seed) }).run();
  if (result.violations.length > 0 || result.linearizability.result !== 'ok') failures++;
  steps += schedule.steps.length;
  schedules++;
}
const minutes = (performance.now() - started) / 60_000;
const perMinute = Math.round(schedules / minutes);
console.log(
  `sim-speed: ${schedules} schedules of 500 steps in ${(minutes * 60).toFixed(1)} s on one core: ${perMinute} schedules/min ` +
    `(${Math.round(steps / minutes / 60)} steps/s, ${failures} failed) goal >= 1000: ${perMinute >= 1000 ? 'met' : 'MISSED'}`,
);
process.exitCode = failures === 0 ? 0 : 1;
