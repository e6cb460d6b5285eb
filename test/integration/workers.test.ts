// `voltlane --workers 2` as a real process tree (dist/), on one port, with each cluster store: the primary process
// (no redis_url, the embedded default) and a redis-server started by the test. A resume lands on the other worker
// with master data in flight both ways; a worker killed with kill -9 under traffic: its clients resume on the
// others; SIGTERM stops every process; with the primary store, a restart of the whole daemon keeps the sessions.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { listen, type EdgeConnection, type MasterServer } from '../../src/sdk/master.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { configIn, requireBuilt, stopDaemon, voltlane, type Daemon } from '../helpers/daemon.js';
import { freePort, frame, rawNewSession, rawResume, sleep, text, waitFor, type RawSession } from '../helpers/wire.js';

const daemons: Daemon[] = [];
const dirs: string[] = [];
const sockets: RawSession[] = [];
const masters: MasterServer[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.socket.destroy();
  for (const d of daemons.splice(0)) await stopDaemon(d);
  for (const m of masters.splice(0)) await m.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** The master's view: links, and per id the link it last heard from and what it got. */
async function master() {
  const m = await listen('127.0.0.1:0');
  masters.push(m);
  const links: EdgeConnection[] = [];
  const closed: EdgeConnection[] = [];
  const reconnections: Array<[bigint, EdgeConnection]> = [];
  const got = new Map<bigint, string[]>();
  m.on('edge', (e) => links.push(e));
  m.on('edgeClosed', (e) => closed.push(e));
  m.on('reconnection', (id, e) => {
    reconnections.push([id, e]);
    got.set(id, [...(got.get(id) ?? []), 'R']);
  });
  m.on('data', (id, d) => got.set(id, [...(got.get(id) ?? []), text(d)]));
  m.on('failure', (id, why) => got.set(id, [...(got.get(id) ?? []), `Failure: ${why}`]));
  const saw = (id: bigint, what: string) => waitFor(() => (got.get(id) ?? []).includes(what), 10_000, `master gets ${what}`);
  return { m, links, closed, reconnections, got, saw };
}

async function next(c: RawSession): Promise<string> {
  return text(await c.q.next(5000));
}

/** Metrics text from the shared status port (any worker answers). */
async function metrics(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

/** Waits until the metrics (of whichever worker answers) match. */
async function metricsMatch(port: number, re: RegExp): Promise<void> {
  let last = '';
  for (let until = Date.now() + 10_000; !re.test((last = await metrics(port))); await sleep(200)) {
    if (Date.now() > until) throw new Error(`metrics never matched ${re}: ${last.split('\n').filter((l) => l.startsWith('voltlane_cluster')).join('; ')}`);
  }
}

/** The pids of the workers that joined (from their cluster.joined lines: member host:pid:random). */
function workerPids(d: Daemon): number[] {
  return d
    .logs()
    .filter((l) => l.msg === 'cluster.joined')
    .map((l) => Number(String(l.member).split(':').at(-2)));
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resumes, retrying while the cluster has not yet adopted a dead worker's sessions. */
async function resumeRetrying(port: number, c: RawSession, deadlineMs: number): Promise<RawSession> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    try {
      const r = await rawResume(port, c.id, c.keyPair);
      sockets.push(r);
      return r;
    } catch (err) {
      if (Date.now() > until) throw err;
      await sleep(100);
    }
  }
}

/**
 * Both workers dialed the master and listen. A worker dials the master before its listener is bound (with the
 * cluster module, binding is a round trip to the primary), so a link alone does not mean the port accepts.
 */
async function bothWorkersUp(d: Daemon, links: () => number): Promise<void> {
  await waitFor(() => links() === 2, 20_000, 'two workers dialing the master');
  await waitFor(() => d.logs().filter((l) => l.msg === 'edge.listening').length >= 2, 20_000, 'two workers listening');
}

let redis: RedisServer | null = null;
beforeAll(() => requireBuilt());
afterAll(async () => {
  await redis?.dispose();
});

describe.each(['primary', 'redis'] as const)('voltlane --workers 2 through the %s store', (kind) => {
  let prefixes = 0;
  async function start(dir: string, masterPort: number, port: number, httpPort: number, env: NodeJS.ProcessEnv = {}): Promise<Daemon> {
    if (kind === 'redis') redis ??= await startRedis();
    const d = voltlane(
      ['--config', configIn(dir), '--listen', `127.0.0.1:${port}`, '--master', `127.0.0.1:${masterPort}`, '--http', `127.0.0.1:${httpPort}`, '--log-format', 'json', '--workers', '2'],
      {
        cwd: dir,
        env: {
          VOLTLANE_CLUSTER_REDIS_URL: kind === 'redis' ? redis!.url : '',
          VOLTLANE_CLUSTER_KEY_PREFIX: `w${process.pid}x${++prefixes}`,
          VOLTLANE_CLUSTER_MEMBER_TIMEOUT_SECS: '1',
          VOLTLANE_CLIENTS_MISSED_PACKETS_BUFFER_SIZE: '64',
          VOLTLANE_LIMITS_FAILED_RESUMES_PER_ADDRESS_PER_MIN: '1000',
          ...env,
        },
      },
    );
    daemons.push(d);
    // A failure shows what the daemon said of it: warnings, errors, refusals and failed handshakes.
    onTestFailed(() => {
      const said = d.logs().filter((l) => Number(l.level) >= 40 || /handshake|refus|closed|worker|cluster/.test(String(l.msg)));
      console.log(`daemon on port ${port}, ${kind} store:\n${said.map((l) => JSON.stringify(l)).join('\n').slice(-8000)}`);
    });
    return d;
  }

  async function setup() {
    const dir = mkdtempSync(join(tmpdir(), 'voltlane-workers-'));
    dirs.push(dir);
    const mm = await master();
    const port = await freePort();
    const httpPort = await freePort();
    const d = await start(dir, mm.m.address.port, port, httpPort);
    await bothWorkersUp(d, () => mm.links.length);
    return { dir, mm, port, httpPort, d };
  }

  async function sessions(port: number, n: number, mm: Awaited<ReturnType<typeof master>>): Promise<RawSession[]> {
    const out: RawSession[] = [];
    for (let i = 0; i < n; i++) {
      const c = await rawNewSession(port);
      sockets.push(c);
      out.push(c);
      c.socket.write(frame(`hi-${c.id}`));
    }
    for (const c of out) await mm.saw(c.id, `hi-${c.id}`);
    return out;
  }

  it('serves one port from two processes; a resume lands on the other worker with master data in flight both ways', async () => {
    const { mm, port, httpPort } = await setup();
    const clients = await sessions(port, 4, mm);
    expect(new Set(clients.map((c) => mm.m.edgeOf(c.id))).size).toBe(2);
    expect(new Set(clients.map((c) => c.id)).size).toBe(4);
    await metricsMatch(httpPort, /^voltlane_cluster_members 2$/m);
    expect(await metrics(httpPort)).toMatch(new RegExp(`^voltlane_cluster_store_up\\{backend="${kind}"\\} 1$`, 'm'));
    expect((await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status).toBe(200);
    // Drop one, send it master data while away (from the link that holds it), and resume until the resume lands
    // on the other worker; meanwhile the client's own data goes up on every new link.
    let c = clients[0]!;
    const first = mm.m.edgeOf(c.id)!;
    let moved = false;
    for (let attempt = 0; attempt < 10 && !moved; attempt++) {
      c.socket.destroy();
      await sleep(150);
      mm.m.edgeOf(c.id)!.send(c.id, `missed-${attempt}`);
      await sleep(100);
      const r = await rawResume(port, c.id, c.keyPair, { extra: frame(`up-${attempt}`) });
      sockets.push(r);
      expect(await next(r)).toBe(`missed-${attempt}`);
      await mm.saw(c.id, `up-${attempt}`);
      moved = mm.reconnections.at(-1)![1] !== first;
      c = r;
    }
    expect(moved).toBe(true);
    // The master heard one Reconnection per resume, each before the client's data on that link.
    const seq = mm.got.get(c.id)!.filter((s) => s === 'R' || s.startsWith('up-'));
    for (let i = 0; i < seq.length; i += 2) expect([seq[i], seq[i + 1]!.startsWith('up-')]).toEqual(['R', true]);
    // Master data sent to the old worker's link after the move still reaches the client, in order.
    first.send(c.id, 'late-via-old');
    expect(await next(c)).toBe('late-via-old');
    mm.m.send(c.id, 'on-the-other-worker');
    expect(await next(c)).toBe('on-the-other-worker');
    // The other clients never noticed.
    for (const o of clients.slice(1)) {
      mm.m.send(o.id, `still-${o.id}`);
      expect(await next(o)).toBe(`still-${o.id}`);
    }
    expect([...mm.got.values()].flat().filter((s) => s.startsWith('Failure'))).toEqual([]);
  });

  it('a worker killed with kill -9 under traffic: its clients resume on the other workers; SIGTERM then stops every process', async () => {
    const { mm, port, httpPort, d } = await setup();
    const clients = await sessions(port, 8, mm);
    for (const c of clients) mm.m.send(c.id, `to-${c.id}`);
    for (const c of clients) expect(await next(c)).toBe(`to-${c.id}`);
    const pids = workerPids(d);
    expect(pids).toHaveLength(2);
    const closed = new Set<RawSession>();
    for (const c of clients) c.socket.once('close', () => closed.add(c));
    for (const c of clients) c.socket.write(frame(`inflight-${c.id}`));
    process.kill(pids[0]!, 'SIGKILL');
    await waitFor(() => closed.size > 0, 5000, 'the dead worker\'s clients lose their sockets');
    await sleep(200);
    const dead = clients.filter((c) => closed.has(c));
    const alive = clients.filter((c) => !closed.has(c));
    expect(dead.length).toBeGreaterThan(0);
    expect(alive.length).toBeGreaterThan(0);
    // The survivors' clients keep flowing both ways.
    for (const c of alive) {
      c.socket.write(frame(`after-kill-${c.id}`));
      await mm.saw(c.id, `after-kill-${c.id}`);
      mm.m.send(c.id, `back-${c.id}`);
      expect(await next(c)).toBe(`back-${c.id}`);
    }
    // The dead worker's clients resume (on the survivor or its replacement): one Reconnection, then their data.
    for (const c of dead) {
      const before = mm.got.get(c.id)!.length;
      const r = await resumeRetrying(port, c, 15_000).catch((e) => {
        console.log(d.logs().filter((l) => l.level !== 30 || String(l.msg).startsWith('cluster') || String(l.msg).startsWith('worker')).map((l) => JSON.stringify(l)).join('\n').slice(-6000));
        throw e;
      });
      r.socket.write(frame(`resumed-${c.id}`));
      await mm.saw(c.id, `resumed-${c.id}`);
      expect(mm.got.get(c.id)!.slice(before)).toEqual(['R', `resumed-${c.id}`]);
      mm.m.send(c.id, `welcome-${c.id}`);
      expect(await next(r)).toBe(`welcome-${c.id}`);
    }
    expect(d.logs().some((l) => l.msg === 'worker.died: its clients resume on the other workers; starting another')).toBe(true);
    expect(d.logs().some((l) => l.msg === 'cluster.member_dead: its sessions adopted here, stale')).toBe(true);
    await waitFor(() => workerPids(d).length === 3, 10_000, 'a replacement worker joined');
    await metricsMatch(httpPort, /^voltlane_cluster_members 2$/m);
    process.kill(d.child.pid!, 'SIGTERM');
    expect(await d.exited).toBe(0);
    for (const pid of workerPids(d)) expect(isRunning(pid)).toBe(false);
  });

  it.runIf(kind === 'primary')('SIGTERM and a new start keep the sessions: a client resumes after a restart of the whole daemon, its missed packets replayed', async () => {
    const { dir, mm, port, httpPort, d } = await setup();
    const clients = await sessions(port, 4, mm);
    const away = clients[0]!;
    away.socket.destroy();
    await sleep(200);
    mm.m.edgeOf(away.id)!.send(away.id, 'kept-1');
    mm.m.edgeOf(away.id)!.send(away.id, 'kept-2');
    await sleep(300);
    process.kill(d.child.pid!, 'SIGTERM');
    expect(await d.exited).toBe(0);
    expect(d.logs().some((l) => l.msg === 'workers.store_saved' && l.sessions === 4)).toBe(true);
    const mm2 = await master();
    const d2 = await start(dir, mm2.m.address.port, port, httpPort);
    await bothWorkersUp(d2, () => mm2.links.length);
    expect(d2.logs().some((l) => l.msg === 'workers.store_loaded' && l.sessions === 4)).toBe(true);
    const r = await resumeRetrying(port, away, 10_000);
    expect(await next(r)).toBe('kept-1');
    expect(await next(r)).toBe('kept-2');
    await mm2.saw(away.id, 'R');
    for (const c of clients.slice(1)) {
      const rc = await resumeRetrying(port, c, 10_000);
      rc.socket.write(frame(`again-${c.id}`));
      await mm2.saw(c.id, `again-${c.id}`);
    }
    // New ids never repeat an old one.
    const fresh = await rawNewSession(port);
    sockets.push(fresh);
    expect(clients.map((c) => c.id)).not.toContain(fresh.id);
    expect(fresh.id).toBeGreaterThan(clients.reduce((m, c) => (c.id > m ? c.id : m), 0n));
  });

  it.runIf(kind === 'primary')('kill -9 of the primary: its workers exit with it; the next start restores every session from the journal', async () => {
    const { dir, mm, port, httpPort, d } = await setup();
    const clients = await sessions(port, 4, mm);
    const pids = workerPids(d);
    clients[0]!.socket.destroy();
    await sleep(300);
    process.kill(d.child.pid!, 'SIGKILL');
    await d.exited;
    await waitFor(() => pids.every((pid) => !isRunning(pid)), 10_000, 'the workers exit with their primary');
    const lost = d.logs().filter((l) => l.msg === 'cluster.store_error' && /link to the primary process \d+ is gone/.test(String(l.err)));
    expect(lost.length).toBe(pids.length);
    const mm2 = await master();
    const d2 = await start(dir, mm2.m.address.port, port, httpPort);
    await bothWorkersUp(d2, () => mm2.links.length);
    expect(d2.logs().some((l) => l.msg === 'workers.store_loaded' && l.sessions === 4)).toBe(true);
    for (const c of clients) {
      const r = await resumeRetrying(port, c, 10_000);
      r.socket.write(frame(`back-${c.id}`));
      await mm2.saw(c.id, `back-${c.id}`);
      expect(mm2.got.get(c.id)).toEqual(['R', `back-${c.id}`]);
    }
  });
});
