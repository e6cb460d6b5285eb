// The master link reads into one reused buffer: frames handed to onFrame are ranges of it, valid only during the call.
// Copied out at once (as the edge's router does with writeFrameFrom), every frame arrives byte-exact, whatever
// several reads in one turn wrote over the buffer meanwhile.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MasterLink } from '../../../src/actors/master-link.js';
import { encodeFrame, FrameDecoder } from '../../../src/io/framing.js';
import { FrameWriter, type FrameSink } from '../../../src/io/writer.js';
import { silentLogger } from '../../../src/log.js';

/** Collects what a FrameWriter hands over (by reference, as a socket keeps a buffer until it is written). */
class Collect implements FrameSink {
  readonly pieces: Uint8Array[] = [];
  writableLength = 0;
  destroyed = false;
  write(chunk: Uint8Array): boolean {
    this.pieces.push(chunk);
    return true;
  }
  cork(): void {}
  uncork(): void {}
}

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

describe('MasterLink: the reused read buffer', () => {
  it('delivers frames that writers copy out byte-exact, with many full reads of a small buffer in one turn', async () => {
    // Sizes below and above the writers' COPY_LIMIT (16 KiB), some longer than the 20 KB read buffer.
    const sizes = [0, 1, 77, 5_000, 16_383, 16_384, 16_500, 19_000, 25_000, 3];
    const frames: Uint8Array[] = [];
    for (let round = 0; round < 12; round++) {
      sizes.forEach((n, i) => frames.push(Uint8Array.from({ length: n }, (_, k) => (k * 13 + i * 7 + round * 29) & 0xff)));
    }
    const stream = Buffer.concat(frames.map(encodeFrame));
    const server = net.createServer((s) => s.end(stream));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanup.push(() => server.close());
    const port = (server.address() as net.AddressInfo).port;
    const sink = new Collect();
    const writer = new FrameWriter(sink);
    let received = 0;
    let done!: () => void;
    const allIn = new Promise<void>((r) => (done = r));
    const link = new MasterLink({
      address: { host: '127.0.0.1', port },
      capacity: 1000,
      capacityBytes: 1 << 20,
      connectTimeoutMs: 5000,
      maxFrame: 1 << 20,
      log: silentLogger(),
      now: () => Date.now(),
      onFrame: (buf, start, len) => {
        writer.writeFrameFrom(buf, start, len);
        if (++received === frames.length) done();
      },
      onConnected: () => {},
      onLost: () => {},
      onWritable: () => {},
      readBufferBytes: 20_000,
    });
    link.dial();
    cleanup.push(() => link.drop());
    await allIn;
    writer.flush();
    const dec = new FrameDecoder();
    for (const p of sink.pieces) dec.push(p.slice());
    frames.forEach((f, i) => {
      const got = dec.next();
      if (!(got instanceof Uint8Array) || !Buffer.from(got).equals(Buffer.from(f))) expect.fail(`frame ${i} (${f.length} B) differs`);
    });
    expect(dec.next()).toBeNull();
    expect(link.packetsIn).toBe(frames.length);
  });
});
