// Random numbers for the World (DESIGN.md §3): a seeded, forkable PRNG for simulations (sfc32
// seeded through the cyrb128 string hash) and a crypto-strong one for the real machine. Both
// share the derivations (unbiased int, floats, bytes, nanoid ids) built on a uint32 source.

import { randomFillSync } from 'node:crypto';
import { customRandom, urlAlphabet } from 'nanoid';
import type { Rng } from './world.js';

const TWO_POW_32 = 0x1_0000_0000;
const TWO_POW_53 = 2 ** 53;
const DEFAULT_ID_SIZE = 21;

/** Derives float, int, bytes and id from a uniform uint32 source. */
abstract class Uint32Rng implements Rng {
  private readonly nanoid = customRandom(urlAlphabet, DEFAULT_ID_SIZE, (lengthBytes) => this.bytes(lengthBytes));

  abstract uint32(): number;

  float(): number {
    return this.uint53() / TWO_POW_53;
  }

  int(bound: number): number {
    if (!Number.isSafeInteger(bound) || bound <= 0) {
      throw new RangeError(`int(bound) needs a positive safe integer, got ${bound}`);
    }
    if (bound <= TWO_POW_32) {
      // Rejection sampling: drop the top sliver of the range that would bias the modulo.
      const limit = TWO_POW_32 - (TWO_POW_32 % bound);
      for (;;) {
        const x = this.uint32();
        if (x < limit) return x % bound;
      }
    }
    const limit = TWO_POW_53 - (TWO_POW_53 % bound);
    for (;;) {
      const x = this.uint53();
      if (x < limit) return x % bound;
    }
  }

  bytes(lengthBytes: number): Uint8Array {
    if (!Number.isSafeInteger(lengthBytes) || lengthBytes < 0) {
      throw new RangeError(`bytes(length) needs a non-negative integer, got ${lengthBytes}`);
    }
    const out = new Uint8Array(lengthBytes);
    for (let i = 0; i < lengthBytes; i += 4) {
      let word = this.uint32();
      for (let j = i; j < Math.min(i + 4, lengthBytes); j++) {
        out[j] = word & 0xff;
        word >>>= 8;
      }
    }
    return out;
  }

  id(size: number = DEFAULT_ID_SIZE): string {
    if (!Number.isSafeInteger(size) || size <= 0) throw new RangeError(`id(size) needs a positive integer, got ${size}`);
    return this.nanoid(size);
  }

  /** A uniform integer in [0, 2^53). */
  private uint53(): number {
    const high21 = this.uint32() >>> 11;
    const low32 = this.uint32();
    return high21 * TWO_POW_32 + low32;
  }
}

/** cyrb128: a small, well-mixed 128-bit string hash, used only to turn seeds into PRNG state. */
export function hashSeed(seedKey: string): [number, number, number, number] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < seedKey.length; i++) {
    const k = seedKey.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

/**
 * sfc32 seeded from a string key. The numeric seed 42 and the string seed "42" are the same
 * seed. `fork(label)` derives a child from the key alone, without drawing from this rng, so
 * forks are independent of how much the parent (or any sibling) has been used.
 */
export class SeededRng extends Uint32Rng {
  readonly seedKey: string;
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number | string) {
    super();
    if (typeof seed === 'number' && !Number.isFinite(seed)) throw new RangeError(`seed must be finite, got ${seed}`);
    this.seedKey = String(seed);
    [this.a, this.b, this.c, this.d] = hashSeed(this.seedKey);
    for (let i = 0; i < 15; i++) this.uint32(); // warm up: spread the hash over the state
  }

  uint32(): number {
    const t0 = (this.a + this.b) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.d = (this.d + 1) | 0;
    const t = (t0 + this.d) | 0;
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A child rng determined by this rng's seed and `label`; the same label gives the same stream. */
  fork(label: string): SeededRng {
    return new SeededRng(`${this.seedKey}/${label}`);
  }
}

const CRYPTO_POOL_BYTES = 1024;

/** Crypto-strong randomness from node:crypto, drawn from a small refilled pool. */
class CryptoRng extends Uint32Rng {
  private readonly pool = new Uint8Array(CRYPTO_POOL_BYTES);
  private readonly view = new DataView(this.pool.buffer);
  private offsetBytes = CRYPTO_POOL_BYTES;

  uint32(): number {
    if (this.offsetBytes + 4 > CRYPTO_POOL_BYTES) {
      randomFillSync(this.pool);
      this.offsetBytes = 0;
    }
    const value = this.view.getUint32(this.offsetBytes);
    this.offsetBytes += 4;
    return value;
  }

  override bytes(lengthBytes: number): Uint8Array {
    if (!Number.isSafeInteger(lengthBytes) || lengthBytes < 0) {
      throw new RangeError(`bytes(length) needs a non-negative integer, got ${lengthBytes}`);
    }
    return randomFillSync(new Uint8Array(lengthBytes));
  }
}

export function cryptoRng(): Rng {
  return new CryptoRng();
}
