// Why this file exists: a BitTorrent client keeps its list of downloads across restarts, each
// under one id from start to finish. This is that list in the peer's home LevelDB: one record a
// download (what, where, and whether it is active, paused, complete or failed), and a counter
// that hands out ids, never reused. The bytes themselves are in the `.part` and its piece journal.

import { fromUtf8, utf8 } from '../torrent/bytes.js';
import type { FileMeta } from '../torrent/file-meta.js';
import type { KvStore } from '../world/world.js';

/** Active: running or waiting, resumed at the next start. The others stay as they are until told. */
export type RecordState = 'active' | 'paused' | 'complete' | 'failed';

export interface DownloadRecord {
  id: number;
  group: string;
  meta: FileMeta;
  /** The file's final path; the partial file is this plus `.part`. */
  destination: string;
  state: RecordState;
  failure?: { code: string; message: string };
  /** Bytes received from each peer by the attempts that ended (the running one adds its own). */
  bytesFromPeer?: Record<string, number>;
}

const RECORD_PREFIX = 'download:';
const SEQUENCE_PREFIX = 'download-seq:';

function recordKey(user: string, id: number): string {
  return `${RECORD_PREFIX}${user}\u0000${String(id).padStart(10, '0')}`;
}

export class DownloadRecords {
  constructor(
    private readonly kv: KvStore,
    private readonly user: string,
  ) {}

  /** Every record of the user, by id. A record that does not parse is skipped (never a crash). */
  async load(): Promise<DownloadRecord[]> {
    const prefix = `${RECORD_PREFIX}${this.user}\u0000`;
    const records: DownloadRecord[] = [];
    for await (const chunk of this.kv.iterate({ gte: prefix, lt: `${prefix}\uffff` })) {
      for (const [, value] of chunk) {
        const record = parseRecord(fromUtf8(value));
        if (record !== null) records.push(record);
      }
    }
    return records;
  }

  /** The next id: one more than any handed out before, durable before it is used. */
  async nextId(): Promise<number> {
    const key = `${SEQUENCE_PREFIX}${this.user}`;
    const last = await this.kv.get(key);
    const id = (last === undefined ? 0 : Number(fromUtf8(last)) || 0) + 1;
    await this.kv.batch([{ type: 'put', key, value: utf8(String(id)) }], { sync: true });
    return id;
  }

  async save(record: DownloadRecord): Promise<void> {
    await this.kv.batch([{ type: 'put', key: recordKey(this.user, record.id), value: utf8(JSON.stringify(record)) }], { sync: true });
  }

  async remove(id: number): Promise<void> {
    await this.kv.batch([{ type: 'del', key: recordKey(this.user, id) }], { sync: true });
  }
}

const STATES: readonly RecordState[] = ['active', 'paused', 'complete', 'failed'];

function parseRecord(text: string): DownloadRecord | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const record = value as Partial<DownloadRecord>;
  const meta = record.meta as Partial<FileMeta> | undefined;
  if (!Number.isSafeInteger(record.id) || typeof record.group !== 'string' || typeof record.destination !== 'string') return null;
  if (!STATES.includes(record.state as RecordState)) return null;
  if (typeof meta !== 'object' || meta === null || typeof meta.fileId !== 'string' || typeof meta.name !== 'string' || typeof meta.pieces !== 'string') return null;
  if (!Number.isSafeInteger(meta.sizeBytes) || !Number.isSafeInteger(meta.pieceLengthBytes)) return null;
  return record as DownloadRecord;
}
