// Sessions across transports: a session begun on one transport resumes over another with its buffered
// packets replayed in order; every DDoS limit counts all transports together per address; certificates
// are reloaded without a restart.
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { connect, type ClientOptions, type VoltlaneClient } from '../../src/sdk/client.js';
import { Flag } from '../../src/io/firehose.js';
import { logsWith, useEdgeFixture, type TestEdge } from '../helpers/edge.js';
import { text } from '../helpers/wire.js';
import { selfSigned, TestCa, type Pem } from '../helpers/certs.js';
import { LifecycleRecorder } from '../../src/http/lifecycle.js';
import { EdgeMetrics } from '../../src/http/metrics.js';

const fx = useEdgeFixture();
let dir: string;
let cert: Pem;
const clients: VoltlaneClient[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'voltlane-transports-'));
  cert = selfSigned(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
});

const ONE_SHOT: ClientOptions = { reconnect: { enabled: false }, handshakeTimeoutMs: 3_000 };
const enc = new TextEncoder();

async function client(address: string, opts: ClientOptions = {}): Promise<VoltlaneClient> {
  const c = await connect(address, { ...ONE_SHOT, ca: cert.cert, ...opts });
  clients.push(c);
  return c;
}

async function startAll(extra: Parameters<typeof fx.start>[0] = {}, wss = false): Promise<{ t: TestEdge; addr: Record<string, string> }> {
  const t = await fx.start({
    clients: { missedPacketsBufferSize: 16, staleTimeoutSecs: 30 },
    tls: { address: { host: '127.0.0.1', port: 0 }, certFile: cert.certFile, keyFile: cert.keyFile },
    websocket: { address: { host: '127.0.0.1', port: 0 }, tls: wss },
    ...extra,
  });
  const tr = t.edge.transports;
  const ws = tr.address(wss ? 'wss' : 'ws')!.port;
  return {
    t,
    addr: {
      tcp: `127.0.0.1:${t.port}`,
      tls: `tls://127.0.0.1:${tr.address('tls')!.port}`,
      ws: `ws://127.0.0.1:${ws}/`,
      wss: `wss://127.0.0.1:${ws}/`,
    },
  };
}

/** Messages a client receives, in order. */
function inbox(c: VoltlaneClient): string[] {
  const got: string[] = [];
  c.on('message', (m) => got.push(text(m)));
  return got;
}

describe('resume over a different transport', () => {
  const cases: Array<[string, string]> = [
    ['tcp', 'ws'],
    ['ws', 'tcp'],
    ['tls', 'wss'],
    ['wss', 'tls'],
  ];
  for (const [from, to] of cases) {
    it(`begins on ${from}, resumes on ${to} with the buffered packets replayed in order`, async () => {
      const wss = from === 'wss' || to === 'wss';
      const { t, addr } = await startAll({}, wss);
      const a = await client(addr[from]!);
      const id = a.id;
      a.send('before');
      await t.master.expect((p) => p.id === id && text(p.data) === 'before');
      const state = a.resumeState();
      await a.close();
      await expect.poll(() => t.edge.stats().stale).toBe(1);
      for (let i = 0; i < 5; i++) t.master.send(id, Flag.Data, enc.encode(`missed ${i}`));
      await expect.poll(() => t.edge.sessions.get(Number(id))?.missedCount ?? 0).toBe(5);
      const b = await client(addr[to]!, { resume: state });
      expect(b.id).toBe(id);
      const got = inbox(b);
      await t.master.expect((p) => p.id === id && p.flag === Flag.Reconnection);
      t.master.send(id, Flag.Data, enc.encode('live'));
      await expect.poll(() => got.length).toBe(6);
      expect(got).toEqual(['missed 0', 'missed 1', 'missed 2', 'missed 3', 'missed 4', 'live']);
      b.send('after');
      await t.master.expect((p) => p.id === id && text(p.data) === 'after');
      expect(t.edge.counters.replayed).toBe(5);
    });
  }

  it('takes over a live TCP session from a WebSocket (half-open old connection)', async () => {
    const { t, addr } = await startAll();
    const a = await client(addr.tcp!);
    const b = await client(addr.ws!, { resume: a.resumeState() });
    expect(b.id).toBe(a.id);
    const got = inbox(b);
    t.master.send(b.id, Flag.Data, enc.encode('to the new one'));
    await expect.poll(() => got).toEqual(['to the new one']);
    expect(logsWith(t, 'session.takeover')).toHaveLength(1);
  });
});

