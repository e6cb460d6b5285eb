// A new session (the handshake's last step): its id from the store's block (or the cluster's), the session
// registered and recorded, its key queued for idle-time derivation, its socket adopted and its ClientId sent.
import { encodeHandshake } from '../io/handshake.js';
import { adoptSocket } from './client-path.js';
import type { ClientSocket } from './client-sockets.js';
import type { Edge } from './edge.js';
import { kPending, type PendingConnection } from './handshake.js';
import { Session } from './session.js';

/** Creates the session for `p` with id `id`; null (no id to hand out): the handshake fails with why. */
export function createSession(edge: Edge, p: PendingConnection, clientKey: Uint8Array, id: number | null): void {
  if (id === null) {
    p.fail(
      edge.clusterGlue
        ? 'cluster store unreachable and this edge has no session id left: new sessions are refused until it is back'
        : `no session id available yet from the ${edge.store.kind} store`,
      edge.clusterGlue ? 'VL_ERR_CLUSTER_UNAVAILABLE' : 'VL_ERR_NO_IDS',
    );
    return;
  }
  const s = new Session(id, clientKey, p.address);
  s.createdAt = edge.clock.now();
  // Recorded before the ClientId below can leave the process (the journal writes first in a turn).
  edge.store.created(id, clientKey, s.createdAt, p.address);
  edge.sessions.set(id, s);
  edge.clusterGlue?.created(s);
  edge.counters.sessionsOpened++;
  // Derived in idle time now rather than during a reconnect storm, when every resume would need it at once.
  edge.keyQueue.add(s);
  // An inspected session gets its actor at once so the inspector sees it from the start; others get
  // theirs at their first lifecycle event.
  if (edge.inspects(id)) edge.actorOf(s, true);
  p.handOver();
  const sock = p.socket as ClientSocket;
  sock[kPending] = undefined;
  adoptSocket(edge, s, sock, p);
  s.writer!.writeFrame(encodeHandshake({ type: 'ClientId', id: BigInt(id) }));
  edge.log.info({ sessionId: id, address: p.address, state: 'connected' }, 'session.created');
  edge.onLifecycle?.({ type: 'session.created', sessionId: id });
}
