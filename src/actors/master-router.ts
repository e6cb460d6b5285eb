// Master -> clients: each firehose packet routed by a Map lookup to its session's batched writer, or into the
// replay buffer of a stale session, or answered with a Failure for an id with no session. Kicks go to the
// session's actor. No actor event per data packet.
import { Flag, readIdNumber, readU64LE, TAG_SIZE } from '../io/firehose.js';
import { logId } from '../log.js';
import type { Edge } from './edge.js';
import { overflow } from './client-path.js';
import { replayAppend, replayCount, replayGrow, replayRelease } from './replay-buffer.js';
import { BEHIND_BYTES, ClientBufferBudget, resolveBudget } from './client-budget.js';
import type { Session } from './session.js';

const utf8 = new TextEncoder();

export function routeMasterFrame(edge: Edge, f: Uint8Array): void {
  routeMasterPacket(edge, f, 0, f.length);
}

/** Routes the firehose packet `buf[start, start + len)`; live data is copied into its client's writer with no view. */
export function routeMasterPacket(edge: Edge, buf: Uint8Array, start: number, len: number): void {
  if (len < TAG_SIZE) {
    edge.counters.masterProtocolErrors++;
    edge.log.warn({ bytes: len }, 'master.protocol_error: packet shorter than id + flag, skipped');
    return;
  }
  const flag = buf[start + 8]!;
  const id = readIdNumber(buf, start);
  if (flag === Flag.Data) {
    const s = id > 0 ? edge.sessions.get(id) : undefined;
    if (edge.trace) traceMasterData(edge, buf.subarray(start, start + len), s);
    // `buf` may be the master link's read buffer, overwritten by its next read: the cluster store, which may keep
    // what it is given past this call, gets a copy; the replay buffer and the writers copy what they keep.
    const glue = edge.clusterGlue;
    if (s === undefined) {
      if (glue === null) return unknownId(edge, buf.subarray(start, start + len));
      return glue.unknownData(id, readU64LE(buf, start), buf.slice(start + TAG_SIZE, start + len));
    }
    if (s.cluster !== null && s.cluster.fromOtherEdge) s.cluster.fromOtherEdge = false;
    const w = s.writer;
    if (w === null) {
      if (glue === null) return bufferMissed(edge, s, buf, start + TAG_SIZE, len - TAG_SIZE);
      return bufferMissed(edge, s, buf.slice(start + TAG_SIZE, start + len), 0, len - TAG_SIZE);
    }
    const n = len - TAG_SIZE;
    w.writeFrameFrom(buf, start + TAG_SIZE, n);
    const C = edge.config.clients;
    if (++s.outPackets > C.channelCapacity) {
      if (s.socket!.writableLength === 0) s.outPackets = 1;
      else return overflow(edge, s, `outgoing queue over ${C.channelCapacity} packets`);
    }
    if (s.outPackets === 1) s.outHead = n + 4;
    const backlog = w.backlogBytes;
    // The packet in flight is not counted: one packet of any size always fits (an 8 MiB one under a 4 MiB cap).
    if (backlog - s.outHead > C.channelCapacityBytes) return overflow(edge, s, `outgoing queue over ${C.channelCapacityBytes} bytes`);
    // A client behind on its output counts against the memory budget shared by every client.
    if (backlog >= BEHIND_BYTES || s.budgetCharge !== 0) edge.clientBudget.queued(s, backlog, s.outPackets);
    return;
  }
  const f = buf.subarray(start, start + len);
  if (flag === Flag.Kick) {
    const s = id > 0 ? edge.sessions.get(id) : undefined;
    if (s === undefined) {
      if (edge.clusterGlue?.unknownKick(id)) return;
      edge.log.info({ sessionId: id >= 0 ? id : logId(readU64LE(f, 0)) }, 'master.kick_unknown: ignored');
      return;
    }
    edge.log.info({ sessionId: id }, 'session.kicked');
    edge.actorOf(s).send({ type: 'session.kick' });
    return;
  }
  edge.counters.masterProtocolErrors++;
  edge.log.warn(
    { sessionId: id >= 0 ? id : logId(readU64LE(f, 0)), flag },
    flag <= 3 ? 'master.protocol_error: edge-to-master flag from the master, skipped' : 'master.protocol_error: unknown flag, skipped',
  );
}

