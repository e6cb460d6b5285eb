// The client session machine: live (connected / challenged by a takeover), away (stale / challenged), reconnected, reaped.
// Pure: effects are named no-op actions here, provided by the actor layer. The stale deadline is kept by the edge's
// reaper (one structure for every session, not a timer per actor), which sends `stale.expired`.
import { assign, setup } from 'xstate';

export type SessionEndReason = 'kick' | 'stale timeout' | 'evicted' | 'missed packet buffer overflow' | 'frame too large' | 'shutdown';

export type SessionEvent =
  /** The session's socket closed or errored (including a close for overflow); `at` is the clock's ms. */
  | { type: 'socket.closed'; reason: string; at: number }
  /** A client frame over the frame cap: a protocol violation that ends the session. */
  | { type: 'frame.oversize' }
  /** The master asked to end the session (Kick): nothing is sent back. */
  | { type: 'session.kick' }
  /** A reconnect named this session and is about to be challenged. */
  | { type: 'resume.requested'; attempt: number }
  | { type: 'resume.passed'; attempt: number }
  /**
   * A stale session's challenge passed (response and Ping) in a round the machine was not told of: request and
   * pass as one event. The edge announces a round (resume.requested) when the session is live (a takeover: the
   * old socket may still close meanwhile) or inspected; a stale session that nobody watches is the same while
   * challenged as while stale, so its round costs one event, not two.
   */
  | { type: 'resume.completed'; attempt: number }
  | { type: 'resume.failed'; attempt: number; reason: string }
  /** More stale sessions than allowed: this one is the oldest. */
  | { type: 'stale.evicted' }
  /** The reap tick at or after `staleSince + stale timeout` came (sent by the edge's reaper). */
  | { type: 'stale.expired' }
  /** Master data for an away session that the missed-packet buffer cannot hold. */
  | { type: 'missed.overflow' }
  /** The edge is shutting down and does not keep its sessions: the session ends (Failure "shutdown"). */
  | { type: 'edge.shutdown' }
  /**
   * The session was restored by a new edge process (from a persisted snapshot or the journal): it has no socket,
   * so it is away, stale since `at` unless its snapshot already says since when.
   */
  | { type: 'edge.restored'; at: number }
  /** The edge stopped and wrote the session to its store: this process is done with it (it does not end). */
  | { type: 'edge.kept' };

export interface SessionContext {
  id: number;
  /** Clock ms when the session last went stale, or null while live. */
  staleSince: number | null;
  /**
   * The reconnect round currently challenged (0: none). The edge may challenge several reconnects of one
   * session at once in a round: the first valid answer passes it, and it fails once all of them failed.
   */
  attempt: number;
  resumes: number;
  endReason: SessionEndReason | null;
}

export interface SessionInput {
  id: number;
}

