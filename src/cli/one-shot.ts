// Why this file exists: `clique <command> <args>` — one shell command from the command line, as
// transmission-remote drives a daemon (DESIGN.md §1). It goes to the shell running on the home
// (`<home>/control.sock`). With no shell running there, the tracker's commands run in the session
// `clique login` saved in the home (a token file, mode 0600, never the password); `download_file`
// then needs `--foreground` (it runs here until the file is complete). Output and exit statuses
// are the shell's: the text a person reads, or with `--json` one JSON line; 0, 1, 2.

import { PeerNode, PeerError, type Credential } from '../peer/peer-node.js';
import { fromUtf8, utf8 } from '../torrent/bytes.js';
import type { World } from '../world/world.js';
import { askControl, CONTROL_SOCKET, type ControlAnswer } from '../world/real/real-control-socket.js';
import { CliError, EXIT_FAILED, EXIT_OK, EXIT_USAGE } from './exit-codes.js';
import { SHELL_COMMANDS, USAGE_ERRORS } from './shell-commands.js';
import { runLine, startPeer, type ShellOptions } from './shell.js';

/** The shell's commands a one-shot runs with a saved session when no shell runs (the tracker's alone). */
const TRACKER_COMMANDS: ReadonlySet<string> = new Set([
  'create_group', 'join_group', 'leave_group', 'list_requests', 'accept_request', 'reject_request', 'remove_member', 'list_groups', 'list_files', 'list_members', 'group_timeline', 'whoami',
]);
/** Where `clique login` keeps the session it opened, in the home. */
export const SESSION_FILE = 'session.token';

export interface OneShotOptions {
  command: string;
  args: string[];
  json: boolean;
  cluster: string;
  home?: string;
  homes: string;
  user?: string;
  foreground: boolean;
}

/** `clique <command> [args] [--user U] [--home DIR | --homes DIR] [--cluster FILE] [--json] [--foreground]`. */
export function parseOneShot(argv: readonly string[]): OneShotOptions {
  const options: OneShotOptions = { command: argv[0]!, args: [], json: false, cluster: '.clique/cluster.json', homes: '.clique/homes', foreground: false };
  const value = (i: number, flag: string): string => {
    const next = argv[i + 1];
    if (next === undefined) throw new CliError('BAD_USAGE', `${flag} needs a value`, EXIT_USAGE);
    return next;
  };
  let onlyArgs = false;
  for (let i = 1; i < argv.length; i++) {
    const word = argv[i]!;
    if (onlyArgs || !word.startsWith('--')) options.args.push(word);
    else if (word === '--') onlyArgs = true;
    else if (word === '--json') options.json = true;
    else if (word === '--foreground') options.foreground = true;
    else if (word === '--user') options.user = value(i++, word);
    else if (word === '--home') options.home = value(i++, word);
    else if (word === '--homes') options.homes = value(i++, word);
    else if (word === '--cluster') options.cluster = value(i++, word);
    // The command's own options (wait --timeout S) go to it as words.
    else options.args.push(word);
  }
  return options;
}

/** The line a shell would read: words with spaces are quoted; a double quote cannot be said. */
function lineOf(command: string, args: readonly string[]): string {
  for (const arg of args) if (arg.includes('"')) throw new CliError('BAD_ARGUMENTS', `${JSON.stringify(arg)}: a word may not hold a double quote`, EXIT_USAGE);
  return [command, ...args.map((a) => (/\s/.test(a) || a === '' ? `"${a}"` : a))].join(' ');
}

/** The home a one-shot addresses: --home, or the user's under --homes (the one there is, when --user is not given). */
async function homeOf(world: World, options: OneShotOptions): Promise<string> {
  if (options.home !== undefined) return options.home;
  // Logging in or making an account names the user.
  const user = options.user ?? (options.command === 'login' || options.command === 'create_user' ? options.args[0] : undefined);
  if (user !== undefined) return `${options.homes}/${user}`;
  const homes = (await world.fs.stat(options.homes))?.isDirectory ? await world.fs.readdir(options.homes) : [];
  if (homes.length === 1) return `${options.homes}/${homes[0]}`;
  if (homes.length === 0) throw new CliError('NO_HOME', `no home under ${options.homes}; log in first (clique login USER PASSWORD, or clique shell)`);
  throw new CliError('BAD_USAGE', `${homes.length} homes under ${options.homes} (${homes.join(', ')}): choose one with --user`, EXIT_USAGE);
}

function print(answer: ControlAnswer, json: boolean): void {
  if (json) {
    const line = answer.ok ? { ok: true, command: answer.command, result: answer.result } : answer;
    process.stdout.write(`${JSON.stringify(line)}\n`);
  } else if (answer.ok) {
    if (answer.text.length > 0) process.stdout.write(`${answer.text}\n`);
  } else {
    process.stdout.write(`error ${answer.error.code}: ${answer.error.message}\n`);
  }
}

/** 0 for an answer that succeeded; 2 for bad arguments; 1 for the rest. */
function statusOf(answer: ControlAnswer): number {
  if (answer.ok) return EXIT_OK;
  return USAGE_ERRORS.has(answer.error.code) ? EXIT_USAGE : EXIT_FAILED;
}

