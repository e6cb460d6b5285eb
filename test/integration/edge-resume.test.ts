// Reconnects over loopback (PROTOCOL.md sec. 3, 6, 7): same id, Reconnection first, refusals that leave the
// session stale, takeover of a half-open socket, the failed-resume rate limit, and replay of missed packets.
import { describe, expect, it } from 'vitest';
import { Flag } from '../../src/io/firehose.js';
import { deriveSessionKey, generateKeyPair, open as open_, seal } from '../../src/io/crypto.js';
import { decodeHandshake } from '../../src/io/handshake.js';
import { dial, frame, FrameQueue, hs, rawResume, refused, sleep, text, waitFor, type RawSession } from '../helpers/wire.js';
import { logsWith, useEdgeFixture } from '../helpers/edge.js';

const fx = useEdgeFixture();
const { open, newSession, marker } = fx;

async function resume(id: bigint, c: RawSession, opts: Parameters<typeof rawResume>[3] = {}): Promise<RawSession> {
  const r = await rawResume(fx.t.port, id, c.keyPair, opts);
  open.push(r.socket);
  return r;
}

async function goStale(c: RawSession, stale = 1): Promise<void> {
  c.socket.destroy();
  await waitFor(() => fx.t.edge.stats().stale === stale, 2000, 'the session to go stale');
}

/** Kinds and payloads of the master's packets for `id`, e.g. ['D:a', 'R', 'F:stale timeout']. */
function seen(id: bigint): string[] {
  return fx.t.master.forId(id).map((p) =>
    p.flag === Flag.Data ? `D:${text(p.data)}` : p.flag === Flag.Failure ? `F:${text(p.data)}` : p.flag === Flag.Reconnection ? 'R' : 'K',
  );
}

