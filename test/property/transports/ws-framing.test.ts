// Fuzzing the WebSocket mapping: the frame splitter over any chunking, and a live edge fed fragmented
// messages with control frames between the fragments, mutated frames, and every kind of framing violation.
// The edge must reassemble what is valid, close what is not with the right code, and stay whole: another
// client's traffic keeps flowing, and every connection it closed is released.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Edge } from '../../../src/actors/edge.js';
import { FrameSplitter } from '../../../src/io/frame-splitter.js';
import { encodeFrame } from '../../../src/io/framing.js';
import { decodeHandshake, encodeHandshake } from '../../../src/io/handshake.js';
import { ProtocolError } from '../../../src/io/errors.js';
import { Flag } from '../../../src/io/firehose.js';
import { generateKeyPair } from '../../../src/io/crypto.js';
import { captureLogger } from '../../../src/fuzz/in-process.js';
import { testConfig } from '../../helpers/edge.js';
import { RawMaster, rawNewSession, text, frame } from '../../helpers/wire.js';
import { Op, RawWs, encodeWsFrame, type WsFrame } from '../../helpers/raw-ws.js';

const runs = Number(process.env.VOLTLANE_WS_FUZZ_RUNS ?? 30);
const CAP = 4096;
const enc = new TextEncoder();

