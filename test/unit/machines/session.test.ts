// The pure session machine under a simulated clock: stale expiry (driven by the edge's StaleReaper, as in the
// edge), resume outcomes, stale attempt numbers, and Kick / shutdown / eviction / overflow from every state, with
// the effects they ask for.
import { describe, expect, it, vi } from 'vitest';
import { createActor, SimulatedClock } from 'xstate';
import { StaleReaper } from '../../../src/actors/stale-reaper.js';
import { sessionMachine, sessionPhase, type SessionEndReason, type SessionEvent } from '../../../src/machines/session.js';

const STALE_MS = 1000;

interface Run {
  actor: ReturnType<typeof createActor<typeof sessionMachine>>;
  clock: SimulatedClock;
  /** Effects in the order the machine asked for them, e.g. 'sendFailure:stale timeout'. */
  effects: string[];
  send(e: SessionEvent): void;
  value(): unknown;
  failures(): string[];
}

function run(): Run {
  const effects: string[] = [];
  const clock = new SimulatedClock();
  const entry = { deadlineSlot: -1 };
  // As the edge does: the deadline counts from when the session went stale; the reaper sends stale.expired.
  const reaper: StaleReaper<typeof entry> = new StaleReaper({
    clock,
    timeoutMs: STALE_MS,
    intervalMs: 0,
    expire: () => actor.send({ type: 'stale.expired' }),
  });
  const machine = sessionMachine.provide({
    actions: {
      closeSocket: () => effects.push('closeSocket'),
      closeAttemptSocket: () => effects.push('closeAttemptSocket'),
      sendFailure: (_, p: { reason: SessionEndReason }) => effects.push(`sendFailure:${p.reason}`),
      completeResume: () => effects.push('completeResume'),
      enteredStale: ({ context }) => {
        effects.push('enteredStale');
        reaper.add(entry, context.staleSince ?? clock.now());
      },
      leftStale: () => {
        effects.push('leftStale');
        reaper.remove(entry);
      },
      release: () => {
        effects.push('release');
        reaper.remove(entry);
      },
    },
  });
  const actor = createActor(machine, { input: { id: 7 }, clock });
  actor.start();
  return {
    actor,
    clock,
    effects,
    send: (e) => actor.send(e),
    value: () => actor.getSnapshot().value,
    failures: () => effects.filter((e) => e.startsWith('sendFailure')),
  };
}

const closed = (at: number): SessionEvent => ({ type: 'socket.closed', reason: 'closed', at });

type StartState = 'live.connected' | 'live.challenged' | 'away.stale' | 'away.challenged';

/** Drives a fresh machine into `state` (attempt 1 when challenged). */
function into(state: StartState): Run {
  const r = run();
  if (state === 'live.challenged') r.send({ type: 'resume.requested', attempt: 1 });
  if (state.startsWith('away')) r.send(closed(r.clock.now()));
  if (state === 'away.challenged') r.send({ type: 'resume.requested', attempt: 1 });
  const [outer, inner] = state.split('.') as [string, string];
  expect(r.value()).toEqual({ [outer]: inner });
  r.effects.length = 0;
  return r;
}

const ALL: StartState[] = ['live.connected', 'live.challenged', 'away.stale', 'away.challenged'];

