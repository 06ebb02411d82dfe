// Why this file exists: the one wire codec of the tracker, between nodes and between clients and
// nodes (DESIGN.md §6): a 4-byte big-endian length, then one JSON message (byte arrays carried
// as {"$bytes": base64}). A length above the maximum is refused before a byte of the body is
// buffered; a body that is not a JSON object is refused. Refusals close the connection.

export const DEFAULT_MAX_FRAME_BYTES = 8 * 1024 * 1024;
const HEADER_BYTES = 4;

export class FrameError extends Error {
  override name = 'FrameError';
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  return value;
}

function reviver(_key: string, value: unknown): unknown {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const bytes = (value as { $bytes?: unknown }).$bytes;
    if (typeof bytes === 'string' && Object.keys(value).length === 1) return new Uint8Array(Buffer.from(bytes, 'base64'));
  }
  return value;
}

/** One frame: length prefix and body. Throws FrameError when the body exceeds `maxFrameBytes`. */
export function encodeFrame(message: object, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): Uint8Array {
  const body = encoder.encode(JSON.stringify(message, replacer));
  if (body.length > maxFrameBytes) throw new FrameError(`message of ${body.length} bytes exceeds the ${maxFrameBytes}-byte frame limit`);
  const frame = new Uint8Array(HEADER_BYTES + body.length);
  new DataView(frame.buffer).setUint32(0, body.length);
  frame.set(body, HEADER_BYTES);
  return frame;
}

/** Incremental: feed it bytes as they arrive, get whole messages out. */
export class FrameDecoder {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private bodyBytes: number | null = null;

  constructor(private maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {}

  /** Raises (or lowers) the limit for frames not yet begun, e.g. once a peer is authenticated. */
  setMaxFrameBytes(maxFrameBytes: number): void {
    this.maxFrameBytes = maxFrameBytes;
  }

  /**
   * Returns the messages completed by these bytes (at most `maxFrames`; the rest stay buffered
   * for the next call); throws FrameError on a bad frame (then discard the decoder).
   */
  push(bytes: Uint8Array, maxFrames = Infinity): object[] {
    if (bytes.length > 0) {
      this.chunks.push(bytes);
      this.buffered += bytes.length;
    }
    const out: object[] = [];
    while (out.length < maxFrames) {
      if (this.bodyBytes === null) {
        if (this.buffered < HEADER_BYTES) return out;
        const header = this.take(HEADER_BYTES);
        const length = new DataView(header.buffer, header.byteOffset, HEADER_BYTES).getUint32(0);
        if (length > this.maxFrameBytes) throw new FrameError(`frame of ${length} bytes announced; the limit is ${this.maxFrameBytes}`);
        this.bodyBytes = length;
      }
      if (this.buffered < this.bodyBytes) return out;
      const body = this.take(this.bodyBytes);
      this.bodyBytes = null;
      out.push(parseBody(body));
    }
    return out;
  }

  /** push(), with a bad frame as a value: callers log it and close the connection. */
  tryPush(bytes: Uint8Array, maxFrames = Infinity): object[] | FrameError {
    try {
      return this.push(bytes, maxFrames);
    } catch (error) {
      if (error instanceof FrameError) return error;
      throw error;
    }
  }

  /** Bytes held waiting for the rest of a frame. */
  bufferedBytes(): number {
    return this.buffered;
  }

  private take(count: number): Uint8Array {
    const out = new Uint8Array(count);
    let filled = 0;
    while (filled < count) {
      const chunk = this.chunks[0]!;
      const used = Math.min(chunk.length, count - filled);
      out.set(chunk.subarray(0, used), filled);
      filled += used;
      if (used === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(used);
    }
    this.buffered -= count;
    return out;
  }
}

function parseBody(body: Uint8Array): object {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(body), reviver);
  } catch {
    throw new FrameError('frame body is not UTF-8 JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new FrameError('frame body is not a JSON object');
  return value;
}
