#!/usr/bin/env node
// Why this file exists: the `clique` command line. It parses arguments (commander), builds the
// real World, runs one subcommand, and turns the outcome into the contract's exit status:
// 0 success, 1 a failed command (one line `error CODE: message` on stderr), 2 bad usage.

import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { createRealWorld } from '../world/real/real-world.js';
import { fetchLiveStore } from './audit-live.js';
import { runAudit } from './audit-command.js';
import { runSim } from './sim-command.js';
import { runSystemSim } from './sim-system-command.js';
import { clusterInit, clusterUpgrade, runTrackerNode, showStatus, trackerKdfParams } from './tracker-commands.js';
import { clusterUp, clusterUpBackground, localBasePort } from './cluster-up.js';
import { clusterDown } from './cluster-down.js';
import { runShell, type ShellOptions } from './shell.js';
import { emitJson, peerGet, peerIdentity, peerKeygen, peerMeta, peerSeed, peerTicket, type GetOptions, type SeedOptions } from './peer-commands.js';
import { CliError, errorLine, EXIT_FAILED, EXIT_OK, EXIT_USAGE } from './exit-codes.js';
import { stdoutSink } from './line-sink.js';
import { parseOneShot, runOneShot } from './one-shot.js';
import { SHELL_COMMANDS } from './shell-commands.js';

function parseCount(max: number): (text: string) => number {
  return (text) => {
    if (!/^[0-9]{1,9}$/.test(text) || Number(text) < 1 || Number(text) > max) throw new InvalidArgumentError(`a whole number from 1 to ${max}`);
    return Number(text);
  };
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^[0-9]{1,5}$/.test(text) || port < 1 || port > 65_535) throw new InvalidArgumentError('a port from 1 to 65535');
  return port;
}

function parseIndex(text: string): number {
  if (!/^[0-9]{1,15}$/.test(text)) throw new InvalidArgumentError('an index is a non-negative integer');
  return Number(text);
}

