// Why this file exists: the shell at a terminal. Tab completes command names, then group ids
// and file names (asked of the tracker), and the running downloads' progress lives in the
// prompt itself — `[D] [g] name 42%  31.0 MiB/s  ETA 3s  peers 3 | clique> ` — which readline
// redraws with the user's half-typed line intact, so progress never garbles what is typed. A
// finished download prints its `[C]` (or `[F]`) line once, above the prompt; so does each line
// of news (src/peer/news-line.ts) that comes after the login's answer.

import { clearLine, clearScreenDown, cursorTo, moveCursor, type Interface } from 'node:readline';
import type { PeerNode } from '../peer/peer-node.js';
import type { Timer, World } from '../world/world.js';
import { SHELL_COMMANDS } from './shell-commands.js';
import { downloadLine } from './shell-format.js';

const PROMPT = 'clique> ';
const REFRESH_MS = 500;

/** Which argument of which command is a group id or a file name (its group the argument before). */
const GROUP_ARGUMENT: Readonly<Record<string, number>> = {
  join_group: 1,
  leave_group: 1,
  list_requests: 1,
  accept_request: 1,
  reject_request: 1,
  remove_member: 1,
  list_files: 1,
  group_timeline: 1,
  list_members: 1,
  download_file: 1,
  stop_share: 1,
  upload_file: 2,
};
const FILE_ARGUMENT: Readonly<Record<string, number>> = { download_file: 2, stop_share: 2 };

type Completion = [string[], string];

/** Arguments that are paths on this machine: the file to share, the destination of a download. */
const PATH_ARGUMENT: Readonly<Record<string, number>> = { upload_file: 1, download_file: 3 };

/** The words typed so far as the shell will split them; `raw` is the last one as typed (an open quote kept). */
function typedWords(line: string): { words: string[]; raw: string } {
  const words: string[] = [];
  let raw = '';
  let word = '';
  let quoted = false;
  let started = false;
  for (const ch of line) {
    if (ch === '"') {
      quoted = !quoted;
      started = true;
      raw += ch;
    } else if (/\s/.test(ch) && !quoted) {
      if (started) words.push(word);
      word = '';
      raw = '';
      started = false;
    } else {
      word += ch;
      raw += ch;
      started = true;
    }
  }
  words.push(word);
  return { words, raw };
}

/** A candidate as it must be typed: quoted when it holds a space. */
function asTyped(candidate: string): string {
  return /\s/.test(candidate) ? `"${candidate}"` : candidate;
}

/** Tab completion: `line` is what is typed so far. Names with spaces come quoted; paths complete from the disk. */
export async function complete(world: World, peer: PeerNode, line: string): Promise<Completion> {
  const { words, raw } = typedWords(line);
  const current = words.at(-1) ?? '';
  const position = words.length - 1;
  // A whole word is completed with the space after it, as shells do.
  const pick = (candidates: string[]): Completion => {
    const hits = candidates.filter((c) => c.startsWith(current));
    return [hits.length === 1 ? [`${asTyped(hits[0]!)} `] : hits.map(asTyped), raw];
  };
  if (position === 0) return pick([...Object.keys(SHELL_COMMANDS), 'help', 'quit']);
  const command = words[0]!;
  if (command === 'help' && position === 1) return pick(Object.keys(SHELL_COMMANDS));
  if (PATH_ARGUMENT[command] === position) return completePath(world, current, raw);
  if (peer.user === null) return [[], raw];
  try {
    if (GROUP_ARGUMENT[command] === position) {
      const groups = await peer.query({ name: 'listGroups' });
      return pick(groups.map((g) => g.group));
    }
    if (FILE_ARGUMENT[command] === position) {
      const files = await peer.query({ name: 'listFiles', group: words[position - 1]! });
      return pick(files.map((f) => f.name));
    }
  } catch {
    // not a member, tracker unreachable: nothing to offer
  }
  return [[], raw];
}

