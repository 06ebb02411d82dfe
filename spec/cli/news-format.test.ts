// How news reads in the shell (src/cli/news-format.ts): `news` as `#index  line`, and the login's
// mention of waiting requests and of what happened since the user was last here.

import { describe, expect, it } from 'vitest';
import { loginNewsText, newsText } from '../../src/cli/news-format.js';

describe('news text', () => {
  it('is one `#index  line` a line, or "no news"', () => {
    expect(newsText([])).toBe('no news');
    expect(newsText([{ index: 12, line: 'bob asks to join friends' }, { index: 15, line: 'carol shared notes.txt in friends' }])).toBe('#12  bob asks to join friends\n#15  carol shared notes.txt in friends');
  });
});

describe('the login summary', () => {
  it('says nothing when nothing waits and nothing happened', () => {
    expect(loginNewsText({ requests: [], news: [] })).toEqual([]);
  });

  it('names the requests waiting and the news since last time, in two lines', () => {
    const text = loginNewsText({
      requests: [
        { group: 'friends', user: 'bob' },
        { group: 'friends', user: 'carol' },
      ],
      news: [{ index: 30, line: 'alice shared notes.txt in friends' }],
    });
    expect(text).toEqual(['2 requests waiting: bob → friends, carol → friends', 'since you were last here: alice shared notes.txt in friends']);
  });

  it('says "request" for one, and shows the newest five lines of news with how many more `news` has', () => {
    const news = Array.from({ length: 8 }, (_, i) => ({ index: i + 1, line: `line ${i + 1}` }));
    expect(loginNewsText({ requests: [{ group: 'g', user: 'dave' }], news })).toEqual(['1 request waiting: dave → g', 'since you were last here: (3 more: news) line 4; line 5; line 6; line 7; line 8']);
  });
});
