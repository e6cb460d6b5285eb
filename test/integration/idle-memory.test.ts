// general.release_idle_memory through the real daemon: a burst of new sessions grows V8's young generation; once the
// edge is idle it asks for a collection and the young generation shrinks (logged as memory.released), while
// every session still carries data both ways.
import { describe, expect, it } from 'vitest';
import { Flag } from '../../src/io/firehose.js';
import { configIn, processScope, waitForLog } from '../helpers/daemon.js';
import { freePort, frame, rawNewSession, text, type RawSession } from '../helpers/wire.js';

async function metric(port: number, name: string): Promise<number> {
  const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = body.split('\n').find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`${name} is not in /metrics`);
  return Number(line.split(' ')[1]);
}

const scope = processScope('idle-memory');

const BURST = {
  VOLTLANE_LIMITS_MAX_CONNECTIONS_PER_ADDRESS: '100000',
  VOLTLANE_LIMITS_NEW_CONNECTIONS_PER_ADDRESS_PER_SEC: '100000',
  VOLTLANE_LIMITS_NEW_CONNECTIONS_BURST: '100000',
};

describe('idle memory release (real daemon)', () => {
  it('after a burst of 3,000 sessions the idle edge gives its grown young generation back and keeps every session', async () => {
    const dir = scope.tempDir();
    const master = await scope.master();
    const port = await freePort();
    const httpPort = await freePort();
    const d = scope.run(['--config', configIn(dir), '--listen', `127.0.0.1:${port}`, '--master', `127.0.0.1:${master.port}`, '--log-format', 'json'], {
      cwd: dir,
      env: { ...BURST, VOLTLANE_HTTP_ADDRESS: `127.0.0.1:${httpPort}` },
    });
    await waitForLog(d, 'http.listening');
    await master.connected();
    const sessions: RawSession[] = [];
    try {
      expect(await metric(httpPort, 'voltlane_idle_memory_releases_total')).toBe(0);
      for (let i = 0; i < 3000; i += 100) sessions.push(...(await Promise.all(Array.from({ length: 100 }, () => rawNewSession(port)))));
      const released = await waitForLog(d, 'memory.released', 45_000);
      expect(released.youngMiB as number).toBeGreaterThan(released.nowMiB as number);
      expect(d.logs().filter((l) => l.msg === 'memory.released')).toHaveLength(1);
      expect(await metric(httpPort, 'voltlane_idle_memory_releases_total')).toBe(1);
      // Every session still works, both ways.
      for (const s of [sessions[0]!, sessions[999]!, sessions[2999]!]) {
        s.socket.write(frame(`up ${s.id}`));
        const p = await master.expect((q) => q.id === s.id && q.flag === Flag.Data);
        expect(text(p.data)).toBe(`up ${s.id}`);
        master.send(s.id, Flag.Data, new TextEncoder().encode(`down ${s.id}`));
        expect(text(await s.q.next())).toBe(`down ${s.id}`);
      }
    } finally {
      for (const s of sessions) s.socket.destroy();
    }
  }, 90_000);
});
