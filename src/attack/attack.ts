// Attacks on a Voltlane edge, for checking one's own deployment: id lockout, slowloris on the handshake cap,
// tiny TCP segments, a throwaway-session flood and a connection flood, each bounded in time and count, with a
// legitimate probe alongside (new sessions and resumes) whose success rate says whether the edge held.
import net from 'node:net';
import { encodeFrame, encodeFrameHeader, FrameDecoder } from '../io/framing.js';
import { decodeHandshake, encodeHandshake, type HandshakePacket } from '../io/handshake.js';
import { deriveSessionKey, generateKeyPair, open, randomBytes, seal, type KeyPair } from '../io/crypto.js';
import { ProtocolError } from '../io/errors.js';

export const ATTACK_KINDS = ['id-lockout', 'slowloris', 'tiny-segments', 'session-flood', 'conn-flood'] as const;
export type AttackKind = (typeof ATTACK_KINDS)[number];

export interface AttackOptions {
  kind: AttackKind;
  host: string;
  port: number;
  /** Run time, seconds (the attack stops opening connections then and closes what it holds). */
  durationSecs: number;
  /** New connections per second, over all sources. */
  rate: number;
  /** Most connections opened in all. */
  maxConnections: number;
  /** Local addresses to connect from, in turn (empty: the system's choice). */
  sources: string[];
  /** id-lockout: the ids to hammer. */
  ids: bigint[];
  /** id-lockout: share of challenges left silent (held open) rather than answered wrongly, 0..1. */
  silentShare: number;
  /** tiny-segments: bytes per write and ms between writes of each connection. */
  segmentBytes: number;
  segmentEveryMs: number;
  /** Run a legitimate probe alongside: a new session and a resume every probeEveryMs. */
  probe: boolean;
  probeEveryMs: number;
  /** How long the probe's client stays away before it resumes, ms (an id under attack meanwhile). */
  probeResumeAfterMs?: number;
  probeFrom?: string;
}

export interface AttackReport {
  kind: AttackKind;
  durationSecs: number;
  opened: number;
  connectErrors: number;
  /** Connections the edge closed while the attack held them. */
  closedByEdge: number;
  /** Handshake steps the edge answered (PubKey, ClientId, Challenge). */
  answered: number;
  bytesSent: number;
  probe: { newSessions: ProbeCount; resumes: ProbeCount } | null;
}

export interface ProbeCount {
  ok: number;
  failed: number;
  /** Median and worst time to finish, ms. */
  p50Ms: number;
  maxMs: number;
  /** Why the failed ones failed ("closed by the edge": refused, e.g. a resume of a session that ended). */
  errors: Record<string, number>;
}

const VERSION = encodeFrame(encodeHandshake({ type: 'ProtocolVersion', version: 2 }));
const PING = encodeFrame(encodeHandshake({ type: 'Ping' }));