/** The entries of the directory typed so far that begin with the rest; a directory ends in `/`, a file in a space. */
async function completePath(world: World, current: string, raw: string): Promise<Completion> {
  const slash = current.lastIndexOf('/');
  const directory = slash < 0 ? '.' : current.slice(0, slash + 1) || '/';
  const prefix = slash < 0 ? '' : current.slice(0, slash + 1);
  const rest = current.slice(slash + 1);
  let entries: string[];
  try {
    entries = (await world.fs.readdir(directory)).filter((e) => e.startsWith(rest) && (rest.startsWith('.') || !e.startsWith('.')));
  } catch {
    return [[], raw];
  }
  const shown = await Promise.all(entries.sort().map(async (e) => `${prefix}${e}${(await world.fs.stat(`${prefix || './'}${e}`))?.isDirectory ? '/' : ''}`));
  if (shown.length === 1) {
    const only = shown[0]!;
    return [[only.endsWith('/') ? asTyped(only) : `${asTyped(only)} `], raw];
  }
  return [shown.map(asTyped), raw];
}

/** Keeps the prompt showing the running downloads, and prints each one's end once. */
export class ProgressPrompt {
  private timer: Timer | null = null;
  private readonly reported = new Set<string>();
  /** Downloads seen before (by id). */
  private readonly seen = new Set<number>();
  private stopNews: (() => void) | null = null;
  /** A command is running: its answer comes next, so nothing is drawn until it has been printed. */
  private working = false;
  /** Lines that came while a command ran, printed after its answer. */
  private held: string[] = [];
  /** The prompt as last drawn (with a download's progress before it, or plain). */
  private shownPrompt = PROMPT;

  constructor(
    private readonly world: World,
    private readonly peer: PeerNode,
    private readonly lines: Interface,
    private readonly output: NodeJS.WriteStream,
  ) {}

  start(): void {
    this.lines.setPrompt(PROMPT);
    this.lines.prompt();
    const tick = (): void => {
      this.refresh();
      this.timer = this.world.clock.setTimer(REFRESH_MS, tick);
    };
    this.timer = this.world.clock.setTimer(REFRESH_MS, tick);
    this.stopNews = this.peer.onNews((news) => this.printAbove(news.line));
  }

  stop(): void {
    this.timer?.cancel();
    this.stopNews?.();
  }

  /**
   * A command begins: the prompt is not redrawn and news waits, so nothing lands in its answer.
   * The line just entered is written again behind the plain prompt, so progress prefixes do not
   * pile up in the scrollback.
   */
  busy(line: string): void {
    this.working = true;
    if (this.shownPrompt === PROMPT) return;
    const columns = this.output.columns > 0 ? this.output.columns : 80;
    const rows = Math.max(1, Math.ceil((this.shownPrompt.length + line.length) / columns));
    moveCursor(this.output, 0, -rows);
    cursorTo(this.output, 0);
    clearScreenDown(this.output);
    this.output.write(`${PROMPT}${line}\n`);
  }

  /** Its answer is printed: what came meanwhile, then a fresh prompt. */
  idle(): void {
    this.working = false;
    for (const line of this.held.splice(0)) this.output.write(`${line}\n`);
    this.refresh();
  }

  /** Redraws the prompt with the running downloads; prints each ended download's line once. */
  private refresh(): void {
    if (this.working) return;
    const downloads = this.peer.showDownloads();
    for (const d of downloads) {
      // Each state a download comes to is said once (waiting, paused, complete, failed); the
      // state it was in when first seen (a list read at login) was said by the login already.
      const key = `${d.id} ${d.state}`;
      const firstSight = !this.seen.has(d.id);
      this.seen.add(d.id);
      if (d.state === 'running' || this.reported.has(key)) continue;
      this.reported.add(key);
      if (!firstSight) this.printAbove(downloadLine(d));
    }
    const running = downloads.filter((d) => d.state === 'running');
    const more = running.length - 1;
    const prompt = running.length === 0 ? PROMPT : `${downloadLine(running[0]!)}${more > 0 ? ` (+${more} more ${more === 1 ? 'download' : 'downloads'})` : ''} | ${PROMPT}`;
    this.shownPrompt = prompt;
    this.lines.setPrompt(prompt);
    this.lines.prompt(true);
  }

  /** A line above the prompt; the prompt and the typed text are drawn again below it. */
  private printAbove(text: string): void {
    if (this.working) return void this.held.push(text);
    cursorTo(this.output, 0);
    clearLine(this.output, 0);
    this.output.write(`${text}\n`);
    this.lines.prompt(true);
  }
}
