// The fuzzer's invariants on their own: a clean observation passes, and every way of getting it wrong
// (client frames reordered, altered, duplicated, missing or extra; master packets likewise, Failures doubled
// or not last, a Failure after a Kick, Reconnections miscounted; ids reused) is reported.
import { describe, expect, it } from 'vitest';
import { Flag, type FirehosePacket, type FlagValue } from '../../../src/io/firehose.js';
import { checkIds, checkSession, type Observed } from '../../../src/fuzz/invariants.js';
import type { ExpectedPacket, ModelSession } from '../../../src/fuzz/model.js';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const pkt = (flag: FlagValue, data = ''): ExpectedPacket => ({ flag, data: b(data), slot: 0 });
const got = (p: ExpectedPacket, id = 7n): FirehosePacket => ({ id, flag: p.flag, data: p.data.slice() });

function session(o: Partial<ModelSession> = {}): ModelSession {
  return {
    index: 0,
    id: 7n,
    phase: 'ended',
    endedBy: 'failure',
    staleSince: 0,
    staleOrder: 0,
    buffered: [],
    keptBuffered: 0,
    staleSlackMs: 0,
    edge: 0,
    movedIn: false,
    direct: false,
    toClient: [b('c0'), b('c1'), b('c2')],
    toMaster: [pkt(Flag.Data, 'm0'), pkt(Flag.Reconnection), pkt(Flag.Data, 'm1'), pkt(Flag.Failure, 'stale timeout')],
    clientSeq: 3,
    masterSeq: 2,
    ...o,
  };
}

/** What a correct edge would have produced for `s`. */
function clean(s: ModelSession): Observed {
  return { session: s, received: s.toClient.map((f) => f.slice()), atMaster: s.toMaster.map((p) => got(p)), resumesPassed: 1 };
}

const swap = <T>(a: T[], i: number, j: number): T[] => {
  const c = [...a];
  [c[i], c[j]] = [c[j]!, c[i]!];
  return c;
};

describe('fuzz invariants: checkSession', () => {
  it('passes a correct observation', () => {
    expect(checkSession(clean(session()))).toEqual([]);
  });

  const clientCases: Array<[string, (r: Uint8Array[]) => Uint8Array[], RegExp]> = [
    ['reordered', (r) => swap(r, 0, 1), /client frame #0 .*order or loss/],
    ['altered', (r) => [r[0]!, b('cX'), r[2]!], /client frame #1 is "cX", expected "c1"/],
    ['duplicated', (r) => [r[0]!, r[0]!, r[1]!, r[2]!], /twice \(exactly-once broken\)/],
    ['missing the last', (r) => r.slice(0, 2), /received 2 of 3 frames; first missing: "c2"/],
    ['missing one in the middle', (r) => [r[0]!, r[2]!], /client frame #1 is "c2", expected "c1"/],
    ['with an extra frame', (r) => [...r, b('c9')], /1 unexpected extra frame\(s\), first "c9"/],
  ];
  it.each(clientCases)('reports client frames %s', (_what, change, msg) => {
    const o = clean(session());
    const v = checkSession({ ...o, received: change(o.received) });
    expect(v.length).toBeGreaterThan(0);
    expect(v.join('\n')).toMatch(msg);
  });

  const masterCases: Array<[string, (m: FirehosePacket[]) => FirehosePacket[], RegExp]> = [
    ['reordered data', (m) => swap(m, 0, 2), /master packet #0 is Data "m1", expected Data "m0"/],
    ['altered data bytes', (m) => [{ ...m[0]!, data: b('mX') }, ...m.slice(1)], /master packet #0 is Data "mX", expected Data "m0"/],
    ['data of the same length altered', (m) => [{ ...m[0]!, data: b('m9') }, ...m.slice(1)], /expected Data "m0"/],
    ['duplicated data', (m) => [m[0]!, m[0]!, ...m.slice(1)], /master packet #1 is Data "m0", expected Reconnection/],
    ['a missing packet', (m) => [m[0]!, m[1]!, m[3]!], /master packet #2 is Failure/],
    ['an extra data packet at the end', (m) => [...m.slice(0, 3), got(pkt(Flag.Data, 'm7')), m[3]!], /after the session's Failure|unexpected|master packet #3/],
    ['a packet after the Failure', (m) => [...m, got(pkt(Flag.Data, 'late'))], /Failure must be last/],
    ['two Failures', (m) => [...m, got(pkt(Flag.Failure, 'again'))], /2 Failures, expected 1/],
    ['a Reconnection too many', (m) => [m[0]!, m[1]!, m[1]!, m[2]!, m[3]!], /1 resume\(s\) passed but the master received 2 Reconnection/],
  ];
  it.each(masterCases)('reports master packets with %s', (_what, change, msg) => {
    const o = clean(session());
    const v = checkSession({ ...o, atMaster: change(o.atMaster) });
    expect(v.length).toBeGreaterThan(0);
    expect(v.join('\n')).toMatch(msg);
  });

  it('reports a Failure for a kicked session', () => {
    const s = session({ endedBy: 'kick', toMaster: [pkt(Flag.Data, 'm0')] });
    expect(checkSession({ session: s, received: s.toClient, atMaster: [got(pkt(Flag.Data, 'm0')), got(pkt(Flag.Failure, 'kick'))], resumesPassed: 0 }).join('\n')).toMatch(
      /for a kicked session/,
    );
  });

  it('reports resumes that passed without their Reconnection', () => {
    const o = clean(session());
    expect(checkSession({ ...o, resumesPassed: 2 }).join('\n')).toMatch(/2 resume\(s\) passed but the master received 1/);
  });
});

describe('fuzz invariants: checkIds', () => {
  it('reports an id issued twice, and only then', () => {
    const issued = new Set([1n, 2n, 3n]);
    expect(checkIds(4n, issued)).toEqual([]);
    expect(checkIds(2n, issued)).toEqual(['id 2 was issued twice (ids must never be reused)']);
  });
});