export const sessionMachine = setup({
  types: {
    context: {} as SessionContext,
    events: {} as SessionEvent,
    input: {} as SessionInput,
  },
  actions: {
    /** Close the session's current client socket. */
    closeSocket: () => {},
    /** Close the socket of the reconnect attempt being challenged. */
    closeAttemptSocket: () => {},
    /** Send the master a Failure for this session with the given reason. */
    sendFailure: (_: unknown, _params: { reason: SessionEndReason }) => {},
    /** Move the session to the attempt's socket: Ping, replay missed packets, Reconnection to the master. */
    completeResume: () => {},
    /** Tell the registry the session went stale (stale index, eviction). */
    enteredStale: () => {},
    /** Tell the registry the session is live again. */
    leftStale: () => {},
    /** Drop the session from the registry and free its buffers. */
    release: () => {},
    recordStale: assign({
      staleSince: ({ event }) => (event.type === 'socket.closed' ? event.at : null),
    }),
    recordAttempt: assign({
      attempt: ({ event }) => (event.type === 'resume.requested' ? event.attempt : 0),
    }),
    clearAttempt: assign({ attempt: 0 }),
    countResume: assign({ resumes: ({ context }) => context.resumes + 1, staleSince: null, attempt: 0 }),
    setEndReason: assign((_, params: { reason: SessionEndReason }) => ({ endReason: params.reason })),
    recordRestored: assign({
      staleSince: ({ context, event }) => context.staleSince ?? (event.type === 'edge.restored' ? event.at : null),
      attempt: 0,
    }),
  },
  guards: {
    isCurrentAttempt: ({ context, event }) =>
      (event.type === 'resume.passed' || event.type === 'resume.failed') && event.attempt === context.attempt,
    /** A round that was never announced: none is challenged (attempt 0) and the event names a real one. */
    isUnannouncedAttempt: ({ context, event }) => event.type === 'resume.completed' && context.attempt === 0 && event.attempt > 0,
  },
}).createMachine({
  id: 'session',
  context: ({ input }) => ({ id: input.id, staleSince: null, attempt: 0, resumes: 0, endReason: null }),
  initial: 'live',
  on: {
    /** A new edge process restored this session: away, whatever it was when the old process stopped. */
    'edge.restored': { target: '.away', reenter: true, actions: 'recordRestored' },
    'edge.kept': { target: '.kept' },
  },
  states: {
    live: {
      initial: 'connected',
      on: {
        'session.kick': {
          target: 'reaped',
          actions: ['closeSocket', 'closeAttemptSocket', { type: 'setEndReason', params: { reason: 'kick' } }],
        },
        'frame.oversize': {
          target: 'reaped',
          actions: [
            'closeSocket',
            'closeAttemptSocket',
            { type: 'setEndReason', params: { reason: 'frame too large' } },
            { type: 'sendFailure', params: { reason: 'frame too large' } },
          ],
        },
        'edge.shutdown': {
          target: 'reaped',
          actions: [
            'closeSocket',
            'closeAttemptSocket',
            { type: 'setEndReason', params: { reason: 'shutdown' } },
            { type: 'sendFailure', params: { reason: 'shutdown' } },
          ],
        },
      },
      states: {
        connected: {
          on: {
            'socket.closed': { target: '#session.away.stale', actions: 'recordStale' },
            'resume.requested': { target: 'challenged', actions: 'recordAttempt' },
          },
        },
        /** A reconnect is being challenged while the old socket still looks alive (half-open). */
        challenged: {
          on: {
            'socket.closed': { target: '#session.away.challenged', actions: 'recordStale' },
            'resume.passed': { guard: 'isCurrentAttempt', target: '#session.reconnected' },
            'resume.failed': { guard: 'isCurrentAttempt', target: 'connected', actions: 'clearAttempt' },
          },
        },
      },
    },
    away: {
      initial: 'stale',
      entry: 'enteredStale',
      exit: 'leftStale',
      on: {
        'stale.expired': {
          target: 'reaped',
          actions: [
            'closeAttemptSocket',
            { type: 'setEndReason', params: { reason: 'stale timeout' } },
            { type: 'sendFailure', params: { reason: 'stale timeout' } },
          ],
        },
        'stale.evicted': {
          target: 'reaped',
          actions: [
            'closeAttemptSocket',
            { type: 'setEndReason', params: { reason: 'evicted' } },
            { type: 'sendFailure', params: { reason: 'evicted' } },
          ],
        },
        'missed.overflow': {
          target: 'reaped',
          actions: [
            'closeAttemptSocket',
            { type: 'setEndReason', params: { reason: 'missed packet buffer overflow' } },
            { type: 'sendFailure', params: { reason: 'missed packet buffer overflow' } },
          ],
        },
        'session.kick': {
          target: 'reaped',
          actions: ['closeAttemptSocket', { type: 'setEndReason', params: { reason: 'kick' } }],
        },
        'edge.shutdown': {
          target: 'reaped',
          actions: [
            'closeAttemptSocket',
            { type: 'setEndReason', params: { reason: 'shutdown' } },
            { type: 'sendFailure', params: { reason: 'shutdown' } },
          ],
        },
      },
      states: {
        stale: {
          on: {
            'resume.requested': { target: 'challenged', actions: 'recordAttempt' },
            'resume.completed': { guard: 'isUnannouncedAttempt', target: '#session.reconnected' },
          },
        },
        /** A reconnect is being challenged; the stale clock keeps running from the disconnect. */
        challenged: {
          on: {
            'resume.passed': { guard: 'isCurrentAttempt', target: '#session.reconnected' },
            'resume.failed': { guard: 'isCurrentAttempt', target: 'stale', actions: 'clearAttempt' },
          },
        },
      },
    },
    /** The challenge passed: the session moves to the new socket, then is connected again. */
    reconnected: {
      entry: ['completeResume', 'countResume'],
      always: { target: 'live.connected' },
    },
    reaped: {
      type: 'final',
      entry: 'release',
    },
    /** Kept in the store by an edge that stopped; a new edge process restores it (edge.restored). Not an end. */
    kept: {
      type: 'final',
    },
  },
});

export type SessionMachine = typeof sessionMachine;

/** The coarse lifecycle name of a session snapshot value, as operators see it. */
export function sessionPhase(value: unknown): 'connected' | 'challenged' | 'stale' | 'reconnected' | 'reaped' | 'kept' {
  if (value === 'reaped') return 'reaped';
  if (value === 'kept') return 'kept';
  if (value === 'reconnected') return 'reconnected';
  if (typeof value === 'object' && value !== null) {
    const v = value as { live?: string; away?: string };
    if (v.live === 'connected') return 'connected';
    if (v.away === 'stale') return 'stale';
    return 'challenged';
  }
  return 'connected';
}
