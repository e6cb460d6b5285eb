// The idle-time key queue: every queued session is handed over once, in order, in slices that let I/O run in
// between; nothing runs after stop().
import { describe, expect, it } from 'vitest';
import { KeyQueue, QUIET_MS } from '../../../src/actors/key-queue.js';
import { Session } from '../../../src/actors/session.js';

const session = (id: number) => new Session(id, new Uint8Array(33), '127.0.0.1');
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('KeyQueue', () => {
  it('hands over every queued session once, in order, on later turns', async () => {
    const seen: number[] = [];
    const q = new KeyQueue((s) => seen.push(s.id));
    for (let i = 1; i <= 5; i++) q.add(session(i));
    expect(seen).toEqual([]);
    await turn();
    await turn();
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    expect(q.length).toBe(0);
  });

  it('works in slices of about 2 ms, letting other callbacks run in between', async () => {
    let turns = 0;
    const seenAtTurn: number[] = [];
    const q = new KeyQueue(() => {
      const t = performance.now();
      while (performance.now() - t < 0.5); // a derivation's worth of CPU
      seenAtTurn.push(turns);
    });
    for (let i = 0; i < 40; i++) q.add(session(i + 1));
    const tick = () => {
      turns++;
      if (seenAtTurn.length < 40) setImmediate(tick);
    };
    setImmediate(tick);
    while (seenAtTurn.length < 40) await turn();
    // 40 x 0.5 ms in slices of ~2 ms (checked every 8): several turns, never all at once.
    expect(new Set(seenAtTurn).size).toBeGreaterThan(2);
    expect(Math.max(...[...new Set(seenAtTurn)].map((t) => seenAtTurn.filter((x) => x === t).length))).toBeLessThanOrEqual(8);
  });

  it('hands over nothing after stop(), and takes nothing new', async () => {
    const seen: number[] = [];
    const q = new KeyQueue((s) => seen.push(s.id));
    q.add(session(1));
    q.stop();
    q.add(session(2));
    await turn();
    await turn();
    expect(seen).toEqual([]);
    expect(q.length).toBe(0);
  });

  it('waits while new connections keep coming (busy), and derives once they pause for QUIET_MS', async () => {
    const seen: number[] = [];
    const q = new KeyQueue((s) => seen.push(s.id));
    q.busy();
    for (let i = 1; i <= 5; i++) q.add(session(i));
    const until = performance.now() + 100;
    while (performance.now() < until) {
      q.busy();
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(seen).toEqual([]);
    await new Promise((r) => setTimeout(r, QUIET_MS * 3));
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    q.stop();
  });
});
