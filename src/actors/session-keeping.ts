// Sessions across processes (src/store): restored at start, all away; at a shutdown that keeps them, every
// socket closed without ending its session and every session written to the store with its snapshot and
// replay buffer.
import type { StoredSession } from '../store/store.js';
import { endSocket } from './client-path.js';
import type { Edge } from './edge.js';
import { NO_REPLAY, replayCount } from './replay-buffer.js';
import { restoreSession, toStored } from './session-persistence.js';
import { restoredAway, socketClosed } from './session-effects.js';

/** Restores the store's sessions, all away: stale since their own time, else the shutdown, else now. */
export function restoreSessions(edge: Edge, stored: StoredSession[], stoppedAt: number | null): void {
  if (stored.length === 0) return;
  const now = edge.clock.now();
  const ctx = {
    machine: edge.sessionMachine,
    pool: edge.replayPool,
    parent: edge.supervisor,
    onBadSnapshot: (id: number, err: unknown) =>
      edge.log.warn({ sessionId: id, err: String(err) }, 'session.restore_snapshot_failed: restored from its record'),
    creating: (id: number | null) => edge.willCreateActor(id),
  };
  // Restored oldest stale time first (then by id): the order in which they are evicted past max_stale_clients.
  const since = (r: StoredSession): number => r.staleSince ?? stoppedAt ?? now;
  stored = [...stored].sort((a, b) => since(a) - since(b) || a.id - b.id);
  let buffered = 0;
  // Only the sessions an inspector watches get their actor now, restored from its snapshot; the others go
  // away.stale without one (restoredAway) and get it on their next lifecycle event.
  for (const r of stored) {
    const s = restoreSession(r, ctx, edge.inspects(r.id));
    edge.sessions.set(s.id, s);
    buffered += replayCount(s.replay);
    if (s.replay !== NO_REPLAY) edge.clientBudget.buffered(s);
  }
  for (const r of stored) {
    const s = edge.sessions.get(r.id);
    if (!s) continue;
    if (!s.actor) {
      restoredAway(edge, s, since(r));
      continue;
    }
    s.actor.start();
    s.actor.send({ type: 'edge.restored', at: since(r) });
    edge.onLifecycle?.({ type: 'session.stale', sessionId: s.id });
  }
  edge.log.info({ sessions: stored.length, stale: edge.stale.size, buffered, stoppedAt, store: edge.store.kind }, 'store.restored');
  // Restored buffers past the client buffer budget (a smaller budget than before the restart): oldest dropped.
  edge.clientBudget.enforce();
}

/** Shutdown with sessions kept: every socket closed without ending its session, every live session stale now. */
export function detachAll(edge: Edge): void {
  const now = edge.clock.now();
  // In id order (creation order): which live sessions are evicted past max_stale_clients does not depend on history.
  for (const s of [...edge.sessions.values()].sort((a, b) => a.id - b.id)) {
    for (const a of s.challenges.splice(0)) a.end();
    if (!s.socket) continue;
    endSocket(edge, s);
    // Stale from now: master data until the link closes follows the stale rules (buffered, or a Failure).
    socketClosed(edge, s, 'shutdown', now);
  }
}

/** Writes every session with its snapshot and replay buffer to the store, then stops the actors. */
export async function saveAll(edge: Edge): Promise<void> {
  const list = [...edge.sessions.values()];
  const t0 = performance.now();
  try {
    await edge.store.saveAll(list.map(toStored), edge.clock.now());
    edge.log.info({ sessions: list.length, ms: Math.round(performance.now() - t0), store: edge.store.kind }, 'store.saved');
  } catch (err) {
    edge.log.error({ err: String(err), store: edge.store.kind }, 'store.save_failed: sessions will not survive this restart');
  }
  // Done in this process; the sessions do not end. The actors hold no timers (stale deadlines are the reaper's):
  // only those an inspector watches are taken to `kept` (final), so that it sees where they went. A transition
  // per session would cost ~50 us each, seconds for a full table at SIGTERM.
  for (const s of list) if (s.actor && edge.isInspected(s.actor)) s.actor.send({ type: 'edge.kept' });
}
