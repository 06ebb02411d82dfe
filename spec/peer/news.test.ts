// PeerNews (src/peer/news.ts): where a login's push channel starts, the lines kept and told
// (gathered while a login runs, told to listeners after), the groups the user owns kept up to
// date by the events, the wait for the channel to reach the login's index, and the home's record
// of the last index seen.

import { describe, expect, it } from 'vitest';
import type { Event } from '../../src/log/domain/events.js';
import { loadNewsSeen, newsSeenOp, newsStartAfter, NEWS_REPLAY_MAX_ENTRIES, PeerNews, type NewsLine } from '../../src/peer/news.js';
import type { Clock, KvStore, Timer } from '../../src/world/world.js';
import { SimWorld } from '../../src/world/sim/sim-world.js';

/** A clock whose timers fire when the test says. */
function manualClock(): Clock & { fireAll(): void } {
  const timers = new Set<() => void>();
  return {
    nowMs: () => 0,
    monotonicMs: () => 0,
    setTimer(_delayMs: number, fire: () => void): Timer {
      timers.add(fire);
      return { cancel: () => timers.delete(fire) };
    },
    setDeadline(delayMs: number, fire: () => void): Timer {
      return this.setTimer(delayMs, fire);
    },
    fireAll() {
      for (const fire of [...timers]) {
        timers.delete(fire);
        fire();
      }
    },
  };
}

const asked = (user: string): Event => ({ type: 'JoinRequested', group: 'friends', user });

describe('where a push channel starts', () => {
  it('after the last index seen; after the login for a user never seen here, or a seen index beyond the login', () => {
    expect(newsStartAfter(40, 100)).toBe(40);
    expect(newsStartAfter(null, 100)).toBe(100);
    expect(newsStartAfter(100, 100)).toBe(100);
    expect(newsStartAfter(500, 100)).toBe(100);
  });

  it('no further back than NEWS_REPLAY_MAX_ENTRIES', () => {
    const login = NEWS_REPLAY_MAX_ENTRIES + 1_000;
    expect(newsStartAfter(5, login)).toBe(1_000);
  });
});

describe('PeerNews', () => {
  it('gathers the lines while a login runs and tells the later ones to listeners', () => {
    const news = new PeerNews(manualClock(), () => null);
    news.setOwned(['friends']);
    const told: NewsLine[] = [];
    news.onLine((line) => told.push(line));
    news.gather();
    news.received('alice', 7, [asked('bob'), { type: 'SessionOpened', sessionId: 's', user: 'alice', tokenHash: 't', address: '10.0.0.1:6881' }]);
    expect(news.takeGathered()).toEqual([{ index: 7, line: 'bob asks to join friends' }]);
    expect(told).toEqual([]);
    news.received('alice', 9, [asked('carol')]);
    expect(told).toEqual([{ index: 9, line: 'carol asks to join friends' }]);
    expect(news.lines()).toEqual([
      { index: 7, line: 'bob asks to join friends' },
      { index: 9, line: 'carol asks to join friends' },
    ]);
    // The events stay as the tracker sent them, noise included.
    expect(news.list().map((item) => [item.index, item.events.map((e) => e.type)])).toEqual([
      [7, ['JoinRequested', 'SessionOpened']],
      [9, ['JoinRequested']],
    ]);
  });

  it('keeps up with the groups the user owns: created, handed on, received', () => {
    const news = new PeerNews(manualClock(), () => null);
    news.received('alice', 1, [{ type: 'GroupCreated', group: 'friends', owner: 'alice' }, asked('bob')]);
    news.received('alice', 2, [{ type: 'MemberLeft', group: 'friends', user: 'alice' }, { type: 'OwnershipTransferred', group: 'friends', from: 'alice', to: 'carol' }, asked('dave')]);
    news.received('alice', 3, [{ type: 'OwnershipTransferred', group: 'films', from: 'erin', to: 'alice' }, { type: 'JoinRequested', group: 'films', user: 'fred' }]);
    expect(news.lines().map((l) => l.line)).toEqual(['bob asks to join friends', 'you passed friends on to carol', 'erin passed films on to you', 'fred asks to join films']);
  });

  it('names files from FileShared events, or asks the peer', () => {
    const news = new PeerNews(manualClock(), (fileId) => (fileId === 'b'.repeat(40) ? 'song.ogg' : null));
    const delisted = (fileId: string): Event => ({ type: 'HolderDelisted', group: 'g', fileId, user: 'alice', reporters: ['bob'] });
    news.received('alice', 1, [{ type: 'FileShared', group: 'g', fileId: 'a'.repeat(40), name: 'notes.txt', sizeBytes: 1, pieceLengthBytes: 524_288, pieces: 'p', user: 'alice' }]);
    news.received('alice', 2, [delisted('a'.repeat(40)), delisted('b'.repeat(40))]);
    expect(news.lines().map((l) => l.line)).toEqual([
      'you are no longer listed as a holder of notes.txt in g (reported by bob)',
      'you are no longer listed as a holder of song.ogg in g (reported by bob)',
    ]);
  });

  it('waits for the channel to reach an index, or for its timeout', async () => {
    const clock = manualClock();
    const news = new PeerNews(clock, () => null);
    news.started(10);
    await news.waitThrough(10, 1_000); // already there
    let reached = false;
    const waiting = news.waitThrough(12, 1_000).then(() => (reached = true));
    news.received('alice', 11, [asked('bob')]);
    await Promise.resolve();
    expect(reached).toBe(false);
    news.received('alice', 12, [asked('carol')]);
    await waiting;
    let timedOut = false;
    const never = news.waitThrough(50, 1_000).then(() => (timedOut = true));
    clock.fireAll();
    await never;
    expect(timedOut).toBe(true);
  });

  it('knows the last index each user received, here or in the home', () => {
    const news = new PeerNews(manualClock(), () => null);
    expect(news.lastSeen('alice', null)).toBeNull();
    expect(news.lastSeen('alice', 30)).toBe(30);
    news.received('alice', 40, [asked('bob')]);
    expect(news.lastSeen('alice', 30)).toBe(40);
    expect(news.passed('alice', 40)).toBe(false);
    expect(news.passed('alice', 45)).toBe(true); // a tick took the channel further
    expect(news.lastSeen('alice', 30)).toBe(45);
    expect(news.lastSeen('bob', 12)).toBe(12);
  });

  it('keeps the last index seen in the home, per user', async () => {
    const sim = new SimWorld({ seed: 1 });
    const world = sim.forHost('peer');
    let kv: KvStore | null = null;
    void world.kv.open('/home/db', { createIfMissing: true }).then((opened) => (kv = opened));
    await sim.runUntil(() => kv !== null, 1_000);
    const home = kv!;
    const done = async <T>(promise: Promise<T>): Promise<T> => {
      let out: { value: T } | null = null;
      void promise.then((value) => (out = { value }));
      await sim.runUntil(() => out !== null, 1_000);
      return out!.value;
    };
    expect(await done(loadNewsSeen(home, 'alice'))).toBeNull();
    await done(home.batch([newsSeenOp('alice', 42), newsSeenOp('bob', 7)], { sync: true }));
    expect(await done(loadNewsSeen(home, 'alice'))).toBe(42);
    expect(await done(loadNewsSeen(home, 'bob'))).toBe(7);
  });
});
