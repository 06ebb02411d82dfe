// One simulated file: the bytes a running process sees and, separately, the bytes that would
// survive a crash (set by sync). Also the FileHandle over it. The tree that names files is in
// sim-fs.ts.

import { WorldError, type FileHandle } from '../world.js';

export class SimFile {
  private buffer = new Uint8Array(0);
  private size = 0;
  /** Bytes as of the last sync; null when the file was never synced (it vanishes on a crash). */
  private durable: Uint8Array | null = null;

  get sizeBytes(): number {
    return this.size;
  }

  get everSynced(): boolean {
    return this.durable !== null;
  }

  read(positionBytes: number, lengthBytes: number): Uint8Array {
    checkNonNegative(positionBytes, 'position');
    checkNonNegative(lengthBytes, 'length');
    const start = Math.min(positionBytes, this.size);
    const end = Math.min(positionBytes + lengthBytes, this.size);
    return this.buffer.slice(start, end);
  }

  write(positionBytes: number, bytes: Uint8Array): void {
    checkNonNegative(positionBytes, 'position');
    const end = positionBytes + bytes.length;
    this.ensureCapacity(end);
    this.buffer.set(bytes, positionBytes);
    this.size = Math.max(this.size, end);
  }

  truncate(sizeBytes: number): void {
    checkNonNegative(sizeBytes, 'size');
    if (sizeBytes < this.size) {
      // Zero the cut tail so that growing the file again reads zeros, as on a real disk.
      this.buffer.fill(0, sizeBytes, this.size);
    } else {
      this.ensureCapacity(sizeBytes);
    }
    this.size = sizeBytes;
  }

  /** Replaces the whole content. */
  replace(bytes: Uint8Array): void {
    this.buffer = new Uint8Array(bytes); // a copy, even of a Buffer (whose slice() is a view)
    this.size = bytes.length;
  }

  sync(): void {
    this.durable = this.buffer.slice(0, this.size);
  }

  /** A crash: back to the durable bytes. The caller removes never-synced files. */
  revertToDurable(): void {
    if (this.durable === null) throw new Error('a never-synced file has no durable bytes to revert to');
    this.replace(this.durable);
  }

  private ensureCapacity(sizeBytes: number): void {
    if (sizeBytes <= this.buffer.length) return;
    const grown = new Uint8Array(Math.max(sizeBytes, this.buffer.length * 2, 64));
    grown.set(this.buffer.subarray(0, this.size));
    this.buffer = grown;
  }
}

function checkNonNegative(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
}

export class SimFileHandle implements FileHandle {
  private state: 'open' | 'closed' | 'crashed' = 'open';

  constructor(
    private readonly file: SimFile,
    private readonly writable: boolean,
    private readonly path: string,
    private readonly onClose: (handle: SimFileHandle) => void,
  ) {}

  markCrashed(): void {
    this.state = 'crashed';
  }

  async read(positionBytes: number, lengthBytes: number): Promise<Uint8Array> {
    this.check(false);
    return this.file.read(positionBytes, lengthBytes);
  }

  async write(positionBytes: number, bytes: Uint8Array): Promise<void> {
    this.check(true);
    this.file.write(positionBytes, bytes);
  }

  async truncate(sizeBytes: number): Promise<void> {
    this.check(true);
    this.file.truncate(sizeBytes);
  }

  async sizeBytes(): Promise<number> {
    this.check(false);
    return this.file.sizeBytes;
  }

  async sync(): Promise<void> {
    this.check(false);
    this.file.sync();
  }

  async close(): Promise<void> {
    this.check(false);
    this.state = 'closed';
    this.onClose(this);
  }

  private check(forWrite: boolean): void {
    if (this.state === 'crashed') throw new WorldError('CRASHED', `host crashed; ${this.path} is gone`);
    if (this.state === 'closed') throw new WorldError('EBADF', `EBADF: ${this.path} is closed`);
    if (forWrite && !this.writable) throw new WorldError('EBADF', `EBADF: ${this.path} is open read-only`);
  }
}
