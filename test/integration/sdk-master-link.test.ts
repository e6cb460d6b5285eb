// voltlane/master against the real `voltlane` command (dist/cli/main.js) and voltlane/client sessions: a dropped
// edge link (closed by the master, the edge restarted with SIGTERM, the edge killed with kill -9) is `edgeClosed`
// and never a `failure`; the sessions go on and the master hears `reconnection` for each client that comes back.
// Only a Failure packet ends a session: with persist_sessions = false the shutdown sends one per session, and
// each `failure` comes before the link's `edgeClosed`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, type ClientOptions, type VoltlaneClient } from '../../src/sdk/client.js';
import { listen, type EdgeConnection, type MasterServer } from '../../src/sdk/master.js';
import { configIn, requireBuilt, stopDaemon, voltlane, waitForLog, type Daemon } from '../helpers/daemon.js';
import { freePort, waitFor } from '../helpers/wire.js';

const dirs: string[] = [];
const daemons: Daemon[] = [];
const masters: MasterServer[] = [];
const clients: VoltlaneClient[] = [];

beforeAll(requireBuilt);

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const d of daemons.splice(0)) await stopDaemon(d);
  for (const m of masters.splice(0)) await m.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const FAST: ClientOptions = { reconnect: { initialDelayMs: 20, maxDelayMs: 200, windowMs: 60_000 } };
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** A master that records every event as one line, in order. */
async function recordingMaster() {
  const master = await listen('127.0.0.1:0');
  masters.push(master);
  const log: string[] = [];
  const edges: EdgeConnection[] = [];
  master.on('edge', (e) => {
    edges.push(e);
    log.push('edge');
  });
  master.on('edgeClosed', () => log.push('edgeClosed'));
  master.on('data', (id, data) => log.push(`data ${id} ${text(data)}`));
  master.on('failure', (id, reason) => log.push(`failure ${id} ${reason}`));
  master.on('reconnection', (id) => log.push(`reconnection ${id}`));
  return { master, log, edges, count: (prefix: string) => log.filter((l) => l.startsWith(prefix)).length };
}

async function setup(env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'voltlane-master-link-'));
  dirs.push(dir);
  const m = await recordingMaster();
  const port = await freePort();
  const start = async (): Promise<Daemon> => {
    const d = voltlane(
      ['--config', configIn(dir), '--listen', `127.0.0.1:${port}`, '--master', `127.0.0.1:${m.master.address.port}`, '--log-format', 'json'],
      { cwd: dir, env: { VOLTLANE_CLIENTS_MISSED_PACKETS_BUFFER_SIZE: '16', VOLTLANE_MASTER_RECONNECT_MIN_MS: '20', VOLTLANE_MASTER_RECONNECT_MAX_MS: '200', ...env } },
    );
    daemons.push(d);
    await waitForLog(d, 'edge.started');
    return d;
  };
  const client = async (): Promise<VoltlaneClient> => {
    const c = await connect(`127.0.0.1:${port}`, FAST);
    clients.push(c);
    return c;
  };
  return { ...m, start, client };
}

/** Sends `label` from `c` and waits until the master has it. */
async function marker(m: { log: string[] }, c: VoltlaneClient, label: string): Promise<void> {
  c.send(label);
  await waitFor(() => m.log.includes(`data ${c.id} ${label}`), 10_000, label);
}

/** Starts the edge, waits for its link, and opens two client sessions whose first data reached the master. */
async function twoSessions(m: Awaited<ReturnType<typeof setup>>): Promise<{ edge: Daemon; a: VoltlaneClient; b: VoltlaneClient }> {
  const edge = await m.start();
  await waitFor(() => m.edges.length === 1, 10_000, 'the edge to dial the master');
  const a = await m.client();
  const b = await m.client();
  await marker(m, a, 'a before');
  await marker(m, b, 'b before');
  return { edge, a, b };
}

describe('voltlane/master: an edge link that drops is not the end of its sessions', () => {
  it('the master closes the link: edgeClosed, no failure; the edge dials again, held data arrives, sends reach the client', async () => {
    const m = await setup();
    const { a, b } = await twoSessions(m);
    await m.edges[0]!.close();
    expect(m.log.at(-1)).toBe('edgeClosed');
    // While the link is down the clients' data is held by the edge, in order.
    a.send('a while down 1');
    a.send('a while down 2');
    await waitFor(() => m.edges.length === 2, 10_000, 'the edge to dial again');
    await waitFor(() => m.log.includes(`data ${a.id} a while down 2`), 10_000, 'the held data');
    const afterDrop = m.log.slice(m.log.indexOf('edgeClosed'));
    expect(afterDrop.filter((l) => l.startsWith(`data ${a.id}`))).toEqual([`data ${a.id} a while down 1`, `data ${a.id} a while down 2`]);
    // One edge: send() routes there; the sessions are live as before.
    const got = new Promise<Uint8Array>((resolve) => b.once('message', resolve));
    m.master.send(b.id, 'to b after the drop');
    expect(text(await got)).toBe('to b after the drop');
    expect(m.count('failure')).toBe(0);
    expect(m.count('reconnection')).toBe(0);
  }, 60_000);

  it('the edge restarts (SIGTERM, then kill -9): edgeClosed each time, never a failure; one reconnection per client per restart', async () => {
    const m = await setup();
    const first = await twoSessions(m);
    const { a, b } = first;
    let edge = first.edge;
    await stopDaemon(edge, 'SIGTERM');
    await waitFor(() => m.log.includes('edgeClosed'), 10_000, 'edgeClosed');
    edge = await m.start();
    await waitFor(() => m.count('reconnection') === 2, 20_000, 'both clients to resume');
    await marker(m, a, 'a after SIGTERM');
    await stopDaemon(edge, 'SIGKILL');
    await waitFor(() => m.count('edgeClosed') === 2, 10_000, 'edgeClosed after kill -9');
    edge = await m.start();
    await waitFor(() => m.count('reconnection') === 4, 20_000, 'both clients to resume again');
    await marker(m, b, 'b after kill -9');
    expect(m.count('failure')).toBe(0);
    for (const c of [a, b]) expect(m.log.filter((l) => l === `reconnection ${c.id}`)).toHaveLength(2);
    // Each reconnection comes on the new link, after the old one closed.
    expect(m.log.filter((l) => l === 'edge' || l === 'edgeClosed' || l.startsWith('reconnection')).map((l) => l.split(' ')[0])).toEqual([
      'edge', 'edgeClosed', 'edge', 'reconnection', 'reconnection', 'edgeClosed', 'edge', 'reconnection', 'reconnection',
    ]);
  }, 90_000);

  it('with persist_sessions = false the shutdown ends every session: one failure each, all before edgeClosed', async () => {
    const m = await setup({ VOLTLANE_STATE_PERSIST_SESSIONS: 'false' });
    const { edge, a, b } = await twoSessions(m);
    await stopDaemon(edge, 'SIGTERM');
    await waitFor(() => m.log.includes('edgeClosed'), 10_000, 'edgeClosed');
    const closedAt = m.log.indexOf('edgeClosed');
    const failures = m.log.filter((l) => l.startsWith('failure'));
    expect(failures.sort()).toEqual([`failure ${a.id} shutdown`, `failure ${b.id} shutdown`].sort());
    for (const f of failures) expect(m.log.indexOf(f)).toBeLessThan(closedAt);
  }, 60_000);
});
