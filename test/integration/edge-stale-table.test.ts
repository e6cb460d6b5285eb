// The stale table under a flood of throwaway sessions, over loopback from several source addresses (127.0.0.x):
// an address holds at most its share of the table, and a full table loses the oldest session of the address
// holding the most, so the flood evicts its own sessions and never a legitimate client's.
import { describe, expect, it } from 'vitest';
import { Flag } from '../../src/io/firehose.js';
import { generateKeyPair } from '../../src/io/crypto.js';
import { rawNewSession, rawResume, text, waitFor, type RawSession } from '../helpers/wire.js';
import { logsWith, useEdgeFixture } from '../helpers/edge.js';

const fx = useEdgeFixture();
const { open, marker } = fx;

/** `n` sessions from `from`, each dropped right after its ClientId (they go stale). */
async function throwaway(port: number, from: string, n: number): Promise<bigint[]> {
  const key = generateKeyPair();
  const ids: bigint[] = [];
  for (let i = 0; i < n; i++) {
    const s = await rawNewSession(port, key, from);
    ids.push(s.id);
    s.socket.destroy();
  }
  return ids;
}

async function legitStale(port: number, from: string): Promise<RawSession> {
  const s = await rawNewSession(port, generateKeyPair(), from);
  s.socket.destroy();
  return s;
}

const failures = (t: typeof fx.t, ids: bigint[]) => ids.filter((id) => t.master.forId(id).some((p) => p.flag === Flag.Failure && text(p.data) === 'evicted'));

describe('stale table: share per address, eviction from the biggest holder', () => {
  it('a flood from one address stays within its share and evicts only its own oldest sessions', async () => {
    const t = await fx.start({ clients: { maxStaleClients: 20 }, limits: { maxStaleSharePerAddress: 0.25 } });
    const legit = await legitStale(t.port, '127.0.0.1');
    await waitFor(() => t.edge.stats().stale === 1, 2000, 'legit stale');
    const flood = await throwaway(t.port, '127.0.0.2', 40);
    // 5 of the flood's sessions (a quarter of 20) are kept, the 35 oldest evicted: the table never filled up.
    await waitFor(() => failures(t, flood).length === 35, 5000, '35 flood sessions evicted');
    expect(failures(t, flood)).toEqual(flood.slice(0, 35));
    expect(t.edge.stats().stale).toBe(6);
    expect(t.edge.stale.countOf('127.0.0.2')).toBe(5);
    const evicted = logsWith(t, 'session.evicted');
    expect(evicted).toHaveLength(35);
    expect(String(evicted[0]!.reason)).toMatch(/share of the stale table \(5\)/);
    expect(evicted[0]!.address).toBe('127.0.0.2');
    const back = await rawResume(t.port, legit.id, legit.keyPair, { from: '127.0.0.1' });
    open.push(back.socket);
    await marker(back, 'legit back');
    expect(t.master.forId(legit.id).map((p) => p.flag)).toEqual([Flag.Reconnection, Flag.Data]);
  });

  it('a full table loses the oldest session of the address holding the most, never a lone legit client', async () => {
    const t = await fx.start({ clients: { maxStaleClients: 20 }, limits: { maxStaleSharePerAddress: 12 } });
    // Two legitimate clients went stale first (the oldest in the table), from addresses of their own.
    const a = await legitStale(t.port, '127.0.0.1');
    const b = await legitStale(t.port, '127.0.0.7');
    await waitFor(() => t.edge.stats().stale === 2, 2000, 'legit stale');
    // Three flooding addresses, interleaved, 12 each: 38 stale sessions for a table of 20.
    const flood: bigint[][] = [[], [], []];
    for (let i = 0; i < 12; i++) for (let k = 0; k < 3; k++) flood[k]!.push(...(await throwaway(t.port, `127.0.0.${2 + k}`, 1)));
    const all = flood.flat();
    await waitFor(() => failures(t, all).length === 18, 5000, '18 flood sessions evicted');
    expect(t.edge.stats().stale).toBe(20);
    // The 18 went from the biggest holders: the flood's addresses are left with 6 each.
    expect([2, 3, 4].map((k) => t.edge.stale.countOf(`127.0.0.${k}`))).toEqual([6, 6, 6]);
    // Each address lost its own oldest.
    for (const ids of flood) expect(failures(t, ids)).toEqual(ids.slice(0, 6));
    expect(logsWith(t, 'session.evicted').every((l) => /stale table full/.test(String(l.reason)))).toBe(true);
    for (const c of [a, b]) {
      expect(t.master.forId(c.id)).toHaveLength(0);
      const back = await rawResume(t.port, c.id, c.keyPair, { from: c === a ? '127.0.0.1' : '127.0.0.7' });
      open.push(back.socket);
      await marker(back, `back ${c.id}`);
    }
  });
});
