// The web page in a real browser (chromium), against a fixture peer (spec/web/fixture-peer.ts)
// that serves the built page and answers /api/* from fixture data. It checks the page's own
// behaviour: the token from the fragment sent as a header and wiped from the URL, the 401
// message, one live stream and nothing else while idle, views read again on news (the group's
// members by list_members, the timeline only after its last index), downloads drawn (progress
// bars, piece map pixels), the timeline folded at a chosen index, phone width
// without horizontal overflow, and no Content-Security-Policy violation. The real peers'
// end-to-end test is elsewhere. Needs `npm run build` (npm test runs it first).

import type { Page } from 'puppeteer-core';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { WebDownload } from '../../src/peer/web/web-api.js';
import { DESKTOP, describeBrowser, openPage, PHONE, type OpenedPage, type Viewport } from '../helpers/browser.js';
import { FixturePeer } from './fixture-peer.js';
import { CLUSTER, DOWNLOADS, fixtureCommands, RUNNING_PIECES, STATUS, TIMELINE, timelineCommand, TOKEN, webState } from './page-fixtures.js';

const tid = (id: string, more = ''): string => `[data-testid="${id}"]${more}`;

/** Problems that are not the fixture's own refusals (a 401 or 409 a test asked for, also logged as a failed load). */
const realProblems = (opened: OpenedPage): string[] => opened.problems.filter((p) => !/^HTTP (401|409) |Failed to load resource: the server responded with a status of (401|409)/.test(p));

async function textOf(page: Page, selector: string): Promise<string> {
  return page.$eval(selector, (element) => element.textContent ?? '');
}

