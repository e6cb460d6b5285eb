// The supervisor machine: the master link's lifecycle (connecting, connected, backing off) and the edge's shutdown.
// Pure: dialing, flushing and closing are named actions provided by the actor layer.
import { assign, setup } from 'xstate';

export type SupervisorEvent =
  | { type: 'master.connected' }
  | { type: 'master.lost'; reason: string }
  | { type: 'edge.shutdown' }
  | { type: 'master.drained' };

export interface SupervisorContext {
  /** Consecutive failed dials since the last successful connection. */
  failures: number;
  /** Successful connections after the first. */
  reconnects: number;
  connectedOnce: boolean;
  lastError: string | null;
}

export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
  },
  actions: {
    /** Open a connection to the master; report master.connected or master.lost. */
    dialMaster: () => {},
    /** Give up on the current master socket (it errored, closed or timed out). */
    dropMaster: () => {},
    /** Write everything held while the link was down, in order; resume paused clients. */
    flushHeld: () => {},
    /** Stop accepting clients, end sessions, flush to the master, then report master.drained. */
    drain: () => {},
    /** Everything is closed. */
    stopped: () => {},
    countConnected: assign(({ context }) => ({
      failures: 0,
      reconnects: context.connectedOnce ? context.reconnects + 1 : context.reconnects,
      connectedOnce: true,
      lastError: null,
    })),
    countFailure: assign(({ context, event }) => ({
      failures: context.failures + 1,
      lastError: event.type === 'master.lost' ? event.reason : context.lastError,
    })),
  },
  delays: {
    /** Backoff before the next dial; provided by the actor layer from master.reconnect_*_ms. */
    backoff: 100,
  },
}).createMachine({
  id: 'supervisor',
  context: { failures: 0, reconnects: 0, connectedOnce: false, lastError: null },
  initial: 'connecting',
  on: {
    'edge.shutdown': { target: '.draining' },
  },
  states: {
    connecting: {
      entry: 'dialMaster',
      on: {
        'master.connected': { target: 'connected', actions: 'countConnected' },
        'master.lost': { target: 'backingOff', actions: ['dropMaster', 'countFailure'] },
      },
    },
    connected: {
      entry: 'flushHeld',
      on: {
        'master.lost': { target: 'backingOff', actions: ['dropMaster', 'countFailure'] },
      },
    },
    backingOff: {
      after: { backoff: { target: 'connecting' } },
    },
    draining: {
      entry: 'drain',
      on: {
        'master.drained': { target: 'stopped' },
        'master.lost': {},
        'master.connected': {},
      },
    },
    stopped: {
      type: 'final',
      entry: 'stopped',
    },
  },
});

export type SupervisorMachine = typeof supervisorMachine;
