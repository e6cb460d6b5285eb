// The edge's client handshake (PROTOCOL.md sec. 3) over loopback: ids, refusals of every malformed step, caps, timeouts.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { Flag } from '../../src/io/firehose.js';
import { decodeHandshake } from '../../src/io/handshake.js';
import { generateKeyPair, parsePublicKey } from '../../src/io/crypto.js';
import { ProtocolError } from '../../src/io/errors.js';
import { dial, FrameQueue, frame, hs, rawNewSession, rawResume, refused, text, waitFor } from '../helpers/wire.js';
import { logsWith, useEdgeFixture } from '../helpers/edge.js';

const fx = useEdgeFixture();
const { open } = fx;

const PUBKEY_HEADER = Uint8Array.of(2, 33);

async function connect(port: number): Promise<FrameQueue> {
  const s = await dial(port);
  open.push(s);
  return new FrameQueue(s);
}

/** Writes `frames` one by one and expects the edge to close; returns the frames it sent first. */
async function expectClosedAfter(q: FrameQueue, ...frames: Uint8Array[]): Promise<Uint8Array[]> {
  for (const f of frames) q.socket.write(f);
  await q.waitClosed(2000);
  return q.frames.splice(0);
}

/** Exactly one refusal line, naming the client address and matching `reason`. */
async function expectOneRefusal(reason: RegExp): Promise<void> {
  await waitFor(() => logsWith(fx.t, 'handshake.refused').length > 0, 2000, 'a refusal log line');
  const lines = logsWith(fx.t, 'handshake.refused');
  expect(lines).toHaveLength(1);
  expect(lines[0]!.address).toBe('127.0.0.1');
  expect(String(lines[0]!.reason)).toMatch(reason);
}

/** A 33-byte compressed key whose X has no point on secp256k1. */
function offCurveKey(): Uint8Array {
  for (let x = 1; ; x++) {
    const k = new Uint8Array(33);
    k[0] = 2;
    k[32] = x;
    if (parsePublicKey(k) instanceof ProtocolError) return k;
  }
}

/**
 * The kernel's view of the edge's end of a loopback connection (Linux /proc/net/tcp): its timer (`tr`: 2 is the
 * keep-alive timer) and when that fires, in ms. Null where there is no such file or no such socket.
 */
function edgeSideTimer(edgePort: number, clientPort: number): { tr: number; whenMs: number } | null {
  let table: string;
  try {
    table = readFileSync('/proc/net/tcp', 'utf8');
  } catch {
    return null;
  }
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6 || !f[1]!.endsWith(`:${hex(edgePort)}`) || !f[2]!.endsWith(`:${hex(clientPort)}`)) continue;
    const [tr, when] = f[5]!.split(':') as [string, string];
    // tm->when is in clock ticks (USER_HZ, 100 a second on Linux).
    return { tr: Number.parseInt(tr, 16), whenMs: Number.parseInt(when, 16) * 10 };
  }
  return null;
}