/** Runs one attack to its end and reports what happened. */
export async function runAttack(o: AttackOptions): Promise<AttackReport> {
  const r: AttackReport = { kind: o.kind, durationSecs: o.durationSecs, opened: 0, connectErrors: 0, closedByEdge: 0, answered: 0, bytesSent: 0, probe: null };
  const held = new Set<net.Socket>();
  const until = Date.now() + o.durationSecs * 1000;
  const sharedKey = generateKeyPair();
  let src = 0;
  const connect = (): net.Socket | null => {
    if (r.opened >= o.maxConnections || Date.now() >= until) return null;
    r.opened++;
    const from = o.sources.length > 0 ? o.sources[src++ % o.sources.length] : undefined;
    const s = net.connect({ host: o.host, port: o.port, noDelay: true, ...(from ? { localAddress: from } : {}) });
    held.add(s);
    let connected = false;
    s.once('connect', () => (connected = true));
    s.on('error', () => {
      if (!connected) r.connectErrors++;
    });
    s.on('close', () => {
      if (connected && held.has(s) && Date.now() < until) r.closedByEdge++;
      held.delete(s);
    });
    return s;
  };
  const frames = (s: net.Socket, onFrame: (p: HandshakePacket | Uint8Array) => void): void => {
    const d = new FrameDecoder(1 << 20);
    let handshake = true;
    s.on('data', (c: Buffer) => {
      d.push(c);
      for (let f = d.next(); f !== null && !(f instanceof ProtocolError); f = d.next()) {
        if (!handshake) {
          onFrame(f);
          continue;
        }
        const p = decodeHandshake(f);
        if (p instanceof ProtocolError) continue;
        r.answered++;
        if (p.type === 'ClientId' || p.type === 'Ping') handshake = false;
        onFrame(p);
      }
    });
  };
  const write = (s: net.Socket, b: Uint8Array): void => {
    if (s.destroyed) return;
    r.bytesSent += b.length;
    s.write(b);
  };

  let idTurn = 0;
  const one = (): void => {
    const s = connect();
    if (!s) return;
    switch (o.kind) {
      case 'conn-flood':
        s.once('connect', () => s.destroy());
        return;
      case 'slowloris':
        // Connect and say nothing: the handshake slot is held until the edge gives up on it.
        return;
      case 'session-flood':
        s.once('connect', () => write(s, VERSION));
        frames(s, (p) => {
          if ('type' in p && p.type === 'PubKey') write(s, encodeFrame(encodeHandshake({ type: 'PubKey', key: sharedKey.publicKey })));
          else if ('type' in p && p.type === 'ClientId') s.destroy(); // a throwaway session, left to go stale
        });
        return;
      case 'tiny-segments': {
        s.once('connect', () => write(s, VERSION));
        frames(s, (p) => {
          if (!('type' in p) || p.type !== 'PubKey') return;
          write(s, encodeFrame(encodeHandshake({ type: 'PubKey', key: sharedKey.publicKey })));
          // A frame announced at 8 MiB, then fed a few bytes at a time.
          write(s, encodeFrameHeader(8 * 1024 * 1024 - 16));
          const bytes = new Uint8Array(Math.max(1, o.segmentBytes)).fill(0x61);
          const t = setInterval(() => {
            if (s.destroyed || Date.now() >= until) return clearInterval(t);
            write(s, bytes);
          }, Math.max(1, o.segmentEveryMs));
          s.once('close', () => clearInterval(t));
        });
        return;
      }
      case 'id-lockout': {
        const id = o.ids[idTurn++ % Math.max(1, o.ids.length)] ?? 1n;
        const silent = Math.random() < o.silentShare;
        s.once('connect', () => write(s, VERSION));
        frames(s, (p) => {
          if (!('type' in p)) return;
          if (p.type === 'PubKey') write(s, encodeFrame(encodeHandshake({ type: 'ClientId', id })));
          else if (p.type === 'Challenge' && !silent) {
            write(s, encodeFrame(encodeHandshake({ type: 'ChallengeResponse', blob: randomBytes(p.blob.length) })));
          }
        });
        return;
      }
    }
  };

  const probe = o.probe ? runProbe(o, until) : null;
  const perTick = o.rate / 100;
  let owed = 0;
  await new Promise<void>((resolve) => {
    const t = setInterval(() => {
      // Connections are held (and fed) until the end, even once --max are open.
      if (Date.now() >= until) {
        clearInterval(t);
        resolve();
        return;
      }
      owed += perTick;
      for (; owed >= 1; owed--) one();
    }, 10);
  });
  if (probe) r.probe = await probe;
  for (const s of held) s.destroy();
  held.clear();
  return r;
}

