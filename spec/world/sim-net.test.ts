// The simulated network: exactly-once in-order streams under duplication, reordering and
// jitter; resets on loss; refusal, timeouts and asymmetric partitions; the raw packet layer.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isNetFailure } from '../../src/world/net-error.js';
import { SimWorld } from '../../src/world/sim/sim-world.js';
import type { Connection, NetError, World } from '../../src/world/world.js';
import { concatBytes } from '../../src/torrent/bytes.js';

interface Tracked<T> {
  done: boolean;
  value?: T;
  error?: unknown;
}

/** Observes a promise without leaving a rejection unhandled while the simulation runs. */
function track<T>(promise: Promise<T>): Tracked<T> {
  const tracked: Tracked<T> = { done: false };
  promise.then(
    (value) => Object.assign(tracked, { done: true, value }),
    (error: unknown) => Object.assign(tracked, { done: true, error }),
  );
  return tracked;
}


interface Endpoint {
  received: Uint8Array[];
  closed: { error: NetError | null } | undefined;
  drains: number;
}

function record(connection: Connection, onData?: (bytes: Uint8Array) => void): Endpoint {
  const endpoint: Endpoint = { received: [], closed: undefined, drains: 0 };
  connection.attach({
    data: (bytes) => {
      endpoint.received.push(bytes);
      onData?.(bytes);
    },
    close: (error) => {
      if (endpoint.closed !== undefined) throw new Error('close called twice');
      endpoint.closed = { error };
    },
    drain: () => endpoint.drains++,
  });
  return endpoint;
}

/** Host a listens on port 7000 and records the first connection; b connects to it. */
async function connected(sim: SimWorld, serverData?: (connection: Connection, bytes: Uint8Array) => void) {
  const a = sim.forHost('a');
  const b = sim.forHost('b');
  let server: Endpoint | undefined;
  let serverConnection: Connection | undefined;
  await a.net.listen({ host: 'a', port: 7000 }, (connection) => {
    serverConnection = connection;
    server = record(connection, (bytes) => serverData?.(connection, bytes));
  });
  const connecting = track(b.net.connect({ host: 'a', port: 7000 }));
  expect(await sim.runUntil(() => connecting.done, 60_000)).toBe(true);
  if (connecting.value === undefined || server === undefined || serverConnection === undefined) throw new Error(`connect failed: ${String(connecting.error)}`);
  return { a, b, client: connecting.value, server, serverConnection };
}

const faultArbitrary = fc.record({
  latencyMs: fc.integer({ min: 0, max: 20 }),
  jitterMs: fc.integer({ min: 0, max: 30 }),
  duplicateProbability: fc.double({ min: 0, max: 0.5, noNaN: true }),
  reorderProbability: fc.double({ min: 0, max: 0.5, noNaN: true }),
  reorderDelayMs: fc.integer({ min: 0, max: 50 }),
});

