// The client <-> edge handshake enum (PROTOCOL.md sec. 2), bincode 2 standard config, strict decoding.
import { ProtocolError } from './errors.js';
import { readVarint, varintSize, writeVarint } from './varint.js';

export const PROTOCOL_VERSION = 2;

export const HandshakeVariant = {
  Ping: 0,
  ProtocolVersion: 1,
  PubKey: 2,
  ClientId: 3,
  Challenge: 4,
  ChallengeResponse: 5,
} as const;

export type HandshakePacket =
  | { type: 'Ping' }
  | { type: 'ProtocolVersion'; version: number }
  | { type: 'PubKey'; key: Uint8Array }
  | { type: 'ClientId'; id: bigint }
  | { type: 'Challenge'; blob: Uint8Array }
  | { type: 'ChallengeResponse'; blob: Uint8Array };

export type HandshakeType = HandshakePacket['type'];

function bytesPacket(variant: number, bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + varintSize(bytes.length) + bytes.length);
  out[0] = variant;
  const off = writeVarint(out, 1, bytes.length);
  out.set(bytes, off);
  return out;
}

/** Encodes one handshake packet (without the frame prefix). */
export function encodeHandshake(p: HandshakePacket): Uint8Array {
  switch (p.type) {
    case 'Ping':
      return Uint8Array.of(HandshakeVariant.Ping);
    case 'ProtocolVersion': {
      if (!Number.isInteger(p.version) || p.version < 0 || p.version > 0xffff_ffff) {
        throw new RangeError(`ProtocolVersion out of u32 range: ${p.version}`);
      }
      const out = new Uint8Array(1 + varintSize(p.version));
      out[0] = HandshakeVariant.ProtocolVersion;
      writeVarint(out, 1, p.version);
      return out;
    }
    case 'ClientId': {
      const out = new Uint8Array(1 + varintSize(p.id));
      out[0] = HandshakeVariant.ClientId;
      writeVarint(out, 1, p.id);
      return out;
    }
    case 'PubKey':
      return bytesPacket(HandshakeVariant.PubKey, p.key);
    case 'Challenge':
      return bytesPacket(HandshakeVariant.Challenge, p.blob);
    case 'ChallengeResponse':
      return bytesPacket(HandshakeVariant.ChallengeResponse, p.blob);
  }
}

function readBytes(buf: Uint8Array, off: number): { bytes: Uint8Array; next: number } | ProtocolError {
  const len = readVarint(buf, off, 'u64');
  if (len instanceof ProtocolError) return len;
  const remaining = BigInt(buf.length - len.next);
  if (len.value > remaining) {
    return new ProtocolError('VL_ERR_TRUNCATED', `byte vector announces ${len.value} bytes, ${remaining} present`);
  }
  const n = Number(len.value);
  return { bytes: buf.subarray(len.next, len.next + n), next: len.next + n };
}

/**
 * Decodes exactly one handshake packet from a whole frame payload. Byte payloads are views
 * into `buf`. Returns a ProtocolError (never throws) for anything malformed.
 */
export function decodeHandshake(buf: Uint8Array): HandshakePacket | ProtocolError {
  if (buf.length === 0) return new ProtocolError('VL_ERR_EMPTY_PACKET', 'handshake: empty packet');
  const tag = readVarint(buf, 0, 'u32');
  if (tag instanceof ProtocolError) {
    if (tag.code === 'VL_ERR_VARINT_NON_MINIMAL' || tag.code === 'VL_ERR_TRUNCATED') return tag;
    return new ProtocolError('VL_ERR_UNKNOWN_VARIANT', `handshake: unknown variant (${tag.message})`);
  }
  let packet: HandshakePacket;
  let next: number;
  switch (tag.value) {
    case 0n:
      packet = { type: 'Ping' };
      next = tag.next;
      break;
    case 1n: {
      const v = readVarint(buf, tag.next, 'u32');
      if (v instanceof ProtocolError) return v;
      packet = { type: 'ProtocolVersion', version: Number(v.value) };
      next = v.next;
      break;
    }
    case 3n: {
      const v = readVarint(buf, tag.next, 'u64');
      if (v instanceof ProtocolError) return v;
      packet = { type: 'ClientId', id: v.value };
      next = v.next;
      break;
    }
    case 2n:
    case 4n:
    case 5n: {
      const b = readBytes(buf, tag.next);
      if (b instanceof ProtocolError) return b;
      packet =
        tag.value === 2n
          ? { type: 'PubKey', key: b.bytes }
          : tag.value === 4n
            ? { type: 'Challenge', blob: b.bytes }
            : { type: 'ChallengeResponse', blob: b.bytes };
      next = b.next;
      break;
    }
    default:
      return new ProtocolError('VL_ERR_UNKNOWN_VARIANT', `handshake: unknown variant index ${tag.value}`);
  }
  if (next !== buf.length) {
    return new ProtocolError('VL_ERR_TRAILING_BYTES', `handshake: ${buf.length - next} trailing byte(s) after ${packet.type}`);
  }
  return packet;
}
