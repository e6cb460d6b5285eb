// Resuming a session: a reconnect names an id, gets a challenge (several may race: the first valid answer
// wins, none blocks a later one), and the winner takes the session over: the old socket's queued data first,
// then the replay buffer, in order, then live traffic; the master hears one Reconnection.
import type { Actor } from 'xstate';
import { Flag } from '../io/firehose.js';
import type { SessionMachine } from '../machines/session.js';
import { COPY_LIMIT } from '../io/writer.js';
import { adoptSocket, detachSocket } from './client-path.js';
import type { ClientSocket } from './client-sockets.js';
import type { Edge } from './edge.js';
import { kPending, PING_FRAME, type PendingConnection } from './handshake.js';
import { replayCount, replayPackets, replayRelease } from './replay-buffer.js';
import { resumedWithoutActor } from './session-effects.js';
import type { Session } from './session.js';
import { logId } from '../log.js';

/**
 * Challenges of one session outstanding at once. Past it the oldest is dropped for the newest, so silent
 * challenges (an attacker who knows the id) can never hold the owner out; each costs its address a failure.
 */
export const MAX_CHALLENGES_PER_SESSION = 16;

/** A reconnect names `idBig`: the session to challenge, or why not (later, when another edge is asked). */
export function requestResume(edge: Edge, p: PendingConnection, idBig: bigint): Session | string | Promise<Session | string> {
  if (edge.admission.resumesBlocked(p.address)) return 'too many failed resumes from this address';
  const id = idBig <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(idBig) : -1;
  const s = id > 0 ? edge.sessions.get(id) : undefined;
  const cluster = edge.clusterGlue;
  const blocked = cluster?.resumeBlocked();
  if (blocked) return blocked;
  if (!s && cluster && id > 0) {
    return cluster.resumeRemote(p, id).then((r) => {
      if (typeof r === 'string' && r.startsWith('resume of unknown')) edge.admission.resumeFailedFrom(p.address);
      return r;
    });
  }
  if (!s) {
    edge.admission.resumeFailedFrom(p.address);
    return `resume of unknown session ${idBig}`;
  }
  // A pending challenge never blocks a later one: at the cap, the oldest gives way (it has been silent
  // longest; the owner answers within a round trip).
  if (s.challenges.length >= MAX_CHALLENGES_PER_SESSION) {
    s.challenges[0]!.fail('superseded by newer challenges of the same session', 'VL_ERR_RESUME_SUPERSEDED', { sessionId: id });
  }
  let round: number;
  if (s.challenges.length > 0) {
    // Later challenges join the round of the first.
    round = s.challenges[0]!.attempt;
  } else {
    round = edge.nextAttempt();
    // A stale session without an actor (nobody inspects it) gets none for its resume either.
    const actor = staleWithoutActor(s) ? null : edge.actorOf(s);
    if (actor && announcesRound(edge, actor)) {
      // The first challenge of a round moves the machine to `challenged`.
      actor.send({ type: 'resume.requested', attempt: round });
      if (actor.getSnapshot().context.attempt !== round) return 'session cannot be resumed now';
    }
  }
  s.challenges.push(p);
  p.attempt = round;
  // At debug: a resume logs one info line, session.resumed (or its failure).
  if (edge.debug) edge.log.debug({ sessionId: id, address: p.address, state: 'challenged' }, 'session.challenged');
  edge.onLifecycle?.({ type: 'session.challenged', sessionId: id });
  return s;
}

/** Stale without an actor (session-effects.ts socketClosed): its machine state is kept by the edge alone. */
function staleWithoutActor(s: Session): boolean {
  return s.actor === null && s.awaySince !== null;
}

/**
 * Whether the machine hears of a round when it starts (resume.requested, state `challenged`), or only when it passed
 * (resume.completed, straight from stale): a live session's round is announced (its old socket may close during
 * the challenge, which the machine must know is running), and so is every round of an inspected session (the
 * inspector shows the challenge). A stale session nobody watches is the same while challenged as while stale:
 * its resume costs the machine one event instead of two, which a resume storm feels.
 */