describe('edge handshake: new sessions', () => {
  it('turns TCP keep-alive on for accepted client sockets (first probe after 30 s idle)', async () => {
    const t = await fx.start();
    const c = await rawNewSession(t.port);
    open.push(c.socket);
    if (process.platform === 'linux') {
      // Until the client's ACK of ClientId is in, the retransmit timer (1) stands where the keep-alive one will.
      let timer = edgeSideTimer(t.port, c.socket.localPort!);
      await waitFor(() => (timer = edgeSideTimer(t.port, c.socket.localPort!))?.tr !== 1, 5000, 'the edge end of the connection to be idle');
      expect(timer, 'the edge end of the connection in /proc/net/tcp').not.toBeNull();
      expect(timer!.tr).toBe(2);
      expect(timer!.whenMs).toBeGreaterThan(20_000);
      expect(timer!.whenMs).toBeLessThanOrEqual(30_000);
    }
  });

  it('hands out ids 1, 2, 3 and never reuses an id, also after sessions were reaped', async () => {
    const t = await fx.start({ clients: { staleTimeoutSecs: 0.1, staleReapIntervalSecs: 0.05 } });
    const a = await rawNewSession(t.port);
    const b = await rawNewSession(t.port);
    const c = await rawNewSession(t.port);
    open.push(a.socket, b.socket, c.socket);
    expect([a.id, b.id, c.id]).toEqual([1n, 2n, 3n]);
    // The ClientId frame is byte-exact: 03 01.
    t.master.send(2n, Flag.Kick);
    await b.q.waitClosed(2000);
    c.socket.destroy();
    await t.master.expect((p) => p.id === 3n && p.flag === Flag.Failure, 3000, 'stale Failure of 3');
    await waitFor(() => t.edge.sessions.size === 1, 2000, 'two sessions gone');
    const d = await rawNewSession(t.port);
    const e = await rawNewSession(t.port);
    open.push(d.socket, e.socket);
    expect([d.id, e.id]).toEqual([4n, 5n]);
  });

  it('failed handshakes consume no id: the first session after them is 1', async () => {
    const t = await fx.start();
    await expectClosedAfter(await connect(t.port), hs({ type: 'ProtocolVersion', version: 2 }), hs({ type: 'PubKey', key: offCurveKey() }));
    await expectClosedAfter(await connect(t.port), hs({ type: 'ProtocolVersion', version: 2 }), hs({ type: 'ClientId', id: 1n }));
    const a = await rawNewSession(t.port);
    open.push(a.socket);
    expect(a.id).toBe(1n);
    expect(t.edge.stats()).toMatchObject({ sessions: 1, handshaking: 0 });
  });

  it('sends the edge key as PubKey(33 bytes) and ClientId(1) as 03 01, then forwards data tagged with the id', async () => {
    const t = await fx.start();
    const q = await connect(t.port);
    q.socket.write(Uint8Array.of(2, 0, 0, 0, 1, 2));
    const pub = await q.next();
    expect(Buffer.from(pub)).toEqual(Buffer.concat([Buffer.from(PUBKEY_HEADER), Buffer.from(t.keyPair.publicKey)]));
    const kp = generateKeyPair();
    // PubKey and a first data frame in one write: the data frame is forwarded after ClientId.
    q.socket.write(Buffer.concat([hs({ type: 'PubKey', key: kp.publicKey }), frame('early')]));
    expect(Buffer.from(await q.next())).toEqual(Buffer.from([3, 1]));
    const p = await t.master.expect((p) => p.flag === Flag.Data);
    expect(p.id).toBe(1n);
    expect(text(p.data)).toBe('early');
  });

  it('accepts an uncompressed (65-byte) client key, and resumes with it', async () => {
    const t = await fx.start();
    const kp = generateKeyPair();
    const uncompressed = secp256k1.Point.fromBytes(kp.publicKey).toBytes(false);
    expect(uncompressed.length).toBe(65);
    const q = await connect(t.port);
    q.socket.write(hs({ type: 'ProtocolVersion', version: 2 }));
    await q.next();
    q.socket.write(hs({ type: 'PubKey', key: uncompressed }));
    expect(Buffer.from(await q.next())).toEqual(Buffer.from([3, 1]));
    q.socket.destroy();
    await waitFor(() => t.edge.stats().stale === 1, 2000, 'stale');
    const r = await rawResume(t.port, 1n, kp);
    open.push(r.socket);
    await t.master.expect((p) => p.id === 1n && p.flag === Flag.Reconnection);
  });
});

