// Why this file exists: the shell's commands, spelled as in the specification (DESIGN.md §1),
// in one table: each has its usage, its arity, what it does on the peer, and how its answer
// reads to a person (scripts get the result itself as JSON). Parsing a line and checking arity
// happen before anything runs, so a malformed command changes nothing.

import type { SessionCommand } from '../log/domain/commands.js';
import type { FileSummary, GroupSummary } from '../log/domain/queries.js';
import { PeerError, type PeerNode } from '../peer/peer-node.js';
import { formatNetAddress } from '../world/net-address.js';
import { downloadLine, mib } from './shell-format.js';
import { loginNewsText, newsText } from './news-format.js';
import { timelineText } from './timeline-format.js';

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
  /** The answer for a person (the words typed, for commands whose result is only a log index). */
  text(result: R, args: string[]): string;
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

/** `--after INDEX` of group_timeline: a log index, or null when not given. */
function afterIndex(args: string[]): number | null {
  if (args.length === 0) return null;
  if (args[0] !== '--after' || !/^(0|[1-9][0-9]{0,15})$/.test(args[1] ?? '') || !Number.isSafeInteger(Number(args[1]))) throw new PeerError('BAD_ARGUMENTS', 'usage: group_timeline <group_id> [--after INDEX]');
  return Number(args[1]);
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
      return { result: result ?? null, text: spec.text(result, args) };
    },
  };
}

/** A session command built from the words typed; its answer (the log index) reads as `say` puts it. */
function session(usage: string, summary: string, args: number, build: (args: string[]) => SessionCommand, say: (args: string[]) => string): ShellCommand {
  return define({ usage, summary, args, run: (peer, words) => peer.command(build(words)), text: (_index, words) => say(words) });
}

/** `1 member`, `2 members`. */
export function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** `alice`, `alice and bob`, `alice, bob and carol`. */
export function names(list: readonly string[]): string {
  return list.length <= 1 ? (list[0] ?? '') : `${list.slice(0, -1).join(', ')} and ${list.at(-1)}`;
}

/** A table for a person: the first column padded, then the second. */
function table(rows: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(...rows.map(([key]) => key.length));
  return rows.map(([key, value]) => `${key.padEnd(width)}  ${value}`).join('\n');
}

export const SHELL_COMMANDS: Readonly<Record<string, ShellCommand>> = {
  create_user: define({ usage: 'create_user <user_id> <password>', summary: 'make an account on the tracker', args: 2, run: (p, [u, pw]) => p.createUser(u!, pw!), text: (r) => `account ${r.user} made; log in with: login ${r.user} PASSWORD` }),
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
  create_group: session('create_group <group_id>', 'make a group you own', 1, ([g]) => ({ type: 'CreateGroup', group: g! }), ([g]) => `group ${g} made; you own it`),
  join_group: session('join_group <group_id>', 'ask to join a group (its owner accepts or rejects)', 1, ([g]) => ({ type: 'RequestJoin', group: g! }), ([g]) => `asked to join ${g}; its owner decides`),
  leave_group: session('leave_group <group_id>', 'leave a group', 1, ([g]) => ({ type: 'LeaveGroup', group: g! }), ([g]) => `left ${g}`),
  list_requests: define({
    usage: 'list_requests <group_id>',
    summary: "pending join requests (the owner's view)",
    args: 1,
    run: (p, [g]) => p.query({ name: 'listRequests', group: g! }),
    text: (requests) => requests.map((r) => r.user).join('\n') || 'no pending requests',
  }),
  accept_request: session('accept_request <group_id> <user_id>', 'let a user into your group', 2, ([g, u]) => ({ type: 'AcceptRequest', group: g!, user: u! }), ([g, u]) => `${u} is now a member of ${g}`),
  remove_member: session('remove_member <group_id> <user_id>', "take a member out of your group (its holders drop the member's connections at once)", 2, ([g, u]) => ({ type: 'RemoveMember', group: g!, user: u! }), ([g, u]) => `${u} is no longer a member of ${g}`),
  reject_request: session('reject_request <group_id> <user_id>', "turn a user's request down", 2, ([g, u]) => ({ type: 'RejectRequest', group: g!, user: u! }), ([g, u]) => `turned down ${u}'s request to join ${g}`),
  list_groups: define({
    usage: 'list_groups',
    summary: 'every group and your relation to it',
    args: 0,
    run: (p) => p.query({ name: 'listGroups' }),
    text: (groups) => groups.map((g) => `${g.group}  (${RELATION_WORDS[g.relation]}; owner ${g.owner}, ${count(g.memberCount, 'member')})`).join('\n') || 'no groups',
  }),
  list_files: define({
    usage: 'list_files <group_id>',
    summary: 'files shared in a group',
    args: 1,
    run: (p, [g]) => p.query({ name: 'listFiles', group: g! }),
    text: (files) => files.map(fileLine).join('\n') || 'no files',
  }),
  group_timeline: define({
    usage: 'group_timeline <group_id> [--after INDEX]',
    summary: "a group's history from its creation (or after a log index), with log indices and times (members only)",
    args: [1, 3],
    run: (p, [g, ...rest]) => p.groupTimeline(g!, afterIndex(rest)),
    text: (timeline) => timelineText(timeline),
  }),
  list_members: define({
    usage: 'list_members <group_id>',
    summary: "a group's owner and members, with the log index each joined at (members only)",
    args: 1,
    run: (p, [g]) => p.query({ name: 'listMembers', group: g! }),
    text: (r) => r.members.map((m) => `${m.user}${m.user === r.owner ? ' (owner)' : ''}  joined at #${m.joinedIndex}`).join('\n'),
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
  stop_share: define({ usage: 'stop_share <group_id> <file_name>', summary: 'stop offering a file', args: 2, run: (p, [g, f]) => p.stopShare(g!, f!), text: (r) => `no longer sharing ${r.name} in ${r.group}` }),
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
    text: (r) => (r.downloads === 0 ? 'no downloads' : 'every download has ended'),
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
    text: (r) =>
      table([
        ['user', r.user ?? '(not logged in)'],
        ['listening on', r.listening],
        ['the tracker sees', r.address === null ? '(not logged in)' : `${r.address}, ${r.reachable ? 'and can dial it' : 'and cannot dial it (behind a router: holders dial you back)'}`],
        ['push channel', r.pushChannel ?? '(none)'],
        ['key fingerprint', r.keyFingerprint],
        ['upload limit', r.rates.up === null ? 'none' : `${mib(r.rates.up)}/s`],
        ['download limit', r.rates.down === null ? 'none' : `${mib(r.rates.down)}/s`],
        ['downloads', r.downloads.length === 0 ? 'none' : r.downloads.map((d) => `${d.id} ${d.name} (${d.state})`).join(', ')],
      ]),
  }),
};