/** Resolves when the socket has closed, whatever errors came first. */
function closed(s: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (s.destroyed) resolve();
    else s.once('close', () => resolve());
  });
}

/** Opens a raw connection of each kind and resolves once it is accepted (or refused). */
async function openTcp(port: number): Promise<net.Socket> {
  const s = net.connect({ host: '127.0.0.1', port });
  s.on('error', () => {});
  s.resume(); // read (and drop) whatever comes, so that the edge's FIN is seen
  await once(s, 'connect');
  return s;
}
async function openTls(port: number): Promise<tls.TLSSocket> {
  const s = tls.connect({ host: '127.0.0.1', port, ca: cert.cert });
  s.on('error', () => {});
  await once(s, 'secureConnect');
  return s;
}
async function openWs(port: number): Promise<{ ws: WebSocket; status: number | null }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
  ws.on('error', () => {});
  const status = await new Promise<number | null>((resolve) => {
    ws.once('open', () => resolve(null));
    ws.once('unexpected-response', (_req, res: { statusCode: number }) => resolve(res.statusCode));
    ws.once('close', () => resolve(-1));
  });
  return { ws, status };
}

describe('limits count every transport together, per address', () => {
  it('per-address connection cap: tcp + tls + ws', async () => {
    const { t } = await startAll({ limits: { maxConnectionsPerAddress: 3 } });
    const tr = t.edge.transports;
    const opened: Array<{ destroy(): void } | WebSocket> = [];
    opened.push(await openTcp(t.port));
    opened.push(await openTls(tr.address('tls')!.port));
    const w = await openWs(tr.address('ws')!.port);
    expect(w.status).toBeNull();
    opened.push(w.ws);
    await expect.poll(() => t.edge.stats().openSockets).toBe(3);
    // The fourth, on any transport, is refused.
    const refused = await openWs(tr.address('ws')!.port);
    expect(refused.status).toBe(503);
    const tcp4 = await openTcp(t.port);
    await closed(tcp4);
    await expect.poll(() => logsWith(t, 'connection.refused').map((l) => l.transport)).toEqual(['ws', 'tcp']);
    expect(logsWith(t, 'connection.refused').every((l) => /per-address connection limit/.test(String(l.reason)))).toBe(true);
    for (const o of opened) (o instanceof WebSocket ? o.terminate() : o.destroy());
  });

  it('new-connection rate and handshakes in flight', async () => {
    const { t } = await startAll({ limits: { newConnectionsBurst: 2, newConnectionsPerAddressPerSec: 0.001 } });
    const tr = t.edge.transports;
    const a = await openTls(tr.address('tls')!.port);
    const b = await openWs(tr.address('ws')!.port);
    expect(b.status).toBeNull();
    const c = await openTcp(t.port);
    await closed(c);
    expect(logsWith(t, 'connection.refused').map((l) => [l.transport, l.reason])).toEqual([['tcp', 'new-connection rate exceeded']]);
    a.destroy();
    b.ws.terminate();
  });

  it('handshakes in flight over every transport', async () => {
    const { t } = await startAll({ limits: { maxHandshakesInFlight: 2 } });
    const tr = t.edge.transports;
    const a = await openTcp(t.port);
    const b = await openWs(tr.address('ws')!.port);
    await expect.poll(() => t.edge.stats().handshaking).toBe(2);
    const c = tls.connect({ host: '127.0.0.1', port: tr.address('tls')!.port, ca: cert.cert });
    c.on('error', () => {});
    await closed(c);
    expect(logsWith(t, 'connection.refused').map((l) => [l.transport, String(l.reason)])).toEqual([['tls', 'too many handshakes in flight (2)']]);
    a.destroy();
    b.ws.terminate();
  });

  it('handshake timeout covers the TLS handshake and the HTTP upgrade', async () => {
    const { t } = await startAll({ limits: { handshakeTimeoutSecs: 0.3 } });
    const tr = t.edge.transports;
    const silentTls = await openTcp(tr.address('tls')!.port); // never says ClientHello
    const silentWs = await openTcp(tr.address('ws')!.port); // never sends its HTTP request
    await Promise.all([closed(silentTls), closed(silentWs)]);
    const refusals = logsWith(t, 'handshake.refused').filter((l) => /timeout/.test(String(l.reason)));
    expect(refusals.map((l) => l.transport).sort()).toEqual(['tls', 'ws']);
  });

  it('failed resumes per address, across transports; /metrics counts refusals by transport', async () => {
    const lifecycle = new LifecycleRecorder();
    const { t, addr } = await startAll({ limits: { failedResumesPerAddressPerMin: 2 } });
    const a = await client(addr.tcp!);
    const state = { ...a.resumeState(), id: '999' };
    await expect(connect(addr.ws!, { ...ONE_SHOT, resume: state })).rejects.toMatchObject({ code: 'VL_ERR_SESSION_LOST' });
    await expect(connect(addr.tls!, { ...ONE_SHOT, ca: cert.cert, resume: state })).rejects.toMatchObject({ code: 'VL_ERR_SESSION_LOST' });
    // Third attempt, even for a real session, is refused for this address: on the wire it is the same close
    // after ClientId, so a one-shot client takes it for a lost session too.
    await expect(connect(addr.ws!, { ...ONE_SHOT, resume: a.resumeState() })).rejects.toMatchObject({ code: 'VL_ERR_SESSION_LOST' });
    const reasons = logsWith(t, 'handshake.refused').map((l) => [l.transport, String(l.reason)]);
    expect(reasons).toContainEqual(['ws', 'resume of unknown session 999']);
    expect(reasons).toContainEqual(['tls', 'resume of unknown session 999']);
    expect(reasons).toContainEqual(['ws', 'too many failed resumes from this address']);
    for (const l of logsWith(t, 'handshake.refused')) lifecycle.record({ type: 'handshake.refused', address: String(l.address), reason: String(l.reason), transport: l.transport as 'ws' });
    expect(lifecycle.refusalsByTransport.get('ws')).toBe(2);
    expect(lifecycle.refusalsByTransport.get('tls')).toBe(1);
    const text = await new EdgeMetrics({ edge: t.edge, lifecycle }).registry.metrics();
    expect(text).toMatch(/^voltlane_refusals_by_transport_total\{transport="ws"\} 2$/m);
    expect(text).toMatch(/^voltlane_refusals_by_transport_total\{transport="tls"\} 1$/m);
    expect(text).toMatch(/^voltlane_refusals_by_transport_total\{transport="tcp"\} 0$/m);
  });
});

