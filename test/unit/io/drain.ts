// Test helper: feed chunks through a FrameDecoder and collect every frame (or the error) it yields.
import { FrameDecoder } from '../../../src/io/framing.js';
import { ProtocolError } from '../../../src/io/errors.js';

export interface Drained {
  frames: Uint8Array[];
  error: ProtocolError | null;
}

/** Pushes each chunk in turn, calling next() until it reports "need more" after every push. */
export function drain(chunks: Iterable<Uint8Array>, decoder: FrameDecoder = new FrameDecoder()): Drained {
  const frames: Uint8Array[] = [];
  for (const chunk of chunks) {
    decoder.push(chunk);
    for (;;) {
      const r = decoder.next();
      if (r === null) break;
      if (r instanceof ProtocolError) return { frames, error: r };
      frames.push(r);
    }
  }
  return { frames, error: null };
}

/** The two-chunk splits of `bytes` at every index 0..length (both halves views of `bytes`). */
export function* splitsOf(bytes: Uint8Array): Generator<[number, Uint8Array[]]> {
  for (let i = 0; i <= bytes.length; i++) yield [i, [bytes.subarray(0, i), bytes.subarray(i)]];
}

/** `bytes` as one-byte chunks. */
export function bytewise(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i++) out.push(bytes.subarray(i, i + 1));
  return out;
}

/** The bytes of `parts` back to back, as one fresh Uint8Array. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