describe('edge resume', () => {
  it('derives a new session\'s key in idle time, before it ever drops, and resumes with it', async () => {
    const t = await fx.start();
    const c = await newSession();
    const s = t.edge.sessions.get(Number(c.id))!;
    await waitFor(() => s.hasSessionKey, 2000, 'the session key to be derived');
    const derived = t.edge.deriveSessionKey(s);
    expect(derived).toEqual(deriveSessionKey(c.keyPair.secretKey, t.edge.keyPair.publicKey));
    await goStale(c);
    const r = await resume(c.id, c);
    expect(r.id).toBe(c.id);
    expect(t.edge.deriveSessionKey(s)).toEqual(derived);
  });

  it('resumes under the same id; Reconnection reaches the master before data sent with the Ping', async () => {
    const t = await fx.start();
    const c = await newSession();
    c.socket.write(frame('before'));
    await marker(c, 'before-2');
    await goStale(c);
    // Response, Ping and two data frames in one write: the edge may find them all in one read.
    const r = await resume(c.id, c, { extra: Buffer.concat([frame('after-1'), frame('after-2')]) });
    expect(r.id).toBe(1n);
    await t.master.expect((p) => p.id === 1n && text(p.data) === 'after-2', 3000, 'after-2');
    expect(seen(1n)).toEqual(['D:before', 'D:before-2', 'R', 'D:after-1', 'D:after-2']);
    t.master.send(1n, Flag.Data, Buffer.from('to-new'));
    expect(text(await r.q.next())).toBe('to-new');
    expect(t.edge.stats()).toMatchObject({ sessions: 1, live: 1, stale: 0 });
  });

  it('resumes a second and a third time under the same id', async () => {
    const t = await fx.start();
    const c = await newSession();
    let cur: RawSession = c;
    for (let i = 1; i <= 3; i++) {
      await goStale(cur);
      cur = await resume(c.id, c, { extra: frame(`r${i}`) });
      expect(cur.id).toBe(c.id);
      await t.master.expect((p) => p.id === c.id && text(p.data) === `r${i}`, 3000, `r${i}`);
      t.master.send(c.id, Flag.Data, Buffer.from(`m${i}`));
      expect(text(await cur.q.next())).toBe(`m${i}`);
    }
    expect(seen(c.id)).toEqual(['R', 'D:r1', 'R', 'D:r2', 'R', 'D:r3']);
    expect(t.edge.sessions.size).toBe(1);
    expect(t.edge.counters.resumes).toBe(3);
  });

  it('refuses a resume of an unknown id and hands out no new id for it', async () => {
    const t = await fx.start();
    const c = await newSession();
    await refused(rawResume(t.port, 7n, c.keyPair));
    await refused(rawResume(t.port, 0n, c.keyPair));
    await refused(rawResume(t.port, 2n ** 64n - 1n, c.keyPair));
    expect(logsWith(t, 'handshake.refused')).toHaveLength(3);
    const d = await newSession();
    expect(d.id).toBe(2n);
  });

  it('refuses a response sealed with the wrong key; the session stays stale and resumes with the right key', async () => {
    const t = await fx.start({ clients: { missedPacketsBufferSize: 8 } });
    const c = await newSession();
    await goStale(c);
    t.master.send(c.id, Flag.Data, Buffer.from('missed'));
    await refused(resume(c.id, c, { wrongKey: true }));
    await waitFor(() => t.edge.stats().stale === 1 && t.edge.stats().handshaking === 0, 2000, 'back to stale');
    expect(logsWith(t, 'handshake.refused')).toHaveLength(1);
    expect(seen(c.id)).toEqual([]);
    const r = await resume(c.id, c);
    expect(text(await r.q.next())).toBe('missed');
    await t.master.expect((p) => p.id === c.id && p.flag === Flag.Reconnection);
  });

  it('refuses a reflected challenge (the Challenge blob sent back as the response)', async () => {
    const t = await fx.start();
    const c = await newSession();
    await goStale(c);
    // An attacker who knows only the id: no key at all.
    await refused(rawResume(t.port, c.id, generateKeyPair(), { reflect: true }));
    await waitFor(() => logsWith(t, 'handshake.refused').length === 1, 2000, 'refusal');
    expect(String(logsWith(t, 'handshake.refused')[0]!.reason)).toMatch(/reflected/);
    expect(t.edge.stats().stale).toBe(1);
    expect(seen(c.id)).toEqual([]);
    await resume(c.id, c);
  });

  it('closes a resume whose Ping never comes after the handshake timeout; the session stays stale', async () => {
    const t = await fx.start({ limits: { handshakeTimeoutSecs: 0.3 } });
    const c = await newSession();
    await goStale(c);
    const t0 = Date.now();
    await refused(resume(c.id, c, { noPing: true }));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(t.edge.stats()).toMatchObject({ stale: 1, handshaking: 0 });
    expect(seen(c.id)).toEqual([]);
    const r = await resume(c.id, c, { extra: frame('ok') });
    await t.master.expect((p) => p.id === c.id && text(p.data) === 'ok');
    expect(seen(c.id)).toEqual(['R', 'D:ok']);
    r.socket.destroy();
  });

  it('a failed resume keeps the stale clock running from the original disconnect', async () => {
    // Expiry 1 s after the drop; a failed resume 0.7 s in that restarted the clock would push it to 1.7 s or later.
    const t = await fx.start({ clients: { staleTimeoutSecs: 1, staleReapIntervalSecs: 0.05 } });
    const c = await newSession();
    const t0 = Date.now();
    await goStale(c);
    await sleep(700);
    await refused(resume(c.id, c, { wrongKey: true }));
    await t.master.expect((p) => p.id === c.id && p.flag === Flag.Failure, 5000, 'stale Failure');
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(950);
    expect(took).toBeLessThan(1650);
  });

  it('a stale session stays stale in its machine while challenged (one event when it passes, none when it fails); a takeover is announced', async () => {
    const t = await fx.start();
    const c = await newSession();
    const s = t.edge.sessions.get(Number(c.id))!;
    const during: unknown[] = [];
    const watch = { onChallenge: () => void during.push(s.stateValue) };
    // A failed takeover first: the session is live, so its round goes through the machine, which makes its actor.
    await refused(resume(c.id, c, { wrongKey: true, ...watch }));
    expect(s.actor).not.toBeNull();
    await goStale(c);
    await refused(resume(c.id, c, { wrongKey: true, ...watch }));
    await waitFor(() => t.edge.stats().handshaking === 0, 2000, 'the failed attempt to end');
    expect(s.stateValue).toEqual({ away: 'stale' });
    const r = await resume(c.id, c, watch);
    expect(s.stateValue).toEqual({ live: 'connected' });
    expect(s.actor!.getSnapshot().context.resumes).toBe(1);
    // Half-open: the session is live, so the machine is told of the challenge.
    await resume(c.id, c, watch);
    await r.q.waitClosed(2000);
    expect(during).toEqual([{ live: 'challenged' }, { away: 'stale' }, { away: 'stale' }, { live: 'challenged' }]);
    expect(s.actor!.getSnapshot().context.resumes).toBe(2);
    expect(t.edge.counters).toMatchObject({ resumes: 2, resumesFailed: 2 });
  });

  it('takes over a half-open session: the old socket is closed and data flows on the new one only', async () => {
    const t = await fx.start();
    const c = await newSession();
    await marker(c, 'old-1');
    // The old socket stays open: to the edge the session still looks live.
    expect(t.edge.stats().live).toBe(1);
    const r = await resume(c.id, c, { extra: frame('new-1') });
    await c.q.waitClosed(2000);
    await t.master.expect((p) => p.id === c.id && text(p.data) === 'new-1', 3000, 'new-1');
    // Anything written on the old socket now is not forwarded.
    c.socket.write(frame('old-2'));
    t.master.send(c.id, Flag.Data, Buffer.from('to-new'));
    expect(text(await r.q.next())).toBe('to-new');
    await marker(r, 'new-2');
    await sleep(100);
    expect(seen(c.id)).toEqual(['D:old-1', 'R', 'D:new-1', 'D:new-2']);
    expect(t.edge.stats()).toMatchObject({ sessions: 1, live: 1, stale: 0 });
    expect(logsWith(t, 'session.takeover')).toHaveLength(1);
  });

  it('a failed takeover leaves the session live on its old socket', async () => {
    const t = await fx.start();
    const c = await newSession();
    await refused(resume(c.id, c, { wrongKey: true }));
    expect(c.q.closed).toBe(false);
    t.master.send(c.id, Flag.Data, Buffer.from('still-old'));
    expect(text(await c.q.next())).toBe('still-old');
    await marker(c, 'old-ok');
    expect(seen(c.id)).toEqual(['D:old-ok']);
  });

  it('rate-limits failed resumes per address: that address is refused even with the right key, others are not', async () => {
    const t = await fx.start({ limits: { failedResumesPerAddressPerMin: 2 } });
    const c = await newSession();
    await goStale(c);
    await refused(resume(c.id, c, { wrongKey: true, from: '127.0.0.9' }));
    await refused(resume(c.id, c, { wrongKey: true, from: '127.0.0.9' }));
    const err = await refused(resume(c.id, c, { from: '127.0.0.9' }));
    expect(err.message).toMatch(/closed/);
    await waitFor(() => logsWith(t, 'handshake.refused').length === 3, 2000, 'three refusals');
    expect(String(logsWith(t, 'handshake.refused')[2]!.reason)).toMatch(/too many failed resumes from this address/);
    expect(t.edge.stats().stale).toBe(1);
    // The session's owner, from its own address, is not affected: the limit binds the address, not the id.
    const r = await resume(c.id, c);
    await marker(r, 'owner-back');
  });
});

