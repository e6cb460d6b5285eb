// Load-generator worker thread: runs the commands of commands.ts over its share of the clients and
// reports any wrong echo as fatal.
import { parentPort } from 'node:worker_threads';
import { checkPayload, template } from '../payload.js';
import type { Command, EchoCollect, Reply, Request, SessionsOpened, SessionsResumed } from './commands.js';
import { EchoClient, type EchoStats } from './echo-client.js';
import { newSession, resumeSession, type OpenSession } from './handshakes.js';
import { Histogram } from './histogram.js';
import { newClientKey, type ClientKey } from './keys.js';
import { dial, Gate, Peer } from './peer.js';

if (!parentPort) throw new Error('bench/loadgen/worker must run as a worker thread');
const port = parentPort;

function post(r: Reply): void {
  port.postMessage(r);
}

function fatal(message: string): void {
  post({ type: 'fatal', message });
}

/** Connects at most this many echo clients at once per worker. */
const OPEN_CONCURRENCY = 128;

const stats: EchoStats = { windowRoundTrips: 0, measuring: false, hist: new Histogram(), fatal };
let echo: EchoClient[] = [];
let pregenerated: ClientKey[] = [];
let sharedKey: ClientKey | null = null;

interface Held extends OpenSession {
  key: ClientKey;
  sessionKey: Uint8Array | null;
}
let held: Held[] = [];
let resumed: Peer[] = [];

async function pool<T>(count: number, concurrency: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(count);
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      out[i] = await job(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  return out;
}

function shared(): ClientKey {
  sharedKey ??= newClientKey();
  return sharedKey;
}

async function run(c: Command): Promise<unknown> {
  switch (c.cmd) {
    case 'echo.open': {
      const key = shared();
      echo = await pool(c.count, OPEN_CONCURRENCY, async (i) => {
        const index = c.first + i;
        if (c.edge) {
          const s = await newSession(c.port, key.publicKey, undefined, c.transport ?? 'tcp');
          s.peer.release();
          return new EchoClient(index, s.peer.socket, s.peer.decoder, c.size, c.inflight, stats);
        }
        const p = new Peer(await dial(c.port));
        p.release();
        return new EchoClient(index, p.socket, p.decoder, c.size, c.inflight, stats);
      });
      return null;
    }
    case 'echo.run':
      for (const e of echo) e.start();
      return null;
    case 'echo.mark':
      stats.hist.reset();
      stats.windowRoundTrips = 0;
      stats.measuring = true;
      return null;
    case 'echo.collect': {
      stats.measuring = false;
      const r: EchoCollect = { roundTrips: stats.windowRoundTrips, hist: stats.hist.counts.slice() };
      return r;
    }
    case 'echo.finish': {
      await Promise.all(echo.map((e) => e.finish()));
      const total = echo.reduce((n, e) => n + e.roundTrips, 0);
      for (const e of echo) e.close();
      echo = [];
      return total;
    }
    case 'keys':
      pregenerated = Array.from({ length: c.count }, newClientKey);
      return null;
    case 'sessions.open': {
      if (c.freshKeys && pregenerated.length < c.count) {
        throw new Error(`sessions.open wants ${c.count} fresh keys, ${pregenerated.length} were generated`);
      }
      const keys = c.freshKeys ? pregenerated.splice(0, c.count) : null;
      const opened = await pool(c.count, c.concurrency, async (i) => {
        const key = keys ? keys[i]! : shared();
        const s = await newSession(c.port, key.publicKey);
        const h: Held = { ...s, key, sessionKey: null };
        return h;
      });
      for (const h of opened) if (c.sessionKeys) h.sessionKey = h.key.sessionKey(h.edgeKey);
      held.push(...opened);
      const r: SessionsOpened = { ids: opened.map((h) => h.id) };
      return r;
    }
    case 'sessions.drop':
      for (const h of held) {
        h.peer.release();
        h.peer.socket.destroy();
      }
      return null;
    case 'sessions.resume': {
      const gate = new Gate(c.connectGate);
      const counts = await pool(held.length, c.inflight, async (i) => {
          const h = held[i]!;
          if (!h.sessionKey) throw new Error(`session ${h.id} has no session key (open with sessionKeys)`);
          const peer = await resumeSession(c.port, h.id, h.edgeKey, h.sessionKey, gate);
          resumed.push(peer);
          const tpl = template(h.id, c.size);
          for (let seq = 0; seq < c.packets; seq++) {
            const f = await peer.nextFrame(`buffered packet ${seq} of session ${h.id}`);
            const err = checkPayload(f, tpl, seq);
            if (err !== null) throw new Error(`session ${h.id}, replayed packet ${seq}: ${err}`);
          }
          return c.packets;
      });
      const r: SessionsResumed = { resumed: counts.length, packets: counts.reduce((a, b) => a + b, 0) };
      return r;
    }
    case 'close':
      for (const e of echo) e.close();
      for (const h of held) h.peer.socket.destroy();
      for (const p of resumed) p.socket.destroy();
      echo = [];
      held = [];
      resumed = [];
      return null;
  }
}

port.on('message', (req: Request) => {
  run(req).then(
    (result) => post({ type: 'reply', rid: req.rid, ok: true, result }),
    (err: unknown) => post({ type: 'reply', rid: req.rid, ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
});
