// The real Clock's setDeadline (real-deadline.ts), on a real socket: a process whose event loop
// stalled past a request's timeout finds the timers due before it reads its sockets, so a plain
// timer takes an answer already sitting in the buffer for no answer. A deadline is judged after
// that I/O. (This is what made loaded peers give up on answers and handshakes that had come.)

import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createRealWorld } from '../../src/world/real/real-world.js';

let server: Server | null = null;
let client: Socket | null = null;
afterEach(() => {
  client?.destroy();
  server?.close();
});

/** Blocks this thread for `ms`, as a busy or paused process does. */
function stall(ms: number): void {
  const untilMs = performance.now() + ms;
  while (performance.now() < untilMs);
}

describe("the real clock's deadline", () => {
  it('fires after an answer that arrived while the loop stalled, where a plain timer fires before it', async () => {
    const world = createRealWorld();
    const order: string[] = [];
    const done = new Promise<void>((resolve) => {
      server = createServer((socket) => {
        socket.on('data', (bytes) => {
          // The answer goes out at once: on loopback it lies in the client's buffer as this returns.
          socket.write(bytes);
          world.clock.setTimer(10, () => order.push('timer'));
          world.clock.setDeadline(10, () => {
            order.push('deadline');
            resolve();
          });
          stall(100);
        });
      });
      server.listen(0, '127.0.0.1', () => {
        const { port } = server!.address() as { port: number };
        client = connect(port, '127.0.0.1', () => client!.write('ping'));
        client.on('data', () => order.push('answer'));
      });
    });
    await done;
    expect(order).toEqual(['timer', 'answer', 'deadline']);
  });

  it('does not fire once cancelled, whether it was due or not', async () => {
    const world = createRealWorld();
    const fired: string[] = [];
    world.clock.setDeadline(5, () => fired.push('early')).cancel();
    const due = world.clock.setDeadline(5, () => fired.push('due'));
    // Cancelled in the same turn it came due (between its timer and its check phase).
    world.clock.setTimer(5, () => due.cancel());
    stall(20);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(fired).toEqual([]);
  });
});
