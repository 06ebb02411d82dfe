// A leader starts a login's scrypt on the account as it has applied it, while the ReadIndex round
// confirms that state (SessionService.login). The confirmed account decides: a password changed
// or an account made since the leader applied (or an applied one the read no longer sees) is
// derived again against what the read saw, never accepted on the early guess. Followers spend no
// derivation on a login they refuse.

import { scryptSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { PasswordRecord } from '../../src/log/domain/commands.js';
import type { TrackerState } from '../../src/log/domain/state.js';
import { ed25519FromSeed } from '../../src/torrent/ticket.js';
import { SessionService } from '../../src/tracker/session-service.js';
import type { TrackerNode } from '../../src/tracker/tracker-node.js';
import { SIM_KDF_PARAMS } from '../../src/world/kdf.js';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import type { PasswordKdf, World } from '../../src/world/world.js';
import { Driver } from '../helpers/domain-fixtures.js';

const SESSION = { sessionId: 'session-s1', token: 'token-of-s1' };
const OBSERVED = { host: '10.0.0.7', port: 6881 };

/** The record CreateUser would hold for `password` with this salt, at the simulation's scrypt cost. */
function recordFor(password: string, saltHex: string): PasswordRecord {
  const { costN, blockSizeR, parallelP } = SIM_KDF_PARAMS;
  const hash = scryptSync(password, Buffer.from(saltHex, 'hex'), 32, { N: costN, r: blockSizeR, p: parallelP }).toString('hex');
  return { algorithm: 'scrypt', costN, blockSizeR, parallelP, salt: saltHex, hash };
}

/** A state holding alice with `password` (or no alice at all). */
function stateWith(password: string | null, saltHex = 'aa'.repeat(16)): TrackerState {
  const driver = new Driver();
  driver.createUser('bob');
  if (password !== null) driver.run({ type: 'CreateUser', user: 'alice', password: recordFor(password, saltHex) });
  return driver.state;
}

/** A node as a login sees it: its role, the state it has applied, the state its ReadIndex read confirms; it records what it is asked to commit. */
function fakeNode(role: 'leader' | 'follower', applied: TrackerState, confirmed: TrackerState, opened: unknown[]): TrackerNode {
  const fake = {
    raft: { status: () => ({ role, leader: 'n1', term: 2, commit: applied.appliedIndex }) },
    store: { state: applied, appliedIndex: applied.appliedIndex },
    read: async <T>(query: (state: TrackerState) => T) => (role === 'leader' ? { kind: 'ok' as const, index: 10, value: query(confirmed) } : { kind: 'not-leader' as const, leader: 'n1' }),
    submit: async (_clientId: string, _requestId: number, command: unknown) => {
      opened.push(command);
      return { kind: 'applied' as const, index: 11, reply: { error: null } };
    },
    onApplied: () => {},
  };
  return fake as unknown as TrackerNode;
}

/** A world whose KDF counts its derivations and whose dials are refused at once (the peer counts as unreachable). */
function countingWorld(): { world: World; derivations: () => number } {
  const world = new SimWorld({ seed: 1 }).forHost('t1');
  let count = 0;
  const kdf: PasswordKdf = {
    params: world.kdf.params,
    derive: (password, salt, params) => {
      count++;
      return world.kdf.derive(password, salt, params);
    },
  };
  const net = { ...world.net, connect: () => Promise.reject(new Error('connection refused')) };
  return { world: { ...world, kdf, net }, derivations: () => count };
}

async function login(role: 'leader' | 'follower', applied: TrackerState, confirmed: TrackerState, password: string) {
  const { world, derivations } = countingWorld();
  const opened: unknown[] = [];
  const service = new SessionService(world, fakeNode(role, applied, confirmed, opened), ed25519FromSeed(new Uint8Array(32)).privateKey, { reachabilityTimeoutMs: 50 });
  const outcome = await service.login('client', 1, 'alice', password, OBSERVED, SESSION);
  return { outcome, derivations: derivations(), opened };
}

describe('a login derives while its ReadIndex round confirms the account', () => {
  it('with the account unchanged, derives once and opens the session', async () => {
    const state = stateWith('right');
    const { outcome, derivations, opened } = await login('leader', state, state, 'right');
    expect(outcome).toMatchObject({ ok: true });
    expect(derivations).toBe(1);
    expect(opened).toMatchObject([{ type: 'OpenSession', user: 'alice', credentialsIndex: state.users.get('alice')!.credentialsIndex }]);
  });

  it('with a wrong password, derives once and opens nothing', async () => {
    const state = stateWith('right');
    const { outcome, derivations, opened } = await login('leader', state, state, 'wrong');
    expect(outcome).toMatchObject({ ok: false, code: 'BAD_CREDENTIALS' });
    expect(derivations).toBe(1);
    expect(opened).toEqual([]);
  });

  it('for an account made after the leader applied, derives again against the confirmed one', async () => {
    const { outcome, derivations } = await login('leader', stateWith(null), stateWith('right'), 'right');
    expect(outcome).toMatchObject({ ok: true });
    expect(derivations).toBe(2);
  });

  it('when the confirmed password differs from the applied one, the confirmed one decides', async () => {
    const old = stateWith('old', 'aa'.repeat(16));
    const now = stateWith('new', 'bb'.repeat(16));
    const withOld = await login('leader', old, now, 'old');
    expect(withOld.outcome).toMatchObject({ ok: false, code: 'BAD_CREDENTIALS' });
    expect(withOld.derivations).toBe(2);
    expect(withOld.opened).toEqual([]);
    const withNew = await login('leader', old, now, 'new');
    expect(withNew.outcome).toMatchObject({ ok: true });
    expect(withNew.derivations).toBe(2);
  });

  it('for an account the confirmed state no longer holds, refuses though the applied one matched', async () => {
    const { outcome, opened } = await login('leader', stateWith('right'), stateWith(null), 'right');
    expect(outcome).toMatchObject({ ok: false, code: 'BAD_CREDENTIALS' });
    expect(opened).toEqual([]);
  });

  it('for an unknown user, costs one derivation like a known one', async () => {
    const state = stateWith(null);
    const { outcome, derivations } = await login('leader', state, state, 'anything');
    expect(outcome).toMatchObject({ ok: false, code: 'BAD_CREDENTIALS' });
    expect(derivations).toBe(1);
  });

  it('on a follower, answers NOT_LEADER without deriving', async () => {
    const state = stateWith('right');
    const { outcome, derivations } = await login('follower', state, state, 'right');
    expect(outcome).toMatchObject({ ok: false, code: 'NOT_LEADER' });
    expect(derivations).toBe(0);
  });
});
