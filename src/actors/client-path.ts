// Clients -> master, and the sockets of sessions: a session's socket adopted and taken away, client frames
// forwarded to the firehose (no actor event per packet), pausing under master back-pressure, and cutting off
// clients that send too slowly or do not read.
import { ProtocolError } from '../io/errors.js';
import { FRAME_HEADER_SIZE, FrameDecoder, wholeFrameAt } from '../io/framing.js';
import { FrameWriter } from '../io/writer.js';
import { endGracefully, type ClientSocket } from './client-sockets.js';
import type { Edge } from './edge.js';
import { socketClosed } from './session-effects.js';
import { kPending, type PendingConnection } from './handshake.js';
import { kSession, type Session } from './session.js';
import { logId } from '../log.js';

/** Makes `sock` the session's socket, with the handshake's decoder (leftover bytes kept). */
export function adoptSocket(edge: Edge, s: Session, sock: ClientSocket, p: PendingConnection): void {
  sock[kSession] = s;
  s.socket = sock;
  s.address = p.address;
  s.writer = new FrameWriter(sock);
  // The handshake's decoder goes on only if it holds bytes: an idle session has none (made on first need).
  if (p.decoder.idle) s.decoder = null;
  else {
    p.decoder.maxFrame = edge.config.limits.maxFrameSize;
    s.decoder = p.decoder;
  }
  s.outPackets = 0;
  if (edge.masterLink.congested) pauseClient(edge, s);
}

/** Takes the socket away from the session; `destroy` closes it. No event is sent. */
export function detachSocket(edge: Edge, s: Session, destroy: boolean): void {
  const sock = s.socket;
  if (!sock) return;
  s.socket = null;
  if (s.budgetCharge !== 0) edge.clientBudget.released(s);
  s.writer?.discard();
  s.writer = null;
  s.decoder = null;
  if (s.paused) {
    s.paused = false;
    edge.paused.delete(s);
  }
  if (destroy) sock.destroy();
}

/** Ends the session's socket after what is queued for it (Kick, oversize frame, shutdown): the data, then FIN. */
export function endSocket(edge: Edge, s: Session): void {
  const sock = s.socket;
  if (!sock) return;
  s.writer?.flush();
  detachSocket(edge, s, false);
  endGracefully(sock);
}

/** Client bytes: handshake frames while pending, else frames forwarded to the master. */
export function clientData(edge: Edge, sock: ClientSocket, chunk: Buffer): void {
  const p = sock[kPending];
  if (p) {
    p.decoder.push(chunk);
    p.pump();
    const s = sock[kSession];
    if (s && s.socket === sock) forwardFrames(edge, s, sock);
    return;
  }
  const s = sock[kSession];
  if (!s || s.socket !== sock) return; // an old socket after a takeover: nothing it sends is forwarded
  let dec = s.decoder;
  if (dec !== null && !dec.idle) {
    dec.push(chunk);
    return forwardFrames(edge, s, sock, chunk.length);
  }
  // Nothing pending: whole frames go to the master straight out of the chunk; a partial one (or one over the
  // cap, which the decoder reports) goes to the session's decoder, made on first need.
  const master = edge.masterLink;
  const max = edge.config.limits.maxFrameSize;
  let off = 0;
  let frames = 0;
  for (let len; (len = wholeFrameAt(chunk, off, chunk.length, max)) >= 0; off += FRAME_HEADER_SIZE + len) {
    if (edge.trace) edge.log.trace({ sessionId: logId(s.id), bytes: len }, 'route.client_to_master');
    master.sendDataFrom(s.id, chunk, off + FRAME_HEADER_SIZE, len);
    frames++;
  }
  if (off === chunk.length) {
    edge.frameDeadlines.afterRead(s, chunk.length, 0, frames);
    if (master.congested && s.socket === sock) pauseClient(edge, s);
    return;
  }
  dec ??= s.decoder = new FrameDecoder(max);
  dec.push(off === 0 ? chunk : chunk.subarray(off));
  forwardFrames(edge, s, sock, chunk.length, frames);
}

