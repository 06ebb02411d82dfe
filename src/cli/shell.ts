// Why this file exists: `clique shell`, the peer a user touches (DESIGN.md §1). It starts the
// peer (tracker client, serving host, home), then reads one command a line — from a terminal
// with a prompt and completion, or from a script — and answers each: one JSON line with
// --json, else a short human answer; errors are one line with their code. At the end of input
// it waits for running downloads; the exit status is 0 if every command and download
// succeeded, 1 if any failed, 2 for bad usage. With --serve it keeps serving until a signal.

import { createInterface } from 'node:readline';
import { ed25519PublicKeyFromRaw } from '../torrent/ticket.js';
import { PeerError, PeerNode, type Credential } from '../peer/peer-node.js';
import { loadClusterConfig, clusterTrust } from '../tracker/cluster-config.js';
import type { TrackerTrust } from '../tracker/tracker-trust.js';
import { knownTrackers } from './known-trackers.js';
import type { World } from '../world/world.js';
import { CliError, EXIT_FAILED, EXIT_OK, EXIT_USAGE } from './exit-codes.js';
import { arityFits, helpText, SHELL_COMMANDS, splitWords, unknownCommand, USAGE_ERRORS, type ShellContext } from './shell-commands.js';
import { complete, ProgressPrompt } from './shell-terminal.js';
import { describeBackgroundCluster, ensureBackgroundCluster, LOCAL_DIR, localBasePort } from './cluster-up.js';
import { loadClusterFile, requireTracker } from './cluster-file.js';
import { stdoutSink } from './line-sink.js';
import { addressArgument } from './peer-commands.js';
import { garbageServingForTests } from '../world/real/real-tamper.js';
import { startWeb, WEB_DIR_IN_HOMES } from './shell-web.js';
import { CONTROL_SOCKET, serveControl, type ControlAnswer, type ControlServer } from '../world/real/real-control-socket.js';

export interface ShellOptions {
  cluster?: string;
  /** Where the peer serves; by default every interface on port 6881 (a free one if taken). */
  listen?: string;
  /** The port other peers dial, when forwarded to ours. */
  announcePort?: number;
  /** A fixed home; by default one home per user under homes. */
  home?: string;
  homes: string;
  json: boolean;
  serve: boolean;
  maxUploadRate?: number;
  maxDownloadRate?: number;
  heartbeatMs?: number;
  /** Use the local 3-node cluster in .clique, started in the background first if none runs (npm start); it outlives the shell. */
  local: boolean;
  /** The original start-up form: a file listing one tracker host:port a line. */
  trackerInfo?: string;
  /** With trackerInfo: where the trackers' CA is pinned on first use. */
  knownTrackers: string;
  /** How long `wait` and the end of input let downloads wait for holders, in seconds (default: 60 in scripts, no limit at a terminal). */
  waitTimeout?: number;
  /** Serve the peer's web page too: true at the default address, or HOST:PORT. */
  web?: true | string;
  /** Directories the page may name paths under (default: the home directory and the current one). */
  webRoot?: string[];
}

/** The trackers' client addresses, how their certificates are checked, and their public key: from cluster.json, or from tracker_info.txt and the CA pinned on first use. */
async function trackers(world: World, options: ShellOptions): Promise<{ nodes: string[]; trust: TrackerTrust; publicKey: string }> {
  if (options.trackerInfo === undefined) {
    const config = await loadClusterConfig(world.fs, options.cluster!);
    return { nodes: config.nodes.map((n) => n.client), trust: clusterTrust(config), publicKey: config.publicKey };
  }
  let text: string;
  try {
    text = new TextDecoder().decode(await world.fs.readFile(options.trackerInfo));
  } catch {
    throw new CliError('FILE_NOT_FOUND', `cannot read ${options.trackerInfo}`);
  }
  const nodes = text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0 && !l.startsWith('#'));
  for (const node of nodes) addressArgument(node);
  if (nodes.length === 0) throw new CliError('BAD_TRACKER_INFO', `${options.trackerInfo} lists no tracker host:port`);
  const known = await knownTrackers(world, nodes, options.knownTrackers);
  if (known.pinnedNow !== null) process.stderr.write(`${known.pinnedNow}\n`);
  return { nodes, trust: known.trust, publicKey: known.publicKey };
}

