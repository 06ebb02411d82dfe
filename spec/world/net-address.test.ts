// The one address parser and formatter: brackets for IPv6, ports 1–65535 (0 only for a listen
// address); the domain's check of peer addresses is the same parser; mapped IPv4 is normalised.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkPeerAddress } from '../../src/log/domain/names.js';
import { AddressError, formatNetAddress, normalizeHost, parseNetAddress } from '../../src/world/net-address.js';

describe('NetAddress', () => {
  it('reads names, IPv4 and bracketed IPv6, and keeps the host bare', () => {
    expect(parseNetAddress('tracker.example:7200')).toEqual({ host: 'tracker.example', port: 7200 });
    expect(parseNetAddress('10.0.0.1:1')).toEqual({ host: '10.0.0.1', port: 1 });
    expect(parseNetAddress('[::1]:65535')).toEqual({ host: '::1', port: 65535 });
    expect(parseNetAddress('[fd00::a:2]:6881')).toEqual({ host: 'fd00::a:2', port: 6881 });
    expect(parseNetAddress('0.0.0.0:0', { allowPortZero: true })).toEqual({ host: '0.0.0.0', port: 0 });
  });

  it.each([
    ['no port', 'host'],
    ['an empty host', ':7100'],
    ['port 0 where one must be given', 'host:0'],
    ['a port above 65535', 'host:65536'],
    ['an IPv6 host without brackets', '::1:7100'],
    ['brackets around a name', '[host]:7100'],
    ['a path', 'a/b:7100'],
    ['a space', 'a b:7100'],
    ['a sign in the port', 'host:+80'],
    ['an empty string', ''],
  ])('refuses %s with BAD_ADDRESS', (_what, text) => {
    expect(() => parseNetAddress(text)).toThrow(AddressError);
    try {
      parseNetAddress(text);
    } catch (error) {
      expect((error as AddressError).code).toBe('BAD_ADDRESS');
      expect((error as AddressError).message).not.toContain('\n');
    }
  });

  it('says where an IPv6 host goes', () => {
    expect(() => parseNetAddress('fd00::1:7100')).toThrow(/brackets/);
  });

  it('formats what it parses back to the same text', () => {
    const host = fc.oneof(
      fc.ipV4(),
      fc.ipV6().map((v6) => `[${v6}]`),
      fc.domain(),
    );
    fc.assert(
      fc.property(host, fc.integer({ min: 1, max: 65535 }), (h, port) => {
        const text = `${h}:${port}`;
        const parsed = parseNetAddress(text);
        expect(formatNetAddress(parsed)).toBe(text);
        expect(parseNetAddress(formatNetAddress(parsed))).toEqual(parsed);
      }),
    );
  });

  it('is what the domain accepts as a peer address, no more', () => {
    expect(checkPeerAddress({ host: '10.0.0.1', port: 6881 })).toBeNull();
    expect(checkPeerAddress({ host: 'fd00::1', port: 1 })).toBeNull();
    expect(checkPeerAddress({ host: 'owner', port: 65535 })).toBeNull();
    for (const bad of [{ host: '10.0.0.1', port: 0 }, { host: '10.0.0.1', port: 65536 }, { host: 'a b', port: 1 }, { host: '[::1]', port: 1 }, { host: '', port: 1 }, { host: 'x', port: 1.5 }]) {
      expect(checkPeerAddress(bad)?.code, JSON.stringify(bad)).toBe('BAD_ADDRESS');
    }
  });

  it('gives an IPv4-mapped IPv6 address as the IPv4 address it is', () => {
    expect(normalizeHost('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(normalizeHost('::FFFF:127.0.0.1')).toBe('127.0.0.1');
    expect(normalizeHost('::1')).toBe('::1');
    expect(normalizeHost('fd00::ffff:10.1.2.3')).toBe('fd00::ffff:10.1.2.3');
    expect(normalizeHost('10.1.2.3')).toBe('10.1.2.3');
  });
});
