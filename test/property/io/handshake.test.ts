// Properties of the handshake codec: round trip of arbitrary packets, strictness, and no throwing on any input.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ProtocolError } from '../../../src/io/errors.js';
import { decodeHandshake, encodeHandshake, type HandshakePacket } from '../../../src/io/handshake.js';

const bytes = fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 245, maxLength: 300 }));

const packet: fc.Arbitrary<HandshakePacket> = fc.oneof(
  fc.constant<HandshakePacket>({ type: 'Ping' }),
  fc.integer({ min: 0, max: 0xffff_ffff }).map((version): HandshakePacket => ({ type: 'ProtocolVersion', version })),
  bytes.map((key): HandshakePacket => ({ type: 'PubKey', key })),
  fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }).map((id): HandshakePacket => ({ type: 'ClientId', id })),
  bytes.map((blob): HandshakePacket => ({ type: 'Challenge', blob })),
  bytes.map((blob): HandshakePacket => ({ type: 'ChallengeResponse', blob })),
);

describe('handshake properties', () => {
  it('decodes every encoded packet back to itself', () => {
    fc.assert(
      fc.property(packet, (p) => {
        expect(decodeHandshake(encodeHandshake(p))).toEqual(p);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects every strict prefix and every extension of an encoded packet', () => {
    fc.assert(
      fc.property(packet, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 }), (p, cut, extra) => {
        const enc = encodeHandshake(p);
        expect(decodeHandshake(enc.subarray(0, cut % enc.length))).toBeInstanceOf(ProtocolError);
        expect(decodeHandshake(new Uint8Array([...enc, ...extra]))).toBeInstanceOf(ProtocolError);
      }),
      { numRuns: 300 },
    );
  });

  it('decodes arbitrary bytes to a packet or a ProtocolError, never throwing; accepted bytes are canonical', () => {
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 48 }),
      fc.tuple(fc.integer({ min: 0, max: 7 }), fc.uint8Array({ maxLength: 48 })).map(([v, rest]) => Uint8Array.of(v, ...rest)),
    );
    fc.assert(
      fc.property(input, (b) => {
        const r = decodeHandshake(b);
        if (r instanceof ProtocolError) expect(r.code).toMatch(/^VL_ERR_/);
        else expect(encodeHandshake(r)).toEqual(b);
      }),
      { numRuns: 1000 },
    );
  });
});