/** How long a script's `wait` and its end let downloads wait for holders. */
const DEFAULT_SCRIPT_WAIT_TIMEOUT_MS = 60_000;

/** One command's answer: its result (what --json prints) and the text a person reads. */
type Answer = ControlAnswer;

/**
 * The control socket of the home the peer has open (`<home>/control.sock`): opened when a home
 * opens (at start for a fixed home, at login for one per user), moved when another opens.
 */
class ControlPoint {
  private server: ControlServer | null = null;
  private peer: PeerNode | null = null;
  private home: string | null = null;
  private chain = Promise.resolve();

  readonly homeOpened = (path: string): void => {
    this.home = path;
    this.refresh();
  };

  attach(peer: PeerNode): void {
    this.peer = peer;
    this.refresh();
  }

  async close(): Promise<void> {
    await this.chain;
    await this.server?.close();
    this.server = null;
  }

  private refresh(): void {
    this.chain = this.chain.then(async () => {
      const { peer, home } = this;
      if (peer === null || home === null || this.server?.path === `${home}/${CONTROL_SOCKET}`) return;
      await this.server?.close();
      // quit is the shell's own word: a one-shot does not end the shell it talks to.
      const run = (line: string): Promise<Answer | null> =>
        line.trim() === 'quit' ? Promise.resolve({ ok: false, command: 'quit', error: { code: 'NOT_HERE', message: 'quit ends a shell at its own terminal or script, not from a one-shot' } }) : runLine(peer, line, { waitTimeoutMs: DEFAULT_SCRIPT_WAIT_TIMEOUT_MS });
      this.server = await serveControl(`${home}/${CONTROL_SOCKET}`, run).catch((error: unknown) => {
        process.stderr.write(`one-shot commands will not reach this shell: ${error instanceof Error ? error.message : String(error)}\n`);
        return null;
      });
    });
  }
}

/** The liar tests' switch (CLIQUE_TEST_SERVE_GARBAGE=1), as a PeerNode option. */
function tamper(): { tamperForTests?: (pieceIndex: number, beginBytes: number, block: Uint8Array) => Uint8Array } {
  const change = garbageServingForTests();
  return change === null ? {} : { tamperForTests: change };
}

export async function startPeer(world: World, options: ShellOptions, homeOpened?: (path: string) => void, sessionRenewed?: (credential: Credential) => void): Promise<PeerNode> {
  if (options.cluster === undefined && options.trackerInfo === undefined) throw new CliError('BAD_USAGE', 'give --cluster FILE or IP:PORT tracker_info.txt', EXIT_USAGE);
  const cluster = await trackers(world, options);
  const publicKey = ed25519PublicKeyFromRaw(new Uint8Array(Buffer.from(cluster.publicKey, 'base64')));
  try {
    return await PeerNode.start(world, {
      trackerNodes: cluster.nodes,
      trackerTrust: cluster.trust,
      clusterPublicKey: publicKey,
      ...(options.listen === undefined ? {} : { listen: addressArgument(options.listen, { listen: true }) }),
      ...(options.announcePort === undefined ? {} : { announcePort: options.announcePort }),
      home: options.home ?? { perUser: options.homes },
      ...(options.maxUploadRate === undefined ? {} : { maxUploadBytesPerSecond: options.maxUploadRate }),
      ...(options.maxDownloadRate === undefined ? {} : { maxDownloadBytesPerSecond: options.maxDownloadRate }),
      ...(options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs }),
      log: (line) => process.stderr.write(`${line}\n`),
      ...(homeOpened ? { homeOpened } : {}),
      ...(sessionRenewed ? { sessionRenewed } : {}),
      ...tamper(),
    });
  } catch (error) {
    if (error instanceof PeerError) throw new CliError(error.code, error.message);
    throw error;
  }
}

