// bincode 2 "standard" unsigned varints: < 251 in one byte, else a marker (251/252/253) and u16/u32/u64 LE.
import { ProtocolError } from './errors.js';

export type UintType = 'u16' | 'u32' | 'u64';

const MAX: Record<UintType, bigint> = {
  u16: 0xffffn,
  u32: 0xffff_ffffn,
  u64: 0xffff_ffff_ffff_ffffn,
};

/** Number of bytes the minimal encoding of `value` takes. */
export function varintSize(value: bigint | number): number {
  const v = BigInt(value);
  if (v < 251n) return 1;
  if (v <= 0xffffn) return 3;
  if (v <= 0xffff_ffffn) return 5;
  return 9;
}

/** Writes the minimal varint of `value` at `off`; returns the offset after it. */
export function writeVarint(out: Uint8Array, off: number, value: bigint | number): number {
  const v = BigInt(value);
  if (v < 0n || v > MAX.u64) throw new RangeError(`varint out of range: ${v}`);
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  if (v < 251n) {
    out[off] = Number(v);
    return off + 1;
  }
  if (v <= 0xffffn) {
    out[off] = 251;
    dv.setUint16(off + 1, Number(v), true);
    return off + 3;
  }
  if (v <= 0xffff_ffffn) {
    out[off] = 252;
    dv.setUint32(off + 1, Number(v), true);
    return off + 5;
  }
  out[off] = 253;
  dv.setBigUint64(off + 1, v, true);
  return off + 9;
}

export function encodeVarint(value: bigint | number): Uint8Array {
  const out = new Uint8Array(varintSize(value));
  writeVarint(out, 0, value);
  return out;
}

export interface VarintRead {
  value: bigint;
  next: number;
}

/**
 * Reads one varint of `type` at `off`. Rejects truncation, the u128 and 255 markers,
 * forms wider than `type`, and non-minimal forms.
 */
export function readVarint(buf: Uint8Array, off: number, type: UintType): VarintRead | ProtocolError {
  if (off >= buf.length) return new ProtocolError('VL_ERR_TRUNCATED', 'varint: no marker byte');
  const first = buf[off]!;
  if (first < 251) return { value: BigInt(first), next: off + 1 };
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let width: number;
  let value: bigint;
  let min: bigint;
  if (first === 251) {
    width = 2;
    min = 251n;
  } else if (first === 252) {
    width = 4;
    min = 0x1_0000n;
  } else if (first === 253) {
    width = 8;
    min = 0x1_0000_0000n;
  } else {
    return new ProtocolError('VL_ERR_VARINT_MARKER', `varint: invalid marker byte ${first}`);
  }
  if ((width === 4 && type === 'u16') || (width === 8 && type !== 'u64')) {
    return new ProtocolError('VL_ERR_VARINT_OVERFLOW', `varint: ${width * 8}-bit form does not fit ${type}`);
  }
  if (off + 1 + width > buf.length) {
    return new ProtocolError('VL_ERR_TRUNCATED', `varint: ${width}-byte form truncated`);
  }
  if (width === 2) value = BigInt(dv.getUint16(off + 1, true));
  else if (width === 4) value = BigInt(dv.getUint32(off + 1, true));
  else value = dv.getBigUint64(off + 1, true);
  if (value < min) {
    return new ProtocolError('VL_ERR_VARINT_NON_MINIMAL', `varint: ${value} in a non-minimal ${width * 8}-bit form`);
  }
  return { value, next: off + 1 + width };
}

/** Decodes a whole input as exactly one varint of `type`. */
export function decodeVarint(buf: Uint8Array, type: UintType): bigint | ProtocolError {
  const r = readVarint(buf, 0, type);
  if (r instanceof ProtocolError) return r;
  if (r.next !== buf.length) {
    return new ProtocolError('VL_ERR_TRAILING_BYTES', `varint: ${buf.length - r.next} trailing byte(s)`);
  }
  return r.value;
}
