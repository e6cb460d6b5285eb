// The machines with their effects: the pure session and supervisor machines (src/machines) provided with
// the actions that touch sockets, the registry, the stale table, the reaper, the store and the master link.
import { Flag } from '../io/firehose.js';
import { sessionMachine, type SessionEndReason, type SessionMachine } from '../machines/session.js';
import { supervisorMachine } from '../machines/supervisor.js';
import { detachSocket, endSocket } from './client-path.js';
import type { Edge } from './edge.js';
import { replayRelease } from './replay-buffer.js';
import { completeResume } from './resume-flow.js';
import type { Session } from './session.js';
import { staleShareCap } from './stale-table.js';

const utf8 = new TextEncoder();

export function provideSupervisorMachine(edge: Edge, on: { drain: () => void; stopped: () => void }) {
  return supervisorMachine.provide({
    actions: {
      dialMaster: () => edge.dialMaster(),
      dropMaster: ({ event }) => {
        edge.masterLink.outage.failed(event.type === 'master.lost' ? event.reason : '');
        edge.masterLink.drop();
      },
      flushHeld: () => {
        edge.masterLink.outage.connected(edge.masterLink.heldPackets);
        edge.masterLink.flushHeld();
      },
      drain: () => on.drain(),
      stopped: () => {
        edge.log.info('edge.stopped');
        on.stopped();
      },
    },
    delays: {
      backoff: ({ context }) => {
        const m = edge.config.master; // read at each attempt: a reload may change the backoff bounds
        const base = Math.min(m.reconnectMaxMs, m.reconnectMinMs * 2 ** Math.min(20, Math.max(0, context.failures - 1)));
        const delayMs = Math.round(base * (0.75 + Math.random() * 0.25));
        edge.log.debug({ delayMs, failures: context.failures }, 'master.backoff');
        return delayMs;
      },
    },
  });
}

export function provideSessionMachine(edge: Edge) {
  const get = (id: number): Session | undefined => edge.sessions.get(id);
  return sessionMachine.provide({
    actions: {
      closeSocket: ({ context }) => {
        const s = get(context.id);
        if (s?.socket) endSocket(edge, s);
      },
      closeAttemptSocket: ({ context }) => {
        const s = get(context.id);
        if (s) for (const a of s.challenges.splice(0)) a.end();
      },
      sendFailure: ({ context }, params: { reason: SessionEndReason }) => sendFailure(edge, context.id, params.reason),
      completeResume: ({ context }) => {
        const s = get(context.id);
        if (s) completeResume(edge, s);
      },
      enteredStale: ({ context, event }) => {
        const s = get(context.id);
        if (!s) return;
        const restored = event.type === 'edge.restored';
        enterStale(edge, s, context.staleSince ?? edge.clock.now(), event.type === 'socket.closed' ? event.reason : event.type, restored);
      },
      leftStale: ({ context }) => {
        const s = edge.stale.get(context.id);
        if (s) leaveStale(edge, s);
      },
      release: ({ context }) => {
        const s = get(context.id);
        if (s) release(edge, s, context.endReason, context.resumes, true);
      },
    },
  });
}

/**
 * The session's socket is gone (closed, cut off, detached): the machine's `socket.closed`. A session that never
 * had a lifecycle event has no actor (it is in the initial state, live.connected): it takes that transition to
 * away.stale without one, the effects applied here directly (an actor per stale session costs ~5 KB and ~50 us
 * to create and run; a drop of every client at once is when an edge can least afford either). Its actor is made
 * on its next lifecycle event, in away.stale (`awaySnapshot`). A session with an actor goes through it.
 */
export function socketClosed(edge: Edge, s: Session, reason: string, at: number): void {
  if (s.actor !== null) {
    s.actor.send({ type: 'socket.closed', reason, at });
    return;
  }
  if (s.awaySince !== null) return; // away already: the machine ignores socket.closed there
  s.awaySince = at;
  enterStale(edge, s, at, reason, false);
}

/**
 * The actor snapshot of a session that lived without one: away.stale since `since` (`socketClosed`), or live.connected
 * (null) after resumes that passed without one (`resumedWithoutActor`), counted in its context.
 */
export function awaySnapshot(machine: SessionMachine, id: number, since: number | null, resumes: number) {
  const value = since === null ? { live: 'connected' } : { away: 'stale' };
  return machine.resolveState({ value, context: { id, staleSince: since, attempt: 0, resumes, endReason: null } });
}

/**
 * A resume of a session that is stale without an actor passed: the machine's resume.completed from away.stale
 * (exit away, then reconnected's completeResume and count), applied here directly as the drop was. It is then
 * live.connected, still without an actor; a storm of resumes makes none (~80 us and ~5 KB each).
 */
export function resumedWithoutActor(edge: Edge, s: Session): void {
  s.awaySince = null;
  leaveStale(edge, s);
  completeResume(edge, s);
  s.resumes++;
}

/** Exit from away (the machine's leftStale): out of the stale table and the reaper. */
function leaveStale(edge: Edge, s: Session): void {
  edge.stale.delete(s);
  edge.reaper.remove(s);
  edge.clusterGlue?.leftStale(s);
}