/** Runs one line; never throws. */
export async function runLine(peer: PeerNode, line: string, context: ShellContext = { waitTimeoutMs: null }): Promise<Answer | null> {
  const words = splitWords(line.trim());
  if (words === null) return { ok: false, command: '', error: { code: 'BAD_QUOTES', message: 'a quote is not closed' } };
  if (words.length === 0) return null;
  const [name, ...args] = words as [string, ...string[]];
  return runCommand(peer, name, args, context);
}

/** Runs the command `name` with its words (as split from a line, or as the web page sends them); never throws. */
export async function runCommand(peer: PeerNode, name: string, args: string[], context: ShellContext = { waitTimeoutMs: null }): Promise<Answer> {
  try {
    if (name === 'help') {
      if (args.length > 1) throw new PeerError('BAD_ARGUMENTS', 'usage: help [command]');
      const text = helpText(args[0]);
      return { ok: true, command: name, result: text, text };
    }
    const command = Object.hasOwn(SHELL_COMMANDS, name) ? SHELL_COMMANDS[name] : undefined;
    if (!command) throw unknownCommand(name);
    if (!arityFits(command, args.length)) throw new PeerError('BAD_ARGUMENTS', `usage: ${command.usage}`);
    return { ok: true, command: name, ...(await command.execute(peer, args, context)) };
  } catch (error) {
    const code = error instanceof PeerError ? error.code : 'INTERNAL';
    return { ok: false, command: name, error: { code, message: error instanceof Error ? error.message : String(error) } };
  }
}

function print(answer: Answer, json: boolean): void {
  if (json) {
    const line = answer.ok ? { ok: true, command: answer.command, result: answer.result } : answer;
    process.stdout.write(JSON.stringify(line) + '\n');
  } else if (answer.ok) {
    if (answer.text.length > 0) process.stdout.write(answer.text + '\n');
  } else {
    process.stdout.write(`error ${answer.error.code}: ${answer.error.message}\n`);
  }
}

export async function runShell(world: World, options: ShellOptions): Promise<number> {
  if (options.local) {
    // The cluster runs on its own and outlives this shell: other shells may use it.
    const stderr = stdoutSink((text) => process.stderr.write(text));
    const cluster = await ensureBackgroundCluster(world, { nodes: 3, dir: LOCAL_DIR, basePort: localBasePort() }, stderr);
    describeBackgroundCluster(cluster, LOCAL_DIR, 'shell', stderr);
    return runShellOn(world, { ...options, cluster: cluster.clusterPath });
  }
  if (options.trackerInfo === undefined && options.cluster !== undefined) {
    // Say at once that there is no cluster file, or no tracker, rather than after login's retries.
    await requireTracker(world, options.cluster, await loadClusterFile(world, options.cluster, process.cwd()));
  }
  return runShellOn(world, options);
}

/** Quitting at a terminal: says what it waits for, and a Ctrl-C stops waiting (the downloads go on at the next start). */
async function quitting(peer: PeerNode, options: ShellOptions): Promise<Answer | null> {
  const running = peer.showDownloads().filter((d) => d.state === 'running');
  if (running.length > 0) {
    const what = running.map((d) => `${d.name} at ${d.sizeBytes === 0 ? 100 : Math.floor((100 * d.verifiedBytes) / d.sizeBytes)} %`).join(', ');
    process.stdout.write(`waiting for ${running.length === 1 ? '1 download' : `${running.length} downloads`} (${what}); Ctrl-C again stops ${running.length === 1 ? 'it' : 'them'}, and ${running.length === 1 ? 'it resumes' : 'they resume'} next time\n`);
  }
  let interrupted!: () => void;
  const stopped = new Promise<null>((resolve) => (interrupted = () => resolve(null)));
  process.once('SIGINT', interrupted);
  try {
    return await Promise.race([runLine(peer, 'wait', { waitTimeoutMs: options.waitTimeout === undefined ? 0 : options.waitTimeout * 1000 }), stopped]);
  } finally {
    process.removeListener('SIGINT', interrupted);
  }
}

