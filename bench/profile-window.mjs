// Why this file exists: a `--cpu-prof` profile covers a process's whole life, and a tracker
// node in bench/online spends most of it in the setup. This prints where its time went in one
// window only (the bench prints each window's bounds on the same monotonic clock as the
// profile's timestamps): self time by function, and by the file it lives in.
//
//   node bench/profile-window.mjs PROFILE.cpuprofile FROM_US TO_US [--top 30] [--callers NAME [--depth 4]]
//
// --callers NAME: the stacks (NAME and the frames above it, up to --depth) that NAME's self time
// was spent under.

import { readFileSync } from 'node:fs';

const [path, fromArg, toArg] = process.argv.slice(2);
if (path === undefined || fromArg === undefined || toArg === undefined) {
  console.error('usage: node bench/profile-window.mjs PROFILE.cpuprofile FROM_US TO_US [--top 30]');
  process.exit(64);
}
const topIndex = process.argv.indexOf('--top');
const TOP = topIndex === -1 ? 30 : Number(process.argv[topIndex + 1]);
const callersIndex = process.argv.indexOf('--callers');
const CALLERS = callersIndex === -1 ? null : process.argv[callersIndex + 1];
const depthIndex = process.argv.indexOf('--depth');
const DEPTH = depthIndex === -1 ? 4 : Number(process.argv[depthIndex + 1]);
const fromUs = Number(fromArg);
const toUs = Number(toArg);
const profile = JSON.parse(readFileSync(path, 'utf8'));

const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
const parentOf = new Map();
for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
const selfUs = new Map();
let t = profile.startTime;
let inWindowUs = 0;
for (let i = 0; i < profile.samples.length; i++) {
  t += profile.timeDeltas[i];
  // A sample stands for the time until the next one.
  const spanUs = i + 1 < profile.timeDeltas.length ? profile.timeDeltas[i + 1] : 0;
  if (t < fromUs || t >= toUs) continue;
  selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + spanUs);
  inWindowUs += spanUs;
}
if (inWindowUs === 0) {
  console.error(`no sample between ${fromUs} and ${toUs} µs (the profile runs ${profile.startTime}-${profile.endTime})`);
  process.exit(1);
}

const fileOf = (id) => {
  const { url } = nodes.get(id).callFrame;
  return url === '' ? '(native)' : url.replace(/^file:\/\//, '').replace(/.*\/(dist|node_modules)\//, '$1/');
};
const nameOf = (id) => {
  const { functionName, url, lineNumber } = nodes.get(id).callFrame;
  return `${functionName || '(anonymous)'} ${fileOf(id)}${url === '' ? '' : `:${lineNumber + 1}`}`;
};
const byFunction = new Map();
const byFile = new Map();
const byStack = new Map();
for (const [id, us] of selfUs) {
  const name = nameOf(id);
  byFunction.set(name, (byFunction.get(name) ?? 0) + us);
  byFile.set(fileOf(id), (byFile.get(fileOf(id)) ?? 0) + us);
  if (CALLERS !== null && nodes.get(id).callFrame.functionName === CALLERS) {
    const frames = [];
    for (let at = id; at !== undefined && frames.length < DEPTH; at = parentOf.get(at)) frames.push(nameOf(at));
    const stack = frames.join(' < ');
    byStack.set(stack, (byStack.get(stack) ?? 0) + us);
  }
}
const windowS = (toUs - fromUs) / 1e6;
const idleUs = [...byFunction].filter(([name]) => name.startsWith('(idle)')).reduce((sum, [, us]) => sum + us, 0);
console.log(`${path}: ${windowS.toFixed(1)} s window, ${(inWindowUs / 1e6).toFixed(2)} s sampled, busy ${((inWindowUs - idleUs) / 1e6).toFixed(2)} s (${((100 * (inWindowUs - idleUs)) / inWindowUs).toFixed(1)} % of the main thread)`);
const print = (title, map) => {
  console.log(title);
  for (const [name, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
    console.log(`${(us / 1e3).toFixed(0).padStart(8)} ms ${((100 * us) / inWindowUs).toFixed(1).padStart(5)} %  ${name}`);
  }
};
if (CALLERS !== null) print(`${CALLERS}'s self time by stack (callee < caller):`, byStack);
else {
  print('self time by function:', byFunction);
  print('self time by file:', byFile);
}
