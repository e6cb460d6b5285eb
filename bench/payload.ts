// Self-checking payloads: a header naming the owner and a sequence number, then bytes derived from both.
// Whoever receives one can tell whether it reached the right client, in order and intact.

/** Bytes before the filler: u32 owner (client index or session id, low 32 bits) + u32 sequence number. */
export const PAYLOAD_HEADER = 8;

/** The filler byte at `i` of a payload owned by `owner`; independent of the sequence number so a template can be reused. */
export function fillerByte(owner: number, i: number): number {
  return (Math.imul(owner + 1, 2654435761) + Math.imul(i, 40503)) >>> 13 & 0xff;
}

/** A payload template of `size` bytes for `owner`: header zeroed, filler set. */
export function template(owner: number, size: number): Buffer {
  if (size < PAYLOAD_HEADER) throw new RangeError(`payload size ${size} is smaller than its ${PAYLOAD_HEADER}-byte header`);
  const b = Buffer.alloc(size);
  b.writeUInt32LE(owner >>> 0, 0);
  for (let i = PAYLOAD_HEADER; i < size; i++) b[i] = fillerByte(owner, i);
  return b;
}

/**
 * Checks a received payload against the owner's template and the expected sequence number.
 * Returns null when it is right, else what is wrong.
 */
export function checkPayload(p: Uint8Array, tpl: Buffer, expectSeq: number): string | null {
  if (p.length !== tpl.length) return `payload of ${p.length} bytes, expected ${tpl.length}`;
  const b = Buffer.from(p.buffer, p.byteOffset, p.length);
  const owner = b.readUInt32LE(0);
  if (owner !== tpl.readUInt32LE(0)) return `payload of owner ${owner} reached owner ${tpl.readUInt32LE(0)}`;
  const seq = b.readUInt32LE(4);
  if (seq !== expectSeq >>> 0) return `sequence ${seq} arrived, expected ${expectSeq >>> 0} (out of order or lost)`;
  if (b.compare(tpl, PAYLOAD_HEADER, tpl.length, PAYLOAD_HEADER, b.length) !== 0) return 'payload bytes corrupted';
  return null;
}
