// Multi-host tests on one machine: tracker and peer processes each in their own network namespace,
// joined by a switch the test builds, so a test sees what crosses a real network (distinct IPv4
// and IPv6 addresses, partitions, link rates, home routers with NAT: netns-nat.ts). It touches
// only what it made, and removes all of it in destroy(), on SIGTERM or exit, or (names carry the
// owning pid) at the next Lab.create().

import { execFileSync, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { FIRST_LAN_HOST, LAST_LAN_HOST, NAT_TABLE, ROUTER_SYSCTLS, WAN_DEVICE, assertPort, forwardPortRule, lanIpv4, routerRuleset } from './netns-nat.js';

export type Availability = { ok: true } | { ok: false; reason: string };

export interface HostOptions {
  /** Default true: the host gets 10.<net>.0.<n>/16 on its eth0 (behind a router, 192.168.<lanNet>.<m>/24, and false is an error). */
  ipv4?: boolean;
  /** Default true: the host gets fd<net>::<n>/64 (nodad, usable at once); false disables IPv6 on eth0. Behind a router, always false (true is an error). */
  ipv6?: boolean;
  /** Upload limit: tbf on eth0 inside the host. */
  upMbit?: number;
  /** Download limit: tbf on the switch's end of the host's veth (behind a router: the end on the router's LAN bridge). */
  downMbit?: number;
  /** A router of this lab: the host is on its LAN, IPv4 only, and reaches the others through its NAT. */
  behind?: Router;
}

export interface Rates {
  upMbit?: number;
  downMbit?: number;
}

export interface RouterOptions extends Rates {
  /**
   * The LAN is 192.168.<lanNet>.0/24: by default 1 for the lab's first router, 2 for its second,
   * and so on. Two routers may have the same: their LANs stay apart, as two homes' do.
   */
  lanNet?: number;
}

export interface RunOptions {
  input?: string;
  /** Killed with SIGKILL after this long; `code` is then null. */
  timeoutMs?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Partition {
  /** Deletes exactly this partition's rules (others, overlapping or not, stay). Idempotent. */
  heal(): Promise<void>;
}

/** Namespaces are `clq<pid>x<labNo>-<what>`; the pid says whose they are. */
const OWNED_NAMESPACE = /^clq(\d+)x(\d+)-/;
const SIGTERM_GRACE_MS = 500;
const SIGKILL_WAIT_MS = 5_000;
const MAX_HOSTS = 254;
const MAX_IFNAME_CHARS = 15;
const TBF_LATENCY_MS = 50;
/** A burst below one whole GSO packet (64 KiB on a veth) makes tbf split and pace every packet. */
const TBF_MIN_BURST_BYTES = 64 * 1024;
/** ...and above that, two milliseconds at the rate, so timer slack never caps a fast link. */
const TBF_BURST_TIME_MS = 2;

// ---------------------------------------------------------------------------------------------
// Running the tools

function oneLine(text: string): string {
  return text.trim().split('\n')[0]?.trim() ?? '';
}

function tool(command: string, args: readonly string[], input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

/** Numbers the redirect tables (one per redirect, so each undoes alone). */
let nextRedirect = 1;

/** Runs a tool and fails, naming the command, if it does not exit 0. */
async function must(command: string, args: readonly string[], input?: string): Promise<string> {
  const result = await tool(command, args, input);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')}: ${oneLine(result.stderr) || `exit ${result.code}`}`);
  return result.stdout;
}

let ipCommand: string | null = null;

/** `ip` by its full path: a caller's `env` for a spawned program may lack the PATH that finds it. */
function ipPath(): string {
  if (ipCommand === null) {
    const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin', '/bin'].filter((dir) => dir !== '');
    ipCommand = 'ip';
    for (const dir of dirs) {
      try {
        accessSync(`${dir}/ip`, constants.X_OK);
        ipCommand = `${dir}/ip`;
        break;
      } catch {
        // not here
      }
    }
  }
  return ipCommand;
}

function sysctl(namespace: string, settings: readonly string[]): Promise<string> {
  // -e: a key that does not exist here (br_netfilter not loaded) is not an error.
  return must('ip', ['netns', 'exec', namespace, 'sysctl', '-q', '-e', '-w', ...settings]);
}

// ---------------------------------------------------------------------------------------------
// Processes

/** Whether a process exists and is not a zombie (a killed child not yet reaped counts as gone). */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.charAt(stat.lastIndexOf(')') + 2);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function signal(pids: readonly number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

function parsePids(text: string): number[] {
  return text
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((pid) => Number.isInteger(pid) && pid > 0);
}

async function namespacePids(namespace: string): Promise<number[]> {
  const result = await tool('ip', ['netns', 'pids', namespace]);
  return result.code === 0 ? parsePids(result.stdout) : [];
}

async function waitForExit(pids: readonly number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let left = pids.filter(processAlive);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    left = left.filter(processAlive);
  }
  return left;
}

/** SIGTERM, a short grace, then SIGKILL for whatever still runs. */
async function stopProcesses(pids: readonly number[]): Promise<void> {
  signal(pids, 'SIGTERM');
  const stubborn = await waitForExit(pids, SIGTERM_GRACE_MS);
  signal(stubborn, 'SIGKILL');
  await waitForExit(stubborn, SIGKILL_WAIT_MS);
}

// ---------------------------------------------------------------------------------------------
// Labs alive in this process: one registry even if the module is loaded twice (vitest may
// re-evaluate it per file in the same worker), so lab numbers never repeat and the hooks run once.
// While a lab lives, SIGTERM, SIGINT and SIGHUP first destroy every lab synchronously, then take
// their usual course: vitest ends its workers with SIGTERM, and then no 'exit' event comes.

interface LiveLab {
  readonly labNo: number;
  destroySync(): void;
}

interface Registry {
  nextLabNo: number;
  readonly live: Set<LiveLab>;
  readonly onSignal: (sig: NodeJS.Signals) => void;
}

const REGISTRY_KEY = Symbol.for('clique.spec.netns');
const CLEANUP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

function registry(): Registry {
  const holder = globalThis as unknown as Record<symbol, Registry | undefined>;
  const existing = holder[REGISTRY_KEY];
  if (existing) return existing;
  const live = new Set<LiveLab>();
  const destroyAllSync = (): void => {
    for (const lab of [...live]) lab.destroySync();
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    destroyAllSync();
    for (const each of CLEANUP_SIGNALS) process.off(each, onSignal);
    // Nobody else listens: the default action (termination) is what the sender wanted.
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  };
  const created: Registry = { nextLabNo: 1, live, onSignal };
  holder[REGISTRY_KEY] = created;
  process.on('exit', destroyAllSync);
  return created;
}

function registerLab(lab: LiveLab): void {
  const labs = registry();
  labs.live.add(lab);
  for (const sig of CLEANUP_SIGNALS) if (!process.listeners(sig).includes(labs.onSignal)) process.on(sig, labs.onSignal);
}

function forgetLab(lab: LiveLab): void {
  const labs = registry();
  labs.live.delete(lab);
  if (labs.live.size === 0) for (const sig of CLEANUP_SIGNALS) process.off(sig, labs.onSignal);
}

/** Namespaces of ours whose owner is gone: another pid that no longer runs, or this pid but no live lab. */
async function removeLeftovers(): Promise<void> {
  const listed = await tool('ip', ['netns', 'list']);
  if (listed.code !== 0) return;
  const liveLabs = new Set([...registry().live].map((lab) => lab.labNo));
  const stale = listed.stdout
    .split('\n')
    .map((line) => line.trim().split(' ')[0] ?? '')
    .filter((name) => {
      const match = OWNED_NAMESPACE.exec(name);
      if (!match) return false;
      const pid = Number(match[1]);
      return pid === process.pid ? !liveLabs.has(Number(match[2])) : !processAlive(pid);
    });
  await Promise.all(
    stale.map(async (namespace) => {
      await stopProcesses(await namespacePids(namespace));
      await tool('ip', ['netns', 'del', namespace]); // another process may be sweeping too
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Availability

let availability: Availability | null = null;

function probeAvailability(): Availability {
  const no = (reason: string): Availability => ({ ok: false, reason: oneLine(reason.replace(/\s+/g, ' ')) });
  if (process.platform !== 'linux') return no(`network namespaces need Linux, this is ${process.platform}`);
  const uid = process.getuid?.();
  if (uid !== 0) return no(`network namespaces need root, this process runs as uid ${uid ?? 'unknown'}`);
  for (const [command, flag] of [['ip', '-V'], ['nft', '--version'], ['tc', '-V'], ['sysctl', '-V']] as const) {
    const result = spawnSync(command, [flag], { encoding: 'utf8' });
    if (result.error) return no(`\`${command}\` is not usable: ${result.error.message}`);
  }
  const namespace = `clq${process.pid}x0-probe`;
  spawnSync('ip', ['netns', 'del', namespace]);
  const steps: ReadonlyArray<readonly [string, ...string[]]> = [
    ['ip', 'netns', 'add', namespace],
    ['ip', '-n', namespace, 'link', 'add', 'cqprobe0', 'type', 'veth', 'peer', 'name', 'cqprobe1'],
    ['ip', '-n', namespace, 'link', 'add', 'cqprobebr', 'type', 'bridge'],
    ['tc', '-n', namespace, 'qdisc', 'replace', 'dev', 'cqprobe0', 'root', 'tbf', 'rate', '10mbit', 'burst', '65536', 'latency', '50ms'],
    ['ip', 'netns', 'exec', namespace, 'nft', 'add', 'table', 'inet', 'clq'],
  ];
  try {
    for (const [command, ...args] of steps) {
      const result = spawnSync(command, args, { encoding: 'utf8' });
      if (result.status !== 0) {
        return no(`\`${[command, ...args].join(' ')}\` failed: ${result.stderr || result.error?.message || `exit ${result.status}`}`);
      }
    }
  } finally {
    spawnSync('ip', ['netns', 'del', namespace]);
  }
  const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (left.stdout.split('\n').some((line) => line.startsWith(`${namespace} `) || line === namespace)) {
    return no(`could not delete the throwaway namespace ${namespace}`);
  }
  return { ok: true };
}

/** Root, `ip`/`nft`/`tc`/`sysctl`, and a throwaway namespace with a veth, a bridge, tbf and nft really made and deleted. Cached. */
export function netnsAvailable(): Availability {
  availability ??= probeAvailability();
  return availability;
}

// ---------------------------------------------------------------------------------------------
// Link rates

/** The tbf burst used for a rate: one GSO packet, or 2 ms at the rate if that is more. */
export function tbfBurstBytes(rateMbit: number): number {
  return Math.max(TBF_MIN_BURST_BYTES, Math.ceil(((rateMbit * 1e6) / 8) * (TBF_BURST_TIME_MS / 1000)));
}

async function shapeEgress(namespace: string, device: string, rateMbit: number | undefined): Promise<void> {
  if (rateMbit === undefined) {
    await tool('tc', ['-n', namespace, 'qdisc', 'del', 'dev', device, 'root']); // fails if there was none: fine
    return;
  }
  if (!Number.isFinite(rateMbit) || rateMbit <= 0) throw new Error(`a link rate must be a positive number of Mbit/s, not ${rateMbit}`);
  await must('tc', ['-n', namespace, 'qdisc', 'replace', 'dev', device, 'root', 'tbf', 'rate', `${rateMbit}mbit`, 'burst', String(tbfBurstBytes(rateMbit)), 'latency', `${TBF_LATENCY_MS}ms`]);
}

// ---------------------------------------------------------------------------------------------
// Hosts

/** What a host needs from its lab. */
interface HostContext {
  /** Throws once the lab is being destroyed. */
  assertLive(): void;
  track(child: ChildProcess): void;
}

interface HostInit {
  name: string;
  namespace: string;
  ipv4: string | null;
  ipv6: string | null;
  switchPort: string;
  switchNamespace: string;
  router: Router | null;
}

export class Host {
  readonly name: string;
  readonly namespace: string;
  /** 10.<net>.0.<n>, or behind a router 192.168.<lanNet>.<m>. */
  readonly ipv4: string | null;
  readonly ipv6: string | null;
  /** The host's veth end on its switch (where the download limit sits): the lab's switch, or its router's LAN bridge. */
  readonly switchPort: string;
  /** The namespace switchPort is in: the lab's switch's, or the router's. */
  readonly switchNamespace: string;
  /** The router this host is behind, or null for a host on the lab's switch (a router itself included). */
  readonly router: Router | null;

  /** Made by Lab.addHost and Lab.addRouter. */
  constructor(
    protected readonly context: HostContext,
    init: HostInit,
  ) {
    this.name = init.name;
    this.namespace = init.namespace;
    this.ipv4 = init.ipv4;
    this.ipv6 = init.ipv6;
    this.switchPort = init.switchPort;
    this.switchNamespace = init.switchNamespace;
    this.router = init.router;
  }

  /** The IPv4 address others see this host's connections come from: its router's WAN address if it is behind one, else its own. */
  get publicIpv4(): string | null {
    return this.router ? this.router.ipv4 : this.ipv4;
  }

  /** Runs a program inside the namespace (`ip netns exec` execs it: the child's pid is the program's); destroy() ends it. */
  spawn(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    this.context.assertLive();
    const child = spawn(ipPath(), ['netns', 'exec', this.namespace, command, ...args], options);
    this.context.track(child);
    return child;
  }

  /**
   * A man in the middle on this host's own path: its connections to `to` (IPv4 host:port) are
   * sent to `via` instead (nft DNAT on locally made packets), the program none the wiser.
   * Resolves to the undo. The rules live in this host's namespace and go with it.
   */
  async redirect(to: { host: string; port: number }, via: { host: string; port: number }): Promise<() => Promise<void>> {
    this.context.assertLive();
    const table = `clqmitm${nextRedirect++}`;
    const script = [
      `add table ip ${table}`,
      `add chain ip ${table} out { type nat hook output priority -100; }`,
      `add rule ip ${table} out ip daddr ${to.host} tcp dport ${to.port} dnat to ${via.host}:${via.port}`,
    ].join('\n');
    await must('ip', ['netns', 'exec', this.namespace, 'nft', '-f', '-'], `${script}\n`);
    return async () => {
      await must('ip', ['netns', 'exec', this.namespace, 'nft', 'delete', 'table', 'ip', table]);
    };
  }

  /** Runs to completion; a non-zero exit is a result, not an error. */
  run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      const child = this.spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: options.cwd, env: options.env });
      let stdout = '';
      let stderr = '';
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const timer = options.timeoutMs === undefined ? null : setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
      child.once('error', (error) => {
        if (timer) clearTimeout(timer);
        reject(error);
      });
      child.once('close', (code) => {
        if (timer) clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(options.input ?? '');
    });
  }

  /** Sets both limits at once, replacing earlier ones; a direction left out becomes unlimited. */
  async setRate(rates: Rates): Promise<void> {
    await Promise.all([shapeEgress(this.namespace, 'eth0', rates.upMbit), shapeEgress(this.switchNamespace, this.switchPort, rates.downMbit)]);
  }
}

/**
 * A home router: a host on the lab's switch (its WAN side, eth0, with the usual public addresses)
 * that has a LAN of its own, a bridge in its namespace with 192.168.<lanNet>.1/24 and no IPv6,
 * and masquerades that LAN's IPv4 on eth0. Whatever the WAN starts is dropped, whether it is for
 * the router or for the LAN, unless forwardPort() lets it in (rules: netns-nat.ts).
 * Its rates are its WAN link's: upMbit on its eth0, downMbit on its port on the lab's switch.
 */
export class Router extends Host {
  /** Its WAN address: a router always has one. */
  declare readonly ipv4: string;
  readonly lanNet: number;
  /** The router's address on its LAN: the default gateway of the hosts behind it. */
  readonly lanIpv4: string;
  /** The LAN bridge, in the router's namespace. */
  readonly lanBridge: string;
  private readonly forwarded = new Set<number>();

  /** Made by Lab.addRouter. */
  constructor(context: HostContext, init: HostInit & { ipv4: string; lanNet: number; lanBridge: string }) {
    super(context, init);
    this.lanNet = init.lanNet;
    this.lanIpv4 = lanIpv4(init.lanNet, 1);
    this.lanBridge = init.lanBridge;
  }

  /** Port forwarding, as on a home router: TCP and UDP to the WAN address and `port` go to `to` (a host behind this router), at `toPort`. */
  async forwardPort(port: number, to: Host, toPort: number = port): Promise<void> {
    this.context.assertLive();
    assertPort(port, 'a forwarded port');
    assertPort(toPort, 'the port forwarded to');
    if (to.router !== this || to.ipv4 === null) throw new Error(`host ${to.name} is not behind router ${this.name}`);
    if (this.forwarded.has(port)) throw new Error(`router ${this.name} forwards port ${port} already`);
    this.forwarded.add(port);
    await must('ip', ['netns', 'exec', this.namespace, 'nft', '-f', '-'], forwardPortRule(this.ipv4, port, to.ipv4, toPort));
  }
}

// ---------------------------------------------------------------------------------------------
// Partitions: drop rules in the affected hosts (`table inet clq`), by the other side's addresses.
// Between hosts on one link (the lab's switch, or one router's LAN) both drop on input, so both
// ways; packets leave the sender and vanish, as in a real partition (a drop on output answers a
// UDP sender EPERM at once). Neighbour discovery still passes, as ARP does (an inet table never
// sees ARP): the hosts stay on one link, so IPv6 behaves as IPv4 does, a silent timeout during
// the partition rather than EHOSTUNREACH once the neighbour entry has failed, and works again at
// once after heal().
//
// From outside, a home is one address, its router's. So a router stands for its home: cut from
// an outside host, it drops that host's packets in its forward chain too, while the outside host
// drops the router's address, the source of everything from behind it; cut from a host of its
// own LAN, it is the router alone (the host still reaches the others through it). A host behind
// a router is cut from outside hosts in its router's forward chain, by its LAN address and their
// address (for hosts behind another router, that router's). Two hosts behind different routers
// cannot be cut apart alone, then: Lab.partition() wants one of the routers in the partition too.

type Chain = 'input' | 'forward';

interface Rule {
  readonly host: Host;
  readonly chain: Chain;
  readonly handle: number;
}

function addAddress(set: Set<string>, address: string | null): void {
  if (address !== null) set.add(address);
}

/** What one host drops for one cut, gathered so each kind of drop is one rule with a set. */
class Drops {
  /** On input, from these. */
  readonly fromV4 = new Set<string>();
  readonly fromV6 = new Set<string>();
  /** Routers: on forward, from these, arriving on the WAN. */
  readonly wanFromV4 = new Set<string>();
  /** Routers: on forward, between a LAN address (the key) and these outside addresses, both ways. */
  readonly between = new Map<string, Set<string>>();

  from(other: Host): void {
    addAddress(this.fromV4, other.ipv4);
    addAddress(this.fromV6, other.ipv6);
  }

  betweenLan(lanIpv4: string, outside: string): void {
    const set = this.between.get(lanIpv4) ?? new Set<string>();
    set.add(outside);
    this.between.set(lanIpv4, set);
  }

  script(): string {
    const list = (set: ReadonlySet<string>): string => `{ ${[...set].join(', ')} }`;
    const v6 = list(this.fromV6);
    const forward = [
      ...(this.wanFromV4.size > 0 ? [`add rule inet clq forward iifname "${WAN_DEVICE}" ip saddr ${list(this.wanFromV4)} drop`] : []),
      ...[...this.between].flatMap(([lan, outside]) => [
        `add rule inet clq forward ip saddr ${lan} ip daddr ${list(outside)} drop`,
        `add rule inet clq forward ip saddr ${list(outside)} ip daddr ${lan} drop`,
      ]),
    ];
    return [
      'add table inet clq',
      'add chain inet clq input { type filter hook input priority 0; policy accept; }',
      ...(this.fromV4.size > 0 ? [`add rule inet clq input ip saddr ${list(this.fromV4)} drop`] : []),
      ...(this.fromV6.size > 0
        ? [
            `add rule inet clq input ip6 saddr ${v6} meta l4proto != ipv6-icmp drop`,
            `add rule inet clq input ip6 saddr ${v6} icmpv6 type != { nd-neighbor-solicit, nd-neighbor-advert } drop`,
          ]
        : []),
      ...(forward.length > 0 ? ['add chain inet clq forward { type filter hook forward priority 0; policy accept; }', ...forward] : []),
      '',
    ].join('\n');
  }
}

/** Adds to `at` what x and y drop so no packet passes between them (see above for who drops what). */
function planCut(x: Host, y: Host, at: (host: Host) => Drops): void {
  if (!x.router && !y.router) {
    for (const [self, other] of [
      [x, y],
      [y, x],
    ] as const) {
      at(self).from(other);
      if (self instanceof Router) addAddress(at(self).wanFromV4, other.ipv4);
    }
    return;
  }
  if (x.router && y.router) {
    if (x.router === y.router) {
      at(x).from(y);
      at(y).from(x);
    }
    // Behind different routers: a router of the cut covers the pair (Lab.partition made sure).
    return;
  }
  const inner = x.router ? x : y;
  const outer = inner === x ? y : x;
  const router = inner.router;
  if (!router || inner.ipv4 === null) return;
  if (outer === router) {
    at(router).fromV4.add(inner.ipv4);
    at(inner).fromV4.add(router.lanIpv4);
    addAddress(at(inner).fromV4, router.ipv4);
  } else if (outer.ipv4 !== null) {
    at(router).betweenLan(inner.ipv4, outer.ipv4);
  }
}

class NftPartition implements Partition {
  private rules: Rule[] = [];
  private healed = false;

  constructor(private readonly onHeal: () => void = () => undefined) {}

  /** Adds rules so no packet passes between any host of `a` and any host of `b`. */
  async cut(a: readonly Host[], b: readonly Host[]): Promise<void> {
    const drops = new Map<Host, Drops>();
    const at = (host: Host): Drops => {
      const existing = drops.get(host);
      if (existing) return existing;
      const made = new Drops();
      drops.set(host, made);
      return made;
    };
    for (const x of a) for (const y of b) planCut(x, y, at);
    await Promise.all([...drops].map(([host, hostDrops]) => this.apply(host, hostDrops)));
  }

  private async apply(host: Host, drops: Drops): Promise<void> {
    const echoed = await must('ip', ['netns', 'exec', host.namespace, 'nft', '--echo', '--handle', '-f', '-'], drops.script());
    for (const line of echoed.split('\n')) {
      const match = /^add rule inet clq (input|forward) .* # handle (\d+)$/.exec(line.trim());
      if (match) this.rules.push({ host, chain: match[1] === 'forward' ? 'forward' : 'input', handle: Number(match[2]) });
    }
  }

  async heal(): Promise<void> {
    if (this.healed) return;
    this.healed = true;
    this.onHeal();
    const rules = this.rules;
    this.rules = [];
    const byHost = new Map<Host, Rule[]>();
    for (const rule of rules) byHost.set(rule.host, [...(byHost.get(rule.host) ?? []), rule]);
    await Promise.all(
      [...byHost].map(async ([host, hostRules]) => {
        const script = hostRules.map((rule) => `delete rule inet clq ${rule.chain} handle ${rule.handle}`).join('\n');
        // The namespace may be gone already (healing after destroy() is a no-op).
        await tool('ip', ['netns', 'exec', host.namespace, 'nft', '-f', '-'], `${script}\n`);
      }),
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Labs: the bridge lives in a namespace of its own, not the machine's, so bridged frames never
// meet the machine's firewall (br_netfilter hands them to iptables of the bridge's namespace)
// and no global setting is changed; the machine's namespace gets no address and no link.

interface LinkMade {
  readonly namespace: string;
  readonly name: string;
  /** Deleted after the ports, which may be on it. */
  readonly bridge: boolean;
}

export class Lab implements LiveLab {
  readonly labNo: number;
  /**
   * Hosts are 10.<net>.0.<n> and fd<net>::<n>, net in 10..99 so both read alike (fd100 would be
   * five hex digits). Likely to differ between concurrent labs, though it need not: each lab is
   * a network of its own.
   */
  readonly net: number;
  private readonly prefix: string;
  private readonly linkPrefix: string;
  private readonly switchNamespace: string;
  private readonly bridge: string;
  private readonly hostMap = new Map<string, Host>();
  private readonly namespacesMade: string[] = [];
  private readonly linksMade: LinkMade[] = [];
  private readonly children = new Set<ChildProcess>();
  private readonly isolations = new Set<{ host: Host; partition: NftPartition }>();
  private readonly lanHostsMade = new Map<Router, number>();
  private nextHostNo = 1;
  private routersMade = 0;
  private teardown: Promise<void> | null = null;

  private constructor(labNo: number) {
    this.labNo = labNo;
    this.net = 10 + ((process.pid * 31 + labNo) % 90);
    this.prefix = `clq${process.pid}x${labNo}-`;
    this.linkPrefix = `cq${process.pid.toString(36)}x${labNo.toString(36)}`;
    this.switchNamespace = `${this.prefix}switch`;
    this.bridge = this.linkName('br');
  }

  /** A new lab: an empty switch (a bridge in a namespace of its own), after removing what crashed runs left. */
  static async create(): Promise<Lab> {
    const labs = registry();
    await removeLeftovers();
    const lab = new Lab(labs.nextLabNo++);
    registerLab(lab); // before anything exists, so no concurrent sweep takes it for a leftover
    try {
      await lab.buildSwitch();
    } catch (error) {
      await lab.destroy();
      throw error;
    }
    return lab;
  }

  get hosts(): ReadonlyMap<string, Host> {
    return this.hostMap;
  }

  /**
   * tcpdump on every port of the switch (`-i any` in its namespace), writing `path` (pcap, Linux
   * cooked headers, whole packets, a 64 MiB kernel buffer); resolves once it listens. Every frame
   * between hosts is seen twice, arriving at the switch and leaving it (cooked packet type 4):
   * count one of them. `stop` first sends a marker datagram from one host to another and waits
   * until tcpdump has written it (what the kernel still buffered when tcpdump is told to stop
   * would be lost, uncounted), then ends it and tells how many packets the kernel dropped before
   * tcpdump could read them (a capture with holes cannot prove a secret crossed).
   */
  async capture(path: string): Promise<{ stop(marker: { from: Host; to: Host }): Promise<{ droppedByKernel: number }> }> {
    this.assertLive();
    const child = spawn(ipPath(), ['netns', 'exec', this.switchNamespace, 'tcpdump', '-i', 'any', '-U', '-s', '0', '-B', '65536', '-n', '-w', path], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.track(child);
    let said = '';
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
        said += chunk;
        if (said.includes('listening on')) resolve();
      });
      void exited.then((code) => reject(new Error(`tcpdump exited (${String(code)}): ${said.trim()}`)));
      child.once('error', (error) => reject(new Error(`tcpdump: ${error.message} (apt-get install tcpdump)`)));
    });
    return {
      stop: async ({ from, to }) => {
        const marker = `clique-capture-end-${String(process.pid)}-${String(Date.now())}`;
        const [family, address] = to.ipv4 !== null ? ['udp4', to.ipv4] : ['udp6', to.ipv6!];
        const send = `const s = require('node:dgram').createSocket('${family}'); s.send(process.argv[1], 9, process.argv[2], () => s.close());`;
        const deadline = Date.now() + 10_000;
        // Sent again until seen: a datagram may be lost; each one is written after everything before it.
        while (!readFileSync(path).includes(marker)) {
          if (Date.now() > deadline) throw new Error('tcpdump did not write the end marker within 10 s');
          const sent = await from.run(process.execPath, ['-e', send, marker, address]);
          if (sent.code !== 0) throw new Error(`could not send the capture's end marker: ${sent.stderr.trim()}`);
        }
        child.kill('SIGINT');
        await exited;
        const dropped = /(\d+) packets? dropped by kernel/.exec(said);
        if (!dropped) throw new Error(`tcpdump did not say how many packets it dropped: ${said.trim()}`);
        return { droppedByKernel: Number(dropped[1]) };
      },
    };
  }

  /** Every namespace this lab made or began to make, the switch's first. */
  get namespaces(): readonly string[] {
    return [...this.namespacesMade];
  }

  /** Every link name this lab gave (the bridges, the switch's and the routers' LAN ones, and each host's veth end on its bridge). */
  get links(): readonly string[] {
    return this.linksMade.map((link) => link.name);
  }

  /** Pids of the processes spawned on this lab's hosts that are still running. */
  get pids(): readonly number[] {
    return [...this.children].flatMap((child) => (child.pid !== undefined && processAlive(child.pid) ? [child.pid] : []));
  }

  private linkName(suffix: string): string {
    const name = `${this.linkPrefix}${suffix}`;
    if (name.length > MAX_IFNAME_CHARS) throw new Error(`interface name ${name} is longer than ${MAX_IFNAME_CHARS} characters`);
    return name;
  }

  private assertLive(): void {
    if (this.teardown) throw new Error(`lab ${this.prefix} is destroyed`);
  }

  private async buildSwitch(): Promise<void> {
    this.namespacesMade.push(this.switchNamespace);
    this.linksMade.push({ namespace: this.switchNamespace, name: this.bridge, bridge: true });
    await must('ip', ['netns', 'add', this.switchNamespace]);
    // Settings of this namespace only: bridged frames skip netfilter, and the switch itself
    // has no IPv6 (it would talk: router and multicast listener messages).
    await sysctl(this.switchNamespace, [
      'net.bridge.bridge-nf-call-iptables=0',
      'net.bridge.bridge-nf-call-ip6tables=0',
      'net.bridge.bridge-nf-call-arptables=0',
      'net.ipv6.conf.all.disable_ipv6=1',
      'net.ipv6.conf.default.disable_ipv6=1',
    ]);
    await must('ip', ['-n', this.switchNamespace, 'link', 'add', this.bridge, 'type', 'bridge', 'stp_state', '0', 'mcast_snooping', '0']);
    await must('ip', ['-n', this.switchNamespace, 'link', 'set', this.bridge, 'up']);
  }

  /**
   * A host in its own namespace, with its own eth0, addresses and link limits: on the switch, or
   * with `behind`, on that router's LAN, 192.168.<lanNet>.<m>/24 (from .2 up), IPv4 only, with a
   * default route through the router. <n> of 10.<net>.0.<n> counts every host of the lab, those
   * behind routers too, so hosts behind routers leave gaps in the public addresses.
   */
  async addHost(name: string, options: HostOptions = {}): Promise<Host> {
    this.assertLive();
    const router = options.behind ?? null;
    if (router === null) {
      const hostNo = this.takeHostNo(name);
      const ipv4 = options.ipv4 === false ? null : `10.${this.net}.0.${hostNo}`;
      const ipv6 = options.ipv6 === false ? null : `fd${this.net}::${hostNo}`;
      if (!ipv4 && !ipv6) throw new Error(`host ${name} would have no address`);
      const plugged = await this.plug(name, hostNo, this.switchNamespace, this.bridge);
      await this.addressWan(plugged.namespace, ipv4, ipv6);
      return this.welcome(new Host(this.hostContext(), { name, ipv4, ipv6, router: null, ...plugged }), options);
    }
    this.own([router]);
    if (!(router instanceof Router)) throw new Error(`host ${name} can only be behind a router`);
    if (options.ipv4 === false) throw new Error(`host ${name} behind router ${router.name} needs IPv4: it is all a home LAN has here`);
    if (options.ipv6 === true) throw new Error(`host ${name} behind router ${router.name} cannot have IPv6: home LANs here are IPv4 only`);
    const lanNo = (this.lanHostsMade.get(router) ?? FIRST_LAN_HOST - 1) + 1;
    if (lanNo > LAST_LAN_HOST) throw new Error(`router ${router.name} has no LAN address left`);
    const hostNo = this.takeHostNo(name);
    this.lanHostsMade.set(router, lanNo);
    const ipv4 = lanIpv4(router.lanNet, lanNo);
    const plugged = await this.plug(name, hostNo, router.namespace, router.lanBridge);
    await sysctl(plugged.namespace, ['net.ipv6.conf.eth0.disable_ipv6=1']);
    await must('ip', ['-n', plugged.namespace, 'addr', 'add', `${ipv4}/24`, 'dev', 'eth0']);
    await must('ip', ['-n', plugged.namespace, 'link', 'set', 'eth0', 'up']);
    await must('ip', ['-n', plugged.namespace, 'route', 'add', 'default', 'via', router.lanIpv4]);
    return this.welcome(new Host(this.hostContext(), { name, ipv4, ipv6: null, router, ...plugged }), options);
  }

  /**
   * A home router (see Router): a host on the switch with the usual 10.<net>.0.<n> and fd<net>::<n>
   * on eth0, its WAN side, and a LAN of its own for the hosts added `behind` it.
   */
  async addRouter(name: string, options: RouterOptions = {}): Promise<Router> {
    this.assertLive();
    const lanNet = options.lanNet ?? this.routersMade + 1;
    if (!Number.isInteger(lanNet) || lanNet < 0 || lanNet > 255) throw new Error(`a LAN is 192.168.<lanNet>.0/24, lanNet from 0 to 255, not ${lanNet}`);
    const hostNo = this.takeHostNo(name);
    this.routersMade++;
    const ipv4 = `10.${this.net}.0.${hostNo}`;
    const ipv6 = `fd${this.net}::${hostNo}`;
    const plugged = await this.plug(name, hostNo, this.switchNamespace, this.bridge);
    await this.addressWan(plugged.namespace, ipv4, ipv6);
    const lanBridge = this.linkName(`l${hostNo.toString(36)}`);
    this.linksMade.push({ namespace: plugged.namespace, name: lanBridge, bridge: true });
    await sysctl(plugged.namespace, ROUTER_SYSCTLS);
    await must('ip', ['-n', plugged.namespace, 'link', 'add', lanBridge, 'type', 'bridge', 'stp_state', '0', 'mcast_snooping', '0']);
    await must('ip', ['-n', plugged.namespace, 'addr', 'add', `${lanIpv4(lanNet, 1)}/24`, 'dev', lanBridge]);
    await must('ip', ['-n', plugged.namespace, 'link', 'set', lanBridge, 'up']);
    await must('ip', ['netns', 'exec', plugged.namespace, 'nft', '-f', '-'], routerRuleset(lanBridge, lanNet));
    const router = new Router(this.hostContext(), { name, ipv4, ipv6, router: null, lanNet, lanBridge, ...plugged });
    return this.welcome(router, options);
  }

  /** The next host number, for a name not taken yet. */
  private takeHostNo(name: string): number {
    if (this.hostMap.has(name)) throw new Error(`host ${name} exists already`);
    const hostNo = this.nextHostNo++;
    if (hostNo > MAX_HOSTS) throw new Error(`a lab holds at most ${MAX_HOSTS} hosts`);
    return hostNo;
  }

  /** A namespace with lo up and an eth0 whose other end, switchPort, is on `bridge` in `switchNamespace`. */
  private async plug(name: string, hostNo: number, switchNamespace: string, bridge: string): Promise<{ namespace: string; switchPort: string; switchNamespace: string }> {
    const namespace = `${this.prefix}${hostNo}-${name.toLowerCase().replace(/[^a-z0-9_-]/g, '_').slice(0, 24)}`;
    const switchPort = this.linkName(`p${hostNo.toString(36)}`);
    this.namespacesMade.push(namespace); // before they exist: destroy() also removes a half-made host
    this.linksMade.push({ namespace: switchNamespace, name: switchPort, bridge: false });
    await must('ip', ['netns', 'add', namespace]);
    await must('ip', ['-n', namespace, 'link', 'set', 'lo', 'up']);
    await must('ip', ['-n', switchNamespace, 'link', 'add', switchPort, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', namespace]);
    await must('ip', ['-n', switchNamespace, 'link', 'set', switchPort, 'master', bridge, 'up']);
    return { namespace, switchPort, switchNamespace };
  }

  private async addressWan(namespace: string, ipv4: string | null, ipv6: string | null): Promise<void> {
    if (!ipv6) await sysctl(namespace, ['net.ipv6.conf.eth0.disable_ipv6=1']);
    if (ipv4) await must('ip', ['-n', namespace, 'addr', 'add', `${ipv4}/16`, 'dev', 'eth0']);
    if (ipv6) await must('ip', ['-n', namespace, 'addr', 'add', `${ipv6}/64`, 'dev', 'eth0', 'nodad']);
    await must('ip', ['-n', namespace, 'link', 'set', 'eth0', 'up']);
  }

  private hostContext(): HostContext {
    return { assertLive: () => this.assertLive(), track: (child) => this.track(child) };
  }

  /** Rates, then into the lab, then cut off wherever an isolation says so. */
  private async welcome<T extends Host>(host: T, rates: Rates): Promise<T> {
    if (rates.upMbit !== undefined || rates.downMbit !== undefined) await host.setRate({ upMbit: rates.upMbit, downMbit: rates.downMbit });
    this.hostMap.set(host.name, host);
    for (const isolation of this.isolations) await isolation.partition.cut([isolation.host], [host]);
    return host;
  }

  private track(child: ChildProcess): void {
    this.children.add(child);
    const forget = (): void => {
      this.children.delete(child);
    };
    child.once('exit', forget);
    child.once('error', forget);
  }

  private own(hosts: readonly Host[]): void {
    for (const host of hosts) if (this.hostMap.get(host.name) !== host) throw new Error(`host ${host.name} is not in this lab`);
  }

  /**
   * Drops every packet between each host of `a` and each host of `b`, both ways (nftables in the
   * hosts' own namespaces, and in routers'). A router stands for its home: the hosts behind it are
   * cut too, but from hosts of its own LAN only the router itself is.
   */
  async partition(a: readonly Host[], b: readonly Host[]): Promise<Partition> {
    this.assertLive();
    this.own([...a, ...b]);
    const shared = a.find((host) => b.includes(host));
    if (shared) throw new Error(`host ${shared.name} is on both sides of the partition`);
    for (const x of a) {
      for (const y of b) {
        if (x.router && y.router && x.router !== y.router && !a.includes(x.router) && !b.includes(y.router)) {
          throw new Error(`hosts ${x.name} and ${y.name} are behind different routers, each a single address from outside: put ${x.router.name} or ${y.router.name} in the partition too`);
        }
      }
    }
    const partition = new NftPartition();
    await partition.cut(a, b);
    return partition;
  }

  /** Cuts a host off from every other host, hosts added later included, until heal(); its link stays up. A router's LAN is cut off with it, but not from it. */
  async isolate(host: Host): Promise<Partition> {
    this.assertLive();
    this.own([host]);
    const isolation: { host: Host; partition: NftPartition } = { host, partition: new NftPartition(() => this.isolations.delete(isolation)) };
    this.isolations.add(isolation);
    await isolation.partition.cut(
      [host],
      [...this.hostMap.values()].filter((other) => other !== host),
    );
    return isolation.partition;
  }

  /**
   * Ends every process running in the lab's namespaces (spawned ones and their descendants:
   * SIGTERM, then SIGKILL after a short grace), then deletes the nft tables, the veths, the
   * bridges (the switch's and routers' LANs) and the namespaces. Idempotent; safe after a
   * half-made create(), addHost() or addRouter().
   */
  destroy(): Promise<void> {
    this.teardown ??= this.tearDown();
    return this.teardown;
  }

  private async tearDown(): Promise<void> {
    try {
      const hostNamespaces = this.namespacesMade.filter((namespace) => namespace !== this.switchNamespace);
      const pids = new Set<number>();
      for (const child of this.children) if (child.pid !== undefined) pids.add(child.pid);
      for (const namespace of this.namespacesMade) for (const pid of await namespacePids(namespace)) pids.add(pid);
      await stopProcesses([...pids]);
      await Promise.all(hostNamespaces.map((namespace) => tool('ip', ['netns', 'exec', namespace, 'nft', 'delete', 'table', 'inet', 'clq'])));
      const routers = [...this.hostMap.values()].filter((host) => host instanceof Router);
      await Promise.all(routers.map((router) => tool('ip', ['netns', 'exec', router.namespace, 'nft', 'delete', 'table', 'inet', NAT_TABLE])));
      // Ports (veths: both ends go) before bridges, and all of it before the namespaces, whose
      // deletion the kernel finishes later: when destroy() returns, no link is left.
      const [ports, bridges] = [this.linksMade.filter((link) => !link.bridge), this.linksMade.filter((link) => link.bridge).reverse()];
      await Promise.all(ports.map((port) => tool('ip', ['-n', port.namespace, 'link', 'del', port.name])));
      for (const bridge of bridges) await tool('ip', ['-n', bridge.namespace, 'link', 'del', bridge.name]);
      await Promise.all(this.namespacesMade.map((namespace) => tool('ip', ['netns', 'del', namespace])));
    } finally {
      forgetLab(this);
    }
  }

  /** destroy() for the exit hook, where nothing asynchronous runs: SIGKILL at once, then delete the namespaces (their links go with them). */
  destroySync(): void {
    this.teardown ??= Promise.resolve();
    for (const child of this.children) child.kill('SIGKILL');
    for (const namespace of this.namespacesMade) {
      try {
        signal(parsePids(execFileSync('ip', ['netns', 'pids', namespace], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })), 'SIGKILL');
      } catch {
        // no such namespace
      }
    }
    for (const namespace of this.namespacesMade) {
      try {
        execFileSync('ip', ['netns', 'del', namespace], { stdio: 'ignore' });
      } catch {
        // no such namespace
      }
    }
    forgetLab(this);
  }
}

/** Destroys every lab still alive in this process (for an afterAll that does not keep its labs). */
export async function destroyAllLabs(): Promise<void> {
  await Promise.all([...registry().live].map((lab) => (lab instanceof Lab ? lab.destroy() : Promise.resolve(lab.destroySync()))));
}