describe('session machine: stale timeout', () => {
  it('starts live.connected with a clean context', () => {
    const r = run();
    expect(r.value()).toEqual({ live: 'connected' });
    expect(r.actor.getSnapshot().context).toEqual({ id: 7, staleSince: null, attempt: 0, resumes: 0, endReason: null });
    expect(sessionPhase(r.value())).toBe('connected');
  });

  it('goes stale on socket.closed, recording when, and reaps with one Failure exactly after the delay', () => {
    const r = run();
    r.clock.set(5000);
    r.send(closed(5000));
    expect(r.value()).toEqual({ away: 'stale' });
    expect(r.actor.getSnapshot().context.staleSince).toBe(5000);
    expect(r.effects).toEqual(['enteredStale']);
    r.clock.increment(STALE_MS - 1);
    expect(r.value()).toEqual({ away: 'stale' });
    expect(r.failures()).toEqual([]);
    r.clock.increment(1);
    expect(r.value()).toBe('reaped');
    expect(r.actor.getSnapshot().status).toBe('done');
    expect(r.actor.getSnapshot().context.endReason).toBe('stale timeout');
    expect(r.effects).toEqual(['enteredStale', 'leftStale', 'closeAttemptSocket', 'sendFailure:stale timeout', 'release']);
    r.clock.increment(10 * STALE_MS);
    expect(r.failures()).toHaveLength(1);
  });

  it('does not restart the stale clock when a resume attempt fails', () => {
    const r = run();
    r.send(closed(0));
    r.clock.increment(600);
    r.send({ type: 'resume.requested', attempt: 1 });
    r.send({ type: 'resume.failed', attempt: 1, reason: 'bad' });
    expect(r.value()).toEqual({ away: 'stale' });
    r.clock.increment(400);
    expect(r.value()).toBe('reaped');
    expect(r.failures()).toEqual(['sendFailure:stale timeout']);
  });

  it('reaps a session whose challenge is still running when the timeout fires, closing the attempt', () => {
    const r = into('away.challenged');
    r.clock.increment(STALE_MS);
    expect(r.value()).toBe('reaped');
    expect(r.effects).toContain('closeAttemptSocket');
    expect(r.failures()).toEqual(['sendFailure:stale timeout']);
  });

  it('a resumed session is not reaped by the old timer', () => {
    const r = into('away.challenged');
    r.clock.increment(STALE_MS - 1);
    r.send({ type: 'resume.passed', attempt: 1 });
    expect(r.value()).toEqual({ live: 'connected' });
    r.clock.increment(10 * STALE_MS);
    expect(r.value()).toEqual({ live: 'connected' });
    expect(r.failures()).toEqual([]);
  });

  it('a socket closing during a takeover challenge starts the stale clock and keeps the attempt', () => {
    const r = into('live.challenged');
    r.send(closed(r.clock.now()));
    expect(r.value()).toEqual({ away: 'challenged' });
    expect(r.actor.getSnapshot().context.attempt).toBe(1);
    expect(r.effects).toEqual(['enteredStale']);
    r.clock.increment(STALE_MS);
    expect(r.value()).toBe('reaped');
  });
});

