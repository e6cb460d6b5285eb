// Liveness and readiness of an edge: ready when the listener is bound, the master link is connected and, in a
// cluster, its store (Redis or the primary process) answers.
import type { Edge } from '../actors/edge.js';

export type Readiness = { ok: true } | { ok: false; reason: string };

/** The supervisor starts only once the listener is bound, so "connected" implies both conditions. */
export function readiness(edge: Edge): Readiness {
  const state = edge.masterState;
  const cluster = edge.cluster;
  if (state === 'connected' && cluster && !cluster.ready) {
    const err = cluster.lastError;
    return { ok: false, reason: `cluster store unreachable (${cluster.backend.kind} ${cluster.storeStatus}${err ? `, last error: ${err}` : ''}): resumes are refused` };
  }
  if (state === 'connected') return { ok: true };
  if (state === 'draining' || state === 'stopped') return { ok: false, reason: `edge is shutting down (${state})` };
  const err = edge.supervisor.getSnapshot().context.lastError;
  return { ok: false, reason: `master link not connected (state ${state}${err ? `, last error: ${err}` : ''})` };
}