describe('certificate reload', () => {
  it('serves new certificates after the files change and after an explicit reload; keeps the old on a bad set', async () => {
    const first = new TestCa('First CA');
    const second = new TestCa('Second CA');
    const live = mkdtempSync(join(tmpdir(), 'voltlane-live-certs-'));
    try {
      const a = first.issue('edge');
      const b = second.issue('edge');
      const certFile = join(live, 'edge.pem');
      const keyFile = join(live, 'edge.key');
      copyFileSync(a.certFile, certFile);
      copyFileSync(a.keyFile, keyFile);
      const t = await fx.start({ tls: { address: { host: '127.0.0.1', port: 0 }, certFile, keyFile } });
      const port = t.edge.transports.address('tls')!.port;
      const addr = `tls://127.0.0.1:${port}`;
      const old = await client(addr, { ca: first.ca.cert });
      // The files change (as a renewal writes them): new connections get the new certificate.
      writeFileSync(keyFile, b.key);
      writeFileSync(certFile, b.cert);
      await expect.poll(() => t.edge.transports.certificateReloads, { timeout: 5000 }).toBe(1);
      const fresh = await client(addr, { ca: second.ca.cert });
      await expect(connect(addr, { ...ONE_SHOT, ca: first.ca.cert })).rejects.toMatchObject({ code: 'VL_ERR_CONNECT' });
      // The connection opened before the reload keeps working.
      old.send('still here');
      await t.master.expect((p) => p.id === old.id && text(p.data) === 'still here');
      fresh.send('new');
      await t.master.expect((p) => p.id === fresh.id && text(p.data) === 'new');
      // A key that does not match the certificate: logged, and the current certificates stay.
      writeFileSync(keyFile, a.key);
      expect(t.edge.transports.reloadCertificates('SIGHUP')).toBe(false);
      expect(logsWith(t, 'tls.reload_failed').length).toBeGreaterThanOrEqual(1);
      await client(addr, { ca: second.ca.cert });
      // Back to the first pair by explicit reload (what SIGHUP does).
      writeFileSync(certFile, a.cert);
      await expect.poll(() => t.edge.transports.certificateReloads, { timeout: 5000 }).toBe(2);
      await client(addr, { ca: first.ca.cert });
    } finally {
      first.remove();
      second.remove();
      rmSync(live, { recursive: true, force: true });
    }
  });
});
