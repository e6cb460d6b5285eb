// Long protocol fuzzing of the decoders: VOLTLANE_PROTOCOL_INPUTS mutated inputs in all (default 10^6).
import { describe, it } from 'vitest';
import fc from 'fast-check';
import { everyByteSplitProperty, firehoseProperty, frameStreamProperty, handshakeProperty } from '../property/protocol/decoder-properties.js';

const total = Number(process.env.VOLTLANE_PROTOCOL_INPUTS ?? 1_000_000);
const seed = process.env.VOLTLANE_FUZZ_SEED ? { seed: Number(process.env.VOLTLANE_FUZZ_SEED) } : {};

describe(`decoders, ${total} mutated inputs`, () => {
  it('handshake', () => fc.assert(handshakeProperty(), { numRuns: Math.round(total * 0.4), ...seed }));
  it('firehose', () => fc.assert(firehoseProperty(), { numRuns: Math.round(total * 0.3), ...seed }));
  it('frame streams split at random points', () => fc.assert(frameStreamProperty(), { numRuns: Math.round(total * 0.3), ...seed }));
  it('frame streams split at every byte', () => fc.assert(everyByteSplitProperty(), { numRuns: Math.max(100, Math.round(total / 1000)), ...seed }));
});