describe('session machine: resume outcomes', () => {
  it('resume.failed returns live.challenged to live.connected, with no effect on the socket', () => {
    const r = into('live.challenged');
    r.send({ type: 'resume.failed', attempt: 1, reason: 'mismatch' });
    expect(r.value()).toEqual({ live: 'connected' });
    expect(r.actor.getSnapshot().context.attempt).toBe(0);
    expect(r.effects).toEqual([]);
  });

  it('resume.failed returns away.challenged to away.stale, still away', () => {
    const r = into('away.challenged');
    r.send({ type: 'resume.failed', attempt: 1, reason: 'mismatch' });
    expect(r.value()).toEqual({ away: 'stale' });
    expect(r.actor.getSnapshot().context.attempt).toBe(0);
    expect(r.effects).toEqual([]);
  });

  it('resume.passed from either challenged state completes the resume and counts it', () => {
    for (const s of ['live.challenged', 'away.challenged'] as const) {
      const r = into(s);
      r.send({ type: 'resume.passed', attempt: 1 });
      expect(r.value()).toEqual({ live: 'connected' });
      const ctx = r.actor.getSnapshot().context;
      expect(ctx).toMatchObject({ resumes: 1, attempt: 0, staleSince: null, endReason: null });
      expect(r.effects).toEqual(s === 'away.challenged' ? ['leftStale', 'completeResume'] : ['completeResume']);
    }
  });

  it('ignores resume.passed and resume.failed carrying a stale attempt number', () => {
    const r = into('away.challenged');
    r.send({ type: 'resume.failed', attempt: 1, reason: 'timeout' });
    r.send({ type: 'resume.requested', attempt: 2 });
    r.send({ type: 'resume.passed', attempt: 1 });
    expect(r.value()).toEqual({ away: 'challenged' });
    r.send({ type: 'resume.failed', attempt: 1, reason: 'late' });
    expect(r.value()).toEqual({ away: 'challenged' });
    expect(r.effects).not.toContain('completeResume');
    r.send({ type: 'resume.passed', attempt: 2 });
    expect(r.value()).toEqual({ live: 'connected' });
    expect(r.effects.filter((e) => e === 'completeResume')).toHaveLength(1);
  });

  it('ignores resume outcomes when no attempt is challenged', () => {
    for (const s of ['live.connected', 'away.stale'] as const) {
      const r = into(s);
      r.send({ type: 'resume.passed', attempt: 0 });
      r.send({ type: 'resume.passed', attempt: 1 });
      r.send({ type: 'resume.failed', attempt: 0, reason: 'x' });
      expect(r.effects).toEqual([]);
    }
  });

  it('resume.completed (a round never announced) passes straight from away.stale, counting the resume', () => {
    const r = into('away.stale');
    r.send({ type: 'resume.completed', attempt: 3 });
    expect(r.value()).toEqual({ live: 'connected' });
    expect(r.actor.getSnapshot().context).toMatchObject({ resumes: 1, attempt: 0, staleSince: null, endReason: null });
    expect(r.effects).toEqual(['leftStale', 'completeResume']);
    // The old stale deadline is gone with the stale state.
    r.clock.increment(10 * STALE_MS);
    expect(r.value()).toEqual({ live: 'connected' });
    expect(r.failures()).toEqual([]);
  });

  it('ignores resume.completed anywhere but away.stale, and without an attempt number', () => {
    for (const s of ['live.connected', 'live.challenged', 'away.challenged'] as const) {
      const r = into(s);
      r.send({ type: 'resume.completed', attempt: 1 });
      r.send({ type: 'resume.completed', attempt: 2 });
      expect(r.value()).toEqual(into(s).value());
      expect(r.effects).toEqual([]);
    }
    const r = into('away.stale');
    r.send({ type: 'resume.completed', attempt: 0 });
    expect(r.value()).toEqual({ away: 'stale' });
    expect(r.effects).toEqual([]);
  });

  it('resumes a second and third time, counting each', () => {
    const r = run();
    for (let i = 1; i <= 3; i++) {
      r.send(closed(r.clock.now()));
      r.send({ type: 'resume.requested', attempt: i });
      r.send({ type: 'resume.passed', attempt: i });
      expect(r.value()).toEqual({ live: 'connected' });
      r.send(closed(r.clock.now()));
      r.send({ type: 'resume.completed', attempt: 10 + i });
      expect(r.value()).toEqual({ live: 'connected' });
    }
    expect(r.actor.getSnapshot().context.resumes).toBe(6);
  });
});

