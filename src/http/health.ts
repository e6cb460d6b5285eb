// Liveness and readiness of an edge: ready when the listener is bound and the master link is connected.
import type { Edge } from '../actors/edge.js';

export type Readiness = { ok: true } | { ok: false; reason: string };

/** The supervisor starts only once the listener is bound, so "connected" implies both conditions. */
export function readiness(edge: Edge): Readiness {
  const state = edge.masterState;
  if (state === 'connected') return { ok: true };
  if (state === 'draining' || state === 'stopped') return { ok: false, reason: `edge is shutting down (${state})` };
  const err = edge.supervisor.getSnapshot().context.lastError;
  return { ok: false, reason: `master link not connected (state ${state}${err ? `, last error: ${err}` : ''})` };
}
