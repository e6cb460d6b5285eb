// Tagged firehose packets between edge and master (PROTOCOL.md sec. 5): u64 LE id, u8 flag, data.
import { ProtocolError } from './errors.js';
import { writeU32LE } from './framing.js';

export const Flag = {
  Data: 0,
  Failure: 1,
  Kick: 2,
  Reconnection: 3,
} as const;
export type FlagValue = (typeof Flag)[keyof typeof Flag];
export type FlagName = keyof typeof Flag;

export const FLAG_NAMES: readonly FlagName[] = ['Data', 'Failure', 'Kick', 'Reconnection'];

/** Bytes of a tagged packet before its data: id (8) + flag (1). */
export const TAG_SIZE = 9;

export interface FirehosePacket {
  id: bigint;
  flag: FlagValue;
  /** A view into the decoded buffer. */
  data: Uint8Array;
}

const U64_MAX = 0xffff_ffff_ffff_ffffn;

/** Decodes one firehose packet (a frame payload, without the length prefix). */
export function decodeFirehose(payload: Uint8Array): FirehosePacket | ProtocolError {
  if (payload.length < TAG_SIZE) {
    return new ProtocolError('VL_ERR_SHORT_PACKET', `firehose packet of ${payload.length} bytes: shorter than id + flag`);
  }
  const flag = payload[8]!;
  if (flag > 3) {
    return new ProtocolError('VL_ERR_UNKNOWN_FLAG', `firehose packet with unknown flag 0x${flag.toString(16).padStart(2, '0')}`);
  }
  return { id: readU64LE(payload, 0), flag: flag as FlagValue, data: payload.subarray(TAG_SIZE) };
}

export function readU64LE(b: Uint8Array, off: number): bigint {
  const lo = (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16)) + b[off + 3]! * 0x100_0000;
  const hi = (b[off + 4]! | (b[off + 5]! << 8) | (b[off + 6]! << 16)) + b[off + 7]! * 0x100_0000;
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/**
 * Reads a u64 LE id as a JS number when it is a safe integer (< 2^53), else -1. The edge
 * issues ids from 1 upwards, so every id it knows reads as a number; this avoids a BigInt
 * per packet on the data path.
 */
export function readIdNumber(b: Uint8Array, off: number): number {
  const hi = (b[off + 4]! | (b[off + 5]! << 8) | (b[off + 6]! << 16)) + b[off + 7]! * 0x100_0000;
  if (hi >= 0x20_0000) return -1;
  const lo = (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16)) + b[off + 3]! * 0x100_0000;
  return hi * 0x1_0000_0000 + lo;
}

export function writeU64LE(out: Uint8Array, off: number, id: bigint | number): void {
  if (typeof id === 'number') {
    const lo = id % 0x1_0000_0000;
    const hi = Math.floor(id / 0x1_0000_0000);
    writeU32LE(out, off, lo);
    writeU32LE(out, off + 4, hi);
    return;
  }
  if (id < 0n || id > U64_MAX) throw new RangeError(`id out of u64 range: ${id}`);
  writeU32LE(out, off, Number(id & 0xffff_ffffn));
  writeU32LE(out, off + 4, Number(id >> 32n));
}

/** Writes the 13-byte frame header of a tagged packet: u32 length, u64 id, flag. */
export function writeTaggedHeader(out: Uint8Array, off: number, id: bigint | number, flag: number, dataLength: number): void {
  writeU32LE(out, off, dataLength + TAG_SIZE);
  writeU64LE(out, off + 4, id);
  out[off + 12] = flag;
}

/** A whole framed firehose packet (length prefix included) as one buffer. */
export function encodeFirehose(id: bigint | number, flag: FlagValue, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(4 + TAG_SIZE + data.length);
  writeTaggedHeader(out, 0, id, flag, data.length);
  out.set(data, 13);
  return out;
}
