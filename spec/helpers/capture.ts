// Why this file exists: reading what an eavesdropper captured (a pcap file from tcpdump -i any):
// how many bytes of TCP payload crossed given ports, and every TCP stream put back together in
// sequence order, so that a string or a 64-byte window of a file is found even where TCP cut it
// between two segments. Linux cooked captures (SLL and SLL2), IPv4 and IPv6.

const PCAP_MAGIC_LE = 0xa1b2c3d4;
const PCAP_MAGIC_NS_LE = 0xa1b23c4d;
const LINKTYPE_LINUX_SLL = 113;
const LINKTYPE_LINUX_SLL2 = 276;
const PACKET_OUTGOING = 4;

export interface Captured {
  /** Every TCP stream (one direction of a connection) reassembled by sequence number, one after another. */
  streams: Buffer;
  /** TCP payload bytes by port (either end), frames leaving the switch not counted (each is seen arriving too). */
  payloadBytesByPort: Map<number, number>;
  packets: number;
}

export function readCapture(raw: Buffer): Captured {
  const magic = raw.readUInt32LE(0);
  if (magic !== PCAP_MAGIC_LE && magic !== PCAP_MAGIC_NS_LE) throw new Error('not a little-endian pcap file');
  const linkType = raw.readUInt32LE(20);
  if (linkType !== LINKTYPE_LINUX_SLL && linkType !== LINKTYPE_LINUX_SLL2) throw new Error(`link type ${linkType} is not Linux cooked`);
  const payloadBytesByPort = new Map<number, number>();
  const flows = new Map<string, Segment[]>();
  let packets = 0;
  for (let at = 24; at + 16 <= raw.length; ) {
    const length = raw.readUInt32LE(at + 8);
    const frame = raw.subarray(at + 16, at + 16 + length);
    at += 16 + length;
    packets++;
    const [packetType, protocol, headerBytes] =
      linkType === LINKTYPE_LINUX_SLL ? [frame.readUInt16BE(0), frame.readUInt16BE(14), 16] : [frame.readUInt8(10), frame.readUInt16BE(0), 20];
    if (packetType === PACKET_OUTGOING) continue;
    const ip = frame.subarray(headerBytes);
    let tcp: Buffer;
    let ipPayloadBytes: number;
    let endpoints: string;
    if (protocol === 0x0800 && ip.length >= 20 && ip[9] === 6) {
      const ihl = (ip[0]! & 0x0f) * 4;
      ipPayloadBytes = ip.readUInt16BE(2) - ihl;
      tcp = ip.subarray(ihl);
      endpoints = ip.subarray(12, 20).toString('hex');
    } else if (protocol === 0x86dd && ip.length >= 40 && ip[6] === 6) {
      ipPayloadBytes = ip.readUInt16BE(4);
      tcp = ip.subarray(40);
      endpoints = ip.subarray(8, 40).toString('hex');
    } else continue;
    if (tcp.length < 20) continue;
    const tcpHeaderBytes = (tcp[12]! >> 4) * 4;
    const payload = ipPayloadBytes - tcpHeaderBytes;
    if (payload <= 0) continue;
    for (const port of new Set([tcp.readUInt16BE(0), tcp.readUInt16BE(2)])) payloadBytesByPort.set(port, (payloadBytesByPort.get(port) ?? 0) + payload);
    const flow = `${endpoints}/${tcp.readUInt32BE(0).toString(16)}`; // addresses, then both ports
    const segments = flows.get(flow) ?? [];
    segments.push({ seq: tcp.readUInt32BE(4), bytes: tcp.subarray(tcpHeaderBytes, tcpHeaderBytes + payload) });
    flows.set(flow, segments);
  }
  return { streams: Buffer.concat([...flows.values()].map(reassemble)), payloadBytesByPort, packets };
}

interface Segment {
  seq: number;
  bytes: Buffer;
}

/** One direction of a connection in sequence order: retransmitted bytes once, a gap (bytes not captured) left out. */
function reassemble(segments: Segment[]): Buffer {
  const first = segments[0]!.seq;
  const at = (segment: Segment): number => (segment.seq - first + 2 ** 32) % 2 ** 32; // sequence numbers wrap
  const ordered = [...segments].sort((x, y) => at(x) - at(y));
  const out: Buffer[] = [];
  let next = 0;
  for (const segment of ordered) {
    const start = at(segment);
    const end = start + segment.bytes.length;
    if (end <= next) continue;
    out.push(segment.bytes.subarray(Math.max(0, next - start)));
    next = end;
  }
  return Buffer.concat(out);
}

const WINDOW = 32;
const BASE = 257;

/**
 * Whether any 64-byte window of `file` lies in `haystack`. Any 64 consecutive bytes of the file
 * hold one whole 32-byte chunk at a multiple of 32, so it is enough to look for those chunks: a
 * rolling hash over every offset of the haystack, checked byte for byte on a hit.
 */
export function containsWindowOf(haystack: Buffer, file: Buffer): { found: boolean; fileOffset?: number } {
  let top = 1;
  for (let i = 0; i < WINDOW - 1; i++) top = Math.imul(top, BASE) >>> 0;
  const hashOf = (bytes: Buffer, start: number): number => {
    let h = 0;
    for (let i = 0; i < WINDOW; i++) h = (Math.imul(h, BASE) + bytes[start + i]!) >>> 0;
    return h;
  };
  const chunks = new Map<number, number[]>();
  for (let offset = 0; offset + WINDOW <= file.length; offset += WINDOW) {
    const h = hashOf(file, offset);
    const list = chunks.get(h);
    if (list) list.push(offset);
    else chunks.set(h, [offset]);
  }
  if (haystack.length < WINDOW) return { found: false };
  let h = hashOf(haystack, 0);
  for (let start = 0; ; start++) {
    const candidates = chunks.get(h);
    if (candidates) {
      for (const offset of candidates) {
        if (haystack.compare(file, offset, offset + WINDOW, start, start + WINDOW) === 0) return { found: true, fileOffset: offset };
      }
    }
    if (start + WINDOW >= haystack.length) return { found: false };
    h = (Math.imul((h - Math.imul(haystack[start]!, top)) >>> 0, BASE) + haystack[start + WINDOW]!) >>> 0;
  }
}
