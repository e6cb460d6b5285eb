// Sessions to and from the session store: a session's record at shutdown (its actor's persisted snapshot, its
// replay buffer) and a restored session at start (its actor rebuilt from that snapshot, away until its client is back).
import { createActor, type Actor, type AnyActorRef } from 'xstate';
import { sessionMachine, type SessionMachine } from '../machines/session.js';
import type { StoredSession } from '../store/store.js';
import { replayFrom, replayToArray, type SlabPool } from './replay-buffer.js';
import { awaySnapshot } from './session-effects.js';
import { Session } from './session.js';

/** The address a restored session reports until its client is back. */
export const RESTORED_ADDRESS = 'restored';

/** What the store keeps of `s`: with its actor's persisted snapshot when it has an actor (else its stale time alone). */
export function toStored(s: Session): StoredSession {
  const actor = s.actor;
  // A session without an actor is in live.connected or away.stale (awaySince) with nothing but its resume count
  // to keep: as the machine's persisted snapshot of that state when the count matters, else none.
  const snapshot = actor
    ? actor.getPersistedSnapshot()
    : s.resumes > 0
      ? sessionMachine.getPersistedSnapshot(awaySnapshot(sessionMachine, s.id, s.awaySince, s.resumes))
      : null;
  const staleSince = actor ? actor.getSnapshot().context.staleSince : s.awaySince;
  return { id: s.id, clientKey: s.clientKey, createdAt: s.createdAt, staleSince, address: s.address, snapshot, replay: replayToArray(s.replay) };
}

export interface RestoreContext {
  machine: SessionMachine;
  parent: AnyActorRef;
  /** The edge's pool for replay buffers. */
  pool: SlabPool;
  /** Reports a snapshot that could not be restored (the session is restored from its record alone). */
  onBadSnapshot(id: number, err: unknown): void;
  /** Called right before the session's actor is created (`id`) and right after (null): inspection sampling. */
  creating(id: number | null): void;
}

/**
 * A Session for a stored one, with its actor restored from the persisted snapshot (`createActor(machine,
 * { snapshot })`), or created afresh when there is none or it does not fit the machine. The actor is not
 * started: the caller registers the session first, then starts it and sends `edge.restored`.
 */
export function restoreSession(r: StoredSession, ctx: RestoreContext, withActor = true): Session {
  const s = new Session(r.id, r.clientKey, r.address ?? RESTORED_ADDRESS);
  s.createdAt = r.createdAt;
  s.replay = replayFrom(ctx.pool, r.replay);
  if (!withActor) {
    // No actor yet (session-effects.ts restoredAway): of the snapshot only the resume count carries over; the
    // rest is what edge.restored makes of any snapshot (away.stale, no round challenged, stale since `since`).
    const resumes = restorableResumes(r);
    if (resumes === null) ctx.onBadSnapshot(r.id, new Error('not a session snapshot of this machine'));
    s.resumes = resumes ?? 0;
    return s;
  }
  let actor: Actor<SessionMachine> | null = null;
  ctx.creating(r.id);
  const snap = r.snapshot as { status?: unknown; context?: { id?: unknown } } | null;
  if (snap !== null && typeof snap === 'object' && snap.status === 'active' && snap.context?.id === r.id) {
    try {
      actor = createActor(ctx.machine, { snapshot: snap as never, input: { id: r.id }, parent: ctx.parent });
    } catch (err) {
      ctx.onBadSnapshot(r.id, err);
    }
  }
  s.actor = actor ?? createActor(ctx.machine, { input: { id: r.id }, parent: ctx.parent });
  ctx.creating(null);
  return s;
}

/**
 * The resume count of a stored session's snapshot when the snapshot fits this machine (an active session of this
 * id, in live or away, with a count), 0 when there is no snapshot (known from the journal alone), null when
 * there is one that does not fit.
 */
function restorableResumes(r: StoredSession): number | null {
  const snap = r.snapshot as { status?: unknown; value?: unknown; context?: { id?: unknown; resumes?: unknown } } | null;
  if (snap === null || snap === undefined) return 0;
  if (typeof snap !== 'object' || snap.status !== 'active' || snap.context?.id !== r.id) return null;
  const v = snap.value;
  if (v === null || typeof v !== 'object' || !('away' in v || 'live' in v)) return null;
  const n = snap.context.resumes;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : null;
}
