// Properties of the firehose codec: framed round trip of arbitrary packets; arbitrary payloads never throw.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ProtocolError } from '../../../src/io/errors.js';
import { decodeFirehose, encodeFirehose, readIdNumber, type FlagValue } from '../../../src/io/firehose.js';
import { drain } from '../../unit/io/drain.js';

const id = fc.oneof(fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }), fc.bigInt({ min: 0n, max: 1n << 60n }));
const flag = fc.constantFrom<FlagValue>(0, 1, 2, 3);

describe('firehose properties', () => {
  it('decodes every encoded packet back to its id, flag and data', () => {
    fc.assert(
      fc.property(id, flag, fc.uint8Array({ maxLength: 200 }), (i, f, data) => {
        const framed = encodeFirehose(i, f, data);
        const { frames, error } = drain([framed]);
        expect(error).toBeNull();
        expect(frames).toHaveLength(1);
        expect(frames[0]!.length).toBe(9 + data.length);
        expect(decodeFirehose(frames[0]!)).toEqual({ id: i, flag: f, data });
        expect(readIdNumber(frames[0]!, 0)).toBe(i <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(i) : -1);
      }),
      { numRuns: 300 },
    );
  });

  it('encodes a safe-integer id given as a number exactly as the same id given as a bigint', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), flag, fc.uint8Array({ maxLength: 16 }), (n, f, data) => {
        expect(encodeFirehose(n, f, data)).toEqual(encodeFirehose(BigInt(n), f, data));
      }),
      { numRuns: 300 },
    );
  });

  it('decodes arbitrary payloads to a packet or the right ProtocolError, never throwing', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), (b) => {
        const r = decodeFirehose(b);
        if (b.length < 9) expect((r as ProtocolError).code).toBe('VL_ERR_SHORT_PACKET');
        else if (b[8]! > 3) expect((r as ProtocolError).code).toBe('VL_ERR_UNKNOWN_FLAG');
        else expect(r).not.toBeInstanceOf(ProtocolError);
      }),
      { numRuns: 1000 },
    );
  });
});