async function runShellOn(world: World, options: ShellOptions): Promise<number> {
  const control = new ControlPoint();
  const peer = await startPeer(world, options, control.homeOpened);
  control.attach(peer);
  const web = options.web === undefined ? null : await startWeb(world, peer, { web: options.web, keptIn: options.home ?? `${options.homes.replace(/\/+$/, '')}/${WEB_DIR_IN_HOMES}`, ...(options.webRoot ? { webRoot: options.webRoot } : {}) }, (name, args, context) => runCommand(peer, name, args, context), (line) => process.stderr.write(`${line}\n`)).catch(async (error: unknown) => {
    await control.close();
    await peer.close();
    throw error;
  });
  const interactive = process.stdin.isTTY === true;
  // A script must end: downloads still waiting for holders after the wait timeout are reported
  // (WAITING_FOR_HOLDERS, exit 1) and go on at the next run. A person at a terminal waits as long as they like.
  const context: ShellContext = { waitTimeoutMs: options.waitTimeout !== undefined ? options.waitTimeout * 1000 : interactive ? null : DEFAULT_SCRIPT_WAIT_TIMEOUT_MS };
  const lines = createInterface({
    input: process.stdin,
    output: interactive ? process.stdout : undefined,
    terminal: interactive,
    historySize: 1000,
    completer: (line: string, callback: (error: Error | null, result: [string[], string]) => void) => {
      complete(world, peer, line).then((result) => callback(null, result), () => callback(null, [[], line]));
    },
  });
  const progress = interactive ? new ProgressPrompt(world, peer, lines, process.stdout) : null;
  progress?.start();
  // Ctrl-C clears a half-typed line, as bash does; on an empty line it quits.
  /** While a command runs at a terminal, Ctrl-C stops waiting for it (it goes on by itself). */
  let interrupt: (() => void) | null = null;
  lines.on('SIGINT', () => {
    if (interrupt !== null) return interrupt();
    if (lines.line.length === 0) return lines.close();
    process.stdout.write('^C\n');
    lines.write(null, { ctrl: true, name: 'e' });
    lines.write(null, { ctrl: true, name: 'u' });
    lines.prompt();
  });
  let failures = 0;
  let usageErrors = 0;
  for await (const line of lines) {
    if (line.trim() === 'quit') break;
    progress?.busy(line);
    const running = runLine(peer, line, context);
    const answer = !interactive
      ? await running
      : await Promise.race([
          running,
          new Promise<Answer>((resolve) => {
            interrupt = () => resolve({ ok: false, command: line.trim().split(/\s+/)[0] ?? '', error: { code: 'INTERRUPTED', message: 'stopped waiting for it (Ctrl-C); what it began goes on' } });
          }),
        ]);
    interrupt = null;
    if (answer) {
      if (!answer.ok) failures++;
      if (!answer.ok && USAGE_ERRORS.has(answer.error.code)) usageErrors++;
      print(answer, options.json);
    }
    progress?.idle();
  }
  lines.close();
  progress?.stop();
  // The end of input waits for running downloads, as `wait` does. At a terminal it says what it
  // waits for, a second Ctrl-C stops them (they go on at the next start), and downloads waiting
  // for holders are not waited for.
  const ending = interactive ? await quitting(peer, options) : await runLine(peer, 'wait', context);
  if (ending && !ending.ok) {
    failures++;
    print(ending, options.json);
  }
  if (options.serve) {
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
      process.stderr.write(`serving${web === null ? '' : ` (and the page at ${web.url.replace(/#.*$/, '')})`} until SIGINT or SIGTERM\n`);
    });
  }
  await web?.close();
  await control.close();
  await peer.close();
  // A script with a malformed line was used wrongly (2); one whose commands failed, 1.
  return usageErrors > 0 && !interactive ? EXIT_USAGE : failures === 0 ? EXIT_OK : EXIT_FAILED;
}