/**
 * A session restored by a new edge process without an actor: the machine's `edge.restored` (to away.stale, stale
 * since `since`) with its effects applied here directly; its actor is made on its next lifecycle event, as for
 * `socketClosed`. Restoring an actor from its snapshot and running that event cost ~55 us per session: seconds
 * of start-up with a full stale table.
 */
export function restoredAway(edge: Edge, s: Session, since: number): void {
  s.awaySince = since;
  enterStale(edge, s, since, 'restored', true);
}

/** Entry to away (the machine's enteredStale): the stale table, the reaper, the store, the log, the table's shares. */
function enterStale(edge: Edge, s: Session, since: number, reason: string, restored: boolean): void {
  edge.stale.add(s);
  edge.clusterGlue?.enteredStale(s, since);
  edge.reaper.add(s, since);
  if (!s.hasSessionKey) edge.keyQueue.add(s);
  // Restored sessions are already in the store as stale, and are logged once in all.
  if (!restored) {
    edge.store.stale(s.id, since, s.address);
    if (!edge.stopping) edge.log.info({ sessionId: s.id, address: s.address, reason, state: 'stale' }, 'session.stale');
  }
  edge.onLifecycle?.({ type: 'session.stale', sessionId: s.id });
  evictPastShares(edge, s);
}

function sendFailure(edge: Edge, id: number, reason: SessionEndReason): void {
  if (edge.clusterGlue) return; // sent once the cluster store confirms this edge owned the session (EdgeCluster.ended)
  edge.store.ended(id, reason);
  edge.counters.failuresSent++;
  edge.masterLink.sendControl(id, Flag.Failure, utf8.encode(reason));
}

/** The session is over: out of the registry, the stale table, the reaper and the budget; its socket closed. */
function release(edge: Edge, s: Session, endReason: SessionEndReason | null, resumes: number, log: boolean): void {
  edge.sessions.delete(s.id);
  edge.stale.delete(s);
  edge.reaper.remove(s);
  edge.paused.delete(s);
  if (s.socket) detachSocket(edge, s, true);
  s.replay = replayRelease(s.replay);
  edge.clientBudget.unbuffered(s);
  if (endReason === 'kick') {
    edge.counters.kicks++;
    edge.store.ended(s.id, 'kick');
  }
  edge.clusterGlue?.ended(s.id, endReason);
  if (log) edge.log.info({ sessionId: s.id, state: 'reaped', reason: endReason, resumes }, 'session.reaped');
  edge.onLifecycle?.({ type: 'session.reaped', sessionId: s.id, reason: endReason ?? 'unknown' });
}

/**
 * A shutdown that does not keep the sessions ends every one with its Failure "shutdown", as the session machine
 * does on edge.shutdown from any state. A transition per session costs ~90 us (seconds for a full table), so the
 * machine's effects for that event are applied here directly; sessions an inspector watches, and every session
 * in a cluster (whose Failure waits for the cluster store), still go through their machine.
 */
export function endAllAtShutdown(edge: Edge): void {
  let ended = 0;
  for (const s of [...edge.sessions.values()]) {
    if (edge.clusterGlue !== null || (s.actor !== null && edge.isInspected(s.actor))) {
      s.writer?.flush();
      s.socket?.end();
      edge.actorOf(s).send({ type: 'edge.shutdown' });
      continue;
    }
    if (s.actor !== null && s.actor.getSnapshot().status !== 'active') continue;
    if (s.socket) endSocket(edge, s);
    for (const a of s.challenges.splice(0)) a.end();
    sendFailure(edge, s.id, 'shutdown');
    release(edge, s, 'shutdown', s.actor?.getSnapshot().context.resumes ?? s.resumes, false);
    ended++;
  }
  if (ended > 0) edge.log.info({ sessions: ended, reason: 'shutdown' }, 'session.reaped: every session ended at shutdown, each with a Failure');
}

/**
 * `s` just went stale. Its address past its share of the stale table (limits.max_stale_share_per_address) loses
 * its own oldest stale session; a table past clients.max_stale_clients loses the oldest stale session of the
 * address holding the most. Both O(1) per eviction (src/actors/stale-table.ts).
 */
function evictPastShares(edge: Edge, s: Session): void {
  const max = edge.config.clients.maxStaleClients;
  const cap = staleShareCap(edge.config.limits.maxStaleSharePerAddress, max);
  while (edge.stale.has(s) && s.staleHolder!.count > cap) {
    evict(edge, edge.stale.oldestOf(s)!, `address over its share of the stale table (${cap})`, max);
  }
  while (edge.stale.size > max) {
    evict(edge, edge.stale.biggestHolderOldest()!, 'stale table full: the oldest of the address holding the most', max);
  }
}

function evict(edge: Edge, victim: Session, why: string, max: number): void {
  const holder = victim.staleHolder!;
  edge.stale.delete(victim);
  edge.log.info({ sessionId: victim.id, address: victim.address, addressStale: holder.count + 1, staleClients: edge.stale.size + 1, max, reason: why }, 'session.evicted');
  edge.actorOf(victim).send({ type: 'stale.evicted' });
}
