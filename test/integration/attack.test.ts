// The attack tools against a real edge over loopback: each kind runs, stays within its bounds, and the
// legitimate probe alongside reports the edge holding; the command line checks its arguments.
import { describe, expect, it } from 'vitest';
import { loopbackSources, runAttack, type AttackOptions } from '../../src/attack/attack.js';
import { fdLimitWarning, openFilesLimit } from '../../src/actors/fd-limit.js';
import { rawNewSession, waitFor } from '../helpers/wire.js';
import { logsWith, useEdgeFixture } from '../helpers/edge.js';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const fx = useEdgeFixture();

function opts(kind: AttackOptions['kind'], o: Partial<AttackOptions> = {}): AttackOptions {
  return {
    kind,
    host: '127.0.0.1',
    port: fx.t.port,
    durationSecs: 1,
    rate: 100,
    maxConnections: 1000,
    sources: loopbackSources(4),
    ids: [1n],
    silentShare: 0.5,
    segmentBytes: 1,
    segmentEveryMs: 5,
    probe: true,
    probeEveryMs: 100,
    ...o,
  };
}

describe('voltlane attack', () => {
  it('slowloris: holds idle connections up to its bound; the probe still gets new sessions and resumes', async () => {
    const t = await fx.start({ limits: { maxHandshakesInFlight: 30, handshakeTimeoutSecs: 30 } });
    const r = await runAttack(opts('slowloris', { rate: 40, maxConnections: 60, durationSecs: 2 }));
    expect(r.opened).toBeLessThanOrEqual(60);
    expect(r.opened).toBeGreaterThan(30);
    expect(r.probe!.newSessions.failed).toBe(0);
    expect(r.probe!.resumes.failed).toBe(0);
    expect(r.probe!.newSessions.ok).toBeGreaterThan(5);
    expect(t.edge.counters.handshakesShed).toBeGreaterThan(0);
    await waitFor(() => t.edge.stats().handshaking === 0, 3000, 'the attack connections closed');
  });

  it('id-lockout: the owner of the hammered id still resumes (the probe), the attackers are refused', async () => {
    const t = await fx.start({ limits: { failedResumesPerAddressPerMin: 5 } });
    const victim = await rawNewSession(t.port);
    fx.open.push(victim.socket);
    victim.socket.destroy();
    await waitFor(() => t.edge.stats().stale === 1, 2000, 'stale');
    const r = await runAttack(opts('id-lockout', { ids: [victim.id], rate: 200 }));
    expect(r.answered).toBeGreaterThan(0);
    expect(r.probe!.resumes.failed).toBe(0);
    const { rawResume } = await import('../helpers/wire.js');
    const back = await rawResume(t.port, victim.id, victim.keyPair);
    fx.open.push(back.socket);
  });

  it('session-flood: the probe\'s stale sessions survive a flood that fills the stale table', async () => {
    // 2 flooding addresses at 150/s each for 2.5 s against a table of 120: oldest-first eviction would drop the
    // probe's sessions (away 800 ms) once the flood has made 120. Each address keeps at most half (60), and a full
    // table loses the oldest of the address holding the most. The probe's sessions stay stale after their
    // resume too: its address ends up holding about 25, fewer than either flooding address.
    const t = await fx.start({ clients: { maxStaleClients: 120 }, limits: { maxStaleSharePerAddress: 0.5 } });
    const flooders = loopbackSources(2);
    const r = await runAttack(opts('session-flood', { rate: 300, durationSecs: 2.5, sources: flooders, probeFrom: '127.0.0.1', probeEveryMs: 100, probeResumeAfterMs: 800 }));
    expect(r.opened).toBeGreaterThan(150);
    expect(r.probe!.newSessions.failed).toBe(0);
    expect(r.probe!.resumes.errors).toEqual({});
    expect(r.probe!.resumes.ok).toBeGreaterThan(5);
    const evicted = logsWith(t, 'session.evicted');
    expect(evicted.length).toBeGreaterThan(0);
    expect(evicted.every((l) => flooders.includes(String(l.address)))).toBe(true);
    expect(t.edge.stats().stale).toBeLessThanOrEqual(120);
  });

  it.each(['conn-flood', 'session-flood', 'tiny-segments'] as const)('%s runs within its bounds', async (kind) => {
    const t = await fx.start();
    const r = await runAttack(opts(kind, { maxConnections: 20, durationSecs: 0.6, probe: false }));
    expect(r.opened).toBe(20);
    expect(r.probe).toBeNull();
    if (kind === 'session-flood') await waitFor(() => t.edge.stats().stale === 20, 3000, 'throwaway sessions stale');
    if (kind === 'tiny-segments') expect(r.bytesSent).toBeGreaterThan(20 * 4);
    await waitFor(() => t.edge.stats().handshaking === 0, 3000, 'handshakes over');
  });
});

describe('file-descriptor limit', () => {
  it('reads the soft open-files limit and warns when max_connections cannot be reached', () => {
    const dir = mkdtempSync(join(tmpdir(), 'voltlane-limits-'));
    const f = join(dir, 'limits');
    writeFileSync(f, 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n');
    expect(openFilesLimit(f)).toBe(1024);
    expect(openFilesLimit(join(dir, 'missing'))).toBeNull();
    expect(fdLimitWarning(100_000, 1024)).toMatch(/max_connections is 100000 .* 1024 files .* at most 960 client connections/);
    expect(fdLimitWarning(900, 1024)).toBeNull();
    expect(fdLimitWarning(100_000, null)).toBeNull();
  });
});
