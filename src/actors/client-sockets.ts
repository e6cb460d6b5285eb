// Client sockets at the edge: the listeners every client socket shares (the owner is found by symbol, no
// closure per socket), the handshake timer and the graceful close.
import type { Logger } from '../log.js';
import type { PendingConnection, PendingSocket } from './handshake.js';
import { kSession, type Session, type SessionSocket } from './session.js';
import type { ClientConnection } from './transports/connection.js';

/** What a client socket reports to: the edge that accepted it. */
export interface ClientSocketOwner {
  readonly log: Logger;
  onClientData(sock: ClientSocket, chunk: Buffer): void;
  onClientClose(sock: ClientSocket): void;
  /** The peer closed its sending side (FIN); its own FIN follows on the next tick unless the owner ends it first. */
  onClientEnd(sock: ClientSocket): void;
  /** Told when a session's socket emptied its queue ('drain') while counted as behind. */
  readonly clientBudget: { released(s: Session): void };
}

export const kEdge = Symbol('voltlane.edge');
export type ClientSocket = SessionSocket & PendingSocket & { [kEdge]?: ClientSocketOwner };

export function noop(): void {}

/** A socket that ends gracefully is destroyed if its peer has not closed it within this time. */
const CLOSE_GRACE_MS = 1_000;

/** Sends FIN after the queued data; destroys the socket if it is not closed within CLOSE_GRACE_MS (ws's close timer). */
export function endGracefully(sock: ClientConnection): void {
  if (sock.destroyed) return;
  sock.end();
  const timer = setTimeout(() => sock.destroy(), CLOSE_GRACE_MS);
  timer.unref();
  sock.once('close', () => clearTimeout(timer));
}

/** Starts the handshake's timer: an unfinished handshake fails when it fires. */
export function armHandshakeTimeout(p: PendingConnection, secs: number): void {
  p.timer = setTimeout(onHandshakeTimeout, secs * 1000, p);
}

function onHandshakeTimeout(p: PendingConnection): void {
  p.timer = null;
  p.fail(`handshake not finished within the timeout (step: ${p.step})`, 'VL_ERR_HANDSHAKE_TIMEOUT');
}

/** Wires an accepted socket to its owner. */
export function watchClientSocket(sock: ClientSocket, owner: ClientSocketOwner): void {
  sock[kEdge] = owner;
  sock.on('data', onSocketData);
  sock.on('end', onSocketEnd);
  sock.on('close', onSocketClose);
  sock.on('drain', onSocketDrain);
  sock.on('error', noop);
}

function onSocketData(this: ClientSocket, chunk: Buffer): void {
  const edge = this[kEdge]!;
  try {
    edge.onClientData(this, chunk);
  } catch (err) {
    // A bug must cost one connection, never the daemon: log it and close this socket.
    edge.log.error({ address: this.remoteAddress, err: err instanceof Error ? err.stack : String(err) }, 'client.data_failed');
    this.destroy();
  }
}

function onSocketEnd(this: ClientSocket): void {
  this[kEdge]!.onClientEnd(this);
}

function onSocketClose(this: ClientSocket): void {
  this[kEdge]!.onClientClose(this);
}

function onSocketDrain(this: ClientSocket): void {
  const s = this[kSession];
  if (!s || s.socket !== this) return;
  s.outPackets = 0;
  // Its queue is empty: nothing of it counts against the client buffer budget any more.
  if (s.budgetCharge !== 0) this[kEdge]!.clientBudget.released(s);
}
