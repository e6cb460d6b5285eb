// The idle memory releaser: asks for a collection only while the young generation is grown and the process idle,
// keeps asking (less often after a while) while V8 declines to shrink, and stops when turned off or when the
// runtime gives no collector. The real collector: obtained without a `gc` on the global object, and it runs.
import { describe, expect, it } from 'vitest';
import { IdleMemory, processHeapProbe, type HeapProbe } from '../../../src/actors/idle-memory.js';
import { silentLogger } from '../../../src/log.js';

const MiB = 1024 * 1024;

/** A heap whose young generation and utilization the test sets; a collection shrinks it only when `shrinks`. */
function fakeHeap(init: { young: number }) {
  const h = { young: init.young, busy: 0, shrinks: false, collections: 0, hasCollector: true };
  const probe: HeapProbe = {
    youngBytes: () => h.young,
    utilization: () => h.busy,
    collector: () =>
      h.hasCollector
        ? () => {
            h.collections++;
            if (h.shrinks) h.young = MiB;
          }
        : null,
  };
  return { h, probe };
}

function logLines() {
  const lines: Array<{ level: string; obj: unknown; msg?: string }> = [];
  const log = silentLogger();
  for (const level of ['info', 'warn'] as const) {
    (log as unknown as Record<string, unknown>)[level] = (obj: unknown, msg?: string) => lines.push({ level, obj, msg: msg ?? (typeof obj === 'string' ? obj : undefined) });
  }
  return { log, lines };
}

describe('IdleMemory', () => {
  it('does nothing until the young generation passes 4 MiB', () => {
    const { h, probe } = fakeHeap({ young: MiB });
    const m = new IdleMemory({ enabled: true, log: silentLogger(), probe, timer: false });
    h.young = 4 * MiB;
    for (let i = 0; i < 5; i++) m.tick();
    expect(h.collections).toBe(0);
    h.young = 4 * MiB + 4096;
    m.tick();
    expect(h.collections).toBe(1);
  });

  it('a process that starts grown (many sessions restored at start) is released too', () => {
    const { h, probe } = fakeHeap({ young: 32 * MiB });
    const m = new IdleMemory({ enabled: true, log: silentLogger(), probe, timer: false });
    h.shrinks = true;
    m.tick();
    expect(h.collections).toBe(1);
    expect(m.releases).toBe(1);
  });

  it('collects once grown and idle, counts and logs the release, then rests', () => {
    const { h, probe } = fakeHeap({ young: MiB });
    const { log, lines } = logLines();
    const m = new IdleMemory({ enabled: true, log, probe, timer: false });
    h.young = 32 * MiB;
    h.shrinks = true;
    m.tick();
    expect(h.collections).toBe(1);
    expect(m.releases).toBe(1);
    expect(m.releasedBytes).toBe(31 * MiB);
    expect(lines).toEqual([{ level: 'info', obj: { youngMiB: 32, nowMiB: 1 }, msg: 'memory.released' }]);
    for (let i = 0; i < 5; i++) m.tick();
    expect(h.collections).toBe(1);
  });

  it('waits while the event loop is busy', () => {
    const { h, probe } = fakeHeap({ young: MiB });
    const m = new IdleMemory({ enabled: true, log: silentLogger(), probe, timer: false });
    h.young = 32 * MiB;
    h.busy = 0.06;
    for (let i = 0; i < 10; i++) m.tick();
    expect(h.collections).toBe(0);
    h.busy = 0.05;
    m.tick();
    expect(h.collections).toBe(1);
  });

  it('asks again every interval while V8 declines, then ever less often, up to every 16th interval', () => {
    const { h, probe } = fakeHeap({ young: MiB });
    const m = new IdleMemory({ enabled: true, log: silentLogger(), probe, timer: false });
    h.young = 32 * MiB;
    const at: number[] = [];
    for (let t = 1; t <= 120; t++) {
      const before = h.collections;
      m.tick();
      if (h.collections > before) at.push(t);
    }
    expect(at.slice(0, 8)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const gaps = at.slice(8).map((t, i) => t - at[7 + i]!);
    expect(gaps.slice(0, 4)).toEqual([2, 3, 5, 9]);
    expect(Math.max(...gaps)).toBe(16);
    // Once V8 shrinks it, the next growth starts again at one attempt per interval.
    h.shrinks = true;
    while (m.releases === 0) m.tick();
    h.shrinks = false;
    h.young = 32 * MiB;
    const n = h.collections;
    m.tick();
    m.tick();
    expect(h.collections).toBe(n + 2);
  });

  it('turned off, does nothing; turned on again (a reload), it resumes', () => {
    const { h, probe } = fakeHeap({ young: MiB });
    const m = new IdleMemory({ enabled: false, log: silentLogger(), probe, timer: false });
    h.young = 32 * MiB;
    for (let i = 0; i < 5; i++) m.tick();
    expect(h.collections).toBe(0);
    m.setEnabled(true);
    m.tick();
    expect(h.collections).toBe(1);
  });

  it('without a collector, warns once and stops asking', () => {
    const { h, probe } = fakeHeap({ young: MiB });
    h.hasCollector = false;
    const { log, lines } = logLines();
    const m = new IdleMemory({ enabled: true, log, probe, timer: false });
    h.young = 32 * MiB;
    for (let i = 0; i < 5; i++) m.tick();
    expect(lines.filter((l) => l.level === 'warn')).toHaveLength(1);
    expect(m.attempts).toBe(0);
  });

  it('the process probe reads the young generation and collects without a global gc', () => {
    const p = processHeapProbe();
    expect(p.youngBytes()).toBeGreaterThan(0);
    const u = p.utilization();
    expect(u).toBeGreaterThanOrEqual(0);
    expect(u).toBeLessThanOrEqual(1);
    const collect = p.collector();
    expect(collect).toBeTypeOf('function');
    collect!();
    expect('gc' in globalThis).toBe(false);
  });
});
