// A session that never had a lifecycle event goes stale without an XState actor (session-effects.ts
// socketClosed): away.stale, its effects applied directly. Every way out of away.stale must then work as through
// the machine: expiry, eviction, a buffer overflow and a Kick end it (Failure as the machine sends it, or none for
// a Kick), a resume replays its packets (without an actor either). A client's FIN makes it stale before the
// edge's FIN answers. Real sockets and master link; expiry on a simulated clock.
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { Flag } from '../../src/io/firehose.js';
import { SimClock } from '../../src/fuzz/clock.js';
import { rawResume, refused, text, waitFor, type RawSession } from '../helpers/wire.js';
import { useEdgeFixture, type TestEdge } from '../helpers/edge.js';

const fx = useEdgeFixture();
const { newSession, marker } = fx;

/** Drops the client's socket and waits for its session to be stale, with no actor made for it. */
async function dropToStale(t: TestEdge, c: RawSession): Promise<void> {
  const s = t.edge.sessions.get(Number(c.id))!;
  c.socket.destroy();
  await waitFor(() => t.edge.stale.has(s), 2000, 'stale');
  expect(s.actor).toBeNull();
  expect(s.stateValue).toEqual({ away: 'stale' });
}

describe('a stale session without an actor', () => {
  it('expires at its deadline with one Failure "stale timeout"; its resume is refused', async () => {
    const clock = new SimClock(1_000_000_000);
    const t = await fx.start({ clients: { staleTimeoutSecs: 0.2, staleReapIntervalSecs: 0.05, missedPacketsBufferSize: 4 } }, { clock });
    const c = await newSession();
    const other = await newSession();
    await dropToStale(t, c);
    t.master.send(c.id, Flag.Data, Buffer.from('kept'));
    await clock.advance(199);
    await marker(other, 'before the deadline');
    expect(t.master.forId(c.id)).toHaveLength(0);
    await clock.advance(1);
    const f = await t.master.expect((p) => p.id === c.id && p.flag === Flag.Failure, 3000, 'Failure');
    expect(text(f.data)).toBe('stale timeout');
    expect(t.edge.sessions.has(Number(c.id))).toBe(false);
    expect(t.edge.stale.size).toBe(0);
    expect(t.edge.replayPool.bytesHeld).toBe(0);
    await refused(rawResume(t.port, c.id, c.keyPair));
    await marker(other, 'after');
    expect(t.master.forId(c.id)).toHaveLength(1);
  });

  it('is evicted from a full stale table, overflows its buffer, and is kicked: each as the machine ends it', async () => {
    // A share per address of 10 sessions: only the table's size evicts here (every client is 127.0.0.1).
    const t = await fx.start({ clients: { maxStaleClients: 2, missedPacketsBufferSize: 1 }, limits: { maxStaleSharePerAddress: 10 } });
    const [a, b, c, d] = [await newSession(), await newSession(), await newSession(), await newSession()];
    await dropToStale(t, a);
    await dropToStale(t, b);
    // A third stale session: the table holds 2, the oldest (a) goes with Failure "evicted".
    c.socket.destroy();
    const ev = await t.master.expect((p) => p.id === a.id && p.flag === Flag.Failure, 3000, 'eviction');
    expect(text(ev.data)).toBe('evicted');
    expect(t.edge.sessions.has(Number(a.id))).toBe(false);
    // b: one packet fits its buffer, the second overflows it.
    t.master.send(b.id, Flag.Data, Buffer.from('one'));
    t.master.send(b.id, Flag.Data, Buffer.from('two'));
    const ov = await t.master.expect((p) => p.id === b.id && p.flag === Flag.Failure, 3000, 'overflow');
    expect(text(ov.data)).toBe('missed packet buffer overflow');
    expect(t.edge.sessions.has(Number(b.id))).toBe(false);
    // c: kicked by the master, ended without a Failure.
    await waitFor(() => t.edge.stale.size === 1, 2000, 'c stale');
    t.master.send(c.id, Flag.Kick, new Uint8Array(0));
    await waitFor(() => !t.edge.sessions.has(Number(c.id)), 2000, 'kicked');
    await marker(d, 'after the kick');
    expect(t.master.forId(c.id).filter((p) => p.flag === Flag.Failure)).toHaveLength(0);
    expect(t.edge.stale.size).toBe(0);
    expect(t.edge.replayPool.bytesHeld).toBe(0);
  });

  it('is stale by the time a client that half-closed gets the edge\'s FIN: master data from then on is kept for it', async () => {
    const t = await fx.start({ clients: { missedPacketsBufferSize: 4 } });
    const c = await newSession();
    const s = t.edge.sessions.get(Number(c.id))!;
    // The edge's side of the connection: 'finish' once its FIN is handed to the kernel ('close' comes after it).
    const edgeSide = s.socket!;
    const finished = new Promise<boolean>((resolve) => edgeSide.once('finish', () => resolve(t.edge.stale.has(s))));
    c.socket.end();
    expect(await finished).toBe(true);
    await once(c.socket, 'end');
    expect(s.socket).toBeNull();
    t.master.send(c.id, Flag.Data, Buffer.from('after the FIN'));
    await waitFor(() => s.missedCount === 1, 2000, 'buffered');
    const r = await rawResume(t.port, c.id, c.keyPair);
    expect(text(await r.q.next())).toBe('after the FIN');
    r.socket.destroy();
  });

  it('resumes with its packets and still no actor; drops and resumes again; a takeover\'s actor counts every resume', async () => {
    const t = await fx.start({ clients: { missedPacketsBufferSize: 4 } });
    const c = await newSession();
    await dropToStale(t, c);
    t.master.send(c.id, Flag.Data, Buffer.from('m1'));
    t.master.send(c.id, Flag.Data, Buffer.from('m2'));
    const s = t.edge.sessions.get(Number(c.id))!;
    await waitFor(() => s.missedCount === 2, 2000, 'buffered');
    const r = await rawResume(t.port, c.id, c.keyPair);
    expect(text(await r.q.next())).toBe('m1');
    expect(text(await r.q.next())).toBe('m2');
    await t.master.expect((p) => p.id === c.id && p.flag === Flag.Reconnection, 3000, 'Reconnection');
    // The machine's resume.completed, applied without an actor: live.connected, out of the stale table and reaper.
    expect(s.actor).toBeNull();
    expect(s.stateValue).toEqual({ live: 'connected' });
    expect(s.resumes).toBe(1);
    expect(t.edge.stale.size).toBe(0);
    expect(s.deadlineSlot).toBe(-1);
    await marker(r, 'after the first resume');
    // Stale again, and back again, without an actor.
    r.socket.destroy();
    await waitFor(() => t.edge.stale.has(s), 2000, 'stale again');
    expect(s.stateValue).toEqual({ away: 'stale' });
    t.master.send(c.id, Flag.Data, Buffer.from('m3'));
    const r2 = await rawResume(t.port, c.id, c.keyPair);
    expect(text(await r2.q.next())).toBe('m3');
    expect(s.actor).toBeNull();
    expect(s.resumes).toBe(2);
    // A takeover (the session is live) goes through the machine: its actor starts from the two resumes.
    const r3 = await rawResume(t.port, c.id, c.keyPair);
    await r2.q.waitClosed(2000);
    expect(s.actor).not.toBeNull();
    expect(s.actor!.getSnapshot().context).toMatchObject({ resumes: 3, staleSince: null, attempt: 0 });
    expect(s.stateValue).toEqual({ live: 'connected' });
    await marker(r3, 'after the takeover');
    expect(t.master.forId(c.id).filter((p) => p.flag === Flag.Reconnection)).toHaveLength(3);
    r3.socket.destroy();
    await waitFor(() => t.edge.stale.has(s), 2000, 'stale through the actor');
    expect(s.stateValue).toEqual({ away: 'stale' });
    expect(s.awaySince).toBeNull();
  });
});
