// The primary's in-memory store (memory-cluster.ts) against the Lua scripts in a real redis-server (scripts.ts):
// the same random sequences of operations from three members (create, stale with a waiting member, deliver,
// kick, end with and without data, claim with right and wrong epochs, lookups, a member leaving and its sessions
// adopted) give the same results, the same records and the same messages to each member, in the same order.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterBackend } from '../../src/cluster/backend.js';
import { MemoryClusterStore } from '../../src/cluster/memory-cluster.js';
import { RedisBackend } from '../../src/cluster/redis-cluster.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { sleep, waitFor } from '../helpers/wire.js';

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.dispose();
});

const MEMBERS = ['a', 'b', 'c'] as const;
const TTL = 60_000;

/** A small seeded PRNG (mulberry32), so a failing sequence can be replayed from its seed. */
function prng(seed: number): (n: number) => number {
  let t = seed >>> 0;
  return (n) => {
    t = (t + 0x6d2b79f5) >>> 0;
    let x = Math.imul(t ^ (t >>> 15), 1 | t);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) % n;
  };
}

/**
 * Byte arrays as plain arrays, for comparing results of both stores; a stale-since taken from each store's own
 * clock at an adoption (the sequences use small numbers otherwise) must be within 5 s of now and reads 'now'.
 */
function plain(v: unknown, key = ''): unknown {
  if (v instanceof Uint8Array) return [...v];
  if (Array.isArray(v)) return v.map((x) => plain(x));
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x, k)]));
  if (key === 'staleSince' && typeof v === 'number' && v > 1_000_000) return Math.abs(v - Date.now()) < 5000 ? 'now' : v;
  return v;
}

async function runBoth(seed: number, steps: number): Promise<void> {
  const rnd = prng(seed);
  const prefix = `parity${seed}`;
  const redisMsgs: Record<string, string[]> = { a: [], b: [], c: [] };
  const memMsgs: Record<string, string[]> = { a: [], b: [], c: [] };
  const backends: Record<string, ClusterBackend> = {};
  for (const m of MEMBERS) {
    const b = new RedisBackend({ redisUrl: redis.url, keyPrefix: prefix });
    await b.connect(m, (msg) => redisMsgs[m]!.push(msg.toString('latin1')), () => undefined, () => undefined);
    backends[m] = b;
  }
  const mem = new MemoryClusterStore({ publish: (m, msg) => memMsgs[m]?.push(msg.toString('latin1')) });
  const log: string[] = [];
  try {
    for (const m of MEMBERS) {
      expect(await backends[m]!.join('aa', m, TTL)).toEqual(mem.join('aa', m, TTL));
    }
    expect(await backends.a!.allocIds(512, 0)).toBe(mem.allocIds(512, 0));
    let nextId = 1;
    for (let step = 0; step < steps; step++) {
      const m = MEMBERS[rnd(3)]!;
      const b = backends[m]!;
      const id = 1 + rnd(Math.max(1, nextId));
      const data = new Uint8Array(1 + rnd(4)).map(() => rnd(256));
      const op = rnd(10);
      let r: unknown;
      let w: unknown;
      let what: string;
      if (op === 0 || nextId === 1) {
        const key = new Uint8Array([2, rnd(256), rnd(256)]);
        const fresh = nextId++;
        what = `create ${m} ${fresh}`;
        r = await b.create(m, fresh, key);
        w = mem.create(m, fresh, key);
      } else if (op === 1) {
        const notify = rnd(2) ? MEMBERS[rnd(3)]! : '';
        const since = 1000 + step;
        what = `stale ${m} ${id} notify=${notify}`;
        r = await b.stale(m, id, since, TTL, notify);
        w = mem.stale(m, id, since, TTL, notify);
      } else if (op <= 3) {
        what = `deliver ${m} ${id}`;
        r = await b.deliver(m, id, data, TTL);
        w = mem.deliver(m, id, data, TTL);
      } else if (op === 4) {
        what = `kick ${m} ${id}`;
        r = await b.kick(m, id);
        w = mem.kick(m, id);
      } else if (op === 5) {
        const withData = rnd(2) === 1;
        const kick = rnd(3) === 0;
        what = `end ${m} ${id} data=${withData} kick=${kick}`;
        r = await b.end(m, id, withData ? data : null, kick);
        w = mem.end(m, id, withData ? data : null, kick);
      } else if (op <= 7) {
        const rec = mem.lookup(id);
        const epoch = (rec?.epoch ?? 1) + (rnd(4) === 0 ? 1 : 0);
        const ownerDead = rnd(4) === 0;
        what = `claim ${m} ${id} epoch=${epoch} ownerDead=${ownerDead}`;
        r = await b.claim(m, id, epoch, ownerDead);
        w = mem.claim(m, id, epoch, ownerDead);
      } else if (op === 8) {
        what = `lookup ${id}`;
        r = await b.lookup(id);
        w = mem.lookup(id);
      } else {
        // A member leaves; another adopts its sessions (live ones stale from now: compared apart).
        const other = MEMBERS[(MEMBERS.indexOf(m) + 1 + rnd(2)) % 3]!;
        what = `leave ${m}, adopted by ${other}`;
        await b.leave(m);
        mem.leave(m);
        const ra = await backends[other]!.adopt(m, other, TTL, TTL);
        const wa = mem.adopt(m, other, TTL, TTL);
        const byId = (l: typeof ra) => [...l].sort((p, q) => p.id - q.id);
        r = byId(ra);
        w = byId(wa);
        // Rejoin, as a restarted member would.
        await b.join('aa', m, TTL);
        mem.join('aa', m, TTL);
      }
      log.push(what);
      expect(plain(r), `seed ${seed} step ${step}: ${what}\n${log.slice(-12).join('\n')}`).toEqual(plain(w));
    }
    for (let id = 1; id < nextId; id++) expect(plain(await backends.a!.lookup(id)), `record ${id}`).toEqual(plain(mem.lookup(id)));
    const count = (o: Record<string, string[]>) => Object.values(o).reduce((n, l) => n + l.length, 0);
    await waitFor(() => count(redisMsgs) >= count(memMsgs), 5000, 'Redis messages delivered');
    await sleep(50);
    expect(redisMsgs).toEqual(memMsgs);
  } finally {
    for (const b of Object.values(backends)) await b.close();
  }
}

describe('the primary store and the Redis scripts', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`give the same results, records and messages (seed ${seed}, 300 steps)`, async () => {
      await runBoth(seed, 300);
    });
  }
});
