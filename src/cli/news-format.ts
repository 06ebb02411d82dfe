// Why this file exists: how news reads to a person in the shell — the `news` command's lines and
// the login's mention of waiting join requests and of what happened since the user was last
// here. The words of each line come from the peer (src/peer/news-line.ts), so the prompt, `news`
// and the login say the same thing.

import type { LoginNews, NewsLine } from '../peer/peer-node.js';

/** How many lines of news a login shows before it points to `news` for the rest. */
const LOGIN_NEWS_SHOWN = 5;

/** `#index  line`, one a line. */
export function newsText(lines: readonly NewsLine[]): string {
  return lines.map((l) => `#${l.index}  ${l.line}`).join('\n') || 'no news';
}

/**
 * At most two lines: "2 requests waiting: bob → friends, carol → friends" and "since you were
 * last here: alice shared notes.txt in friends; …" (the newest few, and how many more `news` has).
 */
export function loginNewsText(summary: LoginNews): string[] {
  const out: string[] = [];
  const requests = summary.requests;
  if (requests.length > 0) out.push(`${requests.length} ${requests.length === 1 ? 'request' : 'requests'} waiting: ${requests.map((r) => `${r.user} → ${r.group}`).join(', ')}`);
  const news = summary.news;
  if (news.length > 0) {
    const shown = news.slice(-LOGIN_NEWS_SHOWN).map((n) => n.line);
    const more = news.length - shown.length;
    out.push(`since you were last here: ${more > 0 ? `(${more} more: news) ` : ''}${shown.join('; ')}`);
  }
  return out;
}