describe('simulated streams', () => {
  it('deliver exactly the written bytes, in order, both ways, under duplication, reordering and jitter', async () => {
    await fc.assert(
      fc.asyncProperty(
        faultArbitrary,
        fc.array(fc.uint8Array({ minLength: 0, maxLength: 200 }), { maxLength: 12 }),
        fc.integer({ min: 1, max: 64 }),
        fc.integer(),
        async (faults, writes, segmentSizeBytes, seed) => {
          const sim = new SimWorld({ seed, defaultLink: faults, stream: { segmentSizeBytes } });
          // The server echoes everything back.
          const { client, server } = await connected(sim, (connection, bytes) => connection.write(bytes));
          const expected = concatBytes(writes);
          let echoedBytes = 0;
          const clientEnd = record(client, (bytes) => {
            echoedBytes += bytes.length;
            if (echoedBytes === expected.length) client.end();
          });
          for (const bytes of writes) client.write(bytes);
          if (expected.length === 0) client.end();
          await sim.runUntilIdle();
          expect(concatBytes(server.received)).toEqual(expected);
          expect(concatBytes(clientEnd.received)).toEqual(expected);
          expect(server.closed).toEqual({ error: null });
          expect(clientEnd.closed).toEqual({ error: null });
        },
      ),
      { numRuns: 60 },
    );
  });

  it('actually meets duplicates and out-of-order segments under those faults', async () => {
    const sim = new SimWorld({
      seed: 5,
      defaultLink: { latencyMs: 5, jitterMs: 20, duplicateProbability: 0.5, reorderProbability: 0.5, reorderDelayMs: 40 },
      stream: { segmentSizeBytes: 10 },
    });
    const { client, server } = await connected(sim);
    const payload = new Uint8Array(2000).map((_, i) => i % 251);
    client.write(payload);
    await sim.runUntilIdle();
    expect(concatBytes(server.received)).toEqual(payload);
    const counters = sim.counters();
    expect(counters.streams.duplicateSegmentsDiscarded).toBeGreaterThan(10);
    expect(counters.streams.outOfOrderSegmentsHeld).toBeGreaterThan(10);
    expect(counters.packets.reordered).toBeGreaterThan(10);
  });

  it('reset both ends when a segment is dropped', async () => {
    const sim = new SimWorld({ seed: 1 });
    const { client, server } = await connected(sim);
    const clientEnd = record(client);
    sim.net.setLink('b', 'a', { dropProbability: 1 });
    expect(client.write(new Uint8Array([1, 2, 3]))).toBe(true);
    await sim.runUntilIdle();
    expect(server.closed?.error?.code).toBe('ECONNRESET');
    expect(clientEnd.closed?.error?.code).toBe('ECONNRESET');
    expect(server.received).toEqual([]);
    expect(sim.counters().packets.dropped).toBe(1);
    expect(client.write(new Uint8Array([4]))).toBe(false);
  });

  it('reset both ends when a segment meets a partition', async () => {
    const sim = new SimWorld({ seed: 1 });
    const { client, server, serverConnection } = await connected(sim);
    const clientEnd = record(client);
    sim.net.partition(['a'], ['b'], { symmetric: false }); // blocks a -> b only
    client.write(new Uint8Array([1])); // b -> a still passes
    await sim.runUntilIdle();
    expect(server.received).toEqual([new Uint8Array([1])]);
    expect(server.closed).toBeUndefined();
    serverConnection.write(new Uint8Array([2])); // a -> b is blocked: the stream breaks
    await sim.runUntilIdle();
    expect(server.closed?.error?.code).toBe('ECONNRESET');
    expect(clientEnd.closed?.error?.code).toBe('ECONNRESET');
    expect(clientEnd.received).toEqual([]);
  });

  it('holds early data and an early close until attach', async () => {
    const sim = new SimWorld({ seed: 3 });
    const a = sim.forHost('a');
    const b = sim.forHost('b');
    await a.net.listen({ host: 'a', port: 80 }, (connection) => {
      connection.write(new TextEncoder().encode('hello'));
      connection.end();
    });
    const connecting = track(b.net.connect({ host: 'a', port: 80 }));
    await sim.runUntilIdle();
    const client = connecting.value;
    if (client === undefined) throw new Error('no connection');
    const endpoint = record(client);
    await sim.runUntilIdle();
    expect(new TextDecoder().decode(concatBytes(endpoint.received))).toBe('hello');
    expect(endpoint.closed).toEqual({ error: null });
  });

  it('destroy() closes locally with null and resets the peer', async () => {
    const sim = new SimWorld({ seed: 4 });
    const { client, server } = await connected(sim);
    const clientEnd = record(client);
    client.destroy();
    expect(client.write(new Uint8Array([1]))).toBe(false);
    await sim.runUntilIdle();
    expect(clientEnd.closed).toEqual({ error: null });
    expect(server.closed?.error?.code).toBe('ECONNRESET');
  });

  it('write() reports the high-water mark and drain follows', async () => {
    const sim = new SimWorld({ seed: 6, stream: { highWaterBytes: 1000, segmentSizeBytes: 100 } });
    const { client, server } = await connected(sim);
    const clientEnd = record(client);
    expect(client.write(new Uint8Array(500))).toBe(true);
    expect(client.write(new Uint8Array(600))).toBe(false);
    expect(clientEnd.drains).toBe(0);
    await sim.runUntilIdle();
    expect(clientEnd.drains).toBe(1);
    expect(concatBytes(server.received).length).toBe(1100);
  });

  it('a crash resets the peers of the crashed host and frees its ports', async () => {
    const sim = new SimWorld({ seed: 7 });
    const { client, server } = await connected(sim);
    const clientEnd = record(client);
    sim.crashHost('a');
    await sim.runUntilIdle();
    expect(clientEnd.closed?.error?.code).toBe('ECONNRESET');
    expect(server.closed).toBeUndefined(); // the dead process hears nothing
    const refused = track(sim.forHost('b').net.connect({ host: 'a', port: 7000 }));
    await sim.runUntilIdle();
    expect(isNetFailure(refused.error, 'ECONNREFUSED')).toBe(true);
    // The restarted host can listen on the same port again.
    await sim.forHost('a').net.listen({ host: 'a', port: 7000 }, () => {});
    expect(sim.traceText()).toContain('* crash a');
  });
});