function buildProgram(): Command {
  const program = new Command('clique')
    .description('Group-based peer-to-peer file sharing with a Raft-replicated, event-sourced tracker.')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('audit')
    .description("Replay a tracker node's log offline: history, a group's or user's state as of an index, verification")
    .option('--data <dir>', "the node's data directory (the node must be stopped)")
    .option('--cluster <file>', 'ask a live cluster instead (needs ca.secret or a node\'s <id>.secret beside the file)')
    .option('--node <id>', 'with --cluster: the node to ask (default: the leader)')
    .option('--group <group>', 'only entries about this group, then its state')
    .option('--user <user>', 'only entries by or about this user, then their state')
    .option('--as-of <index>', 'stop at this log index (inclusive)', parseIndex)
    .option('--json', 'one JSON document instead of text', false)
    .option('--verify', 'recompute the hash chain and name the first bad entry', false)
    .option('--against <dir>', "name the first entry where another node's store differs")
    .action(
      async (options: { data?: string; cluster?: string; node?: string; group?: string; user?: string; asOf?: number; json: boolean; verify: boolean; against?: string }) => {
        const world = createRealWorld();
        const { asOf, cluster, node, data, ...rest } = options;
        const filter = asOf === undefined ? {} : { asOfIndex: asOf };
        if ((data === undefined) === (cluster === undefined)) throw new CliError('BAD_USAGE', 'give exactly one of --data DIR and --cluster FILE', EXIT_USAGE);
        if (cluster !== undefined) {
          if (rest.against !== undefined) throw new CliError('BAD_USAGE', '--against compares stores on disk: use it with --data', EXIT_USAGE);
          const live = await fetchLiveStore(world, cluster, node);
          process.exitCode = await runAudit(live.kv, { ...rest, ...filter, data: live.path }, stdoutSink());
        } else {
          process.exitCode = await runAudit(world.kv, { ...rest, ...filter, data: data! }, stdoutSink());
        }
      },
    );

  const cluster = program.command('cluster').description('Make or run a tracker cluster');
  cluster
    .command('init')
    .description('Write DIR/cluster.json (node addresses, public key, CA), DIR/ca.secret and DIR/<id>.secret per node (mode 0600)')
    .option('--nodes <n>', 'tracker nodes', parseCount(9), 3)
    .option('--dir <dir>', 'where to write them', '.clique')
    .option('--base-port <port>', 'first peer port; client ports start 100 above', parseCount(65_000), 7100)
    .option('--host <host>', 'the address nodes listen on', '127.0.0.1')
    .option('--hosts <list>', 'one node on each machine of a comma-separated list (all on --base-port and 100 above); instead of --nodes and --host', (text: string) => text.split(',').map((h) => h.trim()).filter((h) => h.length > 0))
    .option('--force', 'overwrite an existing cluster file', false)
    .action(async (options: { nodes: number; dir: string; basePort: number; host: string; hosts?: string[]; force: boolean }) => {
      process.exitCode = await clusterInit(createRealWorld(), options, stdoutSink());
    });

  cluster
    .command('upgrade')
    .description('Give a cluster made before TLS (cluster.json version 1 and cluster.secret) a CA and node certificates, keeping its nodes and data')
    .option('--dir <dir>', 'where cluster.json and cluster.secret are', '.clique')
    .action(async (options: { dir: string }) => {
      process.exitCode = await clusterUpgrade(createRealWorld(), options, stdoutSink());
    });
  cluster
    .command('up')
    .description('Start a local cluster (init if needed), each node a child process; Ctrl-C stops them all. CLUSTER_RUNNING (exit 1) if one runs there already')
    .option('--nodes <n>', 'tracker nodes, when making a new cluster', parseCount(9), 3)
    .option('--dir <dir>', 'cluster file, data, logs and cluster.pid', '.clique')
    .option('--base-port <port>', 'first peer port, when making a new cluster (default: $CLIQUE_LOCAL_BASE_PORT, else 7100)', parseCount(65_000))
    .option('--background', 'start the nodes on their own and return (reuse them if they run already); clique cluster down stops them (what npm start does)', false)
    .action(async (options: { nodes: number; dir: string; basePort?: number; background: boolean }) => {
      const { background, ...rest } = options;
      const up = { ...rest, basePort: rest.basePort ?? localBasePort() };
      process.exitCode = await (background ? clusterUpBackground : clusterUp)(createRealWorld(), up, stdoutSink());
    });

  cluster
    .command('down')
    .description('Stop the local cluster that npm start or cluster up started in DIR (exit 0, saying so, when none runs)')
    .option('--dir <dir>', 'where its cluster.json and cluster.pid are', '.clique')
    .action(async (options: { dir: string }) => {
      process.exitCode = await clusterDown(createRealWorld(), options, stdoutSink());
    });

  program
    .command('tracker')
    .description('Run one tracker node until SIGINT or SIGTERM')
    .requiredOption('--id <id>', 'this node, as named in the cluster file')
    .requiredOption('--cluster <file>', 'cluster.json (this node\'s <id>.secret beside it)')
    .requiredOption('--data <dir>', "this node's data directory")
    .option('--session-ttl <ms>', 'expire a session after this long without a heartbeat', parseCount(86_400_000))
    .option('--compact-every <entries>', 'snapshot the store and compact the Raft log after this many entries', parseCount(10_000_000))
    .option('--compact-every-bytes <bytes>', 'the same once the applied entries the Raft log holds in memory pass this many bytes (default 64 MiB)', parseCount(999_999_999))
    .option('--files-in-memory <n>', "files whose records a node keeps in memory; the least recently used groups' go back to disk (default 100,000)", parseCount(999_999_999))
    .option('--scrypt-cost <n>', "scrypt's N for new accounts, a power of two (default 16384; cheaper only for benchmarks: each CreateUser entry records it)")
    .action(async (options: { id: string; cluster: string; data: string; sessionTtl?: number; compactEvery?: number; compactEveryBytes?: number; filesInMemory?: number; scryptCost?: string }) => {
      const kdfParams = trackerKdfParams(options.scryptCost);
      process.exitCode = await runTrackerNode(createRealWorld(kdfParams === null ? {} : { kdfParams }), options);
    });

  program
    .command('status')
    .description("Each node's role, term, commit and applied index, and the leader")
    .requiredOption('--cluster <file>', 'cluster.json')
    .option('--json', 'one JSON document', false)
    .action(async (options: { cluster: string; json: boolean }) => {
      process.exitCode = await showStatus(createRealWorld(), options, stdoutSink());
    });

  program
    .command('sim')
    .description('Run a tracker cluster and its clients on the simulated world through a seeded fault schedule')
    .option('--seed <seed>', 'the seed: the same seed prints the same trace', '42')
    .option('--steps <n>', 'schedule steps', parseCount(1_000_000), 500)
    .option('--nodes <n>', 'tracker nodes', parseCount(9), 3)
    .option('--clients <n>', 'clients', parseCount(16), 4)
    .option('--history-out <file>', 'write the client history as JSON [{clientId, input, call, output, return}]')
    .option('--replay <file>', 'replay a schedule written by a failed run')
    .option('--quiet', 'print only the summary, not the trace', false)
    .option('--peers <k>', 'the whole system instead: trackers and K peers (an owner, members, a non-member) sharing a file', parseCount(32))
    .option('--trace <what>', "with --peers, 'wire': also each connection's handshakes, bitfields, chokes and the piece verdicts")
    .action(async (options: { seed: string; steps: number; nodes: number; clients: number; historyOut?: string; replay?: string; quiet: boolean; peers?: number; trace?: string }) => {
      if (options.trace !== undefined && (options.trace !== 'wire' || options.peers === undefined)) {
        throw new CliError('BAD_USAGE', "--trace takes 'wire', with --peers", EXIT_USAGE);
      }
      if (options.peers !== undefined) {
        if (options.peers < 3) throw new CliError('BAD_USAGE', '--peers needs at least 3 (an owner, a member, a non-member)', EXIT_USAGE);
        process.exitCode = await runSystemSim({ seed: options.seed, peers: options.peers, quiet: options.quiet, traceWire: options.trace === 'wire' }, stdoutSink());
        return;
      }
      process.exitCode = await runSim(createRealWorld().fs, options, stdoutSink());
    });

  program
    .command('shell')
    .description('The peer: tracker commands, sharing and downloads, one command a line (interactive or scripted)')
    .option('--cluster <file>', "the trackers' cluster.json", '.clique/cluster.json')
    .option('--listen <host:port>', 'where this peer serves its files (default: every interface, port 6881, or a free port if taken)')
    .option('--announce-port <port>', 'the port other peers dial, if not the one listened on (a forwarded port); the address is always the one the tracker sees', parsePort)
    .option('--home <dir>', "this peer's own state (journal of pieces, shared files); default: one per user under --homes")
    .option('--homes <dir>', 'where the per-user homes are', '.clique/homes')
    .option('--json', 'answer every command with one JSON line', false)
    .option('--serve', 'after the end of input, keep serving until SIGINT or SIGTERM', false)
    .option('--max-upload-rate <bytes-per-second>', 'upload limit', parseCount(1e9))
    .option('--max-download-rate <bytes-per-second>', 'download limit (over all downloads)', parseCount(1e9))
    .option('--wait-timeout <seconds>', 'how long wait and the end of a script let downloads wait for holders before WAITING_FOR_HOLDERS (default 60 in scripts, no limit at a terminal)', parseCount(86_400))
    .option('--heartbeat-ms <ms>', "how often the session tells the tracker it is alive (below the trackers' --session-ttl)", parseCount(3_600_000), 5_000)
    .option('--local', 'use the local 3-node cluster in .clique, started in the background first if none runs there; it outlives the shell (clique cluster down stops it); what npm start runs', false)
    .option('--known-trackers <file>', "with tracker_info.txt: where the trackers' CA is pinned on first use", '.clique/known_trackers')
    .option('--web [host:port]', 'serve this peer\'s web page too (default 127.0.0.1:8881, another port if taken; off loopback over HTTPS with the home\'s key); prints its URL')
    .option('--web-root <dir>', 'a directory the page may name files under (repeat it; default: your home directory and the current one)', (dir: string, dirs: string[] | undefined) => [...(dirs ?? []), dir])
    .argument('[listen]', 'the original form: this peer\'s IP:PORT (as --listen)')
    .argument('[tracker_info]', 'the original form: a file of tracker host:port lines (instead of --cluster)')
    .action(async (listen: string | undefined, trackerInfo: string | undefined, options: ShellOptions) => {
      if (listen !== undefined && trackerInfo === undefined) throw new CliError('BAD_USAGE', 'give both IP:PORT and tracker_info.txt, or neither', EXIT_USAGE);
      process.exitCode = await runShell(createRealWorld(), { ...options, ...(listen === undefined ? {} : { listen }), ...(trackerInfo === undefined ? {} : { trackerInfo }) });
    });

  const peer = program.command('peer').description('The peer data plane on its own, with tickets given directly (tests and benchmarks)');
  peer
    .command('keygen')
    .description('Print a new ticket-signing key pair as JSON {signingKey, publicKey} (hex)')
    .action(() => {
      process.exitCode = peerKeygen(createRealWorld(), emitJson);
    });
  peer
    .command('identity')
    .description("Print this home's TLS key fingerprint as JSON {keyFingerprint} (the key is made on first use)")
    .requiredOption('--home <dir>', "the peer's home")
    .action(async (options: { home: string }) => {
      process.exitCode = await peerIdentity(createRealWorld(), options, emitJson);
    });
  peer
    .command('meta')
    .description("Print a file's metadata as JSON {fileId, name, sizeBytes, pieceLengthBytes, pieces}")
    .argument('<file>')
    .action(async (file: string) => {
      process.exitCode = await peerMeta(createRealWorld(), file, emitJson);
    });
  peer
    .command('ticket')
    .description('Sign an access ticket (what the tracker does for a member)')
    .requiredOption('--signing-key <hex>', 'the Ed25519 seed from `peer keygen`')
    .requiredOption('--user <user>', 'the downloading user')
    .requiredOption('--group <group>', "the file's group")
    .requiredOption('--file-id <hex>', "the file's info-hash")
    .requiredOption('--key <hex>', "the downloader's key fingerprint (from `peer identity`)")
    .option('--ttl-ms <ms>', 'validity', parseCount(86_400_000), 3_600_000)
    .action((options: { signingKey: string; user: string; group: string; fileId: string; key: string; ttlMs: number }) => {
      process.exitCode = peerTicket(createRealWorld(), options);
    });
  peer
    .command('seed')
    .description('Serve a complete file to ticket holders until SIGINT or SIGTERM')
    .option('--home <dir>', 'where its TLS key is kept (default: a key for this run only)')
    .requiredOption('--file <path>', 'the file')
    .requiredOption('--meta <file>', 'its metadata (from `peer meta`)')
    .requiredOption('--group <group>', 'the group it is shared in')
    .requiredOption('--public-key <hex>', 'the ticket-signing public key')
    .option('--listen <host:port>', 'where to listen', '127.0.0.1:0')
    .option('--max-upload-rate <bytes-per-second>', 'upload limit', parseCount(1e9))
    .action(async (options: SeedOptions) => {
      process.exitCode = await peerSeed(createRealWorld(), options, emitJson);
    });
  peer
    .command('get')
    .description('Download a file from the given holders; JSON lines on stdout')
    .requiredOption('--meta <file>', 'its metadata (from `peer meta`)')
    .requiredOption('--dest <path>', 'where the file goes')
    .requiredOption('--home <dir>', "this peer's home (its TLS key, and the journal of verified pieces)")
    .option('--peer-id <hex>', 'our 20-byte BitTorrent peer id, hex (default: random)')
    .requiredOption('--ticket <ticket>', "the access ticket (for this home's key)")
    .requiredOption('--from <addresses>', 'holders, [KEY@]HOST:PORT[,…] (KEY: the key fingerprint the holder must show)')
    .option('--listen <host:port>', 'also serve verified pieces to others')
    .option('--public-key <hex>', 'with --listen: the ticket-signing public key')
    .option('--group <group>', "with --listen: the file's group")
    .option('--keep-serving', 'with --listen: serve after completion until SIGINT or SIGTERM', false)
    .option('--verbose', 'one event per verified piece (verified: synced and journaled)', false)
    .action(async (options: GetOptions) => {
      process.exitCode = await peerGet(createRealWorld(), options, emitJson);
    });

  return program;
}

