// Protocol fuzzing of a live edge: mutated handshakes from many bad clients and malformed packets from the master,
// while a good client's traffic flows: no crash, bad peers logged and closed, good traffic whole and in order,
// memory bounded, nothing left in flight.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import net from 'node:net';
import { once } from 'node:events';
import { Edge } from '../../../src/actors/edge.js';
import { generateKeyPair } from '../../../src/io/crypto.js';
import { decodeFirehose, Flag } from '../../../src/io/firehose.js';
import { decodeHandshake } from '../../../src/io/handshake.js';
import { encodeFrame, FrameDecoder } from '../../../src/io/framing.js';
import { ProtocolError } from '../../../src/io/errors.js';
import { ClientPeer } from '../../../src/fuzz/client-peer.js';
import { MasterPeer } from '../../../src/fuzz/master-peer.js';
import { captureLogger, fuzzEdgeConfig } from '../../../src/fuzz/in-process.js';
import { mutatedFirehose, mutatedHandshakeFrame, splitAt } from '../../../src/fuzz/mutate.js';

const runs = Number(process.env.VOLTLANE_LIVE_RUNS ?? 40);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends `bytes` in pieces; resolves with whether the edge closed the socket and whether it issued an id. */
async function badClient(port: number, pieces: Uint8Array[]): Promise<{ closed: boolean; gotId: boolean; port: number }> {
  const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
  s.on('error', () => {});
  await once(s, 'connect');
  const local = s.localPort!;
  let gotId = false;
  const dec = new FrameDecoder(1 << 20);
  s.on('data', (c: Buffer) => {
    dec.push(c);
    for (let f = dec.next(); f !== null && !(f instanceof ProtocolError); f = dec.next()) {
      const p = decodeHandshake(f);
      if (!(p instanceof ProtocolError) && p.type === 'ClientId') gotId = true;
    }
  });
  const closed = new Promise<boolean>((r) => {
    s.on('close', () => r(true));
    setTimeout(() => r(false), 3000);
  });
  for (const p of pieces) if (p.length && !s.destroyed) s.write(p);
  // A final unknown-variant frame: whatever prefix was valid, the edge must close now (or at the handshake timeout).
  if (!s.destroyed) s.write(encodeFrame(Uint8Array.of(0x7f)));
  const c = await closed;
  s.destroy();
  return { closed: c, gotId, port: local };
}

describe('a live edge under mutated protocol input', () => {
  it('closes and logs every bad peer, skips bad master packets, and keeps a good client whole and in order', async () => {
    const master = new MasterPeer({ host: '127.0.0.1', port: 0, timeoutMs: 4000 });
    const masterPort = await master.listen();
    const config = fuzzEdgeConfig(masterPort, false, 4);
    const logs: Array<Record<string, unknown>> = [];
    const edge = new Edge({ config: { ...config, limits: { ...config.limits, handshakeTimeoutSecs: 0.5 } }, keyPair: generateKeyPair(), log: captureLogger(logs) });
    const rejections: unknown[] = [];
    const onRejection = (e: unknown) => rejections.push(e);
    process.on('unhandledRejection', onRejection);
    const { port } = await edge.start();
    await master.awaitConnection();
    const good = new ClientPeer({ host: '127.0.0.1', port }, 4000);
    await good.connect();
    const heap0 = process.memoryUsage().heapUsed;
    let sentToGood = 0;
    let sentByGood = 0;
    let badMaster = 0;
    let badClosed = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(fc.array(mutatedHandshakeFrame, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 6 })), { minLength: 1, maxLength: 3 }),
          fc.array(mutatedFirehose, { maxLength: 4 }),
          async (clients, masterPackets) => {
            // Bad master packets (never one that would act on the good client's id).
            for (const b of masterPackets) {
              const p = decodeFirehose(b);
              if (!(p instanceof ProtocolError) && (p.id === good.id || p.id < 1_000_000n)) continue;
              if (p instanceof ProtocolError || p.flag === Flag.Failure || p.flag === Flag.Reconnection) badMaster++;
              master.sendRaw(encodeFrame(b));
            }
            // Good traffic both ways, interleaved with the bad clients.
            good.send([Buffer.from(`c:${sentByGood++}`)]);
            master.send(good.id, Flag.Data, Buffer.from(`m:${sentToGood++}`));
            const results = await Promise.all(clients.map(([frames, cuts]) => badClient(port, splitAt(Buffer.concat(frames), cuts))));
            for (const r of results) {
              if (r.gotId) continue; // a mutation that happened to be a valid handshake: a real session, kicked below
              expect(r.closed, 'the edge left a bad client connected').toBe(true);
              badClosed++;
            }
            // One refusal line, with the peer's address, per bad client closed.
            expect(logs.filter((l) => l.msg === 'handshake.refused' && l.address === '127.0.0.1').length).toBeGreaterThanOrEqual(badClosed);
          },
        ),
        { numRuns: runs },
      );
      await master.sync();
      await good.current!.until(() => good.received().length >= sentToGood, 4000, 'the good client traffic');
      expect(good.received().map((f) => Buffer.from(f).toString())).toEqual(Array.from({ length: sentToGood }, (_, i) => `m:${i}`));
      await master.until((ps) => ps.filter((p) => p.id === good.id).length >= sentByGood, 'the good client data at the master');
      expect(master.drain().filter((p) => p.id === good.id).map((p) => Buffer.from(p.data).toString())).toEqual(
        Array.from({ length: sentByGood }, (_, i) => `c:${i}`),
      );
      expect(edge.counters.masterProtocolErrors).toBe(badMaster);
      for (let i = 0; i < 200 && edge.stats().handshaking > 0; i++) await sleep(10);
      expect(edge.stats().handshaking).toBe(0);
      expect(edge.stats().sessions).toBeGreaterThanOrEqual(1);
      expect(process.memoryUsage().heapUsed - heap0).toBeLessThan(64 * 1024 * 1024);
      expect(rejections).toEqual([]);
    } finally {
      process.off('unhandledRejection', onRejection);
      good.close();
      await edge.stop();
      await master.close();
    }
  }, 60_000);
});
