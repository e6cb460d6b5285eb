// The status server over real HTTP: /healthz, /readyz (503 with the reason while the master is down,
// 200 once it is up), and /metrics counting a session's handshake, drop, resume and kick.
import { afterEach, describe, expect, it } from 'vitest';
import { Edge } from '../../src/actors/edge.js';
import { generateKeyPair } from '../../src/io/crypto.js';
import { LifecycleRecorder } from '../../src/http/lifecycle.js';
import { StatusServer } from '../../src/http/server.js';
import { silentLogger } from '../../src/log.js';
import { testConfig } from '../helpers/edge.js';
import { dial, freePort, RawMaster, rawNewSession, rawResume, waitFor } from '../helpers/wire.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function observed(masterPort: number) {
  const lifecycle = new LifecycleRecorder();
  const edge = new Edge({
    config: testConfig(masterPort, { clients: { missedPacketsBufferSize: 4 } }),
    keyPair: generateKeyPair(),
    log: silentLogger(),
    onLifecycle: lifecycle.record,
  });
  const { port } = await edge.start();
  const status = new StatusServer({ edge, lifecycle, address: { host: '127.0.0.1', port: 0 } });
  const base = await status.start();
  cleanups.push(async () => {
    await edge.stop();
    await status.close();
  });
  return { edge, port, base };
}

async function get(url: string): Promise<{ status: number; body: string; type: string }> {
  const r = await fetch(url);
  return { status: r.status, body: await r.text(), type: r.headers.get('content-type') ?? '' };
}

function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  if (!line) throw new Error(`no metric ${name}`);
  return Number(line.slice(name.length + 1));
}

describe('status server', () => {
  it('/healthz is 200; /readyz is 503 with the reason while the master is down, then 200 once it connects', async () => {
    const masterPort = await freePort();
    const { base, edge } = await observed(masterPort);
    expect((await get(base + 'healthz')).status).toBe(200);
    const down = await get(base + 'readyz');
    expect(down.status).toBe(503);
    expect(down.body).toMatch(/master link not connected \(state (connecting|backingOff)/);
    const master = new RawMaster();
    await master.listen(masterPort);
    cleanups.push(() => master.close());
    await master.connected();
    await waitFor(() => edge.masterState === 'connected', 5000, 'the master link');
    expect(await get(base + 'readyz')).toMatchObject({ status: 200, body: 'ready\n' });
  });

  it('/metrics counts handshakes, sessions by state, resumes, kicks, refusals and firehose traffic', async () => {
    const master = new RawMaster();
    const { base, port, edge } = await observed(await master.listen());
    cleanups.push(() => master.close());
    await master.connected();
    const s = await rawNewSession(port);
    s.socket.destroy();
    await waitFor(() => edge.stats().stale === 1, 5000, 'stale');
    master.send(s.id, 0x00, Buffer.from('held'));
    await waitFor(() => [...edge.sessions.values()].some((x) => x.missedCount === 1), 5000, 'a held packet');
    let m = (await get(base + 'metrics')).body;
    expect(metric(m, 'voltlane_sessions{state="away.stale"}')).toBe(1);
    expect(metric(m, 'voltlane_replay_buffer_packets')).toBe(1);
    expect(metric(m, 'voltlane_replay_buffer_bytes')).toBe(4);
    const back = await rawResume(port, s.id, s.keyPair);
    cleanups.push(() => void back.socket.destroy());
    const bad = await dial(port);
    bad.write(Buffer.from([2, 0, 0, 0, 1, 9])); // ProtocolVersion(9)
    await new Promise((r) => bad.once('close', r));
    master.send(s.id, 0x02); // Kick
    await waitFor(() => edge.sessions.size === 0, 5000, 'the kick');
    const res = await get(base + 'metrics');
    expect(res.type).toContain('text/plain');
    m = res.body;
    expect(metric(m, 'voltlane_handshakes_started_total')).toBe(3);
    expect(metric(m, 'voltlane_handshakes_completed_total{kind="new"}')).toBe(1);
    expect(metric(m, 'voltlane_handshakes_completed_total{kind="resume"}')).toBe(1);
    expect(metric(m, 'voltlane_resumes_total{result="ok"}')).toBe(1);
    expect(metric(m, 'voltlane_refusals_total{reason="bad_version"}')).toBe(1);
    expect(metric(m, 'voltlane_reaps_total{reason="kick"}')).toBe(1);
    expect(metric(m, 'voltlane_kicks_total')).toBe(1);
    expect(metric(m, 'voltlane_replayed_packets_total')).toBe(1);
    expect(metric(m, 'voltlane_sessions{state="live.connected"}')).toBe(0);
    expect(metric(m, 'voltlane_master_link_up')).toBe(1);
    expect(metric(m, 'voltlane_firehose_packets_total{direction="from_master"}')).toBe(2);
    expect(metric(m, 'voltlane_firehose_packets_total{direction="to_master"}')).toBeGreaterThanOrEqual(1); // Reconnection
    expect(m).toMatch(/^nodejs_eventloop_lag_seconds /m);
    expect(m).toMatch(/^nodejs_heap_size_used_bytes /m);
    expect(m).not.toContain('127.0.0.1'); // never labelled by address
    const status = JSON.parse((await get(base + 'status.json')).body) as { recent: Array<{ type: string }> };
    expect(status.recent.map((e) => e.type)).toEqual([
      'session.created',
      'session.stale',
      'session.challenged',
      'session.resumed',
      'handshake.refused',
      'session.reaped',
    ]);
  });

  it('answers 404 for unknown paths and 405 for writes', async () => {
    const master = new RawMaster();
    const { base } = await observed(await master.listen());
    cleanups.push(() => master.close());
    expect((await get(base + 'nope')).status).toBe(404);
    expect((await fetch(base + 'metrics', { method: 'POST' })).status).toBe(405);
  });
});
