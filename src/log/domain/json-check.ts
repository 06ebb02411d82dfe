// Why this file exists: snapshots and state records are read from disk and from other nodes, so
// every field is checked before it becomes state. These are the checks; a bad field throws
// SnapshotFormatError naming its path.

export class SnapshotFormatError extends Error {
  override name = 'SnapshotFormatError';
}

export type Json = Record<string, unknown>;

/** `field`: the last step of the path, joined only when it fails (a million records checked must not each build their paths). */
export function fail(path: string, field?: string): never {
  throw new SnapshotFormatError(`snapshot field ${field === undefined ? path : `${path}.${field}`} is malformed`);
}

export function obj(value: unknown, path: string): Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : fail(path);
}

export function arr(value: unknown, path: string): unknown[] {
  return Array.isArray(value) ? value : fail(path);
}

export function str(value: unknown, path: string, field?: string): string {
  return typeof value === 'string' ? value : fail(path, field);
}

export function int(value: unknown, path: string, field?: string): number {
  return typeof value === 'number' && Number.isSafeInteger(value) ? value : fail(path, field);
}

export function bool(value: unknown, path: string, field?: string): boolean {
  return typeof value === 'boolean' ? value : fail(path, field);
}

export function pair<A, B>(value: unknown, path: string, first: (v: unknown, p: string) => A, second: (v: unknown, p: string) => B): [A, B] {
  const items = arr(value, path);
  if (items.length !== 2) fail(path);
  return [first(items[0], `${path}[0]`), second(items[1], `${path}[1]`)];
}
