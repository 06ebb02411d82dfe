// Why this file exists: the hash chain and the stored entries need one byte-exact encoding that
// every node produces identically: JSON with sorted keys, integers only, no floats, no undefined.

export type Canonical = null | boolean | number | string | readonly Canonical[] | { readonly [key: string]: Canonical };

export class CanonicalError extends Error {
  override name = 'CanonicalError';
}

/** Throws CanonicalError on floats, non-safe integers, undefined, functions, symbols, bigints. */
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isSafeInteger(value)) throw new CanonicalError(`not a safe integer: ${value}`);
      return Object.is(value, -0) ? '0' : String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i]);
        return out + ']';
      }
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      let out = '{';
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!;
        out += (i === 0 ? '' : ',') + JSON.stringify(key) + ':' + canonicalJson(record[key]);
      }
      return out + '}';
    }
    default:
      throw new CanonicalError(`cannot encode a ${typeof value}`);
  }
}
