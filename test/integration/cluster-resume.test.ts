// A cluster of edges through each cluster store: a real redis-server, and the primary store that `voltlane
// --workers N` runs in its primary process (reached over a structured-clone channel, as a worker reaches its
// primary). One key, unique ids, resume on another edge with master data in flight both ways, a half-open takeover
// across edges, forwarded kicks, an edge that leaves, the store lost (Redis restarted; the link to the primary cut).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Flag } from '../../src/io/firehose.js';
import { generateKeyPair } from '../../src/io/crypto.js';
import { ClusterMember } from '../../src/cluster/member.js';
import { captureLogger } from '../../src/fuzz/in-process.js';
import { readiness } from '../../src/http/health.js';
import { LifecycleRecorder } from '../../src/http/lifecycle.js';
import { EdgeMetrics } from '../../src/http/metrics.js';
import { listen, type EdgeConnection } from '../../src/sdk/master.js';
import { startClusterEdge, logged, primaryFixture, redisFixture, type ClusterEdge } from '../helpers/cluster.js';
import { frame, rawNewSession, rawResume, refused, text, waitFor, type RawSession } from '../helpers/wire.js';

describe.each([redisFixture(), primaryFixture()])('cluster through $kind', (store) => {
  let n = 0;
  const edges: ClusterEdge[] = [];
  const sockets: RawSession[] = [];

  beforeAll(async () => {
    await store.start();
  });
  afterAll(async () => {
    await store.dispose();
  });
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.socket.destroy();
    for (const e of edges.splice(0)) await e.stop();
  });

  const buffering = { clients: { missedPacketsBufferSize: 16 } };

  async function cluster(count: number, overrides = buffering) {
    const prefix = `t${++n}`;
    const keyPair = generateKeyPair();
    const out: ClusterEdge[] = [];
    for (let i = 0; i < count; i++) {
      const e = await startClusterEdge(store.backend(prefix), keyPair, overrides);
      edges.push(e);
      out.push(e);
    }
    return { prefix, keyPair, edges: out };
  }

  async function newSession(e: ClusterEdge): Promise<RawSession> {
    const s = await rawNewSession(e.port);
    sockets.push(s);
    return s;
  }

  async function resume(e: ClusterEdge, c: RawSession): Promise<RawSession> {
    const r = await rawResume(e.port, c.id, c.keyPair);
    sockets.push(r);
    return r;
  }

  async function dataFrom(e: ClusterEdge, id: bigint, label: string): Promise<void> {
    await e.master.expect((p) => p.id === id && p.flag === Flag.Data && text(p.data) === label, 5000, label);
  }

  async function nextText(c: RawSession): Promise<string> {
    return text(await c.q.next(5000));
  }

  it('refuses an edge whose key differs from the cluster key, with a clear error', async () => {
    const { prefix } = await cluster(1);
    const other = generateKeyPair();
    const member = new ClusterMember({ backend: store.backend(prefix), memberTimeoutMs: 1000, publicKey: other.publicKey, staleTtlMs: 60_000, log: captureLogger([]) });
    await expect(member.join()).rejects.toThrow(/public key .* differs from the cluster's .*same key file/);
  });

  it('hands out ids unique across the edges', async () => {
    const { edges: [a, b] } = await cluster(2);
    const ids = new Set<bigint>();
    for (let i = 0; i < 6; i++) ids.add((await newSession(i % 2 ? a! : b!)).id);
    expect(ids.size).toBe(6);
  });

  it('resumes a stale session on another edge: buffered packets first, Reconnection there, late master data forwarded', async () => {
    const { edges: [a, b] } = await cluster(2);
    const c = await newSession(a!);
    c.socket.write(frame('hello'));
    await dataFrom(a!, c.id, 'hello');
    c.socket.destroy();
    await waitFor(() => a!.edge.stats().stale === 1, 5000, 'stale on A');
    a!.master.send(c.id, Flag.Data, Buffer.from('m1'));
    a!.master.send(c.id, Flag.Data, Buffer.from('m2'));
    await waitFor(() => (a!.edge.sessions.get(Number(c.id))?.missedCount ?? 0) === 2, 5000, 'buffered on A');
    // Let the mirror of the buffer reach Redis.
    await waitFor(() => a!.store.counters.errors === 0, 100);
    const r = await rawResume(b!.port, c.id, c.keyPair, { extra: frame('after-resume') });
    sockets.push(r);
    expect(await nextText(r)).toBe('m1');
    expect(await nextText(r)).toBe('m2');
    // B's firehose: Reconnection before the client's data there.
    const rec = await b!.master.expect((p) => p.id === c.id && (p.flag === Flag.Reconnection || p.flag === Flag.Data), 5000, 'reconnection');
    expect(rec.flag).toBe(Flag.Reconnection);
    await dataFrom(b!, c.id, 'after-resume');
    // A lets go without a Failure.
    await waitFor(() => !a!.edge.sessions.has(Number(c.id)), 5000, 'A releases the session');
    // Master data sent to A after the move still reaches the client, in order, then B's own.
    a!.master.send(c.id, Flag.Data, Buffer.from('late-1'));
    a!.master.send(c.id, Flag.Data, Buffer.from('late-2'));
    expect(await nextText(r)).toBe('late-1');
    expect(await nextText(r)).toBe('late-2');
    b!.master.send(c.id, Flag.Data, Buffer.from('direct'));
    expect(await nextText(r)).toBe('direct');
    r.socket.write(frame('still-here'));
    await dataFrom(b!, c.id, 'still-here');
    expect(a!.master.forId(c.id).filter((p) => p.flag !== Flag.Data)).toEqual([]);
    expect(b!.master.forId(c.id).filter((p) => p.flag === Flag.Failure)).toEqual([]);
    expect(b!.master.forId(c.id).filter((p) => p.flag === Flag.Reconnection)).toHaveLength(1);
  });

  it('ends the session with one Failure when old-edge data arrives after newer data from the new edge', async () => {
    const { edges: [a, b] } = await cluster(2);
    const c = await newSession(a!);
    c.socket.destroy();
    await waitFor(() => a!.edge.stats().stale === 1, 5000, 'stale on A');
    const r = await resume(b!, c);
    await waitFor(() => !a!.edge.sessions.has(Number(c.id)), 5000, 'A releases the session');
    b!.master.send(c.id, Flag.Data, Buffer.from('new'));
    expect(await nextText(r)).toBe('new');
    a!.master.send(c.id, Flag.Data, Buffer.from('old'));
    const f = await b!.master.expect((p) => p.id === c.id && p.flag === Flag.Failure, 5000, 'Failure');
    expect(text(f.data)).toMatch(/crossed a move/);
    await waitFor(() => !b!.edge.sessions.has(Number(c.id)), 5000, 'session ended');
    expect([...a!.master.forId(c.id), ...b!.master.forId(c.id)].filter((p) => p.flag === Flag.Failure)).toHaveLength(1);
  });

  it('takes over a session whose socket on another edge is half-open: the old edge closes it and sends nothing', async () => {
    const { edges: [a, b] } = await cluster(2);
    const c = await newSession(a!);
    c.socket.write(frame('one'));
    await dataFrom(a!, c.id, 'one');
    const closed = new Promise<void>((res) => c.socket.once('close', () => res()));
    const r = await resume(b!, c); // the old socket is still open: A must release it first
    await closed;
    const rec = await b!.master.expect((p) => p.id === c.id && p.flag !== Flag.Data, 5000, 'reconnection');
    expect(rec.flag).toBe(Flag.Reconnection);
    a!.master.send(c.id, Flag.Data, Buffer.from('via-a'));
    expect(await nextText(r)).toBe('via-a');
    expect(a!.master.forId(c.id).filter((p) => p.flag === Flag.Failure)).toEqual([]);
    expect(logged(a!, 'cluster.release_requested')).toBe(true);
  });

  it('forwards a Kick sent to the old edge; the master hears no Failure', async () => {
    const { edges: [a, b] } = await cluster(2);
    const c = await newSession(a!);
    c.socket.destroy();
    await waitFor(() => a!.edge.stats().stale === 1, 5000, 'stale on A');
    const r = await resume(b!, c);
    await waitFor(() => !a!.edge.sessions.has(Number(c.id)), 5000, 'A releases the session');
    const closed = new Promise<void>((res) => r.socket.once('close', () => res()));
    a!.master.send(c.id, Flag.Kick);
    await closed;
    await waitFor(() => !b!.edge.sessions.has(Number(c.id)), 5000, 'kicked on B');
    expect([...a!.master.forId(c.id), ...b!.master.forId(c.id)].filter((p) => p.flag === Flag.Failure)).toEqual([]);
  });

  it('ends a stale session once, with one Failure from its owner; later data for it is answered with Failure on any edge', async () => {
    const { edges: [a, b] } = await cluster(2, { clients: { missedPacketsBufferSize: 16, staleTimeoutSecs: 0.3, staleReapIntervalSecs: 0.05 } } as never);
    const c = await newSession(a!);
    c.socket.destroy();
    const f = await a!.master.expect((p) => p.id === c.id && p.flag === Flag.Failure, 5000, 'Failure');
    expect(text(f.data)).toBe('stale timeout');
    // Data for the ended id, on any edge, is answered with Failure (unknown client), as for a never-issued id.
    b!.master.send(c.id, Flag.Data, Buffer.from('x'));
    const e = await b!.master.expect((p) => p.flag === Flag.Failure, 5000, 'Failure for the ended id');
    expect([e.id, text(e.data)]).toEqual([c.id, 'unknown client']);
    b!.master.send(999_999n, Flag.Data, Buffer.from('x'));
    const u = await b!.master.expect((p) => p.flag === Flag.Failure, 5000, 'unknown Failure');
    expect(u.id).toBe(999_999n);
    expect(a!.master.forId(c.id).filter((p) => p.flag === Flag.Failure)).toHaveLength(1);
  });

  it('an edge that stops leaves its sessions to the others: its clients resume there with their buffered packets', async () => {
    const { edges: [a, b] } = await cluster(2, { clients: { missedPacketsBufferSize: 16, staleReapIntervalSecs: 0.05 } } as never);
    const c = await newSession(a!);
    c.socket.destroy();
    await waitFor(() => a!.edge.stats().stale === 1, 5000, 'stale on A');
    a!.master.send(c.id, Flag.Data, Buffer.from('kept'));
    await waitFor(() => (a!.edge.sessions.get(Number(c.id))?.missedCount ?? 0) === 1, 5000, 'buffered on A');
    const live = await newSession(a!);
    edges.splice(edges.indexOf(a!), 1);
    await a!.stop();
    expect(a!.master.forId(c.id).filter((p) => p.flag === Flag.Failure)).toEqual([]);
    await waitFor(() => b!.edge.sessions.has(Number(c.id)) && b!.edge.sessions.has(Number(live.id)), 5000, 'adopted by B');
    const r = await resume(b!, c);
    expect(await nextText(r)).toBe('kept');
    await b!.master.expect((p) => p.id === c.id && p.flag === Flag.Reconnection, 5000, 'reconnection');
    // A session live at the stop is stale on B from the stop on (not from long before): it outlives a reap tick.
    await new Promise((res) => setTimeout(res, 300));
    const r2 = await resume(b!, live);
    r2.socket.write(frame('after-the-stop'));
    await dataFrom(b!, live.id, 'after-the-stop');
    expect(b!.master.drain().filter((p) => p.flag === Flag.Failure)).toEqual([]);
  });

  it('voltlane/master over several edge links: routes by id, follows a session that moved, tells which edge holds it', async () => {
    const master = await listen('127.0.0.1:0');
    try {
      const prefix = `t${++n}`;
      const keyPair = generateKeyPair();
      const links: EdgeConnection[] = [];
      master.on('edge', (e) => links.push(e));
      const a = await startClusterEdge(store.backend(prefix), keyPair, buffering, 1000, master.address.port);
      edges.push(a);
      await waitFor(() => links.length === 1, 5000, 'link A');
      const b = await startClusterEdge(store.backend(prefix), keyPair, buffering, 1000, master.address.port);
      edges.push(b);
      await waitFor(() => links.length === 2, 5000, 'link B');
      const got: string[] = [];
      master.on('data', (id, data) => got.push(`${id}:${text(data)}`));
      const reconnections: EdgeConnection[] = [];
      master.on('reconnection', (_id, e) => reconnections.push(e));
      const c = await newSession(a);
      c.socket.write(frame('hi'));
      await waitFor(() => got.includes(`${c.id}:hi`), 5000, 'data via A');
      const linkA = master.edgeOf(c.id)!;
      master.send(c.id, 'to-a');
      expect(await nextText(c)).toBe('to-a');
      c.socket.destroy();
      await waitFor(() => a.edge.stats().stale === 1, 5000, 'stale on A');
      master.send(c.id, 'while-away');
      await waitFor(() => (a.edge.sessions.get(Number(c.id))?.missedCount ?? 0) === 1, 5000, 'buffered on A');
      const r = await resume(b, c);
      expect(await nextText(r)).toBe('while-away');
      await waitFor(() => reconnections.length === 1, 5000, 'Reconnection');
      expect(master.edgeOf(c.id)).toBe(reconnections[0]);
      expect(master.edgeOf(c.id)).not.toBe(linkA);
      master.send(c.id, 'to-b');
      expect(await nextText(r)).toBe('to-b');
      master.kick(c.id);
      await waitFor(() => !b.edge.sessions.has(Number(c.id)), 5000, 'kicked on B');
      expect(master.edgeOf(c.id)).toBeUndefined();
    } finally {
      for (const e of edges.splice(0)) await e.stop();
      await master.close();
    }
  });

  it.runIf(store.kind === 'redis')('keeps live sessions flowing while Redis restarts, refuses resumes meanwhile, and recovers by itself', async () => {
    const redis = store.redis!;
    const { edges: [a, b] } = await cluster(2);
    const c = await newSession(a!);
    await redis.stop();
    await waitFor(() => !b!.store.ready, 5000, 'B sees Redis gone');
    const e = await refused(rawResume(b!.port, c.id, c.keyPair), 'a resume while Redis is down to be refused');
    expect(e.message).toMatch(/closed/);
    expect(logged(b!, 'handshake.refused')).toBe(true);
    expect(b!.store.counters.refusedResumes).toBeGreaterThan(0);
    c.socket.write(frame('during'));
    await dataFrom(a!, c.id, 'during');
    a!.master.send(c.id, Flag.Data, Buffer.from('back'));
    expect(await nextText(c)).toBe('back');
    await redis.restart();
    await waitFor(() => a!.store.ready && b!.store.ready, 10_000, 'reconnected');
    await waitFor(() => a!.store.counters.resyncs > 0, 10_000, 'resync');
    c.socket.destroy();
    await waitFor(() => a!.edge.stats().stale === 1, 5000, 'stale on A');
    const r = await resume(b!, c);
    await b!.master.expect((p) => p.id === c.id && p.flag === Flag.Reconnection, 5000, 'reconnection');
    r.socket.write(frame('after'));
    await dataFrom(b!, c.id, 'after');
    const d = await newSession(b!);
    expect(d.id).not.toBe(c.id);
  });

  it.runIf(store.kind === 'primary')(
    'a worker whose link to the primary is gone keeps its sessions flowing, refuses resumes (log line, metric) and is not ready',
    async () => {
      const { edges: [a, b] } = await cluster(2);
      const c = await newSession(a!);
      const d = await newSession(b!);
      const metrics = async () => new EdgeMetrics({ edge: b!.edge, lifecycle: new LifecycleRecorder() }).registry.metrics();
      await waitFor(() => b!.store.members.length === 2, 5000, 'B sees two members');
      expect(await metrics()).toMatch(/^voltlane_cluster_store_up\{backend="primary"\} 1$/m);
      expect(await metrics()).toMatch(/^voltlane_cluster_members 2$/m);
      expect(readiness(b!.edge)).toEqual({ ok: true });
      store.cut(b!.store);
      await waitFor(() => !b!.store.ready, 5000, 'B sees the primary gone');
      expect(logged(b!, 'cluster.store_error')).toBe(true);
      const ready = readiness(b!.edge);
      expect(ready.ok).toBe(false);
      expect(ready.ok ? '' : ready.reason).toMatch(/cluster store unreachable \(primary primary link lost.*resumes are refused/);
      expect(await metrics()).toMatch(/^voltlane_cluster_store_up\{backend="primary"\} 0$/m);
      await refused(rawResume(b!.port, c.id, c.keyPair), 'a resume without the primary to be refused');
      expect(logged(b!, 'handshake.refused')).toBe(true);
      expect(b!.store.counters.refusedResumes).toBeGreaterThan(0);
      expect(await metrics()).toMatch(/^voltlane_cluster_refusals_total\{what="resume"\} [1-9]/m);
      // Live sessions on both edges keep flowing both ways.
      d.socket.write(frame('on-b'));
      await dataFrom(b!, d.id, 'on-b');
      b!.master.send(d.id, Flag.Data, Buffer.from('to-d'));
      expect(await nextText(d)).toBe('to-d');
      c.socket.write(frame('on-a'));
      await dataFrom(a!, c.id, 'on-a');
      // The primary takes B for dead at once (a real worker exits with its link): A adopts B's sessions, stale.
      await waitFor(() => a!.store.members.length === 1, 5000, 'A sees B gone');
      await waitFor(() => a!.edge.sessions.has(Number(d.id)), 5000, 'A adopts B\'s session');
      expect(logged(a!, 'cluster.member_dead')).toBe(true);
    },
  );
});
