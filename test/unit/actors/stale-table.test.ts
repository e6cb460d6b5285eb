// The stale table's grouping by address and its eviction order, and the client buffer budget's `auto` size.
import { describe, expect, it } from 'vitest';
import { AUTO_MAX, AUTO_MIN, resolveBudget } from '../../../src/actors/client-budget.js';
import { addressGroup, staleShareCap, StaleTable, type StaleLinks, type Holder } from '../../../src/actors/stale-table.js';

class S implements StaleLinks<S> {
  staleHolder: Holder<S> | null = null;
  stalePrev: S | null = null;
  staleNext: S | null = null;
  constructor(
    readonly id: number,
    public address: string,
  ) {}
}

describe('addressGroup', () => {
  it('keeps IPv4 addresses apart and counts an IPv6 /64 as one', () => {
    expect(addressGroup('127.0.0.2')).toBe('127.0.0.2');
    expect(addressGroup('::ffff:127.0.0.2')).toBe('127.0.0.2');
    expect(addressGroup('::FFFF:10.1.2.3')).toBe('10.1.2.3');
    expect(addressGroup('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressGroup('2001:0db8:0001:0002:ffff:0:0:9')).toBe('2001:db8:1:2::/64');
    expect(addressGroup('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(addressGroup('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressGroup('::1')).toBe('0:0:0:0::/64');
    expect(addressGroup('unknown')).toBe('unknown');
    expect(addressGroup('1:2:3')).toBe('1:2:3');
  });

  it('turns a share into a count of at least one, and keeps a count', () => {
    expect(staleShareCap(0.25, 65535)).toBe(16383);
    expect(staleShareCap(0.25, 2)).toBe(1);
    expect(staleShareCap(10, 65535)).toBe(10);
  });
});

describe('StaleTable', () => {
  it('offers the oldest session of the address holding the most, and follows counts up and down', () => {
    const t = new StaleTable<S>();
    const a = [1, 2, 3].map((i) => new S(i, '127.0.0.2'));
    const b = [4, 5].map((i) => new S(i, '127.0.0.3'));
    const c = new S(6, '2001:db8::1');
    const c2 = new S(7, '2001:db8::2:3');
    t.add(b[0]!);
    for (const s of a) t.add(s);
    t.add(b[1]!);
    t.add(c);
    expect(t.size).toBe(6);
    expect(t.biggestHolderOldest()).toBe(a[0]);
    expect(t.countOf('::ffff:127.0.0.2')).toBe(3);
    t.delete(a[0]!);
    // 2 and 2: the address that reached 2 first.
    expect(t.biggestHolderOldest()).toBe(b[0]);
    t.add(c2);
    expect(t.countOf('2001:db8:0:0:ffff::')).toBe(2);
    t.delete(b[0]!);
    expect(t.biggestHolderOldest()).toBe(a[1]);
    t.delete(a[1]!);
    t.delete(a[2]!);
    expect(t.biggestHolderOldest()).toBe(c);
    expect(t.oldestOf(c2)).toBe(c);
    t.delete(c);
    t.delete(c2);
    expect(t.biggestHolderOldest()).toBe(b[1]);
    t.delete(b[1]!);
    expect(t.biggestHolderOldest()).toBeNull();
    expect(t.size).toBe(0);
    expect(t.holders).toBe(0);
    expect(t.delete(b[1]!)).toBe(false);
  });

  it('stays in its group when its address changes while stale, and re-adding moves it to the newest', () => {
    const t = new StaleTable<S>();
    const x = new S(1, '127.0.0.2');
    const y = new S(2, '127.0.0.2');
    t.add(x);
    t.add(y);
    x.address = '127.0.0.9';
    expect(t.oldestOf(y)).toBe(x);
    t.delete(x);
    expect(t.countOf('127.0.0.2')).toBe(1);
    t.add(x);
    expect(t.countOf('127.0.0.9')).toBe(1);
    expect(t.biggestHolderOldest()).toBe(y);
  });

  it('matches a plain model over a long random run', () => {
    const t = new StaleTable<S>();
    const model = new Map<number, S>();
    const all = Array.from({ length: 200 }, (_, i) => new S(i, `127.0.0.${2 + (i % 7) * (i % 3)}`));
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (let step = 0; step < 20_000; step++) {
      const s = all[Math.floor(rnd() * all.length)]!;
      if (model.has(s.id) && rnd() < 0.5) {
        t.delete(s);
        model.delete(s.id);
      } else if (!model.has(s.id)) {
        t.add(s);
        model.delete(s.id);
        model.set(s.id, s);
      }
      const counts = new Map<string, number>();
      for (const m of model.values()) counts.set(m.address, (counts.get(m.address) ?? 0) + 1);
      const max = Math.max(0, ...counts.values());
      const v = t.biggestHolderOldest();
      if (max === 0) expect(v).toBeNull();
      else {
        expect(counts.get(v!.address)).toBe(max);
        // The oldest of its address: the first of that address in insertion order.
        expect([...model.values()].find((m) => m.address === v!.address)).toBe(v);
      }
      expect(t.size).toBe(model.size);
    }
  });
});

describe('client buffer budget: auto', () => {
  it('is a quarter of the memory (or of the container limit, if lower), within its bounds', () => {
    const GiB = 1024 ** 3;
    expect(resolveBudget(123_456)).toBe(123_456);
    expect(resolveBudget('auto', 24 * GiB, 0)).toBe(6 * GiB);
    expect(resolveBudget('auto', 24 * GiB, 2 * GiB)).toBe(GiB / 2);
    expect(resolveBudget('auto', 256 * GiB, 0)).toBe(AUTO_MAX);
    expect(resolveBudget('auto', 128 * 1024 * 1024, 0)).toBe(AUTO_MIN);
    expect(resolveBudget('auto')).toBeGreaterThanOrEqual(AUTO_MIN);
  });
});