export async function runOneShot(world: World, options: OneShotOptions): Promise<number> {
  const home = await homeOf(world, options);
  const line = lineOf(options.command, options.args);
  // A password never goes down a socket: making an account or logging in is this process's own.
  const secret = options.command === 'login' || options.command === 'create_user';
  const answered = secret ? null : await askControl(`${home}/${CONTROL_SOCKET}`, line);
  if (answered !== null) {
    print(answered, options.json);
    if (!answered.ok || options.command !== 'download_file' || !options.foreground) return statusOf(answered);
    // In the foreground: until the download ends, as the shell's wait says it.
    const waited = await askControl(`${home}/${CONTROL_SOCKET}`, 'wait');
    if (waited === null) return EXIT_FAILED;
    print(waited, options.json);
    return Math.max(statusOf(answered), statusOf(waited));
  }
  // No shell runs on the home: a peer of this process's own, briefly.
  const answers = await withoutShell(world, options, home, line);
  for (const answer of answers) print(answer, options.json);
  return Math.max(EXIT_OK, ...answers.map(statusOf));
}

async function readSaved(world: World, home: string): Promise<Credential | null> {
  const stat = await world.fs.stat(`${home}/${SESSION_FILE}`);
  if (stat === null) return null;
  try {
    const value = JSON.parse(fromUtf8(await world.fs.readFile(`${home}/${SESSION_FILE}`))) as Partial<Credential>;
    if (typeof value.sessionId !== 'string' || typeof value.token !== 'string' || typeof value.user !== 'string') return null;
    return value as Credential;
  } catch {
    return null;
  }
}

/** The commands a one-shot runs in a peer of its own, with the saved session (or, for login, none yet). */
async function withoutShell(world: World, options: OneShotOptions, home: string, line: string): Promise<ControlAnswer[]> {
  const { command } = options;
  const needsShell = (why: string): ControlAnswer[] => [{ ok: false, command, error: { code: 'NO_SHELL', message: `no shell runs on ${home}; ${why}` } }];
  if (!(command in SHELL_COMMANDS)) return [{ ok: false, command, error: { code: 'UNKNOWN_COMMAND', message: `no command ${command}; try clique help` } }];
  if (command === 'download_file' && !options.foreground) return needsShell('download_file needs one (clique shell), or --foreground to download here until the file is complete');
  const tracker = TRACKER_COMMANDS.has(command) || command === 'download_file' || command === 'logout';
  if (!tracker && command !== 'login' && command !== 'create_user') return needsShell(`${command} needs one: start clique shell`);

  // Making an account or logging in as a user with no home yet leaves no home behind if refused.
  const perUser = options.home === undefined && (command === 'login' || command === 'create_user');
  const shellOptions: ShellOptions = { cluster: options.cluster, ...(perUser ? {} : { home }), homes: options.homes, json: options.json, serve: false, local: false, knownTrackers: '.clique/known_trackers', listen: '127.0.0.1:0' };
  let peer: PeerNode;
  // A session renewed meanwhile (a long foreground download) is saved for the next one-shot.
  const save = (credential: Credential): Promise<void> => saveToken(world, home, credential);
  try {
    peer = await startPeer(world, shellOptions, undefined, (credential) => void save(credential).catch(() => undefined));
  } catch (error) {
    if (error instanceof CliError && error.code === 'HOME_IN_USE') return needsShell('its home is locked by another program');
    throw error;
  }
  try {
    if (command === 'create_user') return [(await runLine(peer, line))!];
    if (command === 'login') return [await loginForOneShots(world, home, peer, options.args)];
    const saved = await readSaved(world, home);
    if (saved === null) return [{ ok: false, command, error: { code: 'NOT_LOGGED_IN', message: `no shell runs on ${home} and no session is saved there; log in with: clique login USER PASSWORD` } }];
    // The session may have lapsed since (the tracker ends one that does not beat): renewed from its refresh credential.
    const current = await peer.revive(saved);
    if (current.sessionId !== saved.sessionId) await save(current);
    await peer.adopt(current);
    if (command === 'logout') {
      const answer = (await runLine(peer, line))!;
      if (answer.ok || answer.error.code === 'NOT_LOGGED_IN') await world.fs.unlink(`${home}/${SESSION_FILE}`);
      return [answer];
    }
    const answer = (await runLine(peer, line))!;
    if (command !== 'download_file' || !answer.ok) return [answer];
    // In the foreground: until the file is complete (or fails, or waits longer than a script would).
    return [answer, (await runLine(peer, 'wait', { waitTimeoutMs: 60_000 }))!];
  } finally {
    // Closing leaves an adopted session open; a login's session was saved, so it stays open too.
    await peer.close();
  }
}

/** `clique login USER PASSWORD` with no shell running: a session of its own, saved in the home (the token, never the password). */
async function loginForOneShots(world: World, home: string, peer: PeerNode, args: readonly string[]): Promise<ControlAnswer> {
  if (args.length !== 2) return { ok: false, command: 'login', error: { code: 'BAD_ARGUMENTS', message: `usage: ${SHELL_COMMANDS.login!.usage}` } };
  try {
    const credential = await peer.openForOneShots(args[0]!, args[1]!);
    await saveToken(world, home, credential);
    return { ok: true, command: 'login', result: { user: credential.user, saved: `${home}/${SESSION_FILE}` }, text: `logged in as ${credential.user}; the session is saved for one-shot commands (clique logout ends it)` };
  } catch (error) {
    if (error instanceof PeerError) return { ok: false, command: 'login', error: { code: error.code, message: error.message } };
    throw error;
  }
}

/** The saved session, owner-only: the token and refresh credential, never the password. */
function saveToken(world: World, home: string, credential: Credential): Promise<void> {
  return world.fs.writeFile(`${home}/${SESSION_FILE}`, utf8(JSON.stringify(credential)), { sync: true, mode: 0o600 });
}