describe('edge resume: replay of missed packets', () => {
  it('delivers packets sent while stale after the Ping, in order, before live data', async () => {
    const t = await fx.start({ clients: { missedPacketsBufferSize: 16 } });
    const c = await newSession();
    await goStale(c);
    for (let i = 0; i < 5; i++) t.master.send(c.id, Flag.Data, Buffer.from(`missed-${i}`));
    await waitFor(() => t.edge.sessions.get(1)?.missedCount === 5, 2000, 'five missed');
    const r = await resume(c.id, c);
    t.master.send(c.id, Flag.Data, Buffer.from('live'));
    const got: string[] = [];
    for (let i = 0; i < 6; i++) got.push(text(await r.q.next()));
    expect(got).toEqual(['missed-0', 'missed-1', 'missed-2', 'missed-3', 'missed-4', 'live']);
  });

  it('delivers master data that arrives during the challenge, in order, none lost or doubled', async () => {
    const t = await fx.start({ clients: { missedPacketsBufferSize: 16 } });
    const c = await newSession();
    await goStale(c);
    t.master.send(c.id, Flag.Data, Buffer.from('m0'));
    let during = 0;
    const r = await resume(c.id, c, {
      onChallenge: async () => {
        // The Challenge is here; the edge waits for the response. Master data now must be kept.
        for (let i = 1; i <= 3; i++) t.master.send(c.id, Flag.Data, Buffer.from(`m${i}`));
        await waitFor(() => (t.edge.sessions.get(1)?.missedCount ?? 0) === 4, 2000, 'kept during the challenge');
        during = t.edge.sessions.get(1)!.missedCount;
      },
    });
    expect(during).toBe(4);
    t.master.send(c.id, Flag.Data, Buffer.from('m4'));
    const got: string[] = [];
    for (let i = 0; i < 5; i++) got.push(text(await r.q.next()));
    expect(got).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    await marker(r, 'end');
    await sleep(50);
    expect(r.q.frames).toHaveLength(0);
    expect(seen(c.id)).toEqual(['R', 'D:end']);
  });

  it('one more packet than the buffer holds reaps the session with exactly one Failure; later data is answered "unknown client"', async () => {
    const t = await fx.start({ clients: { missedPacketsBufferSize: 3 } });
    const c = await newSession();
    const other = await newSession();
    await goStale(c);
    for (let i = 0; i < 5; i++) t.master.send(c.id, Flag.Data, Buffer.from(`m${i}`));
    const f = await t.master.expect((p) => p.id === c.id && p.flag === Flag.Failure);
    expect(text(f.data)).toBe('missed packet buffer overflow');
    await marker(other, 'later');
    await waitFor(() => seen(c.id).length === 2, 3000, 'the answer to m4');
    await sleep(150);
    expect(seen(c.id)).toEqual(['F:missed packet buffer overflow', 'F:unknown client']);
    expect(t.edge.sessions.has(1)).toBe(false);
    await refused(rawResume(t.port, c.id, c.keyPair));
  });

  it('with missed_packets_buffer_size = 0, master data for a stale session reaps it at once', async () => {
    const t = await fx.start({ clients: { missedPacketsBufferSize: 0 } });
    const c = await newSession();
    await goStale(c);
    t.master.send(c.id, Flag.Data, Buffer.from('x'));
    t.master.send(c.id, Flag.Data, Buffer.from('y'));
    const f = await t.master.expect((p) => p.id === c.id && p.flag === Flag.Failure);
    expect(text(f.data)).toBe('missed packet buffer overflow');
    await waitFor(() => seen(c.id).length === 2, 3000, 'the answer to y');
    await sleep(150);
    expect(seen(c.id)).toEqual(['F:missed packet buffer overflow', 'F:unknown client']);
    expect(t.edge.sessions.size).toBe(0);
  });

  it('with missed_packets_buffer_size = 0, master data during the challenge reaps the session and closes the attempt', async () => {
    const t = await fx.start({ clients: { missedPacketsBufferSize: 0 } });
    const c = await newSession();
    await goStale(c);
    await refused(
      resume(c.id, c, {
        onChallenge: async () => {
          t.master.send(c.id, Flag.Data, Buffer.from('x'));
          await t.master.expect((p) => p.id === c.id && p.flag === Flag.Failure);
        },
      }),
    );
    expect(seen(c.id)).toEqual(['F:missed packet buffer overflow']);
    expect(t.edge.stats()).toMatchObject({ sessions: 0, handshaking: 0 });
  });
});