/** A legitimate client's view during the attack: new sessions and resumes of them, each timed. */
async function runProbe(o: AttackOptions, until: number): Promise<{ newSessions: ProbeCount; resumes: ProbeCount }> {
  const created: number[] = [];
  const createdErrors: Record<string, number> = {};
  const resumed: number[] = [];
  const resumedErrors: Record<string, number> = {};
  const why = (into: Record<string, number>) => (err: unknown): null => {
    const m = err instanceof Error ? err.message : String(err);
    into[m] = (into[m] ?? 0) + 1;
    return null;
  };
  const pending: Promise<void>[] = [];
  while (Date.now() < until) {
    pending.push(
      (async () => {
        const kp = generateKeyPair();
        const t0 = performance.now();
        const first = await legitSession(o, kp, null).catch(why(createdErrors));
        if (!first) return;
        created.push(performance.now() - t0);
        first.socket.destroy();
        if (o.probeResumeAfterMs) await new Promise((res) => setTimeout(res, o.probeResumeAfterMs));
        const t1 = performance.now();
        const again = await legitSession(o, kp, first).catch(why(resumedErrors));
        if (again) {
          resumed.push(performance.now() - t1);
          again.socket.destroy();
        }
      })(),
    );
    await new Promise((res) => setTimeout(res, o.probeEveryMs));
  }
  await Promise.all(pending);
  return { newSessions: count(created, createdErrors), resumes: count(resumed, resumedErrors) };
}

function count(times: number[], errors: Record<string, number>): ProbeCount {
  const sorted = [...times].sort((a, b) => a - b);
  const failed = Object.values(errors).reduce((a, n) => a + n, 0);
  return { ok: times.length, failed, p50Ms: round(sorted[Math.floor(sorted.length / 2)] ?? 0), maxMs: round(sorted.at(-1) ?? 0), errors };
}

const round = (n: number): number => Math.round(n * 10) / 10;

interface Legit {
  socket: net.Socket;
  id: bigint;
  edgeKey: Uint8Array;
}

/** A new session (`prev` null) or a resume of `prev`, within 5 s; rejects on any refusal. */
function legitSession(o: AttackOptions, kp: KeyPair, prev: Legit | null): Promise<Legit> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: o.host, port: o.port, noDelay: true, ...(o.probeFrom ? { localAddress: o.probeFrom } : {}) });
    const d = new FrameDecoder(1 << 20);
    let edgeKey: Uint8Array | null = null;
    let done = false;
    const finish = (err: Error | null, v?: Legit) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        s.destroy();
        reject(err);
      } else resolve(v!);
    };
    const timer = setTimeout(() => finish(new Error('probe timed out')), 5000);
    s.on('error', (e) => finish(e));
    s.on('close', () => finish(new Error('closed by the edge')));
    s.once('connect', () => s.write(VERSION));
    s.on('data', (c: Buffer) => {
      d.push(c);
      for (let f = d.next(); f !== null; f = d.next()) {
        if (f instanceof ProtocolError) return finish(f);
        const p = decodeHandshake(f);
        if (p instanceof ProtocolError) return finish(p);
        if (p.type === 'PubKey') {
          edgeKey = p.key.slice();
          s.write(encodeFrame(encodeHandshake(prev ? { type: 'ClientId', id: prev.id } : { type: 'PubKey', key: kp.publicKey })));
        } else if (p.type === 'ClientId' && !prev) return finish(null, { socket: s, id: p.id, edgeKey: edgeKey! });
        else if (p.type === 'Challenge' && prev) {
          const key = deriveSessionKey(kp.secretKey, edgeKey!);
          if (key instanceof Error) return finish(key);
          const plain = open(key, p.blob);
          if (plain instanceof Error) return finish(plain);
          s.write(Buffer.concat([encodeFrame(encodeHandshake({ type: 'ChallengeResponse', blob: seal(key, plain) })), PING]));
        } else if (p.type === 'Ping' && prev) return finish(null, { socket: s, id: prev.id, edgeKey: edgeKey! });
      }
    });
  });
}

/** Local addresses 127.0.<n>.<m> for `count` loopback sources (the whole 127/8 is loopback on Linux). */
export function loopbackSources(count: number, offset = 100): string[] {
  return Array.from({ length: count }, (_, i) => `127.0.${offset + Math.floor(i / 250)}.${(i % 250) + 2}`);
}
