// RaftLog counts the bytes of the entries it holds (what compaction by bytes reads): through
// appends, a follower's truncation of a conflicting suffix, compaction and a snapshot restore.

import { describe, expect, it } from 'vitest';
import { entrySizeBytes, RaftLog } from '../../src/raft/raft-log.js';
import type { Entry } from '../../src/raft/types.js';

const entry = (index: number, term: number, size: number): Entry => ({ index, term, data: 'x'.repeat(size) });
const sum = (entries: Entry[]): number => entries.reduce((total, e) => total + entrySizeBytes(e), 0);

describe('RaftLog bytes', () => {
  it('counts what it holds through append, truncation, compaction and restore', () => {
    const restored = [entry(11, 1, 100), entry(12, 1, 200)];
    const log = new RaftLog({ index: 10, term: 1 }, restored, 12, 12);
    expect(log.heldBytes()).toBe(sum(restored));
    const more = [entry(13, 2, 1000), entry(14, 2, 10), entry(15, 2, 5)];
    log.append(more);
    expect(log.heldBytes()).toBe(sum([...restored, ...more]));
    expect(log.bytesThrough(13)).toBe(sum([...restored, more[0]!]));
    expect(log.bytesThrough(10)).toBe(0);
    expect(log.bytesThrough(99)).toBe(log.heldBytes());

    // A leader of term 3 overwrites 14 and 15 with one entry.
    expect(log.maybeAppend(13, 2, 13, [entry(14, 3, 7)])).toBe(14);
    expect(log.heldBytes()).toBe(sum([...restored, more[0]!, entry(14, 3, 7)]));

    log.appliedTo(13);
    log.compact(12);
    expect(log.heldBytes()).toBe(sum([more[0]!, entry(14, 3, 7)]));
    expect(log.bytesThrough(13)).toBe(entrySizeBytes(more[0]!));
    log.compact(13);
    log.append([entry(15, 3, 50)]);
    expect(log.heldBytes()).toBe(sum([entry(14, 3, 7), entry(15, 3, 50)]));

    log.restore({ index: 100, term: 4 });
    expect(log.heldBytes()).toBe(0);
    log.append([entry(101, 4, 30)]);
    expect(log.heldBytes()).toBe(entrySizeBytes(entry(101, 4, 30)));
  });
});