const RELATION_WORDS: Readonly<Record<GroupSummary['relation'], string>> = { owner: 'yours', member: 'member', pending: 'asked to join', none: 'not a member' };

/** `notes.txt  1.2 MiB  shared by alice and bob; online: 2 with all of it, 1 with part  <id>`. */
function fileLine(f: FileSummary): string {
  const online = f.completeHolders + f.partialHolders === 0 ? 'nobody holding it is online' : `online: ${f.completeHolders} with all of it${f.partialHolders > 0 ? `, ${f.partialHolders} with part` : ''}`;
  return `${f.name}  ${mib(f.sizeBytes)}  shared by ${names(f.sharers) || 'nobody now'}; ${online}  ${f.fileId}`;
}

/** Splits a line into words; "double quotes" keep spaces inside a word. Null for an unclosed quote. */
export function splitWords(line: string): string[] | null {
  if ((line.match(/"/g)?.length ?? 0) % 2 === 1) return null;
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((match) => match[1] ?? match[2]!);
}

/** The shell's own words beside the table's commands: `help` and `quit`. */
const SHELL_WORDS: ReadonlyArray<{ usage: string; summary: string; name: string }> = [
  { name: 'help', usage: 'help [command]', summary: 'this list, or one command' },
  { name: 'quit', usage: 'quit', summary: 'leave (running downloads end first; waiting ones go on at the next start)' },
];

export function helpText(name?: string): string {
  if (name !== undefined) {
    const c = SHELL_COMMANDS[name] ?? SHELL_WORDS.find((w) => w.name === name);
    if (!c) throw unknownCommand(name);
    return `${c.usage}\n  ${c.summary}`;
  }
  const lines = [...Object.values(SHELL_COMMANDS), ...SHELL_WORDS].map((c) => `  ${c.usage.padEnd(58)} ${c.summary}`);
  return ['commands:', ...lines].join('\n');
}

/** `UNKNOWN_COMMAND`, with the nearest command when a typo is likely (at most two edits away). */
export function unknownCommand(name: string): PeerError {
  const known = [...Object.keys(SHELL_COMMANDS), ...SHELL_WORDS.map((w) => w.name)];
  const [nearest] = known.map((k) => [k, editDistance(name, k)] as const).sort((a, b) => a[1] - b[1]);
  const hint = nearest !== undefined && nearest[1] <= 2 ? `did you mean ${nearest[0]}?` : 'try help';
  return new PeerError('UNKNOWN_COMMAND', `no command ${name}; ${hint}`);
}

/** Levenshtein distance: insertions, deletions and substitutions. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length]!;
}

/** Errors of the line itself (not of what it asked): a script with one exits 2, bad usage. */
export const USAGE_ERRORS: ReadonlySet<string> = new Set(['UNKNOWN_COMMAND', 'BAD_ARGUMENTS', 'BAD_QUOTES']);