describe('connect and listen', () => {
  async function connectFrom(sim: SimWorld, world: World, port: number, timeoutMs?: number) {
    const outcome = track(world.net.connect({ host: 'a', port }, timeoutMs === undefined ? undefined : { timeoutMs }));
    const startMs = sim.elapsedMs();
    await sim.runUntilIdle();
    return { outcome, tookMs: sim.elapsedMs() - startMs };
  }

  it('is refused when nothing listens', async () => {
    const sim = new SimWorld({ seed: 1 });
    sim.forHost('a');
    const { outcome } = await connectFrom(sim, sim.forHost('b'), 9);
    expect(isNetFailure(outcome.error, 'ECONNREFUSED')).toBe(true);
  });

  it('times out across a partition', async () => {
    const sim = new SimWorld({ seed: 1 });
    await sim.forHost('a').net.listen({ host: 'a', port: 80 }, () => {});
    sim.net.partition(['a'], ['b']);
    const { outcome, tookMs } = await connectFrom(sim, sim.forHost('b'), 80, 3000);
    expect(isNetFailure(outcome.error, 'ETIMEDOUT')).toBe(true);
    expect(tookMs).toBe(3000);
  });

  it('times out when only the answer direction is blocked, and the half-open server side is reset', async () => {
    const sim = new SimWorld({ seed: 1 });
    const accepted: Endpoint[] = [];
    await sim.forHost('a').net.listen({ host: 'a', port: 80 }, (connection) => accepted.push(record(connection)));
    sim.net.partition(['a'], ['b'], { symmetric: false });
    const { outcome } = await connectFrom(sim, sim.forHost('b'), 80, 2000);
    expect(isNetFailure(outcome.error, 'ETIMEDOUT')).toBe(true);
    expect(accepted).toHaveLength(1); // the SYN did get through
    expect(accepted[0]?.closed?.error?.code).toBe('ECONNRESET');
    sim.net.heal();
    const { outcome: retried } = await connectFrom(sim, sim.forHost('b'), 80);
    expect(retried.value).toBeDefined();
  });

  it('refuses a port in use and picks distinct free ports for port 0', async () => {
    const sim = new SimWorld({ seed: 1 });
    const a = sim.forHost('a');
    const first = await a.net.listen({ host: 'a', port: 0 }, () => {});
    const second = await a.net.listen({ host: 'a', port: 0 }, () => {});
    expect(first.address.port).not.toBe(second.address.port);
    await expect(a.net.listen({ host: 'a', port: first.address.port }, () => {})).rejects.toSatisfy((e: unknown) => isNetFailure(e, 'EADDRINUSE'));
    await first.close();
    await a.net.listen({ host: 'a', port: first.address.port }, () => {});
  });

  it("connects from the host's own name (or a loopback name) as local address, and from no other", async () => {
    const sim = new SimWorld({ seed: 1 });
    await sim.forHost('a').net.listen({ host: 'a', port: 80 }, () => {});
    const b = sim.forHost('b');
    const own = track(b.net.connect({ host: 'a', port: 80 }, { localAddress: 'b' }));
    const loopback = track(b.net.connect({ host: 'a', port: 80 }, { localAddress: '127.0.0.1' }));
    const other = track(b.net.connect({ host: 'a', port: 80 }, { localAddress: 'c' }));
    await sim.runUntilIdle();
    expect(own.value?.local.host).toBe('b');
    expect(loopback.value?.local.host).toBe('b');
    expect(isNetFailure(other.error, 'EIO')).toBe(true);
  });

  it('loopback names reach the host itself', async () => {
    const sim = new SimWorld({ seed: 1 });
    const a = sim.forHost('a');
    await a.net.listen({ host: '0.0.0.0', port: 80 }, (connection) => connection.write(new Uint8Array([9])));
    const connecting = track(a.net.connect({ host: '127.0.0.1', port: 80 }));
    await sim.runUntilIdle();
    expect(connecting.value?.remote).toEqual({ host: 'a', port: 80 });
  });
});

describe('raw packet layer', () => {
  it('blocks one direction only under an asymmetric partition', async () => {
    const sim = new SimWorld({ seed: 1 });
    const got: string[] = [];
    sim.net.onPacket('a', (from, payload) => got.push(`a<-${from}:${String(payload)}`));
    sim.net.onPacket('b', (from, payload) => got.push(`b<-${from}:${String(payload)}`));
    sim.net.partition(['a'], ['b'], { symmetric: false });
    sim.net.sendPacket('a', 'b', 'x');
    sim.net.sendPacket('b', 'a', 'y');
    await sim.runUntilIdle();
    expect(got).toEqual(['a<-b:y']);
    expect(sim.counters().packets.blocked).toBe(1);
    sim.net.heal();
    sim.net.sendPacket('a', 'b', 'z');
    await sim.runUntilIdle();
    expect(got).toEqual(['a<-b:y', 'b<-a:z']);
  });

  it('drops, duplicates and delays per link', async () => {
    const sim = new SimWorld({ seed: 1 });
    const arrivals: number[] = [];
    sim.net.onPacket('b', () => arrivals.push(sim.elapsedMs()));
    sim.net.setLink('a', 'b', { latencyMs: 50, duplicateProbability: 1 });
    sim.net.sendPacket('a', 'b', 1);
    await sim.runUntilIdle();
    expect(arrivals).toEqual([50, 50]);
    sim.net.setLink('a', 'b', { dropProbability: 1 });
    sim.net.sendPacket('a', 'b', 2);
    await sim.runUntilIdle();
    expect(arrivals).toHaveLength(2);
    expect(sim.counters().packets).toMatchObject({ sent: 2, dropped: 1, duplicated: 1, delivered: 2 });
  });
});