function announcesRound(edge: Edge, actor: Actor<SessionMachine>): boolean {
  return (actor.getSnapshot().value as { away?: string }).away !== 'stale' || edge.isInspected(actor);
}

/** The response and Ping checked out: the machine completes the resume (or refuses it if the session is ending). */
export function resumePassedHere(edge: Edge, p: PendingConnection): void {
  const s = p.session!;
  const i = s.challenges.indexOf(p);
  if (i < 0 || edge.sessions.get(s.id) !== s) {
    p.end();
    return;
  }
  s.challenges.splice(i, 1);
  s.winner = p;
  if (staleWithoutActor(s)) {
    resumedWithoutActor(edge, s);
  } else {
    const actor = edge.actorOf(s);
    const announced = actor.getSnapshot().context.attempt === p.attempt;
    actor.send({ type: announced ? 'resume.passed' : 'resume.completed', attempt: p.attempt });
  }
  if (s.winner === p) {
    // The machine did not take it (the session is ending): drop the connection.
    s.winner = null;
    p.end();
  }
}

export function resumeFailed(edge: Edge, p: PendingConnection, reason: string): void {
  const s = p.session;
  if (!s) return;
  if (edge.debug) edge.log.debug({ sessionId: logId(s.id), address: p.address, attempt: p.attempt, reason }, 'resume.failed');
  edge.counters.resumesFailed++;
  edge.onLifecycle?.({ type: 'resume.failed', sessionId: s.id, reason });
  // Failures count against the address that made them, never against the session's id.
  edge.admission.resumeFailedFrom(p.address);
  const i = s.challenges.indexOf(p);
  if (edge.clusterGlue && edge.sessions.get(s.id) !== s) {
    if (i >= 0) edge.clusterGlue.remoteFailed(s);
    return;
  }
  if (i < 0) return;
  s.challenges.splice(i, 1);
  // The round ends when its last challenge failed; until then the others may still answer.
  // (A round the machine was not told of ends without an event: it is still stale.)
  if (s.challenges.length === 0 && s.actor !== null && s.actor.getSnapshot().context.attempt === p.attempt) {
    s.actor.send({ type: 'resume.failed', attempt: p.attempt, reason });
  }
}

/** The machine took the resume: the winner's socket becomes the session's, replay first, then live traffic. */
export function completeResume(edge: Edge, s: Session): void {
  const p = s.winner;
  s.winner = null;
  if (!p) return;
  // The first valid response won: the other challenges of the round are over.
  for (const rival of s.challenges.splice(0)) rival.fail('another reconnect of this session passed first', 'VL_ERR_RESUME_FAILED', { sessionId: s.id });
  let carried: Uint8Array[] = [];
  const old = s.socket;
  if (old) {
    carried = s.writer?.takePending() ?? [];
    detachSocket(edge, s, true);
    edge.log.info({ sessionId: s.id, oldAddress: s.address, address: p.address }, 'session.takeover');
  }
  const sock = p.socket as ClientSocket;
  sock[kPending] = undefined;
  p.handOver();
  adoptSocket(edge, s, sock, p);
  const w = s.writer!;
  w.writeRaw(PING_FRAME);
  for (const c of carried) w.writeRaw(c);
  const replayed = replayCount(s.replay);
  if (replayed > 0) {
    // The writer keeps large payloads by reference until its flush: those are copied out of the pooled block.
    for (const m of replayPackets(s.replay)) w.writeFrame(m.length >= COPY_LIMIT ? m.slice() : m);
    edge.counters.replayed += replayed;
  }
  s.replay = replayRelease(s.replay);
  edge.clientBudget.unbuffered(s);
  edge.store.resumed(s.id, p.address);
  edge.masterLink.sendControl(s.id, Flag.Reconnection);
  edge.counters.resumes++;
  edge.log.info({ sessionId: s.id, address: p.address, replayed, state: 'connected' }, 'session.resumed');
  edge.onLifecycle?.({ type: 'session.resumed', sessionId: s.id });
}
