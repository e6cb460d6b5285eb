// Nobody who merely knows a session id can lock its owner out, and no response but the right one passes:
// attackers on other loopback addresses hammer an id with wrong and silent challenges while the owner resumes;
// responses sealed with the right key over the wrong bytes, or replayed from an earlier challenge, are refused.
import { describe, expect, it } from 'vitest';
import { Flag } from '../../src/io/firehose.js';
import { constantTimeEqual, deriveSessionKey, open as openSealed, seal } from '../../src/io/crypto.js';
import { decodeHandshake } from '../../src/io/handshake.js';
import { dial, FrameQueue, hs, rawResume, text, waitFor, type RawSession } from '../helpers/wire.js';
import { logsWith, useEdgeFixture } from '../helpers/edge.js';

const fx = useEdgeFixture();
const { open, newSession, marker } = fx;

async function goStale(c: { socket: { destroy(): void } }, stale = 1): Promise<void> {
  c.socket.destroy();
  await waitFor(() => fx.t.edge.stats().stale === stale, 2000, 'the session to go stale');
}

/** Dials from `from`, names `id`, waits for the Challenge: the blob, and the socket left open. */
async function challenge(id: bigint, from = '127.0.0.1'): Promise<{ q: FrameQueue; blob: Uint8Array }> {
  const s = await dial(fx.t.port, '127.0.0.1', from);
  open.push(s);
  const q = new FrameQueue(s);
  s.write(hs({ type: 'ProtocolVersion', version: 2 }));
  await q.next();
  s.write(hs({ type: 'ClientId', id }));
  const ch = decodeHandshake(await q.next());
  if (ch instanceof Error || ch.type !== 'Challenge') throw new Error('expected a Challenge');
  return { q, blob: ch.blob.slice() };
}

const sessionKey = (c: RawSession): Uint8Array => deriveSessionKey(c.keyPair.secretKey, c.edgeKey) as Uint8Array;

describe('edge resume under attack: no lockout by id', () => {
  it('the owner resumes at once while ten other addresses send wrong answers and hold silent challenges on its id', async () => {
    const t = await fx.start({ limits: { failedResumesPerAddressPerMin: 5 } });
    const victim = await newSession();
    await goStale(victim);
    const attackers = Array.from({ length: 10 }, (_, i) => `127.0.${i + 1}.${i + 2}`);
    // Each attacker: wrong answers up to (and past) its address's limit...
    await Promise.all(
      attackers.map(async (from) => {
        for (let i = 0; i < 6; i++) await rawResume(t.port, victim.id, victim.keyPair, { wrongKey: true, from }).catch(() => {});
      }),
    );
    // ...and silent challenges left open (the old single challenge slot would now be held for the timeout).
    const silent = await Promise.all(['127.0.20.1', '127.0.20.2', '127.0.20.3'].map((from) => challenge(victim.id, from)));
    expect(silent).toHaveLength(3);
    // The owner is challenged and passes at once.
    const r = await rawResume(t.port, victim.id, victim.keyPair);
    open.push(r.socket);
    await marker(r, 'owner');
    expect(t.master.forId(victim.id).map((p) => p.flag)).toEqual([Flag.Reconnection, Flag.Data]);
    // The silent challenges lost: closed without a Ping.
    for (const s of silent) await s.q.waitClosed(2000);
    // The attackers' addresses are the ones refused now.
    const blocked = logsWith(t, 'handshake.refused').filter((l) => /too many failed resumes from this address/.test(String(l.reason)));
    expect(blocked.length).toBeGreaterThanOrEqual(attackers.length);
    expect(new Set(blocked.map((l) => l.address))).toEqual(new Set(attackers));
    // And the owner can still drop and resume again from its own address.
    await goStale(r);
    const again = await rawResume(t.port, victim.id, victim.keyPair);
    open.push(again.socket);
    await marker(again, 'owner-again');
  });

  it('more silent challenges than a session may hold: the oldest gives way, the owner still passes', async () => {
    const t = await fx.start();
    const victim = await newSession();
    await goStale(victim);
    const { MAX_CHALLENGES_PER_SESSION } = await import('../../src/actors/edge.js');
    const silent: Array<{ q: FrameQueue }> = [];
    for (let i = 0; i < MAX_CHALLENGES_PER_SESSION + 4; i++) silent.push(await challenge(victim.id, `127.0.30.${i + 1}`));
    // The first four were superseded.
    for (const s of silent.slice(0, 4)) await s.q.waitClosed(2000);
    expect(silent.slice(4).every((s) => !s.q.closed)).toBe(true);
    const r = await rawResume(t.port, victim.id, victim.keyPair);
    open.push(r.socket);
    await marker(r, 'owner');
    expect(t.edge.stats()).toMatchObject({ live: 1, stale: 0 });
    await waitFor(() => t.edge.stats().handshaking === 0, 2000, 'the losing challenges closed');
  });
});

