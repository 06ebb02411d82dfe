// Why this file exists: the shell's commands, spelled as in the specification (DESIGN.md §1),
// in one table: each has its usage, its arity, and what it does on the peer. Parsing a line and
// checking arity happen here, before anything runs, so a malformed command changes nothing.

import type { PeerNode } from '../peer/peer-node.js';
import { PeerError } from '../peer/peer-node.js';
import { formatNetAddress } from '../world/net-address.js';

export interface ShellCommand {
  usage: string;
  summary: string;
  args: number;
  run(peer: PeerNode, args: string[]): Promise<unknown>;
}

const command = (type: string, fields: (args: string[]) => Record<string, unknown>) => (peer: PeerNode, args: string[]) =>
  peer.command({ type, ...fields(args) });

export const SHELL_COMMANDS: Readonly<Record<string, ShellCommand>> = {
  create_user: { usage: 'create_user <user_id> <password>', summary: 'make an account on the tracker', args: 2, run: (p, [u, pw]) => p.createUser(u!, pw!) },
  login: { usage: 'login <user_id> <password>', summary: 'log in; files you shared from this home are offered again', args: 2, run: (p, [u, pw]) => p.login(u!, pw!) },
  logout: { usage: 'logout', summary: 'log out; your files are no longer offered', args: 0, run: (p) => p.logout() },
  create_group: { usage: 'create_group <group_id>', summary: 'make a group you own', args: 1, run: command('CreateGroup', ([g]) => ({ group: g })) },
  join_group: { usage: 'join_group <group_id>', summary: "ask to join a group (its owner accepts or rejects)", args: 1, run: command('RequestJoin', ([g]) => ({ group: g })) },
  leave_group: { usage: 'leave_group <group_id>', summary: 'leave a group', args: 1, run: command('LeaveGroup', ([g]) => ({ group: g })) },
  list_requests: { usage: 'list_requests <group_id>', summary: "pending join requests (the owner's view)", args: 1, run: (p, [g]) => p.query({ name: 'listRequests', group: g! }) },
  accept_request: { usage: 'accept_request <group_id> <user_id>', summary: 'let a user into your group', args: 2, run: command('AcceptRequest', ([g, u]) => ({ group: g, user: u })) },
  reject_request: { usage: 'reject_request <group_id> <user_id>', summary: "turn a user's request down", args: 2, run: command('RejectRequest', ([g, u]) => ({ group: g, user: u })) },
  list_groups: { usage: 'list_groups', summary: 'every group and your relation to it', args: 0, run: (p) => p.query({ name: 'listGroups' }) },
  list_files: { usage: 'list_files <group_id>', summary: 'files shared in a group', args: 1, run: (p, [g]) => p.query({ name: 'listFiles', group: g! }) },
  upload_file: { usage: 'upload_file <file_path> <group_id>', summary: 'share a file in a group (it stays where it is)', args: 2, run: (p, [f, g]) => p.uploadFile(f!, g!) },
  download_file: {
    usage: 'download_file <group_id> <file_name> <destination_path>',
    summary: 'download from every holder at once; answers when it starts',
    args: 3,
    run: (p, [g, f, d]) => p.downloadFile(g!, f!, d!),
  },
  show_downloads: { usage: 'show_downloads', summary: 'each download: state, bytes, rate, bytes from each peer', args: 0, run: async (p) => p.showDownloads() },
  stop_share: { usage: 'stop_share <group_id> <file_name>', summary: 'stop offering a file', args: 2, run: (p, [g, f]) => p.stopShare(g!, f!) },
  wait: {
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
  },
  whoami: { usage: 'whoami', summary: 'who you are logged in as', args: 0, run: (p) => p.query({ name: 'whoami' }) },
  status: {
    usage: 'status',
    summary: 'this peer: user, listening address, downloads',
    args: 0,
    run: async (p) => ({ user: p.user, listening: formatNetAddress(p.address), downloads: p.showDownloads().map((d) => ({ id: d.id, name: d.name, state: d.state })) }),
  },
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