describe('FrameSplitter', () => {
  it('gives back every frame, in order, whatever the chunking', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1 }), (frames, cuts) => {
        const stream = Buffer.concat(frames.map((f) => encodeFrame(f)));
        const out: Uint8Array[] = [];
        const sp = new FrameSplitter((p) => out.push(Uint8Array.from(p)));
        let at = 0;
        for (let i = 0; at < stream.length; i++) {
          const n = cuts[i % cuts.length]!;
          sp.push(stream.subarray(at, at + n));
          at += n;
        }
        expect(out.map((f) => Buffer.from(f).toString('hex'))).toEqual(frames.map((f) => Buffer.from(f).toString('hex')));
        expect(sp.idle).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

/** A message cut into fragments (binary, then continuations), with control frames between them. */
function fragmented(payload: Uint8Array, cuts: number[], controls: WsFrame[][]): WsFrame[] {
  const points = [...new Set(cuts.map((c) => c % (payload.length + 1)))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    pieces.push(payload.subarray(prev, p));
    prev = p;
  }
  pieces.push(payload.subarray(prev));
  const frames: WsFrame[] = [];
  pieces.forEach((piece, i) => {
    frames.push({ opcode: i === 0 ? Op.binary : Op.continuation, fin: i === pieces.length - 1, payload: piece });
    if (i < pieces.length - 1) frames.push(...(controls[i % Math.max(1, controls.length)] ?? []));
  });
  return frames;
}

const control = fc.oneof(
  fc.uint8Array({ maxLength: 125 }).map((p): WsFrame => ({ opcode: Op.ping, payload: p })),
  fc.uint8Array({ maxLength: 125 }).map((p): WsFrame => ({ opcode: Op.pong, payload: p })),
);

/** Violations of the WebSocket framing, each with the close code the edge must send (null: any close). */
type Violation = { name: string; frames: WsFrame[] | Uint8Array; code: number | null };
const violation: fc.Arbitrary<Violation> = fc.oneof<fc.Arbitrary<Violation>[]>(
  fc.string({ minLength: 1, maxLength: 20 }).map((s) => ({ name: 'text message', frames: [{ opcode: Op.text, payload: enc.encode(s) }], code: 1003 })),
  fc.uint8Array({ minLength: 1, maxLength: 40 }).map((p) => ({ name: 'unmasked frame', frames: [{ opcode: Op.binary, payload: p, mask: false }], code: 1002 })),
  fc.integer({ min: 1, max: 7 }).map((rsv) => ({ name: 'reserved bits', frames: [{ opcode: Op.binary, rsv, payload: Uint8Array.of(1) }], code: 1002 })),
  fc.constantFrom(3, 4, 5, 6, 7, 11, 12, 13, 14, 15).map((opcode) => ({ name: `opcode ${opcode}`, frames: [{ opcode, payload: Uint8Array.of(1) }], code: 1002 })),
  fc.constant({ name: 'fragmented ping', frames: [{ opcode: Op.ping, fin: false, payload: Uint8Array.of(1) }], code: 1002 }),
  fc.constant({ name: 'ping over 125 bytes', frames: [{ opcode: Op.ping, payload: new Uint8Array(126) }], code: 1002 }),
  fc.constant({ name: 'continuation without a start', frames: [{ opcode: Op.continuation, payload: Uint8Array.of(1) }], code: 1002 }),
  fc.constant({
    name: 'new message inside a fragmented one',
    frames: [
      { opcode: Op.binary, fin: false, payload: Uint8Array.of(1) },
      { opcode: Op.binary, payload: Uint8Array.of(2) },
    ],
    code: 1002,
  }),
  fc.integer({ min: CAP + 1, max: CAP * 3 }).map((n) => ({ name: `message of ${n} bytes`, frames: [{ opcode: Op.binary, payload: new Uint8Array(n) }], code: 1009 })),
  fc.integer({ min: 2, max: 6 }).map((k) => ({
    name: `message over the cap in ${k} fragments`,
    frames: Array.from({ length: k }, (_, i): WsFrame => ({ opcode: i === 0 ? Op.binary : Op.continuation, fin: i === k - 1, payload: new Uint8Array(Math.ceil((CAP + 10) / k)) })),
    code: 1009,
  })),
  fc.integer({ min: 1000, max: 4999 }).map((c) => ({ name: `close ${c}`, frames: [{ opcode: Op.close, payload: Uint8Array.of(c >> 8, c & 0xff) }], code: null })),
  // Random bytes, then the client's FIN: whatever they mean (an incomplete frame is a wait, not an error), the
  // connection must end.
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => ({ name: 'random bytes', frames: b, code: null })),
  // A valid message frame with some of its bytes (header or payload) flipped.
  fc
    .tuple(fc.uint8Array({ maxLength: 300 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }))
    .map(([payload, flips]) => {
      const bytes = encodeWsFrame({ opcode: Op.binary, payload });
      for (const [at, x] of flips) bytes[at % bytes.length]! ^= x;
      return { name: 'mutated message', frames: bytes, code: null };
    }),
);

describe('a live WebSocket edge under fuzzed framing', () => {
  it('reassembles fragmented messages around control frames, closes violations with the right code, and stays whole', { timeout: 120_000 }, async () => {
    const master = new RawMaster();
    const masterPort = await master.listen();
    const base = testConfig(masterPort);
    const logs: Array<Record<string, unknown>> = [];
    const edge = new Edge({
      config: {
        ...base,
        limits: {
          ...base.limits,
          maxFrameSize: CAP,
          handshakeTimeoutSecs: 1,
          newConnectionsPerAddressPerSec: 1e6,
          newConnectionsBurst: 1e6,
        },
        websocket: { address: { host: '127.0.0.1', port: 0 }, path: '/', tls: false, allowedOrigins: [] },
      },
      keyPair: generateKeyPair(),
      log: captureLogger(logs),
    });
    const { port } = await edge.start();
    await master.connected();
    const wsPort = edge.transports.address('ws')!.port;
    // A bystander on TCP whose traffic must stay whole and in order throughout.
    const good = await rawNewSession(port);
    let goodSeq = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.uint8Array({ minLength: 0, maxLength: 2 * CAP }),
          fc.array(fc.nat(), { maxLength: 5 }),
          fc.array(fc.array(control, { maxLength: 2 }), { maxLength: 3 }),
          fc.option(violation, { nil: null }),
          async (data, cuts, controls, bad) => {
            const ws = await RawWs.open(wsPort);
            try {
              const sent: WsFrame[] = [];
              const send = (frames: WsFrame[]) => {
                sent.push(...frames);
                ws.send(...frames);
              };
              // The handshake, each packet fragmented with control frames between the fragments.
              send(fragmented(encodeHandshake({ type: 'ProtocolVersion', version: 2 }), cuts, controls));
              await until(() => ws.messages.length >= 1, 'PubKey');
              send(fragmented(encodeHandshake({ type: 'PubKey', key: generateKeyPair().publicKey }), cuts.map((c) => c * 7), controls));
              await until(() => ws.messages.length >= 2, 'ClientId');
              const id = decodeHandshake(ws.messages[1]!);
              if (id instanceof ProtocolError || id.type !== 'ClientId') throw new Error('expected ClientId');
              // One data message, fragmented the same way, reaches the master whole.
              send(fragmented(data, cuts, controls));
              const got = await master.expect((p) => p.id === id.id && p.flag === Flag.Data, 5000, 'fuzzed data');
              expect(Buffer.from(got.data).equals(Buffer.from(data))).toBe(true);
              // Every ping is answered, with its payload.
              const pings = sent.filter((f) => f.opcode === Op.ping).map((f) => Buffer.from(f.payload).toString('hex'));
              await until(() => ws.pongs.length >= pings.length, 'pongs');
              expect(ws.pongs.map((p) => Buffer.from(p).toString('hex'))).toEqual(pings);
              if (bad) {
                if (bad.frames instanceof Uint8Array) {
                  ws.sendRaw(bad.frames);
                  ws.socket.end();
                } else {
                  ws.send(...bad.frames);
                }
                await Promise.race([ws.closed, sleep(4000).then(() => Promise.reject(new Error(`${bad.name}: the edge did not close`)))]);
                if (bad.code !== null) expect(ws.closeCode, bad.name).toBe(bad.code);
              }
              // The bystander is unaffected.
              const label = `good ${goodSeq++}`;
              good.socket.write(frame(label));
              await master.expect((p) => p.id === good.id && text(p.data) === label, 5000, label);
            } finally {
              ws.destroy();
            }
          },
        ),
        { numRuns: runs },
      );
      // Every connection the edge closed was released: only the bystander remains.
      await until(() => edge.stats().openSockets === 1, 'connections released', 5000);
      expect(logs.filter((l) => l.msg === 'client.data_failed')).toEqual([]);
    } finally {
      good.socket.destroy();
      await edge.stop();
      await master.close();
    }
  });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

