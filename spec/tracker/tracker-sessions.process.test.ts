// Users on real tracker processes: create_user derives the hash on the node, login is checked
// against linearizable state, groups and requests, a shared file, tickets for members only,
// sessions expired when heartbeats stop — and afterwards not one password or token byte in any
// data directory or log.

import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionCommand } from '../../src/log/domain/commands.js';
import type { SessionCredential } from '../../src/tracker/client-protocol.js';
import type { TrackerClient } from '../../src/tracker/tracker-client.js';
import { ed25519PublicKeyFromRaw, verifyTicket } from '../../src/torrent/ticket.js';
import { fileBytes, fileMeta } from '../helpers/domain-fixtures.js';
import { TrackerProcesses, until } from '../helpers/tracker-processes.js';

const cluster = new TrackerProcesses(['--session-ttl', '4000']);
const secrets: string[] = [];
const sessions = new Map<string, SessionCredential>();
const passwords = new Map<string, string>();
/** The key fingerprint a user's peer logs in with (any 32 bytes of hex to the tracker). */
const keyOf = (user: string): string => createHash('sha256').update(`key of ${user}`).digest('hex');
let client: TrackerClient;

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'OK';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

beforeAll(async () => {
  await cluster.init(3);
  cluster.startAll();
  await until('a leader', () => cluster.leader());
  client = cluster.client('sessions-test');
});

