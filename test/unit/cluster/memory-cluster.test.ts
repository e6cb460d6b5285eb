// The primary's in-memory cluster store: what it shares with the Redis scripts is covered by the cluster tests run
// against both stores; here, what only it does: deadlines in place of Redis TTLs, adoption times, the restore of
// saved sessions, no adoption while the daemon stops, and the IPC codec.
import { describe, expect, it } from 'vitest';
import { pack, unpack } from '../../../src/cluster/ipc-codec.js';
import { MemoryClusterStore, RESTORED_OWNER } from '../../../src/cluster/memory-cluster.js';

function store() {
  let now = 1_000_000;
  const sent: Array<[string, string]> = [];
  const s = new MemoryClusterStore({ publish: (m, msg) => sent.push([m, msg.toString('latin1')]), now: () => now });
  return { s, sent, tick: (ms: number) => (now += ms), now: () => now };
}

const key = new Uint8Array([2, 1, 2, 3]);

describe('MemoryClusterStore', () => {
  it('a stale record expires at its deadline, not a millisecond before, and its missed list with it', () => {
    const { s, tick } = store();
    s.join('ab', 'a', 1000);
    s.create('a', 7, key);
    expect(s.stale('a', 7, 5, 10_000, '')).toBe(true);
    expect(s.deliver('a', 7, new Uint8Array([9]), 10_000)).toBe('ok');
    tick(9_999);
    expect(s.lookup(7)?.state).toBe('stale');
    tick(1);
    expect(s.lookup(7)).toBeNull();
    expect(s.deliver('a', 7, new Uint8Array([9]), 10_000)).toBe('gone');
    s.sweep();
    expect(s.size).toMatchObject({ sessions: 0, missedPackets: 0 });
  });

  it('a claim takes the missed packets once, moves the owner and tells the previous one', () => {
    const { s, sent } = store();
    s.join('ab', 'a', 1000);
    s.join('ab', 'b', 1000);
    s.create('a', 3, key);
    s.stale('a', 3, 1, 60_000, '');
    s.deliver('a', 3, new Uint8Array([1]), 60_000);
    s.deliver('a', 3, new Uint8Array([2]), 60_000);
    expect(s.claim('b', 3, 2, false)).toEqual({ ok: false, reason: 'raced' });
    const r = s.claim('b', 3, 1, false);
    expect(r).toMatchObject({ ok: true, previousOwner: 'a', epoch: 2 });
    expect(r.ok && r.missed.map((m) => [...m])).toEqual([[1], [2]]);
    expect(sent).toEqual([['a', 'M3']]);
    expect(s.claim('a', 3, 2, false)).toEqual({ ok: false, reason: 'live', owner: 'b' });
    expect(s.deliver('a', 3, new Uint8Array([0x41]), 60_000)).toBe('fwd');
    expect(sent.at(-1)).toEqual(['b', 'F3:A']);
  });

  it('a member that left is adopted stale from the adoption; a silent one from its last heartbeat', () => {
    const { s, tick, now } = store();
    s.join('ab', 'a', 1000);
    s.join('ab', 'b', 1000);
    s.join('ab', 'c', 1000);
    s.create('a', 1, key);
    s.create('c', 2, key);
    s.leave('a');
    const lastBeat = now();
    tick(1500);
    const hb = s.heartbeat('b', 1000);
    expect(hb.dead.sort()).toEqual(['a', 'c']);
    expect(s.adopt('a', 'b', 1000, 60_000)).toMatchObject([{ id: 1, epoch: 2, staleSince: now() }]);
    expect(s.adopt('c', 'b', 1000, 60_000)).toMatchObject([{ id: 2, epoch: 2, staleSince: lastBeat }]);
    expect(s.adopt('c', 'b', 1000, 60_000)).toEqual([]);
    expect(s.heartbeat('c', 1000).alive).toBe(false);
  });

  it('refuses another cluster key; restores saved sessions for the first heartbeat to adopt; adopts nothing while stopping', () => {
    const { s, now } = store();
    expect(s.join('aa', 'a', 1000)).toEqual({ ok: true });
    expect(s.join('bb', 'b', 1000)).toEqual({ ok: false, clusterKey: 'aa' });
    s.restore([{ id: 40, clientKey: key, createdAt: 1, staleSince: null, snapshot: null, replay: [new Uint8Array([5])] }], 100, 77);
    expect(s.allocIds(10, 0)).toBe(109);
    expect(s.heartbeat('a', 1000).dead).toEqual([RESTORED_OWNER]);
    s.stopping = true;
    expect(s.adopt(RESTORED_OWNER, 'a', 1000, 60_000)).toEqual([]);
    s.stopping = false;
    const got = s.adopt(RESTORED_OWNER, 'a', 1000, 60_000);
    expect(got.map((g) => [g.id, g.staleSince, g.missed.map((m) => [...m])])).toEqual([[40, 77, [[5]]]]);
    expect([...s.stored(now())].map((r) => [r.id, r.staleSince])).toEqual([[40, 77]]);
  });

  it('the IPC codec carries byte arrays at any depth as base64 and back', () => {
    const v = { ok: true, missed: [new Uint8Array([0, 255]), Buffer.from('hi')], key: new Uint8Array(0), n: 3, s: 'x', z: null };
    const wire = JSON.parse(JSON.stringify(pack(v)));
    expect(wire.missed[0]).toEqual({ $b: 'AP8=' });
    const back = unpack(wire) as typeof v;
    expect(back.missed.map((m) => [...m])).toEqual([[0, 255], [104, 105]]);
    expect([...back.key]).toEqual([]);
    expect(back).toMatchObject({ ok: true, n: 3, s: 'x', z: null });
  });
});
