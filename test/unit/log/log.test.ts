// Log line forms and the trace gate: every sessionId is the decimal string whatever a call site passes, and the
// edge's per-packet trace lines follow the logger's level as it changes at run time (real sockets, in-process edge).
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { Edge } from '../../../src/actors/edge.js';
import { generateKeyPair } from '../../../src/io/crypto.js';
import { Flag } from '../../../src/io/firehose.js';
import { createLogger, watchLevel } from '../../../src/log.js';
import { testConfig } from '../../helpers/edge.js';
import { frame, RawMaster, rawNewSession, waitFor } from '../../helpers/wire.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function captured(level: 'info' | 'trace') {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: createLogger({ level, format: 'json', destination: sink }), lines };
}

describe('log lines', () => {
  it('writes every sessionId as its decimal string: numbers, bigints past 2^53, strings', async () => {
    const { log, lines } = captured('info');
    log.info({ sessionId: 42 }, 'a');
    log.info({ sessionId: 2n ** 63n + 5n }, 'b');
    log.info({ sessionId: '7' }, 'c');
    log.child({ sessionId: 9 }).info('d');
    await waitFor(() => lines.length === 4, 2000, 'the lines');
    expect(lines.map((l) => l.sessionId)).toEqual(['42', '9223372036854775813', '7', '9']);
  });

  it('watchLevel follows level changes until unwatched', () => {
    const { log } = captured('info');
    const seen: boolean[] = [];
    const stop = watchLevel(log, 'trace', (on) => seen.push(on));
    log.level = 'trace';
    log.level = 'debug';
    stop();
    log.level = 'trace';
    expect(seen).toEqual([false, true, false]);
  });

  it("the edge's routing lines follow the level as it changes while the edge runs", async () => {
    const master = new RawMaster();
    const masterPort = await master.listen();
    const { log, lines } = captured('info');
    const edge = new Edge({ config: testConfig(masterPort), keyPair: generateKeyPair(), log });
    const { port } = await edge.start();
    cleanups.push(async () => {
      await edge.stop();
      await master.close();
    });
    await master.connected();
    const s = await rawNewSession(port);
    cleanups.push(() => void s.socket.destroy());
    const routed = () => lines.filter((l) => String(l.msg).startsWith('route.')).length;
    const roundTrip = async (n: number) => {
      s.socket.write(frame(`up${n}`));
      await master.expect((p) => p.flag === Flag.Data && new TextDecoder().decode(p.data) === `up${n}`, 5000, `packet ${n}`);
    };
    await roundTrip(1);
    expect(routed()).toBe(0);
    log.level = 'trace';
    await roundTrip(2);
    await waitFor(() => routed() === 1, 2000, 'a routing line');
    expect(lines.find((l) => l.msg === 'route.client_to_master')).toMatchObject({ sessionId: String(s.id), bytes: 3 });
    log.level = 'info';
    await roundTrip(3);
    expect(routed()).toBe(1);
  });
});
