// Why this file exists: the shell's commands, spelled as in the specification (DESIGN.md §1),
// in one table: each has its usage, its arity, what it does on the peer, and how its answer
// reads to a person (scripts get the result itself as JSON). Parsing a line and checking arity
// happen before anything runs, so a malformed command changes nothing.

import type { SessionCommand } from '../log/domain/commands.js';
import { PeerError, type PeerNode } from '../peer/peer-node.js';
import { formatNetAddress } from '../world/net-address.js';
import { downloadLine, mib } from './shell-format.js';

interface CommandSpec<R> {
  usage: string;
  summary: string;
  args: number;
  run(peer: PeerNode, args: string[]): Promise<R>;
  /** The answer for a person. */
  text(result: R): string;
}

/** A command of the table, its result type closed over: it answers with the result and its text. */
export interface ShellCommand {
  usage: string;
  summary: string;
  args: number;
  execute(peer: PeerNode, args: string[]): Promise<{ result: unknown; text: string }>;
}

function define<R>(spec: CommandSpec<R>): ShellCommand {
  return {
    usage: spec.usage,
    summary: spec.summary,
    args: spec.args,
    execute: async (peer, args) => {
      const result = await spec.run(peer, args);
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
    text: (r) => `logged in as ${r.user}${r.resumed.length > 0 ? `; sharing again: ${r.resumed.join(', ')}` : ''}`,
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
    summary: 'download from every holder at once; answers when it starts',
    args: 3,
    run: (p, [g, f, d]) => p.downloadFile(g!, f!, d!),
    text: (r) => `download ${r.download} started: ${r.destination}`,
  }),
  show_downloads: define({
    usage: 'show_downloads',
    summary: 'each download: state, bytes, rate, bytes from each peer',
    args: 0,
    run: async (p) => p.showDownloads(),
    text: (downloads) => downloads.map(downloadLine).join('\n') || 'no downloads',
  }),
  stop_share: define({ usage: 'stop_share <group_id> <file_name>', summary: 'stop offering a file', args: 2, run: (p, [g, f]) => p.stopShare(g!, f!), text: okText }),
  wait: define({
    usage: 'wait',
    summary: 'block until running downloads end; fails if one failed',
    args: 0,
    run: async (p) => {
      const failed = await p.waitDownloads();
      if (failed.length > 0) {
        const first = failed[0]!;
        throw new PeerError('DOWNLOAD_FAILED', `${failed.length} download(s) failed; ${first.name}: ${first.failure?.code}: ${first.failure?.message}`);
      }
      return { downloads: p.showDownloads().length };
    },
    text: okText,
  }),
  whoami: define({ usage: 'whoami', summary: 'who you are logged in as', args: 0, run: (p) => p.query({ name: 'whoami' }), text: (r) => r.user }),
  news: define({
    usage: 'news',
    summary: 'what happened in your groups and to you, as the tracker told it (with log indices)',
    args: 0,
    run: async (p) => p.news(),
    text: (items) => items.map((item) => `#${item.index} ${item.events.map((e) => e.type).join(', ')}`).join('\n') || 'no news',
  }),
  status: define({
    usage: 'status',
    summary: "this peer: user, listening address, where the tracker sees it and whether it can be dialed, its key's fingerprint, downloads",
    args: 0,
    run: async (p) => ({ user: p.user, listening: formatNetAddress(p.address), ...p.connectivity(), downloads: p.showDownloads().map((d) => ({ id: d.id, name: d.name, state: d.state })) }),
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
  return ['commands:', ...lines, `  ${'help [command]'.padEnd(58)} this list, or one command`, `  ${'quit'.padEnd(58)} leave (running downloads end first)`].join('\n');
}