/** The shell's `status` as a one-shot (`clique status` is the cluster's). */
const ONE_SHOT_ALIASES: Readonly<Record<string, string>> = { peer_status: 'status' };

/** `clique list_files friends`: a shell command, not one of the program's own. */
function oneShotCommand(program: Command, word: string | undefined): string | null {
  if (word === undefined) return null;
  const command = ONE_SHOT_ALIASES[word] ?? word;
  if (!(command in SHELL_COMMANDS) || program.commands.some((c) => c.name() === word)) return null;
  return command;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    const oneShot = oneShotCommand(program, argv[0]);
    if (oneShot !== null) return await runOneShot(createRealWorld(), parseOneShot([oneShot, ...argv.slice(1)]));
    await program.parseAsync(argv as string[], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    if (error instanceof CliError) {
      process.stderr.write(errorLine(error.code, error.message) + '\n');
      return error.exitCode;
    }
    // The tracker's refusals and the World's failures carry stable codes of their own.
    const code = (error as { code?: unknown } | null)?.code;
    const stable = typeof code === 'string' && /^[A-Z][A-Z_]*$/.test(code) ? code : 'INTERNAL';
    process.stderr.write(errorLine(stable, error instanceof Error ? error.message : String(error)) + '\n');
    return EXIT_FAILED;
  }
}

process.exitCode = await main(process.argv.slice(2));