/** Forwards the session's complete frames to the master (`frames`: those of this read already forwarded). */
export function forwardFrames(edge: Edge, s: Session, sock: ClientSocket, bytes = 0, frames = 0): void {
  const dec = s.decoder;
  if (dec === null) return;
  const master = edge.masterLink;
  for (;;) {
    const f = dec.next();
    if (f === null) break;
    if (f instanceof ProtocolError) {
      edge.log.warn({ sessionId: s.id, address: s.address, reason: f.message, code: f.code }, 'client.frame_too_large');
      edge.frameDeadlines.delete(s);
      edge.actorOf(s).send({ type: 'frame.oversize' });
      return;
    }
    frames++;
    if (edge.trace) edge.log.trace({ sessionId: logId(s.id), bytes: f.length }, 'route.client_to_master');
    master.sendData(s.id, f);
  }
  edge.frameDeadlines.afterRead(s, bytes, dec.bufferedBytes + (dec.pendingFrameLength >= 0 ? 4 : 0), frames);
  if (master.congested && s.socket === sock) pauseClient(edge, s);
}

/**
 * The client closed its sending side (FIN): its session goes stale now, and the edge's FIN that answers follows
 * what was queued for it. So a client that sees that FIN knows its session is stale here: master data from then
 * on is buffered for it, not written to a closing socket. (The connection's limits are released at 'close'.)
 */
export function clientEnded(edge: Edge, sock: ClientSocket): void {
  const s = sock[kSession];
  if (!s || s.socket !== sock || sock[kPending]) return;
  endSocket(edge, s);
  edge.frameDeadlines.delete(s);
  socketClosed(edge, s, 'closed', edge.clock.now());
}

export function clientClosed(edge: Edge, sock: ClientSocket): void {
  const addr = sock.remoteAddress ?? 'unknown';
  edge.admission.closed(addr);
  const p = sock[kPending];
  if (p) {
    sock[kPending] = undefined;
    if (!p.ended) p.fail('connection closed during the handshake');
  }
  const s = sock[kSession];
  if (s && s.socket === sock) {
    detachSocket(edge, s, false);
    edge.frameDeadlines.delete(s);
    // Logged once, as session.stale (with the address and why), not here as well: one line less per drop.
    socketClosed(edge, s, 'closed', edge.clock.now());
  }
}

function pauseClient(edge: Edge, s: Session): void {
  if (s.paused || !s.socket) return;
  s.paused = true;
  s.socket.pause();
  edge.paused.add(s);
}

/** The master link can take more: every paused client reads again. */
export function resumePaused(edge: Edge): void {
  for (const s of edge.paused) {
    s.paused = false;
    s.socket?.resume();
  }
  edge.paused.clear();
}

/** A frame in progress fell behind the minimum rate: cut the client off; the session goes stale like any drop. */
export function slowFrame(edge: Edge, s: Session, d: { elapsedMs: number; received: number }): void {
  if (!s.socket || edge.sessions.get(s.id) !== s) return;
  edge.counters.slowFrames++;
  const L = edge.config.limits;
  edge.log.warn(
    { sessionId: s.id, address: s.address, received: d.received, elapsedMs: Math.round(d.elapsedMs), frameTimeoutSecs: L.frameTimeoutSecs, minFrameBytesPerSec: L.minFrameBytesPerSec },
    'client.frame_too_slow',
  );
  detachSocket(edge, s, true);
  socketClosed(edge, s, 'frame too slow', edge.clock.now());
}

/** A client that does not read: close its socket; the session goes stale like any drop. */
export function overflow(edge: Edge, s: Session, why: string): void {
  edge.log.warn({ sessionId: s.id, address: s.address, reason: why }, 'client.overflow');
  detachSocket(edge, s, true);
  socketClosed(edge, s, why, edge.clock.now());
}
