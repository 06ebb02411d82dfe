// Why this file exists: a session is found by its id and proved by its token's hash; comparing
// that hash with `===` would stop at the first differing character and let a guesser time its
// way along. Pure (the domain runs everywhere), so no node:crypto: every character is looked at.

/** Whether two hex hashes are equal, in time that depends only on their lengths. */
export function sameHash(a: string, b: string): boolean {
  let difference = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i % Math.max(1, b.length));
  return difference === 0;
}
