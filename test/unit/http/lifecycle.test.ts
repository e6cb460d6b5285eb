// Lifecycle bookkeeping for metrics and the status page: bounded refusal labels, last-minute rates, recent events.
import { describe, expect, it } from 'vitest';
import { LifecycleRecorder } from '../../../src/http/lifecycle.js';
import { classifyRefusal } from '../../../src/http/refusals.js';

describe('classifyRefusal', () => {
  it.each([
    ['connection limit reached (100000)', 'connection_limit'],
    ['per-address connection limit reached (1024)', 'per_address_connection_limit'],
    ['too many handshakes in flight (4096)', 'handshakes_in_flight'],
    ['new-connection rate exceeded', 'per_address_rate'],
    ['edge is shutting down', 'shutting_down'],
    ['handshake not finished within the timeout (step: version)', 'handshake_timeout'],
    ['unsupported protocol version 9', 'bad_version'],
    ['resume of unknown session 77', 'unknown_session'],
    ['too many failed resumes from this address', 'resume_rate_limited'],
    ['expected ProtocolVersion, got Ping', 'protocol_violation'],
    ['something new', 'other'],
  ])('%s -> %s', (reason, cls) => {
    expect(classifyRefusal(reason)).toBe(cls);
  });
});

describe('LifecycleRecorder', () => {
  it('counts the last minute per second and forgets what is older', () => {
    let now = 1_000_000;
    const r = new LifecycleRecorder({ now: () => now });
    r.record({ type: 'session.created', sessionId: 1 });
    now += 30_000;
    r.record({ type: 'session.created', sessionId: 2 });
    r.record({ type: 'session.reaped', sessionId: 1, reason: 'kick' });
    expect(r.lastMinute()['session.created']).toBe(2);
    now += 31_000;
    expect(r.lastMinute()['session.created']).toBe(1);
    expect(r.lastMinute()['session.reaped']).toBe(1);
    now += 120_000;
    expect(r.lastMinute()['session.created']).toBe(0);
    expect(r.completed.new).toBe(2);
    expect(r.reaps.get('kick')).toBe(1);
  });

  it('keeps the latest events only, and counts distinct refused addresses of the last minute', () => {
    let now = 0;
    const r = new LifecycleRecorder({ now: () => now, recent: 3 });
    for (let i = 1; i <= 5; i++) r.record({ type: 'session.stale', sessionId: i });
    expect(r.recent().map((e) => e.sessionId)).toEqual([3, 4, 5]);
    r.record({ type: 'connection.refused', address: '10.0.0.1', reason: 'new-connection rate exceeded' });
    r.record({ type: 'connection.refused', address: '10.0.0.1', reason: 'new-connection rate exceeded' });
    r.record({ type: 'connection.refused', address: '10.0.0.2', reason: 'per-address connection limit reached (1)' });
    r.record({ type: 'connection.refused', address: '10.0.0.3', reason: 'connection limit reached (5)' });
    expect(r.refusedAddresses()).toBe(2);
    expect(r.refusals.get('per_address_rate')).toBe(2);
    now += 61_000;
    expect(r.refusedAddresses()).toBe(0);
  });
});
