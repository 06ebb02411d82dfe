// Multi-host tests on one machine: tracker and peer processes each in their own network namespace,
// joined by a switch the test builds, so a test sees what crosses a real network (distinct IPv4
// and IPv6 addresses, partitions, link rates). It touches only what it made, and removes all of
// it in destroy(), on SIGTERM or exit, or (names carry the owning pid) at the next Lab.create().

import { execFileSync, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';

export type Availability = { ok: true } | { ok: false; reason: string };

export interface HostOptions {
  /** Default true: the host gets 10.<net>.0.<n>/16 on its eth0. */
  ipv4?: boolean;
  /** Default true: the host gets fd<net>::<n>/64 (nodad, usable at once); false disables IPv6 on eth0. */
  ipv6?: boolean;
  /** Upload limit: tbf on eth0 inside the host. */
  upMbit?: number;
  /** Download limit: tbf on the switch's end of the host's veth. */
  downMbit?: number;
}

export interface Rates {
  upMbit?: number;
  downMbit?: number;
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
  readonly switchNamespace: string;
  /** Throws once the lab is being destroyed. */
  assertLive(): void;
  track(child: ChildProcess): void;
}

export class Host {
  readonly name: string;
  readonly namespace: string;
  readonly ipv4: string | null;
  readonly ipv6: string | null;
  /** The host's veth end on the switch (where the download limit sits). */
  readonly switchPort: string;

  /** Made by Lab.addHost. */
  constructor(
    private readonly context: HostContext,
    init: { name: string; namespace: string; ipv4: string | null; ipv6: string | null; switchPort: string },
  ) {
    this.name = init.name;
    this.namespace = init.namespace;
    this.ipv4 = init.ipv4;
    this.ipv6 = init.ipv6;
    this.switchPort = init.switchPort;
  }

  /** Runs a program inside the namespace (`ip netns exec` execs it: the child's pid is the program's); destroy() ends it. */
  spawn(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    this.context.assertLive();
    const child = spawn(ipPath(), ['netns', 'exec', this.namespace, command, ...args], options);
    this.context.track(child);
    return child;
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
    await Promise.all([shapeEgress(this.namespace, 'eth0', rates.upMbit), shapeEgress(this.context.switchNamespace, this.switchPort, rates.downMbit)]);
  }
}

// ---------------------------------------------------------------------------------------------
// Partitions: drop rules on input in every affected host (`table inet clq`, chain `input`),
// by the other side's addresses. Input on both sides drops both ways; packets leave the sender
// and vanish, as in a real partition (a drop on output answers a UDP sender EPERM at once).
// Neighbour discovery still passes, as ARP does (an inet table never sees ARP): the hosts stay
// on one link, so IPv6 behaves as IPv4 does, a silent timeout during the partition rather than
// EHOSTUNREACH once the neighbour entry has failed, and works again at once after heal().

interface Rule {
  readonly host: Host;
  readonly handle: number;
}

class NftPartition implements Partition {
  private rules: Rule[] = [];
  private healed = false;

  constructor(private readonly onHeal: () => void = () => undefined) {}

  /** Adds rules so no packet passes between any host of `a` and any host of `b`. */
  async cut(a: readonly Host[], b: readonly Host[]): Promise<void> {
    await Promise.all([...a.map((host) => this.dropFrom(host, b)), ...b.map((host) => this.dropFrom(host, a))]);
  }

  private async dropFrom(host: Host, others: readonly Host[]): Promise<void> {
    const v4 = others.flatMap((other) => (other.ipv4 ? [other.ipv4] : []));
    const v6 = others.flatMap((other) => (other.ipv6 ? [other.ipv6] : []));
    const script = [
      'add table inet clq',
      'add chain inet clq input { type filter hook input priority 0; policy accept; }',
      ...(v4.length > 0 ? [`add rule inet clq input ip saddr { ${v4.join(', ')} } drop`] : []),
      ...(v6.length > 0
        ? [
            `add rule inet clq input ip6 saddr { ${v6.join(', ')} } meta l4proto != ipv6-icmp drop`,
            `add rule inet clq input ip6 saddr { ${v6.join(', ')} } icmpv6 type != { nd-neighbor-solicit, nd-neighbor-advert } drop`,
          ]
        : []),
    ];
    const echoed = await must('ip', ['netns', 'exec', host.namespace, 'nft', '--echo', '--handle', '-f', '-'], `${script.join('\n')}\n`);
    for (const line of echoed.split('\n')) {
      const match = /^add rule inet clq input .* # handle (\d+)$/.exec(line.trim());
      if (match) this.rules.push({ host, handle: Number(match[1]) });
    }
  }

  async heal(): Promise<void> {
    if (this.healed) return;
    this.healed = true;
    this.onHeal();
    const rules = this.rules;
    this.rules = [];
    const byHost = new Map<Host, number[]>();
    for (const rule of rules) byHost.set(rule.host, [...(byHost.get(rule.host) ?? []), rule.handle]);
    await Promise.all(
      [...byHost].map(async ([host, handles]) => {
        const script = handles.map((handle) => `delete rule inet clq input handle ${handle}`).join('\n');
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
  private readonly linksMade: string[] = [];
  private readonly children = new Set<ChildProcess>();
  private readonly isolations = new Set<{ host: Host; partition: NftPartition }>();
  private nextHostNo = 1;
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

  /** Every namespace this lab made or began to make, the switch's first. */
  get namespaces(): readonly string[] {
    return [...this.namespacesMade];
  }

  /** Every link name this lab gave (the bridge, and each host's veth end on the switch). */
  get links(): readonly string[] {
    return [...this.linksMade];
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
    this.linksMade.push(this.bridge);
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

  /** A host on the switch, in its own namespace, with its own eth0 and addresses, and its link limits. */
  async addHost(name: string, options: HostOptions = {}): Promise<Host> {
    this.assertLive();
    if (this.hostMap.has(name)) throw new Error(`host ${name} exists already`);
    const hostNo = this.nextHostNo++;
    if (hostNo > MAX_HOSTS) throw new Error(`a lab holds at most ${MAX_HOSTS} hosts`);
    const ipv4 = options.ipv4 === false ? null : `10.${this.net}.0.${hostNo}`;
    const ipv6 = options.ipv6 === false ? null : `fd${this.net}::${hostNo}`;
    if (!ipv4 && !ipv6) throw new Error(`host ${name} would have no address`);
    const namespace = `${this.prefix}${hostNo}-${name.toLowerCase().replace(/[^a-z0-9_-]/g, '_').slice(0, 24)}`;
    const switchPort = this.linkName(`p${hostNo.toString(36)}`);
    this.namespacesMade.push(namespace); // before they exist: destroy() also removes a half-made host
    this.linksMade.push(switchPort);
    await must('ip', ['netns', 'add', namespace]);
    await must('ip', ['-n', namespace, 'link', 'set', 'lo', 'up']);
    await must('ip', ['-n', this.switchNamespace, 'link', 'add', switchPort, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', namespace]);
    await must('ip', ['-n', this.switchNamespace, 'link', 'set', switchPort, 'master', this.bridge, 'up']);
    if (!ipv6) await sysctl(namespace, ['net.ipv6.conf.eth0.disable_ipv6=1']);
    if (ipv4) await must('ip', ['-n', namespace, 'addr', 'add', `${ipv4}/16`, 'dev', 'eth0']);
    if (ipv6) await must('ip', ['-n', namespace, 'addr', 'add', `${ipv6}/64`, 'dev', 'eth0', 'nodad']);
    await must('ip', ['-n', namespace, 'link', 'set', 'eth0', 'up']);
    const context: HostContext = { switchNamespace: this.switchNamespace, assertLive: () => this.assertLive(), track: (child) => this.track(child) };
    const host = new Host(context, { name, namespace, ipv4, ipv6, switchPort });
    if (options.upMbit !== undefined || options.downMbit !== undefined) await host.setRate(options);
    this.hostMap.set(name, host);
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

  /** Drops every packet between each host of `a` and each host of `b`, both ways (nftables in the hosts' own namespaces). */
  async partition(a: readonly Host[], b: readonly Host[]): Promise<Partition> {
    this.assertLive();
    this.own([...a, ...b]);
    const shared = a.find((host) => b.includes(host));
    if (shared) throw new Error(`host ${shared.name} is on both sides of the partition`);
    const partition = new NftPartition();
    await partition.cut(a, b);
    return partition;
  }

  /** Cuts a host off from every other host, hosts added later included, until heal(); its link stays up. */
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
   * bridge and the namespaces. Idempotent; safe after a half-made create() or addHost().
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
      const ports = this.linksMade.filter((link) => link !== this.bridge);
      await Promise.all(ports.map((port) => tool('ip', ['-n', this.switchNamespace, 'link', 'del', port])));
      await tool('ip', ['-n', this.switchNamespace, 'link', 'del', this.bridge]);
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
