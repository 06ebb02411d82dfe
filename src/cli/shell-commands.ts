// Why this file exists: the shell's commands, spelled as in the specification (DESIGN.md §1),
// in one table: each has its usage, its arity, what it does on the peer, and how its answer
// reads to a person (scripts get the result itself as JSON). Parsing a line and checking arity
// happen before anything runs, so a malformed command changes nothing.

import type { SessionCommand } from '../log/domain/commands.js';
import { PeerError, type PeerNode } from '../peer/peer-node.js';
import { formatNetAddress } from '../world/net-address.js';
import { downloadLine, mib } from './shell-format.js';
import { loginNewsText, newsText } from './news-format.js';

/** What a command may need of the shell around it. */
export interface ShellContext {
  /** How long `wait` (and the end of a script) lets downloads wait for holders; null: for ever. */
  waitTimeoutMs: number | null;
}

interface CommandSpec<R> {
  usage: string;
  summary: string;
  /** How many words follow the name: exactly this many, or any count in [min, max]. */
  args: number | readonly [min: number, max: number];
  run(peer: PeerNode, args: string[], context: ShellContext): Promise<R>;
  /** The answer for a person. */
  text(result: R): string;
}

/** A command of the table, its result type closed over: it answers with the result and its text. */
export interface ShellCommand {
  usage: string;
  summary: string;
  args: number | readonly [min: number, max: number];
  execute(peer: PeerNode, args: string[], context: ShellContext): Promise<{ result: unknown; text: string }>;
}

/** Whether `count` words fit a command's arity. */
export function arityFits(command: ShellCommand, count: number): boolean {
  return typeof command.args === 'number' ? count === command.args : count >= command.args[0] && count <= command.args[1];
}

/** A download's id as typed: a positive whole number. */
function downloadId(word: string): number {
  if (!/^[1-9][0-9]{0,9}$/.test(word)) throw new PeerError('BAD_ARGUMENTS', `${JSON.stringify(word)} is not a download id (see show_downloads)`);
  return Number(word);
}

/** `--timeout S` of wait: whole seconds, or null when not given. */
function waitTimeout(args: string[]): number | null {
  if (args.length === 0) return null;
  if (args[0] !== '--timeout' || !/^(0|[1-9][0-9]{0,6})$/.test(args[1] ?? '')) throw new PeerError('BAD_ARGUMENTS', 'usage: wait [--timeout SECONDS]');
  return Number(args[1]) * 1000;
}

function define<R>(spec: CommandSpec<R>): ShellCommand {
  return {
    usage: spec.usage,
    summary: spec.summary,
    args: spec.args,
    execute: async (peer, args, context) => {
      const result = await spec.run(peer, args, context);
      return { result: result ?? null, text: spec.text(result) };
    },
  };
}

/** The plain answer of a command with nothing to show but its result. */
function okText(result: unknown): string {
  return typeof result === 'object' && result !== null ? `ok ${JSON.stringify(result)}` : 'ok';
}

/** A session command built from the words typed; answered with its log index. */
function session(usage: string, summary: string, args: number, build: (args: string[]) => SessionCommand): ShellCommand {
  return define({ usage, summary, args, run: (peer, words) => peer.command(build(words)), text: okText });
}