describe('edge handshake: refusals close the connection and log one line', () => {
  it('closes on ProtocolVersion(1) without sending its key', async () => {
    const t = await fx.start();
    const got = await expectClosedAfter(await connect(t.port), hs({ type: 'ProtocolVersion', version: 1 }));
    expect(got).toHaveLength(0);
    await expectOneRefusal(/version 1/);
    expect(t.edge.sessions.size).toBe(0);
  });

  it('closes on a Ping instead of ProtocolVersion', async () => {
    const t = await fx.start();
    expect(await expectClosedAfter(await connect(t.port), hs({ type: 'Ping' }))).toHaveLength(0);
    await expectOneRefusal(/expected ProtocolVersion, got Ping/);
  });

  it('closes on a second ProtocolVersion', async () => {
    const t = await fx.start();
    const got = await expectClosedAfter(
      await connect(t.port),
      hs({ type: 'ProtocolVersion', version: 2 }),
      hs({ type: 'ProtocolVersion', version: 2 }),
    );
    expect(got).toHaveLength(1);
    expect((decodeHandshake(got[0]!) as { type: string }).type).toBe('PubKey');
    await expectOneRefusal(/expected PubKey or ClientId, got ProtocolVersion/);
    expect(t.edge.sessions.size).toBe(0);
  });

  it('closes on a Ping where the key is expected', async () => {
    const t = await fx.start();
    const got = await expectClosedAfter(await connect(t.port), hs({ type: 'ProtocolVersion', version: 2 }), hs({ type: 'Ping' }));
    expect(got).toHaveLength(1);
    await expectOneRefusal(/got Ping/);
  });

  it('closes on a ChallengeResponse out of turn', async () => {
    const t = await fx.start();
    const blob = new Uint8Array(72).fill(7);
    const got = await expectClosedAfter(
      await connect(t.port),
      hs({ type: 'ProtocolVersion', version: 2 }),
      hs({ type: 'ChallengeResponse', blob }),
    );
    expect(got).toHaveLength(1);
    await expectOneRefusal(/got ChallengeResponse/);
  });

  it('closes on a ChallengeResponse as the very first packet', async () => {
    const t = await fx.start();
    const got = await expectClosedAfter(await connect(t.port), hs({ type: 'ChallengeResponse', blob: new Uint8Array(72) }));
    expect(got).toHaveLength(0);
    await expectOneRefusal(/got ChallengeResponse/);
  });

  it('closes on an unknown variant', async () => {
    const t = await fx.start();
    expect(await expectClosedAfter(await connect(t.port), frame(Uint8Array.of(6)))).toHaveLength(0);
    await expectOneRefusal(/unknown variant/);
  });

  it('closes on a non-minimal varint (ProtocolVersion 2 as fb 02 00)', async () => {
    const t = await fx.start();
    expect(await expectClosedAfter(await connect(t.port), frame(Uint8Array.of(1, 251, 2, 0)))).toHaveLength(0);
    await expectOneRefusal(/malformed handshake packet/);
  });

  it('closes on a non-minimal ClientId varint', async () => {
    const t = await fx.start();
    const a = await rawNewSession(t.port);
    open.push(a.socket);
    const got = await expectClosedAfter(
      await connect(t.port),
      hs({ type: 'ProtocolVersion', version: 2 }),
      frame(Uint8Array.of(3, 251, 1, 0)),
    );
    expect(got).toHaveLength(1); // PubKey only, no Challenge
    await expectOneRefusal(/malformed handshake packet/);
  });

  it('closes on trailing bytes after a packet', async () => {
    const t = await fx.start();
    expect(await expectClosedAfter(await connect(t.port), frame(Uint8Array.of(1, 2, 0)))).toHaveLength(0);
    await expectOneRefusal(/trailing/);
  });

  it('closes on an empty handshake packet', async () => {
    const t = await fx.start();
    expect(await expectClosedAfter(await connect(t.port), frame(new Uint8Array(0)))).toHaveLength(0);
    await expectOneRefusal(/empty/);
  });

  it('closes on a client key that is not on the curve (compressed and uncompressed)', async () => {
    const t = await fx.start();
    const bad = offCurveKey();
    const got = await expectClosedAfter(
      await connect(t.port),
      hs({ type: 'ProtocolVersion', version: 2 }),
      hs({ type: 'PubKey', key: bad }),
    );
    expect(got).toHaveLength(1); // PubKey only, no ClientId
    await expectOneRefusal(/invalid client public key/);
    const bad65 = new Uint8Array(65).fill(1);
    bad65[0] = 4;
    const got2 = await expectClosedAfter(
      await connect(t.port),
      hs({ type: 'ProtocolVersion', version: 2 }),
      hs({ type: 'PubKey', key: bad65 }),
    );
    expect(got2).toHaveLength(1);
    expect(t.edge.sessions.size).toBe(0);
  });

  it('closes on a key of the wrong length', async () => {
    const t = await fx.start();
    const got = await expectClosedAfter(
      await connect(t.port),
      hs({ type: 'ProtocolVersion', version: 2 }),
      hs({ type: 'PubKey', key: generateKeyPair().publicKey.subarray(0, 32) }),
    );
    expect(got).toHaveLength(1);
    await expectOneRefusal(/invalid client public key/);
  });

  it('closes on a handshake frame announced over the handshake cap, before its body arrives', async () => {
    const t = await fx.start();
    const q = await connect(t.port);
    q.socket.write(hs({ type: 'ProtocolVersion', version: 2 }));
    await q.next();
    // Only the 4-byte header of a 2000-byte frame: the edge must not wait for the body.
    await expectClosedAfter(q, Uint8Array.of(0xd0, 0x07, 0, 0));
    await expectOneRefusal(/exceeds the cap/);
  });

  it('closes a silent socket after the handshake timeout', async () => {
    const t = await fx.start({ limits: { handshakeTimeoutSecs: 0.3 } });
    const q = await connect(t.port);
    const t0 = Date.now();
    await q.waitClosed(3000);
    const waited = Date.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(250);
    expect(waited).toBeLessThan(2000);
    expect(q.frames).toHaveLength(0);
    await expectOneRefusal(/timeout/);
    expect(t.edge.stats().handshaking).toBe(0);
  });

  it('closes a connection that stalls after ProtocolVersion within the handshake timeout', async () => {
    const t = await fx.start({ limits: { handshakeTimeoutSecs: 0.3 } });
    const q = await connect(t.port);
    q.socket.write(hs({ type: 'ProtocolVersion', version: 2 }));
    await q.next();
    await q.waitClosed(3000);
    await expectOneRefusal(/timeout/);
    expect(t.edge.sessions.size).toBe(0);
  });

  it('a completed handshake is not closed by the handshake timer', async () => {
    const t = await fx.start({ limits: { handshakeTimeoutSecs: 0.2 } });
    const a = await rawNewSession(t.port);
    open.push(a.socket);
    await new Promise((r) => setTimeout(r, 400));
    expect(a.q.closed).toBe(false);
    a.socket.write(frame('still here'));
    const p = await t.master.expect((p) => p.flag === Flag.Data);
    expect(text(p.data)).toBe('still here');
    expect(logsWith(t, 'handshake.refused')).toHaveLength(0);
  });

  it('refuses a resume of an id that was never issued, without a Challenge', async () => {
    const t = await fx.start();
    const err = await refused(rawResume(t.port, 42n, generateKeyPair()));
    expect(err.message).toMatch(/closed/);
    await expectOneRefusal(/unknown session 42/);
  });
});
