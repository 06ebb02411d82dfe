// Why this file exists: BEP 3 bitfields (high bit of byte 0 is piece 0) are read from untrusted
// peers and kept per connection; one small type keeps the bit-twiddling and its checks (length,
// spare bits zero) in one place.

export class Bitfield {
  private readonly bits: Uint8Array;
  private setCount = 0;

  constructor(readonly pieceCount: number) {
    if (!Number.isSafeInteger(pieceCount) || pieceCount < 0) throw new RangeError(`pieceCount ${pieceCount}`);
    this.bits = new Uint8Array(Math.ceil(pieceCount / 8));
  }

  /** The bitfield a peer sent, or an error message when its length or spare bits are wrong. */
  static fromBytes(pieceCount: number, bytes: Uint8Array): Bitfield | string {
    const out = new Bitfield(pieceCount);
    if (bytes.length !== out.bits.length) return `bitfield of ${bytes.length} bytes for ${pieceCount} pieces`;
    const spare = out.bits.length * 8 - pieceCount;
    if (spare > 0 && (bytes[bytes.length - 1]! & ((1 << spare) - 1)) !== 0) return 'bitfield has spare bits set';
    out.bits.set(bytes);
    for (let i = 0; i < pieceCount; i++) if (out.has(i)) out.setCount++;
    return out;
  }

  static full(pieceCount: number): Bitfield {
    const out = new Bitfield(pieceCount);
    for (let i = 0; i < pieceCount; i++) out.set(i);
    return out;
  }

  has(pieceIndex: number): boolean {
    return pieceIndex >= 0 && pieceIndex < this.pieceCount && (this.bits[pieceIndex >> 3]! & (0x80 >> (pieceIndex & 7))) !== 0;
  }

  /** Sets a bit; false when it was set already or lies outside. */
  set(pieceIndex: number): boolean {
    if (!Number.isInteger(pieceIndex) || pieceIndex < 0 || pieceIndex >= this.pieceCount || this.has(pieceIndex)) return false;
    this.bits[pieceIndex >> 3]! |= 0x80 >> (pieceIndex & 7);
    this.setCount++;
    return true;
  }

  get count(): number {
    return this.setCount;
  }

  get complete(): boolean {
    return this.setCount === this.pieceCount;
  }

  toBytes(): Uint8Array {
    return this.bits.slice();
  }

  indices(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.pieceCount; i++) if (this.has(i)) out.push(i);
    return out;
  }
}