afterAll(async () => {
  client.close();
  await cluster.dispose();
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe.sequential('users on a tracker cluster', () => {
  it('creates users, refuses a duplicate and a wrong password, logs in', async () => {
    for (const user of ['alice', 'bob', 'carol', 'dave']) {
      const password = `pw-${user}-${cluster.world.rng.id(12)}`;
      secrets.push(password);
      passwords.set(user, password);
      await client.createUser(user, password);
      expect(await code(client.createUser(user, 'another'))).toBe('USER_EXISTS');
      expect(await code(client.login(user, `${password}x`, 6881))).toBe('BAD_CREDENTIALS');
      const session = await client.login(user, password, 6881, keyOf(user));
      sessions.set(user, session);
      secrets.push(session.token);
    }
    expect(await code(client.login('nobody', 'whatever', 6881))).toBe('BAD_CREDENTIALS');
    expect(await client.query(sessions.get('bob')!, { name: 'whoami' })).toEqual({ user: 'bob', sessionId: sessions.get('bob')!.sessionId });
  });

  it('runs the group story: create, join, list requests, accept, reject, share, list files', async () => {
    const [alice, bob, carol, dave] = ['alice', 'bob', 'carol', 'dave'].map((u) => sessions.get(u)!) as [SessionCredential, SessionCredential, SessionCredential, SessionCredential];
    await client.command(alice, { type: 'CreateGroup', group: 'g' });
    await client.command(bob, { type: 'RequestJoin', group: 'g' });
    await client.command(carol, { type: 'RequestJoin', group: 'g' });
    expect(await code(client.query(bob, { name: 'listRequests', group: 'g' }))).toBe('NOT_OWNER');
    expect((await client.query(alice, { name: 'listRequests', group: 'g' })) as { user: string }[]).toMatchObject([{ user: 'bob' }, { user: 'carol' }]);
    await client.command(alice, { type: 'AcceptRequest', group: 'g', user: 'bob' });
    await client.command(alice, { type: 'RejectRequest', group: 'g', user: 'carol' });
    const file = fileMeta('notes.txt', fileBytes(700_000));
    await client.command(alice, { type: 'ShareFile', group: 'g', file });
    expect(await client.query(bob, { name: 'listFiles', group: 'g' })).toMatchObject([{ name: 'notes.txt', sizeBytes: 700_000, sharers: ['alice'], completeHolders: 1 }]);
    expect(await code(client.query(carol, { name: 'listFiles', group: 'g' }))).toBe('NOT_A_MEMBER');
    expect(await code(client.query(dave, { name: 'listFiles', group: 'g' }))).toBe('NOT_A_MEMBER');
    // What a hostile client could put on the wire: a system command, and a session command of the wrong shape.
    const hostile = (command: unknown) => client.command(dave, command as SessionCommand);
    expect(await code(hostile({ type: 'ExpireSession', sessionId: bob.sessionId }))).toBe('BAD_COMMAND');
    expect(await code(hostile({ type: 'CreateGroup', group: 'h', extra: 1 }))).toBe('BAD_COMMAND');
    expect(await code(hostile({ type: 'CreateGroup', group: 'h', auth: { sessionId: bob.sessionId, tokenHash: '0'.repeat(64) } }))).toBe('BAD_COMMAND');
    expect(await code(client.query(dave, { name: 'listGroups' }))).toBe('OK');
  });

  it("issues access tickets to members only, signed by the cluster key and bound to the key the session logged in with", async () => {
    const file = fileMeta('notes.txt', fileBytes(700_000));
    const { ticket } = await client.ticket(sessions.get('bob')!, 'g', file.fileId);
    const publicKey = ed25519PublicKeyFromRaw(new Uint8Array(Buffer.from(cluster.config.publicKey, 'base64')));
    expect(verifyTicket(ticket, publicKey, { nowMs: Date.now(), fileId: file.fileId, key: keyOf('bob'), group: 'g' })).toMatchObject({ ok: true, claims: { user: 'bob', key: keyOf('bob') } });
    // Nobody gets a ticket for another peer's key: it is always the asking session's.
    expect(verifyTicket(ticket, publicKey, { nowMs: Date.now(), fileId: file.fileId, key: keyOf('alice') })).toMatchObject({ ok: false, code: 'TICKET_WRONG_KEY' });
    expect(await code(client.ticket(sessions.get('dave')!, 'g', file.fileId))).toBe('NOT_A_MEMBER');
    expect(await code(client.ticket(sessions.get('carol')!, 'g', file.fileId))).toBe('NOT_A_MEMBER');
    // A session opened without a key gets none.
    const keyless = await client.login('bob', passwords.get('bob')!, 6882);
    expect(await code(client.ticket(keyless, 'g', file.fileId))).toBe('NO_PEER_KEY');
    await client.command(keyless, { type: 'CloseSession' });
    // The holder list names each holder's key.
    const detail = (await client.query(sessions.get('bob')!, { name: 'file', group: 'g', file: 'notes.txt' })) as { holders: Array<{ user: string; keyFingerprint: string | null }> };
    expect(detail.holders).toEqual([expect.objectContaining({ user: 'alice', keyFingerprint: keyOf('alice') })]);
  });

  it('expires a session whose heartbeats stop, and keeps one that beats', async () => {
    const alice = sessions.get('alice')!;
    const bob = sessions.get('bob')!;
    await until('bob to be expired', async () => {
      await client.heartbeat(alice);
      return (await code(client.query(bob, { name: 'whoami' }))) === 'NOT_LOGGED_IN' ? true : null;
    });
    expect(await client.query(alice, { name: 'whoami' })).toMatchObject({ user: 'alice' });
    // Bob's copy is no longer offered: his holder went with his session.
    expect(await code(client.heartbeat(bob))).toBe('NOT_LOGGED_IN');
  });

  it('leaves no password or token in any data directory or log', async () => {
    await cluster.stopAll();
    expect(secrets.length).toBe(8);
    const files = filesUnder(cluster.root);
    expect(files.some((f) => f.endsWith('.log'))).toBe(true);
    expect(files.some((f) => f.includes('/tracker/'))).toBe(true);
    for (const path of files) {
      const bytes = readFileSync(path).toString('latin1');
      for (const secret of secrets) expect(bytes.includes(secret), `${secret} in ${path}`).toBe(false);
    }
    // LevelDB compresses blocks: read every stored value back as well.
    for (const node of cluster.config.nodes) {
      for (const store of ['raft', 'tracker']) {
        const kv = await cluster.world.kv.open(join(cluster.dataDir(node.id), store), { createIfMissing: false });
        let values = '';
        for await (const chunk of kv.iterate({})) for (const [key, value] of chunk) values += key + Buffer.from(value).toString('latin1');
        await kv.close();
        expect(values.length).toBeGreaterThan(100);
        for (const secret of secrets) expect(values.includes(secret), `${secret} in ${node.id}/${store}`).toBe(false);
      }
    }
  });
});