/** Where one master Data packet goes, at trace level (the caller checks `edge.trace`: nothing is built when off). */
function traceMasterData(edge: Edge, f: Uint8Array, s: Session | undefined): void {
  const to = s === undefined ? 'no session' : s.writer !== null ? 'client' : 'replay buffer';
  edge.log.trace({ sessionId: logId(readU64LE(f, 0)), bytes: f.length - TAG_SIZE, to }, 'route.master_to_client');
}

/**
 * Master data for a stale session, `buf[from, from + n)`: copied into its replay buffer, or the overflow path past
 * the buffer's bounds. A packet that fits its buffer's block is a few compares and a copy (no object, no call into
 * the budget); the budget is asked when the buffer takes a block or outgrows it.
 */
function bufferMissed(edge: Edge, s: Session, buf: Uint8Array, from: number, n: number): void {
  const C = edge.config.clients;
  const h = s.replay;
  let need = replayAppend(h, buf, from, n, C.missedPacketsBufferSize, C.missedPacketsBufferBytes);
  if (need > 0) {
    // The memory budget shared by every client: older replay buffers (perhaps this one) give way first.
    if (edge.clientBudget.roomForReplay(s, need)) {
      // Into a new block (copied over when it grows) the same way as into the block it has: one path for all.
      const to = replayGrow(edge.replayPool, h, n);
      need = replayAppend(to, buf, from, n, C.missedPacketsBufferSize, C.missedPacketsBufferBytes);
      replayRelease(h);
      s.replay = to;
      if (s.budgetReplay === null) edge.clientBudget.buffered(s);
    } else {
      if (edge.sessions.get(s.id) !== s || s.replay !== h) return; // this session's own buffer was dropped
      need = -1;
    }
  }
  if (need < 0) {
    edge.log.info({ sessionId: s.id, buffered: replayCount(h) }, 'session.missed_overflow');
    edge.clusterGlue?.overflowing(s, buf.subarray(from, from + n));
    edge.actorOf(s).send({ type: 'missed.overflow' });
    return;
  }
  const glue = edge.clusterGlue;
  if (glue !== null) glue.buffered(s, buf.subarray(from, from + n));
}

/** The edge's client buffer budget: replay buffers dropped as below, clients behind cut off like any too slow. */
export function clientBufferBudget(edge: Edge): ClientBufferBudget<Session> {
  const budget: ClientBufferBudget<Session> = new ClientBufferBudget<Session>({
    budgetBytes: resolveBudget(edge.config.limits.clientBufferBudgetBytes),
    pool: edge.replayPool,
    log: edge.log,
    logIntervalSecs: edge.config.general.refusalLogIntervalSecs,
    dropReplay: (s) => dropReplayBuffer(edge, s),
    closeSlow: (s) => overflow(edge, s, `client buffer budget of ${budget.budget} bytes reached`),
  });
  return budget;
}

/**
 * Past the client buffer budget: a stale session's replay buffer is dropped and the session ends as on a buffer
 * overflow (one Failure), its packets freed at once.
 */
export function dropReplayBuffer(edge: Edge, s: Session): void {
  if (edge.sessions.get(s.id) !== s || s.socket !== null) return;
  s.replay = replayRelease(s.replay);
  edge.actorOf(s).send({ type: 'missed.overflow' });
}

/**
 * Master data for an id with no session (never issued, ended with its Failure, or kicked): answered with a
 * Failure every time, so a master that missed a session's Failure learns it at its next send. The edge keeps
 * nothing of ended ids for this.
 */
function unknownId(edge: Edge, f: Uint8Array): void {
  const big = readU64LE(f, 0);
  edge.counters.failuresSent++;
  edge.log.info({ sessionId: logId(big) }, 'master.data_for_unknown_session: Failure sent');
  edge.masterLink.sendControl(big, Flag.Failure, utf8.encode('unknown client'));
}