describe('edge resume: takeover races', () => {
  it('old socket closing during the takeover challenge: data kept while away is replayed on the new socket', async () => {
    const t = await fx.start({ clients: { missedPacketsBufferSize: 8 } });
    const c = await newSession();
    const r = await resume(c.id, c, {
      onChallenge: async () => {
        c.socket.destroy();
        await waitFor(() => t.edge.stats().stale === 1, 2000, 'away while challenged');
        t.master.send(c.id, Flag.Data, Buffer.from('while-away'));
        await waitFor(() => t.edge.sessions.get(1)?.missedCount === 1, 2000, 'kept');
      },
    });
    expect(text(await r.q.next())).toBe('while-away');
    await marker(r, 'new');
    expect(seen(c.id)).toEqual(['R', 'D:new']);
  });

  it('a second reconnect while one is being challenged is challenged too; the first valid answer wins', async () => {
    const t = await fx.start();
    const c = await newSession();
    await goStale(c);
    let second: RawSession | null = null;
    const first = rawResume(t.port, c.id, c.keyPair, {
      onChallenge: async () => {
        // The first holds its challenge; the second is challenged all the same and answers first.
        second = await resume(c.id, c);
      },
    });
    // The first answers after the second passed: it lost the race and is closed, with no Ping.
    await refused(first, 'the slower answer to be refused');
    await marker(second!, 'second-wins');
    expect(seen(c.id)).toEqual(['R', 'D:second-wins']);
    expect(t.edge.stats()).toMatchObject({ sessions: 1, live: 1, stale: 0, handshaking: 0 });
  });
});

