// Why this file exists: every one of a million files has a set of sharers, almost always of one
// user, and a one-member Set costs about 150 bytes of heap (issue 20: a third of a file's cost in
// memory). A SmallSet holds one member in a field and only makes a Set for two or more.

/**
 * A set in insertion order, as Set is, for the few operations the projection uses. Its fields
 * are canonical for its members: none, `one` alone, or `many` (two or more; a delete back to one
 * member goes back to `one`), so two SmallSets with the same members in the same order are
 * structurally equal.
 */
export class SmallSet<T> implements Iterable<T> {
  private one: T | undefined = undefined;
  private many: Set<T> | undefined = undefined;

  constructor(members: Iterable<T> = []) {
    for (const member of members) this.add(member);
  }

  get size(): number {
    return this.many !== undefined ? this.many.size : this.one !== undefined ? 1 : 0;
  }

  has(member: T): boolean {
    return this.many !== undefined ? this.many.has(member) : this.one === member;
  }

  add(member: T): this {
    if (member === undefined) throw new TypeError('a SmallSet holds no undefined');
    if (this.many !== undefined) this.many.add(member);
    else if (this.one === undefined) this.one = member;
    else if (this.one !== member) {
      this.many = new Set([this.one, member]);
      this.one = undefined;
    }
    return this;
  }

  delete(member: T): boolean {
    if (this.many === undefined) {
      if (this.one !== member || member === undefined) return false;
      this.one = undefined;
      return true;
    }
    if (!this.many.delete(member)) return false;
    if (this.many.size === 1) {
      this.one = this.many.values().next().value;
      this.many = undefined;
    }
    return true;
  }

  *[Symbol.iterator](): Iterator<T> {
    if (this.many !== undefined) yield* this.many;
    else if (this.one !== undefined) yield this.one;
  }
}
