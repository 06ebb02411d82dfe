// Why this file exists: a peer behind a home router cannot be dialed, and the tracker must know
// before it sends anyone there. At login the node that checked the password tries to open a
// connection to the address it observed (the peer's public face and listen port); whether that
// worked is recorded in the session, shown by `status`, and decides who dials whom.

import type { NetAddress, World } from '../world/world.js';

/** How long a login waits for the dial: a router that drops it makes this the cost of logging in from behind it. */
export const DEFAULT_REACHABILITY_TIMEOUT_MS = 2_000;

/** Whether a TCP connection to `address` opens within `timeoutMs` (it is closed at once). */
export async function canDial(world: World, address: NetAddress, timeoutMs = DEFAULT_REACHABILITY_TIMEOUT_MS): Promise<boolean> {
  try {
    const connection = await world.net.connect(address, { timeoutMs });
    connection.destroy();
    return true;
  } catch {
    return false;
  }
}
