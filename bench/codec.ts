// Codec benchmark: FrameDecoder and firehose encoding throughput, each against a hand-written baseline.
import { pathToFileURL } from 'node:url';
import { FrameDecoder, encodeFrame } from '../src/io/framing.js';
import { encodeFirehose, Flag, writeTaggedHeader } from '../src/io/firehose.js';
import { FrameWriter, type FrameSink } from '../src/io/writer.js';
import { ProtocolError } from '../src/io/errors.js';

export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  /** The same figure for the baseline of this measurement, when it has one. */
  baseline?: number;
}

export interface CodecBenchOptions {
  /** Seconds each measurement runs (after a short warm-up). */
  seconds: number;
}

const CHUNK = 64 * 1024;
/** Bytes of framed stream per decode pass; a multiple of every frame size used, so a pass ends on a frame boundary. */
const STREAM_FRAMES = { small: 64 * 1024, large: 256 };

interface Rate {
  /** Operations (frames) per second. */
  ops: number;
  /** Bytes per second. */
  bytes: number;
}

/**
 * Runs `pass` (which does `opsPerPass` operations over `bytesPerPass` bytes and returns a checksum)
 * repeatedly for `seconds`, after a warm-up, and returns the rates.
 */
function measure(seconds: number, opsPerPass: number, bytesPerPass: number, pass: () => number, expect: number): Rate {
  const check = (sum: number): void => {
    if (sum !== expect) throw new Error(`benchmark pass returned checksum ${sum}, expected ${expect}`);
  };
  const warmEnd = performance.now() + Math.min(300, seconds * 200);
  while (performance.now() < warmEnd) check(pass());
  let passes = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  let now = start;
  while (now < end) {
    check(pass());
    passes++;
    now = performance.now();
  }
  const elapsed = (now - start) / 1000;
  return { ops: (passes * opsPerPass) / elapsed, bytes: (passes * bytesPerPass) / elapsed };
}

/** A framed stream of `count` frames of `size` bytes, cut into CHUNK-sized chunks (each its own buffer). */
function framedChunks(size: number, count: number): { whole: Uint8Array; chunks: Uint8Array[] } {
  const payload = Uint8Array.from({ length: size }, (_, i) => (i * 7 + 1) & 0xff);
  const frame = encodeFrame(payload);
  const whole = new Uint8Array(frame.length * count);
  for (let i = 0; i < count; i++) whole.set(frame, i * frame.length);
  const chunks: Uint8Array[] = [];
  for (let off = 0; off < whole.length; off += CHUNK) chunks.push(whole.slice(off, off + CHUNK));
  return { whole, chunks };
}

/** Decodes every chunk with a fresh FrameDecoder; the checksum is the sum of frame lengths. */
function decodePass(chunks: Uint8Array[]): number {
  const d = new FrameDecoder();
  let sum = 0;
  for (let c = 0; c < chunks.length; c++) {
    d.push(chunks[c]!);
    for (let f = d.next(); f !== null; f = d.next()) {
      if (f instanceof ProtocolError) throw f;
      sum += f.length;
    }
  }
  return sum;
}

/** Baseline: read the u32 lengths and subarray the frames out of one contiguous buffer, no class. */
function baselineDecodePass(whole: Uint8Array): number {
  let sum = 0;
  let off = 0;
  while (off + 4 <= whole.length) {
    const len = (whole[off]! | (whole[off + 1]! << 8) | (whole[off + 2]! << 16)) + whole[off + 3]! * 0x100_0000;
    const body = whole.subarray(off + 4, off + 4 + len);
    sum += body.length;
    off += 4 + len;
  }
  return sum;
}

/**
 * Checks that frames lying wholly inside one chunk come out as views of it (no copy), and that
 * only frames straddling a chunk boundary are copied. Throws if not.
 */
export function assertZeroCopy(size: number, count: number): { views: number; copies: number } {
  const { chunks } = framedChunks(size, count);
  const frameLen = size + 4;
  const d = new FrameDecoder();
  let views = 0;
  let copies = 0;
  let streamOff = 0;
  for (const chunk of chunks) {
    d.push(chunk);
    for (let f = d.next(); f !== null; f = d.next()) {
      if (f instanceof ProtocolError) throw f;
      const start = streamOff - (streamOff % CHUNK);
      const inside = Math.floor(streamOff / CHUNK) === Math.floor((streamOff + frameLen - 1) / CHUNK);
      if (inside) {
        const expectedOffset = chunk.byteOffset + (streamOff - start) + 4;
        if (f.buffer !== chunk.buffer || f.byteOffset !== expectedOffset) {
          throw new Error(`a ${size} B frame at stream offset ${streamOff} inside one chunk was copied`);
        }
        views++;
      } else {
        copies++;
      }
      streamOff += frameLen;
    }
  }
  if (views === 0) throw new Error(`no ${size} B frame lay inside a chunk: the zero-copy check proved nothing`);
  return { views, copies };
}

/** A socket stand-in that accepts and drops everything. */
function nullSink(): FrameSink & { bytes: number } {
  return {
    bytes: 0,
    write(chunk: Uint8Array): boolean {
      this.bytes += chunk.length;
      return true;
    },
    cork(): void {},
    uncork(): void {},
    writableLength: 0,
    destroyed: false,
  };
}