export const SHELL_COMMANDS: Readonly<Record<string, ShellCommand>> = {
  create_user: define({ usage: 'create_user <user_id> <password>', summary: 'make an account on the tracker', args: 2, run: (p, [u, pw]) => p.createUser(u!, pw!), text: okText }),
  login: define({
    usage: 'login <user_id> <password>',
    summary: 'log in; files you shared from this home are offered again',
    args: 2,
    run: (p, [u, pw]) => p.login(u!, pw!),
    text: (r) =>
      [
        `logged in as ${r.user}`,
        r.resumed.length > 0 ? `sharing again: ${r.resumed.join(', ')}` : '',
        r.downloads.resumed.length > 0 ? `downloads going on: ${r.downloads.resumed.join(', ')}` : '',
        r.downloads.paused.length > 0 ? `paused downloads: ${r.downloads.paused.join(', ')} (resume_download ID)` : '',
      ]
        .filter((part) => part.length > 0)
        .join('; ')
        .concat(...loginNewsText(r).map((line) => `\n${line}`)),
  }),
  logout: define({ usage: 'logout', summary: 'log out; your files are no longer offered', args: 0, run: (p) => p.logout(), text: () => 'logged out; your files are no longer offered' }),
  create_group: session('create_group <group_id>', 'make a group you own', 1, ([g]) => ({ type: 'CreateGroup', group: g! })),
  join_group: session('join_group <group_id>', 'ask to join a group (its owner accepts or rejects)', 1, ([g]) => ({ type: 'RequestJoin', group: g! })),
  leave_group: session('leave_group <group_id>', 'leave a group', 1, ([g]) => ({ type: 'LeaveGroup', group: g! })),
  list_requests: define({
    usage: 'list_requests <group_id>',
    summary: "pending join requests (the owner's view)",
    args: 1,
    run: (p, [g]) => p.query({ name: 'listRequests', group: g! }),
    text: (requests) => requests.map((r) => r.user).join('\n') || 'no pending requests',
  }),
  accept_request: session('accept_request <group_id> <user_id>', 'let a user into your group', 2, ([g, u]) => ({ type: 'AcceptRequest', group: g!, user: u! })),
  remove_member: session('remove_member <group_id> <user_id>', "take a member out of your group (its holders drop the member's connections at once)", 2, ([g, u]) => ({ type: 'RemoveMember', group: g!, user: u! })),
  reject_request: session('reject_request <group_id> <user_id>', "turn a user's request down", 2, ([g, u]) => ({ type: 'RejectRequest', group: g!, user: u! })),
  list_groups: define({
    usage: 'list_groups',
    summary: 'every group and your relation to it',
    args: 0,
    run: (p) => p.query({ name: 'listGroups' }),
    text: (groups) => groups.map((g) => `${g.group}  (${g.relation}, owner ${g.owner}, ${g.memberCount} members)`).join('\n') || 'no groups',
  }),
  list_files: define({
    usage: 'list_files <group_id>',
    summary: 'files shared in a group',
    args: 1,
    run: (p, [g]) => p.query({ name: 'listFiles', group: g! }),
    text: (files) => files.map((f) => `${f.name}  ${mib(f.sizeBytes)}  holders ${f.completeHolders}+${f.partialHolders}  ${f.fileId}`).join('\n') || 'no files',
  }),
  upload_file: define({
    usage: 'upload_file <file_path> <group_id>',
    summary: 'share a file in a group (it stays where it is)',
    args: 2,
    run: (p, [f, g]) => p.uploadFile(f!, g!),
    text: (r) => `sharing ${r.name} in ${r.group} (${mib(r.sizeBytes)}, ${r.fileId})`,
  }),
  download_file: define({
    usage: 'download_file <group_id> <file_name> <destination_path>',
    summary: 'download from every holder at once; answers when it starts (or waits for a holder)',
    args: 3,
    run: (p, [g, f, d]) => p.downloadFile(g!, f!, d!),
    text: (r) => `download ${r.download} ${r.state === 'waiting' ? 'waiting for a holder' : 'started'}: ${r.destination}`,
  }),
  pause_download: define({
    usage: 'pause_download <download_id>',
    summary: 'pause a download (its pieces stay; resume_download goes on)',
    args: 1,
    run: (p, [id]) => p.pauseDownload(downloadId(id!)),
    text: (d) => `download ${d.id} paused: ${d.name}, ${mib(d.verifiedBytes)} of ${mib(d.sizeBytes)} in ${d.partPath}`,
  }),
  resume_download: define({
    usage: 'resume_download <download_id>',
    summary: 'go on with a paused or failed download',
    args: 1,
    run: (p, [id]) => p.resumeDownload(downloadId(id!)),
    text: (d) => `download ${d.id} resumed: ${d.name}`,
  }),
  cancel_download: define({
    usage: 'cancel_download <download_id>',
    summary: 'stop a download and remove its partial file (a complete file stays)',
    args: 1,
    run: (p, [id]) => p.cancelDownload(downloadId(id!)),
    text: (r) => `download ${r.id} cancelled: ${r.name}${r.removed === null ? '' : `; removed ${r.removed}`}`,
  }),
  show_downloads: define({
    usage: 'show_downloads',
    summary: 'each download: state, bytes, rate, bytes from each peer',
    args: 0,
    run: async (p) => p.showDownloads(),
    text: (downloads) => downloads.map(downloadLine).join('\n') || 'no downloads',
  }),
  set_rate: define({
    usage: 'set_rate <up|down> <bytes_per_second|unlimited>',
    summary: 'change the upload or download limit now, for every connection and download',
    args: 2,
    run: async (p, [direction, rate]) => {
      if (direction !== 'up' && direction !== 'down') throw new PeerError('BAD_ARGUMENTS', 'usage: set_rate <up|down> <bytes_per_second|unlimited>');
      if (rate !== 'unlimited' && !/^[1-9][0-9]{0,11}$/.test(rate!)) throw new PeerError('BAD_ARGUMENTS', `${JSON.stringify(rate)} is not a rate: a whole number of bytes per second, or unlimited`);
      return p.setRate(direction, rate === 'unlimited' ? null : Number(rate));
    },
    text: (r) => `${r.direction === 'up' ? 'upload' : 'download'} limit: ${r.bytesPerSecond === null ? 'none' : `${mib(r.bytesPerSecond)}/s`}`,
  }),
  stop_share: define({ usage: 'stop_share <group_id> <file_name>', summary: 'stop offering a file', args: 2, run: (p, [g, f]) => p.stopShare(g!, f!), text: okText }),
  wait: define({
    usage: 'wait [--timeout SECONDS]',
    summary: 'block until downloads end; fails if the latest of a file failed, or still waits for holders after the timeout (60 s in scripts)',
    args: [0, 2],
    run: async (p, args, context) => {
      const given = waitTimeout(args);
      const { failed, waiting } = await p.waitDownloads(given ?? context.waitTimeoutMs);
      // The newest first: that is the one a person just started.
      const newest = [...failed].sort((a, b) => b.id - a.id)[0];
      if (newest) throw new PeerError('DOWNLOAD_FAILED', `${failed.length} download(s) failed; ${newest.id} ${newest.name}: ${newest.failure?.code}: ${newest.failure?.message}`);
      const still = waiting[0];
      if (still) {
        throw new PeerError('WAITING_FOR_HOLDERS', `${waiting.length} download(s) still waiting; ${still.id} ${still.name}: ${still.waiting?.code}: ${still.waiting?.message}; it goes on whenever a shell of this home runs`);
      }
      return { downloads: p.showDownloads().length };
    },
    text: okText,
  }),
  whoami: define({ usage: 'whoami', summary: 'who you are logged in as', args: 0, run: (p) => p.query({ name: 'whoami' }), text: (r) => r.user }),
  // Scripts get the events themselves; a person their words.
  news: {
    usage: 'news',
    summary: 'what happened in your groups and to you, as the tracker told it (with log indices)',
    args: 0,
    execute: async (p) => ({ result: p.news(), text: newsText(p.newsLines()) }),
  },
  status: define({
    usage: 'status',
    summary: "this peer: user, listening address, where the tracker sees it and whether it can be dialed, its key's fingerprint, downloads",
    args: 0,
    run: async (p) => ({ user: p.user, listening: formatNetAddress(p.address), ...p.connectivity(), rates: p.rates(), downloads: p.showDownloads().map((d) => ({ id: d.id, name: d.name, state: d.state })) }),
    text: okText,
  }),
};

/** Splits a line into words; "double quotes" keep spaces inside a word. Null for an unclosed quote. */
export function splitWords(line: string): string[] | null {
  if ((line.match(/"/g)?.length ?? 0) % 2 === 1) return null;
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((match) => match[1] ?? match[2]!);
}

export function helpText(name?: string): string {
  if (name !== undefined) {
    const c = SHELL_COMMANDS[name];
    if (!c) throw new PeerError('UNKNOWN_COMMAND', `no command ${name}; try help`);
    return `${c.usage}\n  ${c.summary}`;
  }
  const lines = Object.values(SHELL_COMMANDS).map((c) => `  ${c.usage.padEnd(58)} ${c.summary}`);
  return ['commands:', ...lines, `  ${'help [command]'.padEnd(58)} this list, or one command`, `  ${'quit'.padEnd(58)} leave (running downloads end first; waiting ones go on at the next start)`].join('\n');
}
