// Why this file exists: what the tracker records of a shared file and what a downloader needs to
// fetch and verify it, one type for both sides. Its fileId is the BitTorrent v1 info-hash of
// {length, name, piece length, pieces} (infohash.ts).

export interface FileMeta {
  /** hex info-hash */
  fileId: string;
  name: string;
  sizeBytes: number;
  pieceLengthBytes: number;
  /** base64 of the concatenated 20-byte SHA1 of every piece */
  pieces: string;
}