describe('edge resume: only the answer to this challenge passes', () => {
  it('refuses a response sealed with the right key over other bytes', async () => {
    const t = await fx.start();
    const c = await newSession();
    await goStale(c);
    const { q, blob } = await challenge(c.id);
    const key = sessionKey(c);
    const plain = openSealed(key, blob) as Uint8Array;
    const wrong = plain.slice();
    wrong[0] = wrong[0]! ^ 1;
    q.socket.write(Buffer.concat([hs({ type: 'ChallengeResponse', blob: seal(key, wrong) }), hs({ type: 'Ping' })]));
    await q.waitClosed(2000);
    expect(q.frames).toHaveLength(0);
    await waitFor(() => logsWith(t, 'handshake.refused').length === 1, 2000, 'refusal');
    expect(String(logsWith(t, 'handshake.refused')[0]!.reason)).toMatch(/does not match/);
    expect(t.edge.stats()).toMatchObject({ stale: 1 });
    expect(t.master.forId(c.id)).toEqual([]);
  });

  it('refuses a captured response replayed against a later challenge', async () => {
    const t = await fx.start();
    const c = await newSession();
    await goStale(c);
    // A resume that passes, its response captured on the way.
    const first = await challenge(c.id);
    const key = sessionKey(c);
    const captured = seal(key, openSealed(key, first.blob) as Uint8Array);
    first.q.socket.write(Buffer.concat([hs({ type: 'ChallengeResponse', blob: captured }), hs({ type: 'Ping' })]));
    expect(Buffer.from(await first.q.next())).toEqual(Buffer.from([0]));
    await goStale(first.q);
    // The capture replayed to a new challenge: sealed with the session key, but over the old challenge.
    const later = await challenge(c.id, '127.0.0.7');
    expect(Buffer.from(later.blob).equals(Buffer.from(first.blob))).toBe(false);
    later.q.socket.write(Buffer.concat([hs({ type: 'ChallengeResponse', blob: captured }), hs({ type: 'Ping' })]));
    await later.q.waitClosed(2000);
    expect(later.q.frames).toHaveLength(0);
    expect(t.master.forId(c.id).map((p) => p.flag)).toEqual([Flag.Reconnection]);
    expect(t.edge.stats()).toMatchObject({ stale: 1 });
    // The owner answering its own challenge still passes.
    const r = await rawResume(t.port, c.id, c.keyPair);
    open.push(r.socket);
    await marker(r, 'back');
    expect(text(t.master.forId(c.id).at(-1)!.data)).toBe('back');
  });

  it('constantTimeEqual tells equal from unequal bytes', () => {
    expect(constantTimeEqual(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 3))).toBe(true);
    expect(constantTimeEqual(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 4))).toBe(false);
    expect(constantTimeEqual(Uint8Array.of(0x80, 2, 3), Uint8Array.of(0, 2, 3))).toBe(false);
    expect(constantTimeEqual(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2))).toBe(false);
    expect(constantTimeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
  });
});


