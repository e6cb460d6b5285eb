// voltlane/client when the edge no longer knows the session, over real loopback sockets against the mini edge:
// two closes right after ClientId (no Challenge) in a row make VL_ERR_SESSION_LOST and a sessionLost event at
// once instead of retries until the window ends; one close alone does not; any other answer is retried;
// onSessionLost: 'new-session' starts a new session by itself, after a drop and from a saved resumeState.
import { describe, expect, it, vi } from 'vitest';
import { connect, VL_ERR_SESSION_LOST, type ResumeState } from '../../src/sdk/client.js';
import { caught, collect, FAST, next, text, thrown, useClientHarness } from '../helpers/sdk-client.js';

const { startEdge, open_ } = useClientHarness();

describe('a lost session', () => {
  it('reports the session lost (VL_ERR_SESSION_LOST, sessionLost then failed) after two refusals right after ClientId, not at the window end', async () => {
    const edge = await startEdge();
    // The window is far longer than the test's own timeout: only the refusal can end it in time.
    const client = await open_(edge.address, { ...FAST, reconnect: { initialDelayMs: 5, maxDelayMs: 20, windowMs: 600_000 } });
    const id = client.id;
    const it = client[Symbol.asyncIterator]();
    const order: string[] = [];
    client.on('sessionLost', (lostId, e) => order.push(`sessionLost ${lostId} ${e.code}`));
    client.on('failed', (e) => order.push(`failed ${e.code}`));
    const failed = next(client, 'failed');
    edge.dropClient(id);
    edge.forget(id);
    const [err] = await failed;
    expect(err.code).toBe('VL_ERR_SESSION_LOST');
    expect(err.code).toBe(VL_ERR_SESSION_LOST);
    expect(err.message).toContain(`session ${id} is lost`);
    expect(err.message).toContain('2 attempts in a row');
    expect(order).toEqual([`sessionLost ${id} VL_ERR_SESSION_LOST`, 'failed VL_ERR_SESSION_LOST']);
    expect(edge.events.filter((e) => e === `refused unknown id ${id}`)).toHaveLength(2);
    expect(client.state).toBe('closed');
    await expect(it.next()).rejects.toBe(err);
    expect(thrown(() => client.send('x')).code).toBe('VL_ERR_CLOSED');
  });

  it('one refusal after ClientId is not enough: the next attempt resumes (an edge going down closes its handshakes too)', async () => {
    const edge = await startEdge();
    const client = await open_(edge.address);
    const id = client.id;
    const session = edge.sessions.get(id)!;
    const lost = vi.fn();
    client.on('sessionLost', lost);
    edge.dropClient(id);
    edge.forget(id);
    await edge.waitForEvent(`refused unknown id ${id}`);
    edge.sessions.set(id, session);
    await next(client, 'resumed');
    expect(client.id).toBe(id);
    expect(lost).not.toHaveBeenCalled();
    expect(edge.events.filter((e) => e === `refused unknown id ${id}`)).toHaveLength(1);
  });

  it('keeps retrying an edge that answers ClientId with something else than a Challenge, and fails with VL_ERR_RESUME_FAILED when the window ends', async () => {
    const edge = await startEdge();
    edge.unknownIdAnswer = 'ping';
    const client = await open_(edge.address, { ...FAST, reconnect: { initialDelayMs: 5, maxDelayMs: 20, windowMs: 200 } });
    const id = client.id;
    const lost = vi.fn();
    client.on('sessionLost', lost);
    const failed = next(client, 'failed');
    edge.dropClient(id);
    edge.forget(id);
    const [err] = await failed;
    expect(err.code).toBe('VL_ERR_RESUME_FAILED');
    expect(err.message).toContain(`session ${id}`);
    expect(err.message).toContain('expected Challenge from the edge, got Ping');
    expect(edge.events.filter((e) => e === `refused unknown id ${id}`).length).toBeGreaterThan(2);
    expect(lost).not.toHaveBeenCalled();
  });

  it("onSessionLost: 'new-session' drops what was queued for the lost session, starts a new one and carries on under its id", async () => {
    const edge = await startEdge();
    const client = await open_(edge.address, { ...FAST, onSessionLost: 'new-session' });
    const id = client.id;
    await next(client, 'session');
    const it = client[Symbol.asyncIterator]();
    const order: string[] = [];
    client.on('sessionLost', (lostId) => {
      order.push(`sessionLost ${lostId}`);
      client.send('first on the new session');
    });
    client.on('session', (sid) => order.push(`session ${sid}`));
    client.on('failed', () => order.push('failed'));
    const dropped = next(client, 'disconnected');
    edge.dropClient(id);
    edge.forget(id);
    await dropped;
    client.send('queued for the lost session');
    const [newId] = await next(client, 'session');
    expect(newId).not.toBe(id);
    expect(client.id).toBe(newId);
    expect(client.state).toBe('connected');
    expect(order).toEqual([`sessionLost ${id}`, `session ${newId}`]);
    expect(client.resumeState().id).toBe(String(newId));
    // Only what was sent after sessionLost reached the new session (the echo edge sends it back).
    expect(text((await it.next()).value as Uint8Array)).toBe('first on the new session');
    expect(edge.sessions.get(newId)!.received.map(text)).toEqual(['first on the new session']);
    // The new session resumes like any other.
    const resumed = next(client, 'resumed');
    edge.dropClient(newId);
    const [rid] = await resumed;
    expect(rid).toBe(newId);
  });

  it('rejects a resume of an unknown id with VL_ERR_SESSION_LOST after one attempt when reconnect is disabled', async () => {
    const edge = await startEdge();
    const a = await open_(edge.address);
    const state = { ...a.resumeState(), id: '999' };
    const err = await caught(connect(edge.address, { resume: state, reconnect: { enabled: false } }));
    expect(err.code).toBe('VL_ERR_SESSION_LOST');
    expect(err.message).toContain('closed 1 attempt in a row right after ClientId');
    expect(edge.events).toContain('refused unknown id 999');
  });

  it("connect({ resume }) of a lost session: rejects with VL_ERR_SESSION_LOST, or with 'new-session' resolves with a new one (sessionLost, then session)", async () => {
    const edge = await startEdge();
    const a = await open_(edge.address);
    const state = JSON.parse(JSON.stringify(a.resumeState())) as ResumeState;
    await a.close();
    edge.forget(a.id);
    const err = await caught(connect(state.address, { ...FAST, resume: state }));
    expect(err.code).toBe('VL_ERR_SESSION_LOST');
    expect(edge.events.filter((e) => e === `refused unknown id ${a.id}`)).toHaveLength(2);
    const b = await open_(state.address, { ...FAST, resume: state, onSessionLost: 'new-session' });
    const order: string[] = [];
    b.on('sessionLost', (lostId, e) => order.push(`sessionLost ${lostId} ${e.code}`));
    b.on('session', (sid) => order.push(`session ${sid}`));
    await next(b, 'session');
    expect(b.id).not.toBe(a.id);
    expect(order).toEqual([`sessionLost ${a.id} VL_ERR_SESSION_LOST`, `session ${b.id}`]);
    expect(b.resumeState().id).toBe(String(b.id));
    expect(b.resumeState().secretKey).not.toBe(state.secretKey);
    b.send('on the new session');
    expect(await collect(b, 1)).toEqual(['on the new session']);
  });
});
