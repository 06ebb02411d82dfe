// The web page's API on the simulated World (issue "See it"): the server code that runs on the
// machine, served by the simulated HTTP adapter in front of a PeerNode and three trackers. A
// request without the token or with a wrong one gets 401, a request naming another Host 403,
// bad input the shell's own codes, a path outside the web roots 403; the live stream starts with
// the peer's state, carries news, downloads and the cluster as they change, and says nothing
// while nothing changes.

import { describe, expect, it } from 'vitest';
import { runCommand } from '../../src/cli/shell.js';
import type { PeerNode } from '../../src/peer/peer-node.js';
import type { ApiAnswer, WebEvent } from '../../src/peer/web/web-api.js';
import { peerWebHost, type WebHost } from '../../src/peer/web/web-host.js';
import { WebRoots } from '../../src/peer/web/web-paths.js';
import { WebServer } from '../../src/peer/web/web-server.js';
import { swarmFile } from '../../src/sim/swarm/sim-swarm.js';
import type { SimHttpAnswer } from '../../src/world/sim/sim-http.js';
import type { SimWorld } from '../../src/world/sim/sim-world.js';
import { drive, startCluster } from '../helpers/sim-trackers.js';

const TOKEN = 'a'.repeat(32);

/** How often the server looked at the peer and asked the trackers (to see that it stops when nobody listens). */
interface Looks {
  status: number;
  cluster: number;
}

async function servePage(sim: SimWorld, host: string, peer: PeerNode, looks: Looks = { status: 0, cluster: 0 }): Promise<WebServer> {
  const world = sim.forHost(host);
  await drive(sim, world.fs.mkdir('/home/files', { recursive: true }));
  const roots = await drive(sim, WebRoots.resolve(world, ['/home/files'], '/home/files'));
  const real = peerWebHost(peer, (name, args) => runCommand(peer, name, args, { waitTimeoutMs: 1_000 }));
  const counted: WebHost = {
    ...real,
    status: () => {
      looks.status++;
      return real.status();
    },
    cluster: () => {
      looks.cluster++;
      return real.cluster();
    },
  };
  return drive(sim, WebServer.start(world, counted, { listen: { host, port: 8881 }, fallBack: false, tls: null, token: TOKEN, roots, pageDir: null, log: () => undefined }));
}