/** Waits until `check` holds (polling in the test, not the page). */
async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describeBrowser('the web page in chromium, on a fixture peer', (browser) => {
  let peer: FixturePeer;
  let base: string;
  const opened: OpenedPage[] = [];

  beforeEach(async () => {
    peer = new FixturePeer(TOKEN, webState());
    peer.commands = fixtureCommands();
    base = await peer.start();
  });

  afterEach(async () => {
    for (const o of opened.splice(0)) await o.page.close().catch(() => undefined);
    await peer.stop();
  });

  const open = async (fragment: string, viewport: Viewport = DESKTOP): Promise<OpenedPage> => {
    const o = await openPage(browser(), `${base}/${fragment}`, viewport);
    opened.push(o);
    return o;
  };
  /** Opens the page with the right token and waits for the stream and the state. */
  const openReady = async (route = '', viewport: Viewport = DESKTOP): Promise<OpenedPage> => {
    const o = await open(`#token=${TOKEN}`, viewport);
    await o.page.waitForSelector(tid('stream-state', '[data-state="live"]'));
    await o.page.waitForSelector(tid('current-user'));
    if (route !== '') await o.page.evaluate((hash) => (window.location.hash = hash), route);
    return o;
  };

  it('takes the token from the fragment, sends it as a bearer header, wipes it from the URL, and survives a reload', async () => {
    const o = await openReady();
    const { page } = o;
    expect(page.url()).toBe(`${base}/`);
    expect(await page.evaluate(() => window.sessionStorage.getItem(`clique-token:${window.location.origin}`))).toBe(TOKEN);
    await page.waitForSelector(tid('group-row'));
    expect(peer.apiRequests().length).toBeGreaterThanOrEqual(3);
    expect(peer.apiRequests().every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
    const files = peer.requests.filter((r) => !r.path.startsWith('/api/'));
    expect(new Set(files.map((r) => r.path))).toEqual(new Set(['/', '/app.js', '/app.css']));
    expect(files.every((r) => r.authorization === null)).toBe(true);

    const before = peer.apiRequests().length;
    await page.reload({ waitUntil: 'load' });
    await page.waitForSelector(tid('group-row'));
    const after = peer.apiRequests().slice(before);
    expect(after.map((r) => r.path)).toEqual(expect.arrayContaining(['/api/events', '/api/state', '/api/commands/list_groups']));
    expect(after.every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
    expect(realProblems(o)).toEqual([]);
  });

  it("says the link's token is wrong or missing on a 401, and asks nothing without a token", async () => {
    const wrong = await open('#token=not-the-token');
    await wrong.page.waitForSelector(tid('unauthorized'));
    expect(await textOf(wrong.page, tid('unauthorized'))).toMatch(/token is wrong or missing/i);
    expect(peer.apiRequests().some((r) => r.authorization === 'Bearer not-the-token')).toBe(true);
    expect(await wrong.page.evaluate(() => window.sessionStorage.length)).toBe(0);

    const asked = peer.apiRequests().length;
    const none = await open('');
    await none.page.waitForSelector(tid('unauthorized'));
    expect(peer.apiRequests().length).toBe(asked);
    expect(realProblems(wrong)).toEqual([]);
    expect(realProblems(none)).toEqual([]);
  });

  it('while idle makes no request but its one stream; a news event makes the groups view read again', async () => {
    const o = await openReady();
    await o.page.waitForSelector(tid('request-row', '[data-user="carol"]'));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const settled = peer.apiRequests().length;
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    expect(peer.apiRequests().slice(settled)).toEqual([]);
    expect(peer.apiRequests('/api/events')).toHaveLength(1);
    expect(peer.openStreams).toBe(1);

    const groupsRead = peer.apiRequests('/api/commands/list_groups').length;
    const requestsRead = peer.apiRequests('/api/commands/list_requests').length;
    peer.push({ type: 'news', line: { index: 30, line: 'dave asked to join friends' } });
    await until(() => peer.apiRequests('/api/commands/list_groups').length === groupsRead + 1, 'list_groups again');
    await until(() => peer.apiRequests('/api/commands/list_requests').length === requestsRead + 1, 'list_requests again');
    expect(await o.page.$$eval(tid('news-line'), (lines) => lines.map((l) => l.textContent))).toEqual(['#30 dave asked to join friends', '#8 carol asked to join friends']);
    expect(realProblems(o)).toEqual([]);
  });

  it('reconnects the stream with back-off when it drops, and reads the state again', async () => {
    const o = await openReady();
    const states = peer.apiRequests('/api/state').length;
    peer.dropStreams();
    await o.page.waitForSelector(tid('stream-state', '[data-state="down"]'));
    await until(() => peer.apiRequests('/api/events').length === 2, 'a second stream', 4_000);
    await o.page.waitForSelector(tid('stream-state', '[data-state="live"]'));
    await until(() => peer.apiRequests('/api/state').length === states + 1, 'the state read again');
  });

  it('refused the stream for too many pages (503), backs off instead of retrying at once, says so in one line, and recovers', async () => {
    peer.refuseStreams = true;
    const o = await open(`#token=${TOKEN}`);
    const { page } = o;
    await page.waitForSelector(tid('too-many-pages'));
    expect(await textOf(page, tid('too-many-pages'))).toBe('too many pages of this peer are open; close one');
    expect(await page.$eval(tid('stream-state'), (chip) => (chip as HTMLElement).dataset.state)).toBe('down');
    // Tries at 0 s, 1 s and 3 s (then 7 s): the gaps double. A timer never fires early, so under
    // load the gaps only grow; the next try is not made at once either way.
    await until(() => peer.apiRequests('/api/events').length === 3, 'three refused tries', 10_000);
    const [first, second, third] = peer.apiRequests('/api/events').map((r) => r.atMs);
    expect(second! - first!).toBeGreaterThanOrEqual(900);
    expect(third! - second!).toBeGreaterThanOrEqual(1_900);

    peer.refuseStreams = false;
    await page.waitForSelector(tid('stream-state', '[data-state="live"]'), { timeout: 15_000 });
    await page.waitForSelector(tid('current-user'));
    expect(await page.$(tid('too-many-pages'))).toBeNull();
    const tries = peer.apiRequests('/api/events').map((r) => r.atMs);
    expect(tries).toHaveLength(4);
    expect(tries[3]! - tries[2]!).toBeGreaterThanOrEqual(3_900);
    expect(realProblems(o).filter((p) => !/\b503\b/.test(p))).toEqual([]);
  });

  it('groups: mine and the others with join buttons, the owner’s requests with accept and reject, refusals as one line with the code', async () => {
    const o = await openReady();
    const { page } = o;
    await page.waitForSelector(tid('group-row', '[data-group="chess"]'));
    expect(await page.$$eval(`${tid('my-groups')} ${tid('group-row')}`, (rows) => rows.map((r) => (r as HTMLElement).dataset.group))).toEqual(['friends', 'work']);
    expect(await page.$$eval(`${tid('other-groups')} ${tid('group-row')}`, (rows) => rows.map((r) => (r as HTMLElement).dataset.group))).toEqual(['chess', 'books']);
    expect(await page.$$(tid('join-button'))).toHaveLength(1);

    await page.click(`${tid('group-row', '[data-group="chess"]')} ${tid('join-button')}`);
    await page.waitForSelector(tid('error-line'));
    expect(await textOf(page, tid('error-line'))).toBe('ALREADY_REQUESTED: you asked to join chess already');

    await page.click(`${tid('request-row', '[data-user="carol"]')} ${tid('accept-button')}`);
    await until(() => peer.apiRequests('/api/commands/accept_request').length === 1, 'accept_request');
    expect(peer.apiRequests('/api/commands/accept_request')[0]!.args).toEqual(['friends', 'carol']);
    await page.waitForSelector(tid('request-row', '[data-user="carol"]'));
    await page.click(`${tid('request-row', '[data-user="carol"]')} ${tid('reject-button')}`);
    await until(() => peer.apiRequests('/api/commands/reject_request').length === 1, 'reject_request');
    expect(peer.apiRequests('/api/commands/reject_request')[0]!.args).toEqual(['friends', 'carol']);
    expect(realProblems(o)).toEqual([]);
  });

  it('group: files with size, sharers and holders; share by a completed path; download into a directory; stop sharing', async () => {
    peer.completions = (path) => ({ entries: path.startsWith('/home/alice/p') ? [{ path: '/home/alice/photos', directory: true }, { path: '/home/alice/plan.txt', directory: false }] : [] });
    const o = await openReady('#/group/friends');
    const { page } = o;
    await page.waitForSelector(tid('file-row', '[data-file="notes.txt"]'));
    expect(await textOf(page, tid('group-owner'))).toBe('alice');
    const row = await textOf(page, tid('file-row', '[data-file="notes.txt"]'));
    expect(row).toContain('1.50 KiB');
    expect(row).toContain('alice, bob');
    expect(row).toContain('2 complete, 1 partial');

    await page.type(tid('share-path'), '/home/alice/p');
    await until(() => peer.apiRequests('/api/complete').length > 0, 'a completion request');
    expect(peer.apiRequests('/api/complete').every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
    await page.waitForFunction((selector) => document.querySelectorAll(`${selector} option`).length === 2, {}, tid('share-path-options'));
    expect(await page.$$eval(`${tid('share-path-options')} option`, (options) => options.map((x) => (x as HTMLOptionElement).value))).toEqual(['/home/alice/photos/', '/home/alice/plan.txt']);
    await page.type(tid('share-path'), 'lan.txt');
    await page.click(tid('share-submit'));
    await until(() => peer.apiRequests('/api/commands/upload_file').length === 1, 'upload_file');
    expect(peer.apiRequests('/api/commands/upload_file')[0]!.args).toEqual(['/home/alice/plan.txt', 'friends']);

    await page.click(`${tid('file-row', '[data-file="notes.txt"]')} ${tid('download-button')}`);
    await until(() => peer.apiRequests('/api/commands/download_file').length === 1, 'download_file');
    expect(peer.apiRequests('/api/commands/download_file')[0]!.args).toEqual(['friends', 'notes.txt', '/home/alice']);
    await page.click(`${tid('file-row', '[data-file="notes.txt"]')} ${tid('stop-share-button')}`);
    await until(() => peer.apiRequests('/api/commands/stop_share').length === 1, 'stop_share');
    expect(peer.apiRequests('/api/commands/stop_share')[0]!.args).toEqual(['friends', 'notes.txt']);
    expect(await page.$(`${tid('file-row', '[data-file^="a-rather-long"]')} ${tid('stop-share-button')}`)).toBeNull();
    expect(realProblems(o)).toEqual([]);
  });

  it('group: the download destination is filled with the first web root when the roots arrive late, unless the user typed in it', async () => {
    peer.state = { ...webState(), webRoots: [] };
    const o = await openReady('#/group/friends');
    const { page } = o;
    await page.waitForSelector(tid('file-row'));
    const destination = () => page.$eval(tid('download-destination'), (input) => (input as HTMLInputElement).value);
    expect(await destination()).toBe('');

    // The roots come with the state read again after a reconnect.
    peer.state = webState();
    peer.dropStreams();
    await page.waitForFunction((selector) => (document.querySelector(selector) as HTMLInputElement | null)?.value === '/home/alice', {}, tid('download-destination'));

    // Typed in, the field is the user's: roots that change later leave it alone.
    await page.click(tid('download-destination'), { clickCount: 3 });
    await page.keyboard.press('Backspace');
    await page.type(tid('download-destination'), '/srv/in');
    const states = peer.apiRequests('/api/state').length;
    peer.state = { ...webState(), webRoots: ['/home/alice/elsewhere'] };
    peer.dropStreams();
    await until(() => peer.apiRequests('/api/state').length === states + 1, 'the state read again');
    await page.waitForSelector(tid('stream-state', '[data-state="live"]'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await destination()).toBe('/srv/in');
    // The dropped streams log as cut-off loads; nothing else went wrong.
    expect(realProblems(o).filter((p) => !/ERR_INCOMPLETE_CHUNKED_ENCODING/.test(p))).toEqual([]);
  });

  it('downloads: progress bars, rate, ETA, peers, a piece map drawn pixel by pixel, bytes from each peer, waiting and failed with their codes; live', async () => {
    const o = await openReady('#/downloads');
    const { page } = o;
    const row = (id: number, inner = ''): string => `${tid('download-row', `[data-id="${id}"]`)} ${inner}`;
    await page.waitForSelector(row(1, tid('piece-map')));
    expect(await page.$eval(row(1, tid('progress-bar')), (bar) => bar.getAttribute('aria-valuenow'))).toBe('30');
    expect(await page.$eval(row(4, tid('progress-bar')), (bar) => bar.getAttribute('aria-valuenow'))).toBe('100');
    expect(await textOf(page, row(1, tid('download-rate')))).toBe('1.00 MiB/s');
    expect(await textOf(page, row(1, tid('download-eta')))).toBe('ETA 28 s');
    expect(await textOf(page, row(1, tid('download-peers')))).toBe('2 peers');
    expect(await page.$$eval(row(1, `${tid('bytes-from-user')} ${tid('bytes-from-row')}`), (rows) => rows.map((r) => r.textContent))).toEqual(['bob2.00 MiB', 'carol1.00 MiB']);
    expect(await page.$$eval(row(1, `${tid('bytes-from-peer')} ${tid('bytes-from-row')}`), (rows) => rows.length)).toBe(2);
    expect(await textOf(page, row(2, tid('download-waiting')))).toBe('WAITING_FOR_HOLDERS: nobody holding notes.txt is online');
    expect(await textOf(page, row(3, tid('download-failure')))).toBe('PIECE_HASH_MISMATCH: piece 2 failed its hash three times');

    // The piece map: the colour at the centre of pieces 0 and 11 (verified), 12 and 15 (in flight), 16 and 39 (missing).
    const colours = async (pieces: number[]): Promise<string[]> => {
      await page.waitForFunction((selector) => (document.querySelector(selector) as HTMLCanvasElement | null)?.width !== 0, {}, row(1, tid('piece-map')));
      return page.$eval(
        row(1, tid('piece-map')),
        (element, picks) => {
          const canvas = element as HTMLCanvasElement;
          const cell = Number(canvas.dataset.cellPx);
          const columns = Number(canvas.dataset.columns);
          const scale = canvas.width / (columns * cell);
          const side = cell >= 6 ? cell - 1 : cell;
          const context = canvas.getContext('2d')!;
          return picks.map((piece) => {
            const x = Math.floor(((piece % columns) * cell + side / 2) * scale);
            const y = Math.floor((Math.floor(piece / columns) * cell + side / 2) * scale);
            const [r, g, b] = context.getImageData(x, y, 1, 1).data;
            return `#${[r, g, b].map((v) => v!.toString(16).padStart(2, '0')).join('')}`;
          });
        },
        pieces,
      );
    };
    expect(RUNNING_PIECES.length).toBe(40);
    expect(await page.$eval(row(1, tid('piece-map')), (canvas) => (canvas as HTMLCanvasElement).dataset.piecesPerCell)).toBe('1');
    expect(await colours([0, 11, 12, 15, 16, 39])).toEqual(['#2e7d32', '#2e7d32', '#e69500', '#e69500', '#dde1e6', '#dde1e6']);

    // Live: a 'downloads' event moves the bar and the map, with no request of the page's own.
    const asked = peer.apiRequests().length;
    const moved: WebDownload[] = DOWNLOADS.map((d) => (d.id === 1 ? { ...d, pieces: `${'v'.repeat(20)}${'f'.repeat(2)}${'-'.repeat(18)}`, verifiedBytes: d.sizeBytes / 2 } : d));
    peer.push({ type: 'downloads', downloads: moved });
    await page.waitForSelector(row(1, `${tid('progress-bar')}[aria-valuenow="50"]`));
    expect(await colours([19, 20, 22])).toEqual(['#2e7d32', '#e69500', '#dde1e6']);
    expect(peer.apiRequests().length).toBe(asked);

    await page.click(row(1, tid('pause-button')));
    await page.click(row(3, tid('resume-button')));
    await page.click(row(2, tid('cancel-button')));
    await until(() => peer.apiRequests().filter((r) => /_download$/.test(r.path)).length === 3, 'pause, resume and cancel');
    expect(peer.apiRequests().filter((r) => /_download$/.test(r.path)).map((r) => [r.path.split('/').pop(), r.args])).toEqual([
      ['pause_download', ['1']],
      ['resume_download', ['3']],
      ['cancel_download', ['2']],
    ]);
    expect(await page.$(row(4, tid('cancel-button')))).toBeNull();
    expect(realProblems(o)).toEqual([]);
  });

  it('cluster: each node with its role, term, commit and applied index, and the leader, live', async () => {
    const o = await openReady('#/cluster');
    const { page } = o;
    await page.waitForSelector(tid('cluster-node'));
    expect(await page.$$eval(tid('cluster-node'), (rows) => rows.map((r) => (r as HTMLElement).dataset.role))).toEqual(['leader', 'follower', 'unknown']);
    expect(await textOf(page, tid('cluster-leader'))).toBe('n1');
    expect(await textOf(page, tid('cluster-node', '[data-address="127.0.0.1:6003"]'))).toContain('unreachable');
    peer.push({
      type: 'cluster',
      cluster: { leader: 'n2', nodes: CLUSTER.nodes.map((n) => (n.id === 'n1' ? { ...n, role: 'follower', term: 5 } : n.id === 'n2' ? { ...n, role: 'leader', term: 5, leader: 'n2' } : n)) },
    });
    await page.waitForFunction((selector) => document.querySelector(selector)?.textContent === 'n2', {}, tid('cluster-leader'));
    expect(await page.$$eval(tid('cluster-node'), (rows) => rows.map((r) => (r as HTMLElement).dataset.role))).toEqual(['follower', 'leader', 'unknown']);
    expect(realProblems(o)).toEqual([]);
  });

  it('timeline: the history with indices, and the as-of slider folds the group at a chosen index; the group view lists its members', async () => {
    const o = await openReady(`#/timeline/${TIMELINE.group}`);
    const { page } = o;
    await page.waitForSelector(tid('asof-slider'));
    expect(await page.$eval(tid('error-line'), (line) => line.textContent).catch(() => null)).toBeNull();
    expect(await page.$$eval(tid('timeline-entry'), (rows) => rows.map((r) => (r as HTMLElement).dataset.index))).toEqual(['3', '5', '6', '8', '9', '11', '12', '14']);
    expect(await textOf(page, tid('timeline-entry', '[data-index="6"]'))).toContain('alice accepted bob');
    expect(await textOf(page, tid('timeline-entry', '[data-index="12"]'))).toContain('bob shared notes.txt too');

    const slideTo = (index: number) =>
      page.$eval(
        tid('asof-slider'),
        (element, value) => {
          const input = element as HTMLInputElement;
          input.value = String(value);
          input.dispatchEvent(new Event('input', { bubbles: true }));
        },
        index,
      );
    // The latest: bob shares notes.txt alone; carol was turned down.
    expect(await textOf(page, tid('asof-index'))).toBe('14');
    expect(await textOf(page, tid('asof-file', '[data-file="notes.txt"]'))).toContain('shared by bob)');
    expect(await textOf(page, tid('asof-pending'))).toBe('—');

    await slideTo(8);
    await page.waitForFunction((selector) => document.querySelector(selector)?.textContent === '8', {}, tid('asof-index'));
    expect(await textOf(page, tid('asof-owner'))).toBe('alice');
    expect(await textOf(page, tid('asof-members'))).toContain('bob');
    expect(await textOf(page, tid('asof-pending'))).toBe('carol');
    expect(await page.$(tid('asof-files'))).toBeNull();
    expect(await page.$$eval(`${tid('timeline-entry')}.later`, (rows) => rows.map((r) => (r as HTMLElement).dataset.index))).toEqual(['9', '11', '12', '14']);

    await slideTo(12);
    await page.waitForFunction((selector) => document.querySelector(selector)?.textContent === '12', {}, tid('asof-index'));
    expect(await textOf(page, tid('asof-file', '[data-file="notes.txt"]'))).toContain('shared by alice, bob)');
    expect(await textOf(page, tid('asof-pending'))).toBe('—');

    await page.evaluate(() => (window.location.hash = '#/group/friends'));
    await page.waitForSelector(tid('member-list'));
    expect(await page.$$eval(tid('member'), (items) => items.map((i) => i.textContent))).toEqual(['alice', 'bob']);
    expect(realProblems(o)).toEqual([]);
  });

  it('timeline: a news line reads only the entries after the last one shown, once; the slider follows them only from the latest index', async () => {
    const o = await openReady(`#/timeline/${TIMELINE.group}`);
    const { page } = o;
    await page.waitForSelector(tid('timeline-entry', '[data-index="14"]'));
    const reads = () => peer.apiRequests('/api/commands/group_timeline').map((r) => r.args);
    expect(reads()).toEqual([['friends']]);
    expect(await textOf(page, tid('asof-index'))).toBe('14');

    // dave asks to join at 15: one read, of what is after 14; the slider, at the latest, follows.
    const asked = { index: 15, timeMs: Date.UTC(2026, 10, 1, 9, 15, 0), event: { type: 'JoinRequested', group: 'friends', user: 'dave' } } as const;
    peer.commands.group_timeline = timelineCommand({ ...TIMELINE, entries: [...TIMELINE.entries, asked] });
    peer.push({ type: 'news', line: { index: 15, line: 'dave asked to join friends' } });
    await page.waitForSelector(tid('timeline-entry', '[data-index="15"]'));
    await page.waitForFunction((selector) => document.querySelector(selector)?.textContent === '15', {}, tid('asof-index'));
    expect(await textOf(page, tid('asof-pending'))).toBe('dave');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(reads()).toEqual([['friends'], ['friends', '--after', '14']]);
    expect(await page.$$eval(tid('timeline-entry'), (rows) => rows.map((r) => (r as HTMLElement).dataset.index))).toEqual(['3', '5', '6', '8', '9', '11', '12', '14', '15']);

    // Moved back to 8, the slider stays there when alice accepts dave at 16.
    await page.$eval(tid('asof-slider'), (element) => {
      const input = element as HTMLInputElement;
      input.value = '8';
      input.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await page.waitForFunction((selector) => document.querySelector(selector)?.textContent === '8', {}, tid('asof-index'));
    const accepted = { index: 16, timeMs: Date.UTC(2026, 10, 1, 9, 16, 0), event: { type: 'JoinAccepted', group: 'friends', user: 'dave', by: 'alice' } } as const;
    peer.commands.group_timeline = timelineCommand({ ...TIMELINE, entries: [...TIMELINE.entries, asked, accepted] });
    peer.push({ type: 'news', line: { index: 16, line: 'alice accepted dave into friends' } });
    await page.waitForSelector(tid('timeline-entry', '[data-index="16"].later'));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(reads()).toEqual([['friends'], ['friends', '--after', '14'], ['friends', '--after', '15']]);
    expect(await textOf(page, tid('asof-index'))).toBe('8');
    expect(await textOf(page, tid('asof-pending'))).toBe('carol');
    expect(realProblems(o)).toEqual([]);
  });

  it('group: the members come from list_members, read again on news; the group view never reads the timeline', async () => {
    const o = await openReady('#/group/friends');
    const { page } = o;
    await page.waitForSelector(tid('member-list'));
    expect(await page.$$eval(tid('member'), (items) => items.map((i) => i.textContent))).toEqual(['alice', 'bob']);
    expect(peer.apiRequests('/api/commands/list_members').map((r) => r.args)).toEqual([['friends']]);

    peer.push({ type: 'news', line: { index: 30, line: 'dave asked to join friends' } });
    await until(() => peer.apiRequests('/api/commands/list_members').length === 2, 'list_members again');
    expect(peer.apiRequests('/api/commands/list_members')[1]!.args).toEqual(['friends']);

    // work's owner is bob: he comes first, then the members in the order they joined.
    await page.evaluate(() => (window.location.hash = '#/group/work'));
    await page.waitForSelector(`${tid('member-list')} ${tid('member', '[data-user="carol"]')}`);
    expect(await page.$$eval(tid('member'), (items) => items.map((i) => i.textContent))).toEqual(['bob', 'carol', 'alice']);
    expect(peer.apiRequests('/api/commands/group_timeline')).toEqual([]);
    expect(realProblems(o)).toEqual([]);
  });

  it('login: a peer nobody is logged in on shows the form; logging in sends the words and shows the groups', async () => {
    peer.state = { ...webState(), status: { ...STATUS, user: null, address: null, reachable: null, pushChannel: null } };
    const o = await open(`#token=${TOKEN}`);
    const { page } = o;
    await page.waitForSelector(tid('login-form'));
    await page.type(tid('login-user'), 'alice');
    await page.type(tid('login-password'), 'alice secret');
    peer.state = webState();
    await page.click(tid('login-submit'));
    await page.waitForSelector(tid('group-row'));
    expect(peer.apiRequests('/api/commands/login')[0]!.args).toEqual(['alice', 'alice secret']);
    expect(await textOf(page, tid('current-user'))).toBe('alice');
    expect(realProblems(o)).toEqual([]);
  });

  it('at phone width (360 px) no view overflows sideways, and tables become cards', async () => {
    const o = await openReady('', PHONE);
    const { page } = o;
    for (const [route, ready] of [
      ['#/groups', tid('group-row')],
      ['#/group/friends', tid('file-row')],
      ['#/downloads', tid('piece-map')],
      ['#/cluster', tid('cluster-node')],
      ['#/timeline/friends', tid('timeline-entry')],
    ] as const) {
      await page.evaluate((hash) => (window.location.hash = hash), route);
      await page.waitForSelector(ready);
      const widths = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, view: window.innerWidth }));
      expect(widths.scroll, `${route} is ${widths.scroll} px wide in a ${widths.view} px window`).toBeLessThanOrEqual(widths.view);
    }
    await page.evaluate(() => (window.location.hash = '#/cluster'));
    await page.waitForSelector(tid('cluster-node'));
    expect(await page.$eval(`${tid('cluster-nodes')} thead`, (head) => getComputedStyle(head).display)).toBe('none');
    expect(await page.$eval(tid('cluster-node'), (row) => getComputedStyle(row).display)).toBe('block');
    expect(realProblems(o)).toEqual([]);
  });
});
