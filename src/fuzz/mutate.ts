// Protocol fuzzing inputs: valid handshake, frame and firehose packets, and mutations of them (bit flips, truncations,
// extensions, huge lengths, non-minimal varints, wrong variants and flags) as fast-check arbitraries.
import fc from 'fast-check';
import { encodeFrame } from '../io/framing.js';
import { encodeHandshake, type HandshakePacket } from '../io/handshake.js';
import { encodeFirehose, type FlagValue } from '../io/firehose.js';

const bytes = fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 245, maxLength: 300 }));

export const handshakePacket: fc.Arbitrary<HandshakePacket> = fc.oneof(
  fc.constant<HandshakePacket>({ type: 'Ping' }),
  fc.oneof(fc.constant(2), fc.integer({ min: 0, max: 0xffff_ffff })).map((version): HandshakePacket => ({ type: 'ProtocolVersion', version })),
  fc.oneof(fc.uint8Array({ minLength: 33, maxLength: 33 }), bytes).map((key): HandshakePacket => ({ type: 'PubKey', key })),
  fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }).map((id): HandshakePacket => ({ type: 'ClientId', id })),
  bytes.map((blob): HandshakePacket => ({ type: 'Challenge', blob })),
  bytes.map((blob): HandshakePacket => ({ type: 'ChallengeResponse', blob })),
);

/** A mutation applied to a byte string. */
export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'extend'; extra: Uint8Array }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'nonMinimal'; at: number; marker: 251 | 252 | 253 }
  | { kind: 'none' };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('extend' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0, 1, 5, 6, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff) }),
  fc.record({ kind: fc.constant('nonMinimal' as const), at: fc.nat(), marker: fc.constantFrom(251 as const, 252 as const, 253 as const) }),
  fc.constant({ kind: 'none' as const }),
);

/** Applies `m` to `b` (positions taken modulo the length); returns a new array. */
export function mutate(b: Uint8Array, m: Mutation): Uint8Array {
  const n = b.length;
  switch (m.kind) {
    case 'none':
      return b.slice();
    case 'flip': {
      if (n === 0) return b.slice();
      const out = b.slice();
      out[m.at % n]! ^= 1 << m.bit;
      return out;
    }
    case 'truncate':
      return b.slice(0, n === 0 ? 0 : m.at % n);
    case 'extend': {
      const out = new Uint8Array(n + m.extra.length);
      out.set(b);
      out.set(m.extra, n);
      return out;
    }
    case 'set': {
      if (n === 0) return Uint8Array.of(m.value);
      const out = b.slice();
      out[m.at % n] = m.value;
      return out;
    }
    case 'nonMinimal': {
      // Re-encode the byte at `at`, read as a small varint, in a wider form than needed.
      if (n === 0) return b.slice();
      const at = m.at % n;
      const v = b[at]!;
      const width = m.marker === 251 ? 2 : m.marker === 252 ? 4 : 8;
      const wide = new Uint8Array(1 + width);
      wide[0] = m.marker;
      wide[1] = v;
      const out = new Uint8Array(n + width);
      out.set(b.subarray(0, at));
      out.set(wide, at);
      out.set(b.subarray(at + 1), at + 1 + width);
      return out;
    }
  }
}

/** A handshake packet body, valid or mutated once or twice. */
export const mutatedHandshake: fc.Arbitrary<Uint8Array> = fc
  .tuple(handshakePacket, fc.array(mutation, { minLength: 0, maxLength: 2 }))
  .map(([p, ms]) => ms.reduce((b, m) => mutate(b, m), encodeHandshake(p)));

/** A framed handshake packet whose 4-byte length may also be mutated (huge, short, long). */
export const mutatedHandshakeFrame: fc.Arbitrary<Uint8Array> = fc
  .tuple(mutatedHandshake, fc.oneof(fc.constant(null), fc.constantFrom(0, 1, 1023, 1025, 0x7fff_ffff, 0xffff_ffff), fc.nat()))
  .map(([body, len]) => {
    const f = encodeFrame(body);
    if (len !== null) new DataView(f.buffer, f.byteOffset).setUint32(0, len >>> 0, true);
    return f;
  });

/** A firehose packet payload (id, flag, data), valid or mutated. */
export const mutatedFirehose: fc.Arbitrary<Uint8Array> = fc
  .tuple(
    fc.oneof(fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }), fc.bigInt({ min: 0n, max: 10n })),
    fc.integer({ min: 0, max: 255 }),
    fc.uint8Array({ maxLength: 32 }),
    fc.array(mutation, { maxLength: 2 }),
  )
  .map(([id, flag, data, ms]) => {
    const framed = encodeFirehose(id, (flag & 3) as FlagValue, data);
    framed[12] = flag;
    return ms.reduce((b, m) => mutate(b, m), framed.subarray(4));
  });

/** Cuts `b` into pieces at the given points (for "split at every byte" delivery). */
export function splitAt(b: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => (b.length === 0 ? 0 : c % (b.length + 1))))].sort((x, y) => x - y);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(b.subarray(prev, p));
    prev = p;
  }
  out.push(b.subarray(prev));
  return out;
}
