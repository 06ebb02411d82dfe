// The shape checks of untrusted client requests (src/tracker/client-protocol.ts), for the
// `groupTimeline` query: a group, and optionally a whole non-negative index to go on after; a
// known request of the wrong shape is answered BAD_REQUEST under its id.

import { describe, expect, it } from 'vitest';
import { parseClientRequest } from '../../src/tracker/client-protocol.js';

const session = { sessionId: 's1', token: 't1' };
const ask = (query: unknown): unknown => parseClientRequest({ id: 1, type: 'query', session, query });

describe('the groupTimeline query', () => {
  it('takes a group, and an index to go on after', () => {
    expect(ask({ name: 'groupTimeline', group: 'friends' })).toEqual({ id: 1, type: 'query', session, query: { name: 'groupTimeline', group: 'friends' } });
    expect(ask({ name: 'groupTimeline', group: 'friends', afterIndex: 0 })).not.toBeNull();
    expect(ask({ name: 'groupTimeline', group: 'friends', afterIndex: 12 })).not.toBeNull();
  });

  it('answers anything else BAD_REQUEST under its id', () => {
    for (const query of [
      { name: 'groupTimeline' },
      { name: 'groupTimeline', group: 7 },
      { name: 'groupTimeline', group: 'x'.repeat(5000) },
      { name: 'groupTimeline', group: 'friends', afterIndex: -1 },
      { name: 'groupTimeline', group: 'friends', afterIndex: 1.5 },
      { name: 'groupTimeline', group: 'friends', afterIndex: '3' },
      { name: 'groupTimeline', group: 'friends', afterIndex: 2 ** 60 },
    ]) {
      expect(ask(query), JSON.stringify(query).slice(0, 80)).toEqual({ id: 1, code: 'BAD_REQUEST', message: expect.stringContaining('a query request') });
    }
  });

  it('cannot answer what has no id or is no request of this protocol', () => {
    expect(parseClientRequest({ type: 'query', session, query: { name: 'groupTimeline' } })).toBeNull();
    expect(parseClientRequest({ id: 1, type: 'DropTables' })).toBeNull();
    expect(parseClientRequest('status')).toBeNull();
  });
});
