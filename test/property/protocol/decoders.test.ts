// Protocol fuzzing of the decoders (about 10^4 mutated inputs in npm test; npm run fuzz runs 10^6).
import { describe, it } from 'vitest';
import fc from 'fast-check';
import { everyByteSplitProperty, firehoseProperty, frameStreamProperty, handshakeProperty } from './decoder-properties.js';

const runs = Number(process.env.VOLTLANE_PROTOCOL_RUNS ?? 3000);

describe('decoders under mutated input', () => {
  it('the handshake decoder never throws and accepts only canonical packets', () => {
    fc.assert(handshakeProperty(), { numRuns: runs });
  });
  it('the firehose decoder never throws and accepts only what round-trips', () => {
    fc.assert(firehoseProperty(), { numRuns: runs });
  });
  it('the frame decoder yields the same frames however the stream is split, and holds nothing past a rejection', () => {
    fc.assert(frameStreamProperty(), { numRuns: runs });
  });
  it('the frame decoder yields the same frames when split at every byte', () => {
    fc.assert(everyByteSplitProperty(), { numRuns: Math.ceil(runs / 30) });
  });
});
