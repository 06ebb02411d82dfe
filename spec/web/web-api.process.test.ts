// The web page's API without a browser (issue "See it"), on real processes: three trackers and
// `clique shell --web` over real HTTP. The page and its files load under a policy that allows
// nothing from elsewhere; the API refuses a request without the token or with a wrong one (401)
// and one naming another Host (403); bad input gets the same answer as in the shell; the token
// is kept in the home, so the URL is the same after a restart; and the live stream is real SSE.

import { request } from 'node:http';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { suiteCluster, type ShellProcess } from '../helpers/peer-processes.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request with exactly these headers (fetch would not let us send another Host). */
function ask(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function webOf(shell: ShellProcess): Promise<{ port: number; token: string; url: string }> {
  const [, url, port, token] = await shell.stderrMatch(/web page: (http:\/\/127\.0\.0\.1:(\d+)\/#token=([A-Za-z0-9_-]+))/);
  return { port: Number(port), token: token!, url: url! };
}

describe('the web API over real HTTP', () => {
  const { dir, shell } = suiteCluster('clique-web-api-');

  it('serves the page, refuses without the token or for another Host, answers as the shell does, and keeps its URL', async () => {
    const files = join(dir, 'files');
    mkdirSync(files, { recursive: true });
    writeFileSync(join(files, 'notes.txt'), 'hello from the page\n');
    const alice = shell('alice', ['--web', '127.0.0.1:0', '--web-root', files]);
    const { port, token, url } = await webOf(alice);
    const host = `127.0.0.1:${port}`;
    const auth = { host, authorization: `Bearer ${token}`, 'content-type': 'application/json' };

    const page = await ask(port, 'GET', '/', { host });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
    expect(page.body).toContain('app.js');
    expect((await ask(port, 'GET', '/app.js', { host })).status).toBe(200);
    expect((await ask(port, 'GET', '/', { host: `localhost:${port}` })).status).toBe(200);

    expect((await ask(port, 'GET', '/api/state', { host })).status).toBe(401);
    const wrong = await ask(port, 'GET', '/api/state', { ...auth, authorization: `Bearer ${'x'.repeat(token.length)}` });
    expect(wrong.status).toBe(401);
    expect(JSON.parse(wrong.body)).toMatchObject({ ok: false, error: { code: 'UNAUTHORIZED' } });
    const rebound = await ask(port, 'GET', '/api/state', { ...auth, host: `attacker.example:${port}` });
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.body)).toMatchObject({ ok: false, error: { code: 'BAD_HOST' } });
    const form = await ask(port, 'POST', '/api/commands/create_user', { host, 'content-type': 'application/x-www-form-urlencoded' }, 'args=mallory&args=pw');
    expect(form.status).toBe(401);

    // The same words give the same answer in the shell and through the API.
    for (const [name, args] of [['create_group', []], ['crate_group', ['x']], ['list_groups', []], ['download_file', ['g', 'f']]] as const) {
      const [inShell] = await alice.run([name, ...args].join(' '));
      const viaApi = await ask(port, 'POST', `/api/commands/${name}`, auth, JSON.stringify({ args }));
      expect(JSON.parse(viaApi.body), name).toEqual(inShell);
      expect(viaApi.status, name).toBe(inShell!.error!.code === 'NOT_LOGGED_IN' ? 409 : 400);
    }

    const made = await ask(port, 'POST', '/api/commands/create_user', auth, JSON.stringify({ args: ['alice', 'pw-alice'] }));
    expect(JSON.parse(made.body)).toMatchObject({ ok: true, command: 'create_user', result: { user: 'alice' } });
    expect(JSON.parse((await ask(port, 'POST', '/api/commands/login', auth, JSON.stringify({ args: ['alice', 'pw-alice'] }))).body)).toMatchObject({ ok: true, result: { user: 'alice' } });
    expect(JSON.parse((await ask(port, 'POST', '/api/commands/create_group', auth, JSON.stringify({ args: ['friends'] }))).body)).toMatchObject({ ok: true });
    const outside = await ask(port, 'POST', '/api/commands/upload_file', auth, JSON.stringify({ args: ['/etc/hostname', 'friends'] }));
    expect(outside.status).toBe(403);
    expect(JSON.parse(outside.body)).toMatchObject({ ok: false, error: { code: 'OUTSIDE_WEB_ROOT' } });
    const shared = await ask(port, 'POST', '/api/commands/upload_file', auth, JSON.stringify({ args: [join(files, 'notes.txt'), 'friends'] }));
    expect(JSON.parse(shared.body)).toMatchObject({ ok: true, result: { name: 'notes.txt', group: 'friends' } });
    // Links count where they lead: out of the roots, or to nowhere (it could lead anywhere later), no.
    symlinkSync('/etc', join(files, 'escape'));
    symlinkSync(join(dir, 'nowhere', 'x'), join(files, 'dangle'));
    for (const [name, args] of [['upload_file', [join(files, 'escape', 'hostname'), 'friends']], ['download_file', ['friends', 'notes.txt', join(files, 'dangle')]], ['download_file', ['friends', 'notes.txt', join(files, 'dangle', 'deeper')]]] as const) {
      const refused = await ask(port, 'POST', `/api/commands/${name}`, auth, JSON.stringify({ args }));
      expect(JSON.parse(refused.body), args.join(' ')).toMatchObject({ ok: false, error: { code: 'OUTSIDE_WEB_ROOT' } });
    }
    const completion = await ask(port, 'GET', `/api/complete?path=${encodeURIComponent(join(files, 'no'))}`, auth);
    expect(JSON.parse(completion.body)).toEqual({ ok: true, command: 'complete', result: { entries: [{ path: join(files, 'notes.txt'), directory: false }] } });
    // The shell sees what the page did: one peer, two ways in.
    const [listed] = await alice.run('list_files friends');
    expect(listed).toMatchObject({ ok: true, result: [{ name: 'notes.txt' }] });

    // The live stream: real SSE, starting with the status.
    const first = await new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/api/events', headers: auth }, (res) => {
        expect(res.headers['content-type']).toBe('text/event-stream');
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => {
          text += chunk;
          if (text.includes('event: downloads')) {
            req.destroy();
            resolve(text);
          }
        });
      });
      req.on('error', reject);
      req.end();
    });
    expect(first).toMatch(/event: status\ndata: \{"type":"status","status":\{"user":"alice"/);

    // The timeline is the members': alice reads it, a non-member is refused by the tracker.
    const post = async (name: string, ...args: string[]): Promise<Reply> => ask(port, 'POST', `/api/commands/${name}`, auth, JSON.stringify({ args }));
    expect(JSON.parse((await post('group_timeline', 'friends')).body)).toMatchObject({ ok: true, result: { group: 'friends', entries: [{ event: { type: 'GroupCreated', owner: 'alice' } }, { event: { type: 'FileShared', name: 'notes.txt' } }] } });
    for (const line of [['logout'], ['create_user', 'mallory', 'pw-m'], ['login', 'mallory', 'pw-m']]) expect(JSON.parse((await post(line[0]!, ...line.slice(1))).body)).toMatchObject({ ok: true });
    const refused = await post('group_timeline', 'friends');
    expect(refused.status).toBe(409);
    expect(JSON.parse(refused.body)).toMatchObject({ ok: false, command: 'group_timeline', error: { code: 'NOT_A_MEMBER' } });

    // The token is the home's: after a restart the URL is the same.
    expect(await alice.end()).toBe(2); // its script had malformed lines
    const again = shell('alice', ['--web', '127.0.0.1:0', '--web-root', files]);
    const restarted = await webOf(again);
    expect(restarted.token).toBe(token);
    expect(url).toContain(`#token=${token}`);
    expect(await again.end()).toBe(0);
  }, 120_000);

  it('with --serve --web, a headless peer is managed from the page after its input ends', async () => {
    const files = join(dir, 'headless-files');
    mkdirSync(files, { recursive: true });
    const headless = shell('headless', ['--serve', '--web', '127.0.0.1:0', '--web-root', files]);
    const { port, token } = await webOf(headless);
    headless.child.stdin!.end();
    await headless.stderrMatch(/^serving \(and the page at http:\/\/127\.0\.0\.1:\d+\/\) until SIGINT or SIGTERM$/);
    const auth = { host: `127.0.0.1:${port}`, authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const post = async (name: string, ...args: string[]): Promise<unknown> => JSON.parse((await ask(port, 'POST', `/api/commands/${name}`, auth, JSON.stringify({ args }))).body);
    expect(await post('create_user', 'hedy', 'pw-hedy')).toMatchObject({ ok: true });
    expect(await post('login', 'hedy', 'pw-hedy')).toMatchObject({ ok: true, result: { user: 'hedy' } });
    expect(await post('create_group', 'lamarr')).toMatchObject({ ok: true });
    expect(await post('list_groups')).toMatchObject({ ok: true, result: expect.arrayContaining([{ group: 'lamarr', owner: 'hedy', memberCount: 1, relation: 'owner' }]) });
    headless.kill('SIGTERM');
    expect((await headless.exited).code).toBe(0);
  }, 60_000);
});