function client(sim: SimWorld, host: string) {
  const address = { host, port: 8881 };
  const headers = { host: `${host}:8881`, authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const ask = (method: string, target: string, options: { headers?: Record<string, string>; body?: string } = {}): Promise<SimHttpAnswer> =>
    drive(sim, sim.http.request('browser', address, { method, target, headers: options.headers ?? headers, ...(options.body === undefined ? {} : { body: options.body }) }));
  const command = async (name: string, ...args: string[]): Promise<{ status: number; answer: ApiAnswer }> => {
    const reply = await ask('POST', `/api/commands/${name}`, { body: JSON.stringify({ args }) });
    if (!('body' in reply)) throw new Error('a command answers with a body');
    return { status: reply.status, answer: JSON.parse(reply.body) as ApiAnswer };
  };
  return { ask, command, headers };
}

/** The events of a stream so far, parsed from its SSE frames. */
function eventsOf(chunks: readonly string[]): WebEvent[] {
  return chunks
    .join('')
    .split('\n\n')
    .map((frame) => /^data: (.*)$/m.exec(frame)?.[1])
    .filter((data): data is string => data !== undefined)
    .map((data) => JSON.parse(data) as WebEvent);
}

describe('the web API (simulated)', () => {
  it('refuses requests without the token, with a wrong one, or naming another Host; bad input gets the shell codes', async () => {
    const { sim, startPeer } = await startCluster(61);
    const alice = await startPeer('alice');
    const server = await servePage(sim, 'alice', alice);
    const { ask, command, headers } = client(sim, 'alice');

    const none = await ask('GET', '/api/state', { headers: { host: 'alice:8881' } });
    expect(none.status).toBe(401);
    const wrong = await ask('GET', '/api/state', { headers: { ...headers, authorization: `Bearer ${'b'.repeat(32)}` } });
    expect(wrong.status).toBe(401);
    expect('body' in wrong && JSON.parse(wrong.body)).toMatchObject({ ok: false, error: { code: 'UNAUTHORIZED' } });
    // DNS rebinding: a hostile name pointed at us is refused, token or not, page or API.
    for (const target of ['/api/state', '/']) {
      const rebound = await ask('GET', target, { headers: { ...headers, host: 'evil.example:8881' } });
      expect(rebound.status).toBe(403);
    }
    // A form post cannot act: it carries no token, and no JSON.
    const form = await ask('POST', '/api/commands/create_user', { headers: { host: 'alice:8881', 'content-type': 'application/x-www-form-urlencoded' }, body: 'args=mallory' });
    expect(form.status).toBe(401);
    expect((await ask('POST', '/api/commands/create_user', { headers: { ...headers, 'content-type': 'text/plain' }, body: '{"args":[]}' })).status).toBe(400);

    expect(await command('create_group')).toEqual({ status: 400, answer: { ok: false, command: 'create_group', error: { code: 'BAD_ARGUMENTS', message: 'usage: create_group <group_id>' } } });
    expect((await command('crate_group', 'x')).answer).toMatchObject({ ok: false, error: { code: 'UNKNOWN_COMMAND', message: 'no command crate_group; did you mean create_group?' } });
    expect((await command('constructor')).answer).toMatchObject({ ok: false, error: { code: 'UNKNOWN_COMMAND' } });
    expect((await command('list_groups')).answer).toMatchObject({ ok: false, error: { code: 'NOT_LOGGED_IN' } });
    expect((await command('list_groups')).status).toBe(409);
    const notJson = await ask('POST', '/api/commands/list_groups', { body: '{args' });
    expect(notJson.status).toBe(400);

    expect((await command('create_user', 'alice', 'pw-alice')).answer).toMatchObject({ ok: true, result: { user: 'alice' } });
    expect((await command('login', 'alice', 'pw-alice')).answer).toMatchObject({ ok: true, command: 'login', result: { user: 'alice' } });
    expect((await command('create_group', 'friends')).status).toBe(200);
    // Paths: inside the roots, yes; outside (or climbing out), no, and nothing is shared.
    const world = sim.forHost('alice');
    await drive(sim, world.fs.writeFile('/home/files/notes.txt', swarmFile(61, 1_000), { sync: true }));
    await drive(sim, world.fs.writeFile('/home/secret.txt', swarmFile(62, 1_000), { sync: true }));
    for (const path of ['/home/secret.txt', '/home/files/../secret.txt', 'nested/../../secret.txt']) {
      const outside = await command('upload_file', path, 'friends');
      expect(outside.status, path).toBe(403);
      expect(outside.answer, path).toMatchObject({ ok: false, error: { code: 'OUTSIDE_WEB_ROOT' } });
    }
    expect((await command('list_files', 'friends')).answer).toMatchObject({ ok: true, result: [] });
    expect((await command('upload_file', 'notes.txt', 'friends')).answer).toMatchObject({ ok: true, result: { name: 'notes.txt', group: 'friends' } });
    const completion = await ask('GET', `/api/complete?path=${encodeURIComponent('/home/files/no')}`);
    expect('body' in completion && JSON.parse(completion.body)).toEqual({ ok: true, command: 'complete', result: { entries: [{ path: '/home/files/notes.txt', directory: false }] } });
    const outsideCompletion = await ask('GET', `/api/complete?path=${encodeURIComponent('/home/se')}`);
    expect('body' in outsideCompletion && JSON.parse(outsideCompletion.body)).toMatchObject({ ok: true, result: { entries: [] } });
    // Above the roots, only the way down to them is offered, nothing beside it.
    for (const [prefix, offered] of [['/', ['/home/']], ['/home/', ['/home/files/']], ['/home/s', []], ['/etc/', []]] as const) {
      const above = await ask('GET', `/api/complete?path=${encodeURIComponent(prefix)}`);
      expect('body' in above && (JSON.parse(above.body) as { result: { entries: Array<{ path: string }> } }).result.entries.map((e) => e.path), prefix).toEqual(offered);
    }
    expect((await ask('GET', '/api/nothing')).status).toBe(404);
    // At most 16 pages listen; the next is told so, and may come when one goes.
    const streams = [];
    for (let i = 0; i < 16; i++) streams.push(await ask('GET', '/api/events'));
    expect(streams.every((s) => s.status === 200 && 'chunks' in s)).toBe(true);
    const refused = await ask('GET', '/api/events');
    expect(refused.status).toBe(503);
    expect('body' in refused && JSON.parse(refused.body)).toMatchObject({ ok: false, error: { code: 'TOO_MANY_PAGES' } });
    const first = streams[0]!;
    if ('close' in first) first.close();
    await sim.runFor(10);
    expect((await ask('GET', '/api/events')).status).toBe(200);
    await drive(sim, server.close());
    await drive(sim, alice.close());
  }, 60_000);

  it('streams the state, then news, downloads and the cluster as they change, and nothing while nothing does', async () => {
    const { sim, startPeer } = await startCluster(62);
    const [alice, bob] = [await startPeer('alice'), await startPeer('bob')];
    for (const [peer, name] of [[alice, 'alice'], [bob, 'bob']] as const) {
      await drive(sim, peer.createUser(name, `pw-${name}`));
      await drive(sim, peer.login(name, `pw-${name}`));
    }
    const looks: Looks = { status: 0, cluster: 0 };
    const server = await servePage(sim, 'bob', bob, looks);
    const { ask, command } = client(sim, 'bob');
    const stream = await ask('GET', '/api/events');
    if (!('chunks' in stream)) throw new Error('the events answer is a stream');
    expect(stream.headers['content-type']).toBe('text/event-stream');
    const events = (): WebEvent[] => eventsOf(stream.chunks);
    expect(events().map((e) => e.type)).toEqual(['status', 'downloads']);
    expect(events()[0]).toMatchObject({ type: 'status', status: { user: 'bob' } });
    await sim.runUntil(() => events().some((e) => e.type === 'cluster'), 5_000);
    const cluster = events().find((e) => e.type === 'cluster');
    expect(cluster).toMatchObject({ cluster: { nodes: [{ role: expect.any(String) }, {}, {}], leader: expect.any(String) } });

    // Quiet: nothing changes, so nothing is sent but keep-alive comments.
    await sim.runFor(1_000);
    const before = events().length;
    await sim.runFor(10_000);
    expect(events().length).toBe(before);

    // bob asks to join; alice accepts: bob's stream says so, and his groups read again show it.
    await drive(sim, alice.command({ type: 'CreateGroup', group: 'friends' }));
    expect((await command('join_group', 'friends')).status).toBe(200);
    await drive(sim, alice.command({ type: 'AcceptRequest', group: 'friends', user: 'bob' }));
    await sim.runUntil(() => events().some((e) => e.type === 'news'), 5_000);
    expect(events().filter((e) => e.type === 'news').map((e) => e.type === 'news' && e.line.line)).toContain('alice accepted you into friends');
    expect((await command('list_groups')).answer).toMatchObject({ ok: true, result: [{ group: 'friends', relation: 'member' }] });
    const members = await command('list_members', 'friends');
    expect(members.answer).toMatchObject({ ok: true, result: { group: 'friends', owner: 'alice', members: [{ user: 'alice' }, { user: 'bob' }] } });
    expect((await command('group_timeline', 'friends', '--after', '0')).answer).toMatchObject({ ok: true, result: { entries: [{ event: { type: 'GroupCreated' } }, {}, {}] } });
    const accepted = (members.answer as { result: { members: Array<{ joinedIndex: number }> } }).result.members[1]!.joinedIndex;
    expect((await command('group_timeline', 'friends', '--after', String(accepted - 1))).answer).toMatchObject({ ok: true, result: { entries: [{ index: accepted, event: { type: 'JoinAccepted', user: 'bob' } }] } });
    expect((await command('group_timeline', 'friends', '--after', 'x')).answer).toMatchObject({ ok: false, error: { code: 'BAD_ARGUMENTS' } });

    // A download: its events move from running to completed.
    const file = swarmFile(62, 3 * 512 * 1024 + 1000);
    await drive(sim, sim.forHost('alice').fs.writeFile('/home/big.bin', file, { sync: true }));
    await drive(sim, alice.uploadFile('/home/big.bin', 'friends'));
    expect((await command('download_file', 'friends', 'big.bin', '/home/files')).answer).toMatchObject({ ok: true });
    await sim.runUntil(() => events().some((e) => e.type === 'downloads' && e.downloads[0]?.state === 'complete'), 30_000);
    const states = events().flatMap((e) => (e.type === 'downloads' ? e.downloads.map((d) => d.state) : []));
    expect(states).toContain('complete');
    const last = events().filter((e) => e.type === 'downloads').at(-1);
    expect(last).toMatchObject({ downloads: [{ name: 'big.bin', verifiedBytes: file.length, sizeBytes: file.length, pieces: 'vvvv', etaSeconds: null }] });
    const maps = events().flatMap((e) => (e.type === 'downloads' ? e.downloads.map((d) => d.pieces) : []));
    expect(maps.every((map) => /^[vf-]{4}$/.test(map))).toBe(true);

    // The page goes away: the server stops looking at the peer and asking the trackers.
    expect(looks.status).toBeGreaterThan(10);
    expect(looks.cluster).toBeGreaterThan(3);
    stream.close();
    await sim.runFor(2_000);
    const seen = { ...looks };
    await sim.runFor(10_000);
    expect(looks).toEqual(seen);
    await drive(sim, server.close());
    await drive(sim, alice.close());
    await drive(sim, bob.close());
  }, 60_000);
});