describe('session machine: ends', () => {
  it.each(ALL)('session.kick from %s reaps with endReason kick and no Failure', (s) => {
    const r = into(s);
    r.send({ type: 'session.kick' });
    expect(r.value()).toBe('reaped');
    expect(r.actor.getSnapshot().context.endReason).toBe('kick');
    expect(r.failures()).toEqual([]);
    expect(r.effects.at(-1)).toBe('release');
    // A live session's socket is closed; an away one has none.
    expect(r.effects.includes('closeSocket')).toBe(s.startsWith('live'));
    r.clock.increment(10 * STALE_MS);
    expect(r.failures()).toEqual([]);
  });

  it.each(ALL)('edge.shutdown from %s reaps with endReason shutdown and one Failure "shutdown"', (s) => {
    const r = into(s);
    r.send({ type: 'edge.shutdown' });
    expect(r.value()).toBe('reaped');
    expect(r.actor.getSnapshot().context.endReason).toBe('shutdown');
    expect(r.failures()).toEqual(['sendFailure:shutdown']);
    expect(r.effects).toContain('closeAttemptSocket');
    expect(r.effects.at(-1)).toBe('release');
  });

  it.each(['live.connected', 'live.challenged'] as const)('frame.oversize from %s reaps with one Failure "frame too large"', (s) => {
    const r = into(s);
    r.send({ type: 'frame.oversize' });
    expect(r.value()).toBe('reaped');
    expect(r.actor.getSnapshot().context.endReason).toBe('frame too large');
    expect(r.failures()).toEqual(['sendFailure:frame too large']);
    expect(r.effects).toContain('closeSocket');
  });

  it.each([
    ['stale.evicted', 'evicted'],
    ['missed.overflow', 'missed packet buffer overflow'],
  ] as const)('%s from an away state reaps with one Failure', (type, reason) => {
    for (const s of ['away.stale', 'away.challenged'] as const) {
      const r = into(s);
      r.send({ type });
      expect(r.value()).toBe('reaped');
      expect(r.actor.getSnapshot().context.endReason).toBe(reason);
      expect(r.failures()).toEqual([`sendFailure:${reason}`]);
      r.clock.increment(10 * STALE_MS);
      expect(r.failures()).toHaveLength(1);
    }
  });

  it('ignores eviction and overflow while live', () => {
    for (const s of ['live.connected', 'live.challenged'] as const) {
      const r = into(s);
      r.send({ type: 'stale.evicted' });
      r.send({ type: 'missed.overflow' });
      expect(r.value()).toEqual({ live: s.split('.')[1] });
      expect(r.effects).toEqual([]);
    }
  });

  it('a reaped session ignores everything after', () => {
    const r = into('away.stale');
    r.send({ type: 'session.kick' });
    r.effects.length = 0;
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    r.send({ type: 'stale.evicted' });
    r.send({ type: 'missed.overflow' });
    r.send({ type: 'edge.shutdown' });
    warn.mockRestore();
    expect(r.effects).toEqual([]);
    expect(r.actor.getSnapshot().context.endReason).toBe('kick');
  });
});

describe('session machine: restored by a new edge process', () => {
  it.each(ALL)('edge.restored from %s: away.stale, the stale clock from its own stale time or the given one', (s) => {
    const r = into(s);
    r.clock.set(400);
    const own = r.actor.getSnapshot().context.staleSince;
    r.send({ type: 'edge.restored', at: 300 });
    expect(r.value()).toEqual({ away: 'stale' });
    const since = own ?? 300;
    expect(r.actor.getSnapshot().context.staleSince).toBe(since);
    expect(r.actor.getSnapshot().context.attempt).toBe(0);
    expect(r.effects).toContain('enteredStale');
    expect(r.failures()).toEqual([]);
    // It expires STALE_MS after `since`, with one Failure.
    r.clock.set(since + STALE_MS - 1);
    expect(r.value()).toEqual({ away: 'stale' });
    r.clock.set(since + STALE_MS);
    expect(r.value()).toBe('reaped');
    expect(r.failures()).toEqual(['sendFailure:stale timeout']);
  });

  it('a snapshot persisted by one actor restores in another: context kept, then restored as stale and resumable', () => {
    const a = run();
    a.send({ type: 'resume.requested', attempt: 1 });
    a.send({ type: 'resume.passed', attempt: 1 });
    const persisted = JSON.parse(JSON.stringify(a.actor.getPersistedSnapshot())) as unknown;
    const b = run();
    const restored = createActor(b.actor.logic, { snapshot: persisted as never, input: { id: 7 }, clock: b.clock });
    restored.start();
    expect(restored.getSnapshot().context.resumes).toBe(1);
    restored.send({ type: 'edge.restored', at: 0 });
    expect(restored.getSnapshot().value).toEqual({ away: 'stale' });
    restored.send({ type: 'resume.requested', attempt: 2 });
    restored.send({ type: 'resume.passed', attempt: 2 });
    expect(restored.getSnapshot().value).toEqual({ live: 'connected' });
    expect(restored.getSnapshot().context.resumes).toBe(2);
  });
});
