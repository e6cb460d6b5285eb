// Decoder fuzz properties shared by npm test (about 10^4 inputs) and npm run fuzz (10^6 and more):
// mutated handshake packets, firehose packets and frame streams; never a throw, only canonical input accepted,
// the same frames whatever the split, nothing buffered past a rejected length.
import fc from 'fast-check';
import { ProtocolError } from '../../../src/io/errors.js';
import { FrameDecoder } from '../../../src/io/framing.js';
import { decodeHandshake, encodeHandshake } from '../../../src/io/handshake.js';
import { decodeFirehose, encodeFirehose } from '../../../src/io/firehose.js';
import { mutatedFirehose, mutatedHandshake, mutatedHandshakeFrame, splitAt } from '../../../src/fuzz/mutate.js';

const eq = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

export function handshakeProperty(): fc.IPropertyWithHooks<[Uint8Array]> {
  return fc.property(mutatedHandshake, (b) => {
    const p = decodeHandshake(b);
    if (p instanceof ProtocolError) return true;
    // Strict decoding: whatever is accepted is the one canonical encoding of what it decoded to.
    if (!eq(encodeHandshake(p), b)) throw new Error(`accepted a non-canonical handshake packet ${Buffer.from(b).toString('hex')}`);
    return true;
  });
}

export function firehoseProperty(): fc.IPropertyWithHooks<[Uint8Array]> {
  return fc.property(mutatedFirehose, (b) => {
    const p = decodeFirehose(b);
    if (p instanceof ProtocolError) return true;
    if (!eq(encodeFirehose(p.id, p.flag, p.data).subarray(4), b)) throw new Error(`firehose decode does not round-trip ${Buffer.from(b).toString('hex')}`);
    return true;
  });
}

type Out = Array<string>;

/** Pulls frames until more bytes are needed; a rejection is recorded once (the decoder stays failed). */
function drain(d: FrameDecoder, out: Out): void {
  if (out[out.length - 1]?.startsWith('error')) {
    if (!(d.next() instanceof ProtocolError)) throw new Error('decoder recovered after a rejection (it must stay failed)');
    return;
  }
  for (;;) {
    const f = d.next();
    if (f === null) return;
    if (f instanceof ProtocolError) {
      out.push(`error ${f.code}`);
      if (d.bufferedBytes !== 0) throw new Error(`decoder holds ${d.bufferedBytes} bytes after rejecting a frame`);
      return;
    }
    out.push(Buffer.from(f).toString('hex'));
  }
}

export function frameStreamProperty(cap = 1024): fc.IPropertyWithHooks<[Uint8Array[], number[]]> {
  return fc.property(fc.array(mutatedHandshakeFrame, { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 12 }), (frames, cuts) => {
    const stream = Buffer.concat(frames);
    const whole = new FrameDecoder(cap);
    const a: Out = [];
    whole.push(stream);
    drain(whole, a);
    const split = new FrameDecoder(cap);
    const b: Out = [];
    for (const piece of splitAt(stream, cuts)) {
      split.push(piece);
      drain(split, b);
      if (split.bufferedBytes > cap + 4 + stream.length) throw new Error('decoder buffered more than it was given');
    }
    if (a.join() !== b.join()) throw new Error(`split delivery changed the frames: ${a.join()} vs ${b.join()}`);
    return true;
  });
}

/** Every byte split of one stream (the costly, exhaustive form): same frames for each single cut. */
export function everyByteSplitProperty(cap = 1024): fc.IPropertyWithHooks<[Uint8Array[]]> {
  return fc.property(fc.array(mutatedHandshakeFrame, { maxLength: 3 }), (frames) => {
    const stream = Buffer.concat(frames);
    const ref: Out = [];
    const d0 = new FrameDecoder(cap);
    d0.push(stream);
    drain(d0, ref);
    for (let i = 0; i <= Math.min(stream.length, 400); i++) {
      const d = new FrameDecoder(cap);
      const out: Out = [];
      d.push(stream.subarray(0, i));
      drain(d, out);
      d.push(stream.subarray(i));
      drain(d, out);
      if (out.join() !== ref.join()) throw new Error(`split at byte ${i} changed the frames`);
    }
    return true;
  });
}