describe('edge resume: out-of-turn packets during a reconnect', () => {
  /** Dials, asks to resume `id`, waits for the Challenge; returns the queue and the challenge blob. */
  async function challenged(id: bigint): Promise<{ q: FrameQueue; blob: Uint8Array }> {
    const s = await dial(fx.t.port);
    open.push(s);
    const q = new FrameQueue(s);
    s.write(hs({ type: 'ProtocolVersion', version: 2 }));
    await q.next();
    s.write(hs({ type: 'ClientId', id }));
    const ch = decodeHandshake(await q.next());
    if (ch instanceof Error || ch.type !== 'Challenge') throw new Error('expected a Challenge');
    return { q, blob: ch.blob.slice() };
  }

  function correctResponse(c: RawSession, blob: Uint8Array): Uint8Array {
    const key = deriveSessionKey(c.keyPair.secretKey, c.edgeKey) as Uint8Array;
    return seal(key, open_(key, blob) as Uint8Array);
  }

  const cases: Array<[string, (c: RawSession, blob: Uint8Array) => Uint8Array, RegExp]> = [
    ['a Ping instead of the response', () => hs({ type: 'Ping' }), /expected ChallengeResponse, got Ping/],
    ['a second ClientId', (c) => hs({ type: 'ClientId', id: c.id }), /expected ChallengeResponse, got ClientId/],
    ['a second ProtocolVersion', () => hs({ type: 'ProtocolVersion', version: 2 }), /got ProtocolVersion/],
    ['a response shorter than a sealed blob', () => hs({ type: 'ChallengeResponse', blob: new Uint8Array(39) }), /too short/],
    ['an empty response', () => hs({ type: 'ChallengeResponse', blob: new Uint8Array(0) }), /too short/],
    ['garbage of a valid length', () => hs({ type: 'ChallengeResponse', blob: new Uint8Array(72).fill(9) }), /challenge response/],
    [
      'a data frame instead of the Ping',
      (c, blob) => Buffer.concat([hs({ type: 'ChallengeResponse', blob: correctResponse(c, blob) }), frame('data')]),
      /malformed handshake packet/,
    ],
    [
      'a second ChallengeResponse instead of the Ping',
      (c, blob) =>
        Buffer.concat([hs({ type: 'ChallengeResponse', blob: correctResponse(c, blob) }), hs({ type: 'ChallengeResponse', blob: correctResponse(c, blob) })]),
      /expected Ping/,
    ],
  ];

  it.each(cases)('%s closes the connection and leaves the session stale', async (_name, bytes, reason) => {
    const t = await fx.start();
    const c = await newSession();
    await goStale(c);
    const { q, blob } = await challenged(c.id);
    q.socket.write(bytes(c, blob));
    await q.waitClosed(2000);
    expect(q.frames).toHaveLength(0); // no Ping
    await waitFor(() => logsWith(t, 'handshake.refused').length === 1, 2000, 'refusal');
    expect(String(logsWith(t, 'handshake.refused')[0]!.reason)).toMatch(reason);
    expect(t.edge.stats()).toMatchObject({ sessions: 1, stale: 1, handshaking: 0 });
    expect(t.master.forId(c.id)).toEqual([]);
    const r = await resume(c.id, c, { extra: frame('ok') });
    await t.master.expect((p) => p.id === c.id && text(p.data) === 'ok');
    r.socket.destroy();
  });

  it('accepts the response and the Ping in separate writes, split at every byte boundary of the Ping frame', async () => {
    const t = await fx.start();
    const c = await newSession();
    await goStale(c);
    const { q, blob } = await challenged(c.id);
    const bytes = Buffer.concat([hs({ type: 'ChallengeResponse', blob: correctResponse(c, blob) }), hs({ type: 'Ping' }), frame('x')]);
    for (let i = 0; i < bytes.length; i++) {
      q.socket.write(bytes.subarray(i, i + 1));
      if (i % 16 === 0) await sleep(1);
    }
    expect(Buffer.from(await q.next())).toEqual(Buffer.from([0]));
    await t.master.expect((p) => p.id === c.id && text(p.data) === 'x');
    expect(t.master.forId(c.id).map((p) => p.flag)).toEqual([Flag.Reconnection, Flag.Data]);
  });
});
