// The inspection sample and the bounded queue: at most N sessions plus the followed id; a full queue drops and counts.
import { describe, expect, it } from 'vitest';
import { DropQueue } from '../../../src/inspect/queue.js';
import { SessionSampler } from '../../../src/inspect/sampler.js';

describe('SessionSampler', () => {
  it('admits the first N sessions, then only the followed id, and reuses released slots', () => {
    const s = new SessionSampler({ maxSessions: 2, followId: 7 });
    expect([1, 2, 3, 7, 8].map((id) => s.admit(id))).toEqual([true, true, false, true, false]);
    expect(s.size).toBe(2);
    s.release(1);
    expect(s.admit(9)).toBe(true);
    expect(s.admit(10)).toBe(false);
  });

  it('with 0 inspects only the followed id', () => {
    const s = new SessionSampler({ maxSessions: 0, followId: 2 });
    expect([1, 2, 3].map((id) => s.admit(id))).toEqual([false, true, false]);
    expect(() => new SessionSampler({ maxSessions: -1 })).toThrow(RangeError);
  });
});

describe('DropQueue', () => {
  it('keeps order, refuses past capacity and counts the drops', () => {
    const q = new DropQueue<number>(3);
    expect([1, 2, 3, 4, 5].map((n) => q.push(n))).toEqual([true, true, true, false, false]);
    expect(q.dropped).toBe(2);
    expect(q.shift()).toBe(1);
    expect(q.push(6)).toBe(true);
    expect([q.shift(), q.shift(), q.shift(), q.shift()]).toEqual([2, 3, 6, undefined]);
    expect(q.size).toBe(0);
  });

  it('never drops a kept item (an actor registration): it takes room past the capacity, in order', () => {
    const q = new DropQueue<string>(2);
    expect([q.push('e1'), q.push('e2'), q.push('e3'), q.push('r1', true), q.push('e4'), q.push('r2', true), q.push('r3', true)]).toEqual([true, true, false, true, false, true, true]);
    expect(q.dropped).toBe(2);
    expect(q.size).toBe(5);
    expect([q.shift(), q.shift(), q.shift()]).toEqual(['e1', 'e2', 'r1']);
    expect(q.push('e5')).toBe(false); // still 2 items: full for others
    expect([q.shift(), q.shift(), q.shift()]).toEqual(['r2', 'r3', undefined]);
    expect([q.push('e6'), q.push('e7'), q.push('e8')]).toEqual([true, true, false]);
  });
});
