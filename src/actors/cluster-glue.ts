// The cluster glue (src/cluster/edge-cluster.ts) with what it may do to this edge's sessions.
import { EdgeCluster } from '../cluster/edge-cluster.js';
import type { ClusterMember } from '../cluster/member.js';
import { Flag } from '../io/firehose.js';
import { detachSocket, forwardFrames } from './client-path.js';
import type { ClientSocket } from './client-sockets.js';
import type { Edge } from './edge.js';
import { routeMasterFrame } from './master-router.js';
import { replayRelease } from './replay-buffer.js';
import { completeResume, resumeFailed, resumePassedHere } from './resume-flow.js';
import type { Session } from './session.js';
import { socketClosed } from './session-effects.js';

export function joinCluster(edge: Edge, store: ClusterMember): EdgeCluster {
  const forwardLeftovers = (s: Session) => {
    const sock = s.socket as ClientSocket | null;
    if (sock && s.decoder) forwardFrames(edge, s, sock);
  };
  return new EdgeCluster(store, {
    log: edge.log,
    sessions: edge.sessions,
    replayPool: edge.replayPool,
    now: () => edge.clock.now(),
    sendControl: (id, flag, data) => {
      if (flag === Flag.Failure) edge.counters.failuresSent++;
      edge.masterLink.sendControl(id, flag, data);
    },
    masterFrame: (f) => routeMasterFrame(edge, f),
    resumeFailed: (p, reason) => resumeFailed(edge, p, reason),
    resumePassedLocally: (p) => {
      resumePassedHere(edge, p);
      forwardLeftovers(p.session!);
    },
    completeResume: (s) => {
      // A session claimed from another edge: its one challenge passed.
      s.winner ??= s.challenges.shift() ?? null;
      completeResume(edge, s);
      forwardLeftovers(s);
    },
    addStale: (s, since) => {
      edge.sessions.set(s.id, s);
      socketClosed(edge, s, 'held here without a socket', since);
    },
    dropMoved: (s) => {
      for (const a of s.challenges.splice(0)) a.end();
      edge.sessions.delete(s.id);
      edge.stale.delete(s);
      edge.reaper.remove(s);
      edge.paused.delete(s);
      if (s.socket) detachSocket(edge, s, true);
      // Out of the registry first: the actor's effects then find no session and do nothing; kick ends it.
      s.actor?.send({ type: 'session.kick' });
      s.replay = replayRelease(s.replay);
      edge.clientBudget.unbuffered(s);
      edge.onLifecycle?.({ type: 'session.reaped', sessionId: s.id, reason: 'moved to another edge' });
    },
    makeStale: (s, why) => {
      detachSocket(edge, s, true);
      socketClosed(edge, s, why, edge.clock.now());
    },
    kick: (s) => edge.actorOf(s).send({ type: 'session.kick' }),
    nextAttempt: () => edge.nextAttempt(),
  });
}