const ENCODE_PASS_BYTES = 4 * 1024 * 1024;

function encodeCases(size: number): { writer: () => number; encode: () => number; baseline: () => number; count: number; wire: number } {
  const data = Uint8Array.from({ length: size }, (_, i) => i & 0xff);
  const wire = size + 13;
  const count = Math.max(1, Math.floor(ENCODE_PASS_BYTES / wire));
  const sink = nullSink();
  const w = new FrameWriter(sink);
  const slab = new Uint8Array(count * wire);
  return {
    count,
    wire,
    writer: () => {
      sink.bytes = 0;
      for (let i = 0; i < count; i++) w.writeTagged(i + 1, Flag.Data, data);
      w.flush();
      return sink.bytes;
    },
    encode: () => {
      let sum = 0;
      for (let i = 0; i < count; i++) sum += encodeFirehose(i + 1, Flag.Data, data).length;
      return sum;
    },
    // Baseline: the tagged header and a copy of the payload into one preallocated buffer.
    baseline: () => {
      let off = 0;
      for (let i = 0; i < count; i++) {
        writeTaggedHeader(slab, off, i + 1, Flag.Data, size);
        slab.set(data, off + 13);
        off += wire;
      }
      return off;
    },
  };
}

function rateResults(name: string, r: Rate, base: Rate | undefined, opsUnit: string): BenchResult[] {
  return [
    { name, value: r.ops, unit: opsUnit, ...(base ? { baseline: base.ops } : {}) },
    { name, value: r.bytes / 1e6, unit: 'MB/s', ...(base ? { baseline: base.bytes / 1e6 } : {}) },
  ];
}

/** Runs every codec measurement for `seconds` each and returns the figures (with their baselines). */
export async function runCodecBench(opts: CodecBenchOptions): Promise<BenchResult[]> {
  const { seconds } = opts;
  if (!(seconds > 0)) throw new RangeError(`seconds must be > 0, got ${seconds}`);
  const results: BenchResult[] = [];

  const zc = assertZeroCopy(16 * 1024, 64);
  results.push({ name: 'decode 16 KiB frames: handed out as views (no copy)', value: zc.views, unit: 'frames' });
  results.push({ name: 'decode 16 KiB frames: copied (straddle a chunk)', value: zc.copies, unit: 'frames' });

  for (const [label, size, count] of [
    ['64 B', 64, STREAM_FRAMES.small],
    ['16 KiB', 16 * 1024, STREAM_FRAMES.large],
  ] as const) {
    const { whole, chunks } = framedChunks(size, count);
    const expect = size * count;
    const base = measure(seconds, count, whole.length, () => baselineDecodePass(whole), expect);
    await yieldToLoop();
    const dec = measure(seconds, count, whole.length, () => decodePass(chunks), expect);
    await yieldToLoop();
    results.push(...rateResults(`baseline: u32 + subarray loop, ${label} frames`, base, undefined, 'frames/s'));
    results.push(...rateResults(`FrameDecoder ${label} frames from 64 KiB chunks`, dec, base, 'frames/s'));
  }

  for (const [label, size] of [
    ['64 B', 64],
    ['16 KiB', 16 * 1024],
  ] as const) {
    const c = encodeCases(size);
    const bytes = c.count * c.wire;
    const base = measure(seconds, c.count, bytes, c.baseline, bytes);
    await yieldToLoop();
    const writer = measure(seconds, c.count, bytes, c.writer, bytes);
    await yieldToLoop();
    const enc = measure(seconds, c.count, bytes, c.encode, bytes);
    await yieldToLoop();
    results.push(...rateResults(`baseline: header + copy into one buffer, ${label} payloads`, base, undefined, 'packets/s'));
    results.push(...rateResults(`FrameWriter.writeTagged ${label} payloads to a null sink`, writer, base, 'packets/s'));
    results.push(...rateResults(`encodeFirehose ${label} payloads`, enc, base, 'packets/s'));
  }
  return results;
}

/** Lets timers and I/O run between measurements (the writer's setImmediate flush among them). */
function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function fmt(v: number, unit: string): string {
  if (unit === 'MB/s' || v < 1e4) return `${Math.round(v).toLocaleString('en-US')} ${unit}`;
  if (v < 1e6) return `${(v / 1e3).toFixed(1)} k${unit}`;
  return `${(v / 1e6).toFixed(2)} M${unit}`;
}

export function formatTable(results: BenchResult[]): string {
  const rows = results.map((r) => [
    r.name,
    fmt(r.value, r.unit),
    r.baseline === undefined ? '' : fmt(r.baseline, r.unit),
    r.baseline === undefined ? '' : `${(r.value / r.baseline).toFixed(2)}x`,
  ]);
  const head = ['measurement', 'value', 'baseline', 'ratio'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const arg = process.argv.find((a) => a.startsWith('--seconds='));
  const seconds = arg ? Number(arg.slice('--seconds='.length)) : 1.5;
  runCodecBench({ seconds }).then(
    (results) => console.log(formatTable(results)),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
