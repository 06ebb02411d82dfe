// The client port's door (issue 15): strangers per source are capped from the TCP accept, a
// connection that logs in leaves its source's count (users behind one NAT all get in), and
// bytes of unfinished frames are bounded in all, the biggest stranger cut first.

import { describe, expect, it } from 'vitest';
import { ClientDoor, connectionCap, MAX_BUFFERED_BYTES, MAX_CONNECTIONS, MAX_UNAUTHENTICATED_PER_SOURCE, RESERVED_FILE_DESCRIPTORS, type Doorway } from '../../src/tracker/client-door.js';

function door(): { door: ClientDoor; refusals: string[] } {
  const refusals: string[] = [];
  return { door: new ClientDoor((_remote, reason) => refusals.push(reason)), refusals };
}

describe('the client door', () => {
  it('caps connections not logged in per source, and frees a place when one logs in or closes', () => {
    const { door: d, refusals } = door();
    const releases = Array.from({ length: MAX_UNAUTHENTICATED_PER_SOURCE }, (_, i) => d.admit({ host: '10.0.0.9', port: 1000 + i }));
    expect(releases.every((r) => r !== null)).toBe(true);
    expect(d.admit({ host: '10.0.0.9', port: 5000 })).toBeNull();
    expect(refusals).toEqual([expect.stringContaining('not logged in from 10.0.0.9')]);
    expect(d.admit({ host: '10.0.0.8', port: 5000 })).not.toBeNull();
    d.loggedIn(d.doorwayOf({ host: '10.0.0.9', port: 1000 }, () => {}));
    expect(d.admit({ host: '10.0.0.9', port: 5001 })).not.toBeNull();
    releases[1]!();
    releases[1]!(); // twice is once
    expect(d.admit({ host: '10.0.0.9', port: 5002 })).not.toBeNull();
    expect(d.admit({ host: '10.0.0.9', port: 5003 })).toBeNull();
  });

  it('caps connections in all at the cap the open file limit leaves (issue 20: 4,096 refused thousands of peers after a failover)', () => {
    expect(MAX_CONNECTIONS).toBe(16_384);
    expect(connectionCap(null)).toBe(MAX_CONNECTIONS);
    expect(connectionCap(1_048_576)).toBe(MAX_CONNECTIONS);
    expect(connectionCap(20_000)).toBe(MAX_CONNECTIONS);
    expect(connectionCap(4_096)).toBe(4_096 - RESERVED_FILE_DESCRIPTORS);
    expect(connectionCap(1_024)).toBe(64);
    const refusals: string[] = [];
    const small = new ClientDoor((_remote, reason) => refusals.push(reason), 3);
    const held = [1, 2, 3].map((i) => small.admit({ host: `10.0.0.${i}`, port: 1000 }));
    expect(held.every((r) => r !== null)).toBe(true);
    expect(small.admit({ host: '10.0.0.4', port: 1000 })).toBeNull();
    expect(refusals).toEqual(['too many connections (3)']);
    expect(small.totals).toEqual({ connections: 3, admitted: 3, bufferedBytes: 0, maxConnections: 3 });
    held[0]!();
    expect(small.admit({ host: '10.0.0.4', port: 1000 })).not.toBeNull();
    expect(small.totals).toMatchObject({ connections: 3, admitted: 4 }); // admitted counts every one since the start
  });

  it('bounds bytes of unfinished frames in all, cutting the stranger who holds most, never a logged-in one first', () => {
    const { door: d } = door();
    const cut: string[] = [];
    const open = (port: number, loggedIn: boolean): Doorway => {
      d.admit({ host: `10.0.${port}.1`, port });
      const doorway = d.doorwayOf({ host: `10.0.${port}.1`, port }, () => cut.push(String(port)));
      if (loggedIn) d.loggedIn(doorway);
      return doorway;
    };
    const member = open(1, true);
    const small = open(2, false);
    const big = open(3, false);
    d.buffer(member, MAX_BUFFERED_BYTES / 2);
    d.buffer(small, MAX_BUFFERED_BYTES / 8);
    d.buffer(big, MAX_BUFFERED_BYTES / 4);
    expect(cut).toEqual([]);
    d.buffer(member, MAX_BUFFERED_BYTES / 2 + MAX_BUFFERED_BYTES / 4);
    expect(cut).toEqual(['3']);
    expect(d.totals.bufferedBytes).toBe(MAX_BUFFERED_BYTES / 2 + MAX_BUFFERED_BYTES / 4 + MAX_BUFFERED_BYTES / 8);
    d.buffer(member, MAX_BUFFERED_BYTES);
    expect(cut).toEqual(['3', '2']);
    d.buffer(member, MAX_BUFFERED_BYTES + 1);
    expect(cut).toEqual(['3', '2', '1']);
    expect(d.totals.bufferedBytes).toBe(0);
  });
});
