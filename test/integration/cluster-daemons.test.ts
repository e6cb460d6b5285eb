// A cluster of real daemons (dist/) on one redis-server started by the test: three edges, one killed with
// kill -9 under traffic, its clients resumed on the others; an edge with another key refused.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Flag } from '../../src/io/firehose.js';
import { listen, type EdgeConnection } from '../../src/sdk/master.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { configIn, requireBuilt, stopDaemon, voltlane, waitForLog, type Daemon } from '../helpers/daemon.js';
import { freePort, frame, rawNewSession, rawResume, RawMaster, sleep, text, waitFor, type RawSession } from '../helpers/wire.js';

let redis: RedisServer;
const daemons: Daemon[] = [];
const masters: RawMaster[] = [];
const dirs: string[] = [];
const sockets: RawSession[] = [];

beforeAll(async () => {
  requireBuilt();
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.dispose();
});
afterEach(async () => {
  for (const s of sockets.splice(0)) s.socket.destroy();
  for (const d of daemons.splice(0)) await stopDaemon(d);
  for (const m of masters.splice(0)) await m.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

let prefixes = 0;

async function edgeDaemon(dir: string, prefix: string): Promise<{ d: Daemon; port: number; master: RawMaster }> {
  const master = new RawMaster();
  masters.push(master);
  const masterPort = await master.listen();
  const port = await freePort();
  const d = voltlane(['--config', configIn(dir), '--listen', `127.0.0.1:${port}`, '--master', `127.0.0.1:${masterPort}`, '--log-format', 'json'], {
    cwd: dir,
    env: {
      VOLTLANE_CLUSTER_REDIS_URL: redis.url,
      VOLTLANE_CLUSTER_KEY_PREFIX: prefix,
      VOLTLANE_CLUSTER_MEMBER_TIMEOUT_SECS: '1',
      VOLTLANE_CLIENTS_MISSED_PACKETS_BUFFER_SIZE: '64',
      VOLTLANE_LIMITS_FAILED_RESUMES_PER_ID_PER_MIN: '1000',
      VOLTLANE_LIMITS_FAILED_RESUMES_PER_ADDRESS_PER_MIN: '1000',
    },
  });
  daemons.push(d);
  await waitForLog(d, 'edge.started');
  await master.connected(10_000);
  return { d, port, master };
}

/** Resumes on `port`, retrying while the cluster has not yet taken the dead edge's sessions for dead. */
async function resumeSomewhere(ports: number[], c: RawSession, deadlineMs: number): Promise<{ r: RawSession; port: number }> {
  const until = Date.now() + deadlineMs;
  for (let i = 0; ; i++) {
    const port = ports[i % ports.length]!;
    try {
      const r = await rawResume(port, c.id, c.keyPair);
      sockets.push(r);
      return { r, port };
    } catch (err) {
      if (Date.now() > until) throw err;
      await sleep(100);
    }
  }
}

describe('a cluster of daemons', () => {
  it('three edges, one killed with kill -9 under traffic: its clients resume on the others with nothing lost outside it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'voltlane-cluster-'));
    dirs.push(dir);
    const prefix = `d${++prefixes}`;
    const a = await edgeDaemon(dir, prefix); // writes the config and the key file the others share
    const b = await edgeDaemon(dir, prefix);
    const c = await edgeDaemon(dir, prefix);
    const clients: RawSession[] = [];
    for (let i = 0; i < 8; i++) {
      const s = await rawNewSession(a.port);
      sockets.push(s);
      clients.push(s);
    }
    // Traffic both ways, then kill -9 in the middle of it.
    for (const s of clients) s.socket.write(frame(`before-${s.id}`));
    for (const s of clients) await waitFor(() => a.master.forId(s.id).some((p) => p.flag === Flag.Data && text(p.data) === `before-${s.id}`), 10_000, 'client data');
    for (const s of clients) a.master.send(s.id, Flag.Data, Buffer.from(`to-${s.id}`));
    for (const s of clients) expect(text(await s.q.next(5000))).toBe(`to-${s.id}`);
    for (const s of clients) s.socket.write(frame(`inflight-${s.id}`));
    await stopDaemon(a.d, 'SIGKILL');
    for (const s of clients) s.socket.destroy();

    const resumed = new Map<bigint, { r: RawSession; port: number }>();
    let i = 0;
    for (const s of clients) resumed.set(s.id, await resumeSomewhere(i++ % 2 ? [b.port, c.port] : [c.port, b.port], s, 15_000));
    for (const s of clients) {
      const { r, port } = resumed.get(s.id)!;
      const m = port === b.port ? b.master : c.master;
      await waitFor(() => m.forId(s.id).some((p) => p.flag === Flag.Reconnection), 10_000, 'Reconnection');
      r.socket.write(frame(`after-${s.id}`));
      await waitFor(() => m.forId(s.id).some((p) => p.flag === Flag.Data && text(p.data) === `after-${s.id}`), 10_000, 'data after the resume');
      // One Reconnection, before the client's data on the new edge.
      expect(m.forId(s.id).map((p) => (p.flag === Flag.Reconnection ? 'R' : text(p.data)))).toEqual(['R', `after-${s.id}`]);
      m.send(s.id, Flag.Data, Buffer.from(`back-${s.id}`));
      expect(text(await r.q.next(5000))).toBe(`back-${s.id}`);
    }
    // Both survivors served some, and no session ended.
    expect(new Set([...resumed.values()].map((v) => v.port)).size).toBe(2);
    for (const m of [b.master, c.master]) expect(m.drain().filter((p) => p.flag === Flag.Failure)).toEqual([]);
    expect(b.d.logs().some((l) => l.msg === 'cluster.member_dead: its sessions adopted here, stale') || c.d.logs().some((l) => l.msg === 'cluster.member_dead: its sessions adopted here, stale')).toBe(true);
  });

  it('an edge whose key differs from the cluster key refuses to start, naming both keys', async () => {
    const prefix = `d${++prefixes}`;
    const dir1 = mkdtempSync(join(tmpdir(), 'voltlane-cluster-'));
    const dir2 = mkdtempSync(join(tmpdir(), 'voltlane-cluster-'));
    dirs.push(dir1, dir2);
    await edgeDaemon(dir1, prefix);
    const port = await freePort();
    const d = voltlane(['--config', configIn(dir2), '--listen', `127.0.0.1:${port}`], {
      cwd: dir2,
      env: { VOLTLANE_CLUSTER_REDIS_URL: redis.url, VOLTLANE_CLUSTER_KEY_PREFIX: prefix },
    });
    daemons.push(d);
    expect(await d.exited).toBe(1);
    expect(d.err()).toMatch(/public key [0-9a-f]{66} differs from the cluster's [0-9a-f]{66}.*same key file/);
  });
});
