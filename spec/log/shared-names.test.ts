// Names people can trust (issue 16): from rules version 7, a shared file's name may hold no
// bidirectional-override, isolate or mark, and no zero-width or invisible character, and must
// leave room for the `.part` a download writes first. Entries of older versions keep the names
// they were allowed; a download refuses such a name whatever version shared it.

import { describe, expect, it } from 'vitest';
import { checkSharedFileName, MAX_SHARED_FILE_NAME_BYTES } from '../../src/log/domain/names.js';
import { RULES_VERSION } from '../../src/log/domain/rules.js';
import { authFor, Driver, fileBytes, fileMeta } from '../helpers/domain-fixtures.js';

const DECEPTIVE = [
  ['a right-to-left override', 'invoice\u202Efdp.exe'],
  ['a zero-width space', 'secret\u200B.txt'],
  ['a zero-width joiner', 'pay\u200Dpal.pdf'],
  ['a left-to-right isolate', 'a\u2066b.txt'],
  ['a byte-order mark', '\uFEFFreport.txt'],
  ['a word joiner', 'note\u2060s.txt'],
  ['an Arabic letter mark', 'x\u061C.txt'],
] as const;

function sharer(): { d: Driver; share(name: string, rulesVersion?: number): string } {
  const d = new Driver();
  d.createUser('alice');
  d.login('alice', 'session-alice', 'ta');
  const auth = authFor('session-alice', 'ta');
  d.run({ type: 'CreateGroup', auth, group: 'g' });
  return { d, share: (name, rulesVersion = RULES_VERSION) => d.code(d.run({ type: 'ShareFile', auth, group: 'g', file: fileMeta(name, fileBytes(100, name.length)) }, rulesVersion)) };
}

describe('shared file names', () => {
  it.each(DECEPTIVE)('refuses a name with %s, naming the character escaped', (_label, name) => {
    const refusal = checkSharedFileName(name);
    expect(refusal?.code).toBe('BAD_NAME');
    expect(refusal?.message).toMatch(/\\u[0-9A-F]{4}/);
    expect(refusal?.message).not.toMatch(/[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/);
    const { d, share } = sharer();
    expect(share(name)).toBe('BAD_NAME');
    expect(d.state.groups.get('g')!.files.size).toBe(0);
  });

  it('leaves room for .part: 250 bytes shared, 251 refused, counted in UTF-8', () => {
    const { share } = sharer();
    expect(MAX_SHARED_FILE_NAME_BYTES).toBe(250);
    expect(share(`${'a'.repeat(246)}.bin`)).toBe('OK');
    expect(share(`${'b'.repeat(247)}.bin`)).toBe('BAD_NAME');
    expect(share(`${'é'.repeat(123)}.bin`)).toBe('OK'); // 246 + 4 = 250 bytes
    expect(share(`${'é'.repeat(124)}.bin`)).toBe('BAD_NAME'); // 248 + 4 = 252 bytes, 128 characters
  });

  it('keeps what older rules allowed: the same names shared under version 6 are accepted', () => {
    const { d, share } = sharer();
    expect(share('invoice\u202Efdp.exe', 6)).toBe('OK');
    expect(share(`${'c'.repeat(250)}.bin`, 6)).toBe('OK');
    expect(d.state.groups.get('g')!.files.size).toBe(2);
  });
});
