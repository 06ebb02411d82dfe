// Why this file exists: one address type and one way to read and write it. `host:port`, with
// an IPv6 host in brackets (`[::1]:7100`); the host inside a NetAddress is bare, as sockets want
// it. Ports are 1–65535; port 0 ("any free port") only where a listen address allows it.

export interface NetAddress {
  host: string;
  port: number;
}

export class AddressError extends Error {
  override name = 'AddressError';
  readonly code = 'BAD_ADDRESS';
}

const MAX_HOST_LENGTH = 253;
const NAME_OR_IPV4 = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/;
const IPV6 = /^[0-9A-Fa-f:.]+$/;

function describe(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text);
}

/** Reads `host:port` or `[ipv6]:port`; throws AddressError with a one-line reason. */
export function parseNetAddress(text: string, options: { allowPortZero?: boolean } = {}): NetAddress {
  const match = /^(?:\[([^\]]*)\]|([^:[\]]*)):([0-9]{1,5})$/.exec(text);
  if (!match) {
    const bareV6 = /^[^[]*:.*:/.test(text);
    throw new AddressError(`${describe(text)} is not HOST:PORT${bareV6 ? ' (an IPv6 host goes in brackets: [::1]:7100)' : ''}`);
  }
  const host = match[1] ?? match[2]!;
  const port = Number(match[3]);
  const hostOk = match[1] !== undefined ? IPV6.test(host) && host.includes(':') : NAME_OR_IPV4.test(host);
  if (!hostOk || host.length > MAX_HOST_LENGTH) throw new AddressError(`${describe(text)}: ${describe(host)} is not a host name or IP address`);
  const minPort = options.allowPortZero === true ? 0 : 1;
  if (port < minPort || port > 65_535) throw new AddressError(`${describe(text)}: port ${port} is not ${minPort}–65535`);
  return { host, port };
}

const IPV4_MAPPED = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

/** A host as a socket reports it, with an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) given as the IPv4 address it is. */
export function normalizeHost(host: string): string {
  return IPV4_MAPPED.exec(host)?.[1] ?? host;
}

/** `host:port`, the host in brackets when it is IPv6. */
export function formatNetAddress(address: NetAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
