import { afterEach, describe, expect, it } from 'vitest';
import { Flag } from '../../src/io/firehose.js';
import { rawNewSession, rawResume, waitFor } from '../helpers/wire.js';
import { startEdge, type TestEdge } from '../helpers/edge.js';

let t: TestEdge | null = null;
afterEach(async () => {
  await t?.stop();
  t = null;
});

describe('edge smoke', () => {
  it('creates a session, forwards data both ways, resumes after a drop with replay', async () => {
    t = await startEdge({ clients: { missedPacketsBufferSize: 16 } });
    const c = await rawNewSession(t.port);
    expect(c.id).toBe(1n);
    expect(Buffer.from(c.edgeKey)).toEqual(Buffer.from(t.keyPair.publicKey));
    c.socket.write(Buffer.from([5, 0, 0, 0, 104, 101, 108, 108, 111]));
    const p = await t.master.expect((p) => p.flag === Flag.Data);
    expect(p.id).toBe(1n);
    expect(Buffer.from(p.data).toString()).toBe('hello');
    t.master.send(1n, Flag.Data, Buffer.from('world'));
    expect(Buffer.from(await c.q.next()).toString()).toBe('world');
    c.socket.destroy();
    await waitFor(() => t!.edge.stats().stale === 1, 2000, 'stale');
    t.master.send(1n, Flag.Data, Buffer.from('missed-1'));
    t.master.send(1n, Flag.Data, Buffer.from('missed-2'));
    await new Promise((r) => setTimeout(r, 50));
    const r = await rawResume(t.port, 1n, c.keyPair);
    expect(Buffer.from(await r.q.next()).toString()).toBe('missed-1');
    expect(Buffer.from(await r.q.next()).toString()).toBe('missed-2');
    await t.master.expect((p) => p.flag === Flag.Reconnection && p.id === 1n);
    r.socket.destroy();
  });

  it('gives a session no actor until its first lifecycle event after going stale: live.connected, then away.stale without one', async () => {
    t = await startEdge({ clients: { missedPacketsBufferSize: 4 } });
    const c = await rawNewSession(t.port);
    const s = t.edge.sessions.get(Number(c.id))!;
    expect(s.actor).toBeNull();
    expect(s.stateValue).toEqual({ live: 'connected' });
    // Data both ways needs no actor.
    c.socket.write(Buffer.from([2, 0, 0, 0, 104, 105]));
    await t.master.expect((p) => p.flag === Flag.Data && p.id === c.id);
    t.master.send(c.id, Flag.Data, Buffer.from('yo'));
    expect(Buffer.from(await c.q.next()).toString()).toBe('yo');
    expect(s.actor).toBeNull();
    // Going stale needs none either: away.stale without an actor, its effects applied all the same.
    c.socket.destroy();
    await waitFor(() => t!.edge.stats().stale === 1, 2000, 'stale');
    expect(s.actor).toBeNull();
    expect(s.stateValue).toEqual({ away: 'stale' });
    expect(s.awaySince).not.toBeNull();
    t.master.send(c.id, Flag.Data, Buffer.from('missed'));
    await waitFor(() => s.missedCount === 1, 2000, 'buffered');
    // Nor does its resume: away.stale to live.connected as the machine's resume.completed, still without an actor.
    const r = await rawResume(t.port, c.id, c.keyPair);
    expect(Buffer.from(await r.q.next()).toString()).toBe('missed');
    await t.master.expect((p) => p.flag === Flag.Reconnection && p.id === c.id);
    expect(s.actor).toBeNull();
    expect(s.awaySince).toBeNull();
    expect(s.stateValue).toEqual({ live: 'connected' });
    expect(s.resumes).toBe(1);
    expect(t.edge.stats()).toMatchObject({ live: 1, stale: 0 });
    r.socket.destroy();
  });
});
