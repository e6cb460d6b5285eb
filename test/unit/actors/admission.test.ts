// Admission counts "per address" by address group: an IPv4 address as itself (also written IPv4-mapped), an
// IPv6 address by its /64. Addresses here are only strings handed to the admission logic (no socket is opened).
import { afterEach, describe, expect, it } from 'vitest';
import { Admission } from '../../../src/actors/admission.js';
import type { EdgeCounters, EdgeLifecycleEvent } from '../../../src/actors/edge.js';
import { DEFAULT_CONFIG } from '../../../src/config/defaults.js';
import type { Config } from '../../../src/config/schema.js';
import { silentLogger } from '../../../src/log.js';

const made: Admission[] = [];
afterEach(() => {
  for (const a of made.splice(0)) a.close();
});

function admission(limits: Partial<Config['limits']>) {
  let now = 1_000_000;
  const config = { ...DEFAULT_CONFIG, limits: { ...DEFAULT_CONFIG.limits, ...limits } } as Config;
  const counters = { refused: 0, handshakesShed: 0 } as EdgeCounters;
  const events: EdgeLifecycleEvent[] = [];
  const a = new Admission({
    config,
    log: silentLogger(),
    clock: { now: () => now, setTimeout: () => 0, clearTimeout: () => {} },
    counters,
    onLifecycle: (e) => events.push(e),
  });
  made.push(a);
  return { a, events, advance: (ms: number) => (now += ms) };
}

describe('Admission per address group', () => {
  it('caps connections per IPv6 /64, not per address; IPv4-mapped and plain IPv4 are one address', () => {
    const { a, events } = admission({ maxConnectionsPerAddress: 2 });
    expect(a.admit('2001:db8:0:1::1', 'tcp', false)).toBeNull();
    expect(a.admit('2001:db8:0:1:ffff::2', 'tcp', false)).toBeNull();
    expect(a.admit('2001:db8:0:1::3', 'tcp', false)).toMatch(/per-address connection limit/);
    expect(events.at(-1)).toMatchObject({ type: 'connection.refused', address: '2001:db8:0:1::3' });
    expect(a.admit('2001:db8:0:2::1', 'tcp', false)).toBeNull(); // another /64
    a.closed('2001:db8:0:1::1');
    expect(a.admit('2001:db8:0:1::4', 'tcp', false)).toBeNull();

    expect(a.admit('127.0.0.5', 'tcp', false)).toBeNull();
    expect(a.admit('::ffff:127.0.0.5', 'tcp', false)).toBeNull();
    expect(a.admit('127.0.0.5', 'tcp', false)).toMatch(/per-address connection limit/);
    a.closed('::ffff:127.0.0.5');
    expect(a.admit('127.0.0.5', 'tcp', false)).toBeNull();
  });

  it('rates new connections per /64: rotating addresses inside one /64 does not buy tokens', () => {
    const { a } = admission({ newConnectionsPerAddressPerSec: 1, newConnectionsBurst: 3, maxConnectionsPerAddress: 1000 });
    const results = Array.from({ length: 5 }, (_, i) => a.admit(`2001:db8:0:7::${i + 1}`, 'tcp', false));
    expect(results.filter((r) => r === null)).toHaveLength(3);
    expect(results.at(-1)).toMatch(/rate exceeded/);
    expect(a.admit('2001:db8:0:8::1', 'tcp', false)).toBeNull();
  });

  it('counts failed resumes per /64', () => {
    const { a, advance } = admission({ failedResumesPerAddressPerMin: 2 });
    a.resumeFailedFrom('2001:db8:0:9::1');
    a.resumeFailedFrom('2001:db8:0:9::2');
    expect(a.resumesBlocked('2001:db8:0:9::3')).toBe(true);
    expect(a.resumesBlocked('2001:db8:0:a::1')).toBe(false);
    advance(61_000);
    expect(a.resumesBlocked('2001:db8:0:9::3')).toBe(false);
  });
});
