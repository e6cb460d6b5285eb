// The edge's side of a cluster: resumes of sessions held by other edges (claim after the challenge), letting go
// of sessions claimed elsewhere, forwarding master data and kicks that reach the wrong edge, adopting the sessions
// of dead edges and ending sessions only when this edge owns them.
import { Flag, TAG_SIZE } from '../io/firehose.js';
import type { Logger } from '../log.js';
import type { PendingConnection } from '../actors/handshake.js';
import { replayFrom, replayRelease, replayToArray, type SlabPool } from '../actors/replay-buffer.js';
import { Session, type SessionClusterState } from '../actors/session.js';
import type { SessionEndReason } from '../machines/session.js';
import type { AdoptedSession, ClusterHost, ClusterMember } from './member.js';

const utf8 = new TextEncoder();

/** A session's cluster state, created on first use. */
function clusterState(s: Session): SessionClusterState {
  s.cluster ??= { epoch: 1, owner: '', ownerLive: false, fromOtherEdge: false, staleSince: null };
  return s.cluster;
}

/** What the cluster glue needs from the edge (closures over its private parts). */
export interface ClusterEdge {
  readonly log: Logger;
  readonly sessions: Map<number, Session>;
  readonly replayPool: SlabPool;
  now(): number;
  /** Sends a Failure or Reconnection to the master. */
  sendControl(id: number | bigint, flag: number, data?: Uint8Array): void;
  /** Handles a firehose frame as if the master had sent it. */
  masterFrame(frame: Uint8Array): void;
  /** The attempt failed after all (its socket went away during the claim). */
  resumeFailed(p: PendingConnection, reason: string): void;
  /** Runs the normal end of a passed resume (the session's actor gets resume.passed). */
  resumePassedLocally(p: PendingConnection): void;
  /** Moves a session that is registered now to the attempt's socket: Ping, replay, Reconnection. */
  completeResume(s: Session): void;
  /** Registers `s` (not in `sessions` yet) as stale since `since`. */
  addStale(s: Session, since: number): void;
  /** Drops a session without a Failure (it lives on another edge now). */
  dropMoved(s: Session): void;
  /** Makes a live session stale (its socket is closed), as a drop does. */
  makeStale(s: Session, why: string): void;
  /** Ends a session at the master's request (as a Kick). */
  kick(s: Session): void;
  nextAttempt(): number;
}

export class EdgeCluster implements ClusterHost {
  readonly store: ClusterMember;
  readonly #edge: ClusterEdge;
  /** Remote sessions whose claim is in flight: forwarded packets that arrive meanwhile wait here. */
  readonly #claiming = new Map<number, Uint8Array[]>();
  /** Sessions that go stale because another edge asked for them: who waits for the release. */
  readonly #notify = new Map<number, string>();
  /** Master data that overflowed a session's buffer, kept for its end (forwarded if the session moved). */
  readonly #endData = new Map<number, Uint8Array>();
  /** How long a resume waits for the edge holding the session live to release it. */
  readonly releaseTimeoutMs: number;

  constructor(store: ClusterMember, edge: ClusterEdge, releaseTimeoutMs = 2_000) {
    this.store = store;
    this.#edge = edge;
    store.attach(this);
    this.releaseTimeoutMs = releaseTimeoutMs;
  }

  // ------------------------------------------------------------------ hooks called by the edge

  /** The next id, or null (refuse the new session). */
  nextId(): number | null {
    return this.store.nextId();
  }

  created(s: Session): void {
    s.cluster = { epoch: 1, owner: this.store.member, ownerLive: true, fromOtherEdge: false, staleSince: null };
    this.store.created(s.id, s.clientKey);
  }

  /** The session is live again (resumed here). */
  leftStale(s: Session): void {
    if (s.cluster) s.cluster.staleSince = null;
  }

  /** Refusal reason when resumes cannot be served now, else null. */
  resumeBlocked(): string | null {
    if (this.store.ready) return null;
    this.store.counters.refusedResumes++;
    return `cluster store unreachable (${this.store.backend.kind} ${this.store.storeStatus}): resumes are refused until it is back`;
  }

  enteredStale(s: Session, since: number): void {
    clusterState(s).staleSince = since;
    const notify = this.#notify.get(s.id) ?? '';
    this.#notify.delete(s.id);
    void this.store.stale(s.id, since, notify);
  }

  /** Master data buffered for a stale session: mirrored into its list in the cluster store (or forwarded if it moved). */
  buffered(s: Session, data: Uint8Array): void {
    void this.store.deliver(s.id, data);
  }

  /** Master data that overflows a stale session's buffer: it goes with the session's end. */
  overflowing(s: Session, data: Uint8Array): void {
    this.#endData.set(s.id, data.slice());
  }

  /**
   * A session ended here (reaped). The Failure goes to the master only once the cluster store confirms this edge owned it;
   * a session claimed elsewhere meanwhile ends nothing (the data that ended it goes to its new owner). An edge
   * that shuts down leaves its sessions to the others (no Failure).
   */
  ended(id: number, reason: SessionEndReason | null): void {
    const data = this.#endData.get(id) ?? null;
    this.#endData.delete(id);
    this.#notify.delete(id);
    if (reason === 'shutdown') return;
    const kicked = reason === 'kick';
    void this.store.end(id, data, kicked).then((r) => {
      if (r === 'moved') {
        this.#edge.log.info({ sessionId: id, reason }, 'cluster.end_moved: the session lives on another edge; nothing sent');
        return;
      }
      if (!kicked) this.#edge.sendControl(id, Flag.Failure, utf8.encode(reason ?? 'ended'));
    });
  }

  /** Master data for an id with no session here: forwarded to its owner, or answered with Failure as on one edge. */
  unknownData(id: number, idBig: bigint, data: Uint8Array): void {
    const queued = id > 0 ? this.#claiming.get(id) : undefined;
    if (queued) {
      queued.push(data.slice());
      return;
    }
    const unknown = () => {
      this.#edge.log.info({ sessionId: id > 0 ? id : String(idBig) }, 'master.data_for_unknown_session: Failure sent');
      this.#edge.sendControl(idBig, Flag.Failure, utf8.encode('unknown client'));
    };
    if (id <= 0) return unknown();
    void this.store.deliver(id, data).then((r) => {
      if (r === 'gone') unknown();
    });
  }

  /** A Kick for an id with no session here: forwarded to its owner. */
  unknownKick(id: number): boolean {
    if (id <= 0) return false;
    void this.store.kick(id).then((r) => {
      if (r === 'fwd') this.#edge.log.info({ sessionId: id }, 'cluster.kick_forwarded');
      else this.#edge.log.info({ sessionId: id }, 'master.kick_unknown: ignored');
    });
    return true;
  }

  /** A resume names a session this edge does not hold: look it up in the cluster store and challenge it here. */
  async resumeRemote(p: PendingConnection, id: number): Promise<Session | string> {
    if (this.#claiming.has(id)) return 'another resume of this session is in progress';
    const blocked = this.resumeBlocked();
    if (blocked) return blocked;
    const rec = await this.store.lookup(id).catch(() => null);
    if (!rec) return `resume of unknown session ${id}`;
    if (this.#edge.sessions.has(id)) return 'session cannot be resumed now';
    if (this.#claiming.has(id)) return 'another resume of this session is in progress';
    const s = new Session(id, rec.key, p.address);
    s.cluster = { epoch: rec.epoch, owner: rec.owner, ownerLive: rec.state === 'live', fromOtherEdge: false, staleSince: rec.staleSince };
    s.challenges = [p];
    p.attempt = this.#edge.nextAttempt();
    this.#claiming.set(id, []);
    this.#edge.log.info({ sessionId: id, address: p.address, owner: rec.owner, state: 'challenged' }, 'session.challenged');
    return s;
  }

  /** A remote session's challenge failed or its socket went away before the claim: forget it. */
  remoteFailed(s: Session): void {
    s.challenges = [];
    this.#claiming.delete(s.id);
  }

  /** The challenge passed: claim the session in the cluster store, then finish the resume here. */
  passed(p: PendingConnection, s: Session): void {
    const local = this.#edge.sessions.get(s.id) === s;
    void this.#claim(p, s, local).then(
      (why) => {
        if (why === null) return;
        this.#edge.log.warn({ sessionId: s.id, address: p.address, reason: why }, 'cluster.claim_failed');
        if (!local) this.remoteFailed(s);
        p.fail(`resume refused: ${why}`, 'VL_ERR_RESUME_REFUSED', { sessionId: s.id });
      },
      (err: unknown) => {
        if (!local) this.remoteFailed(s);
        p.fail(`resume refused: ${(err as Error).message}`, 'VL_ERR_RESUME_REFUSED', { sessionId: s.id });
      },
    );
  }

  /** Null when the session was claimed and the resume completed (or the attempt went away), else why not. */
  async #claim(p: PendingConnection, s: Session, local: boolean): Promise<string | null> {
    const c = clusterState(s);
    let ownerDead = false;
    if (!local && c.owner !== this.store.member && c.ownerLive) {
      ownerDead = !(await this.store.isAlive(c.owner));
      if (!ownerDead) {
        const released = await this.store.requestRelease(s.id, c.owner, this.releaseTimeoutMs);
        if (!released) return `edge ${c.owner} did not release the session within ${this.releaseTimeoutMs} ms`;
      }
    }
    const r = await this.store.claim(s.id, c.epoch, ownerDead);
    if (!r.ok) {
      if (r.reason === 'live' && !local) {
        // Went live elsewhere between the lookup and now: ask its holder once more.
        return `the session is live on edge ${r.owner ?? '?'}`;
      }
      return r.reason === 'unavailable' ? 'cluster store unreachable' : `session ${r.reason === 'gone' ? 'ended' : 'changed'} meanwhile`;
    }
    c.epoch = r.epoch;
    replayRelease(s.replay);
    s.replay = replayFrom(this.#edge.replayPool, r.missed);
    if (local) {
      if (this.#edge.sessions.get(s.id) !== s || !s.challenges.includes(p) || p.ended) {
        // The attempt died while the claim was in flight: the session stays as it was here.
        if (this.#edge.sessions.get(s.id) === s) {
          if (s.challenges.includes(p)) this.#edge.resumeFailed(p, 'connection closed during the claim');
          if (c.staleSince !== null) void this.store.stale(s.id, c.staleSince);
        }
        return null;
      }
      this.#edge.resumePassedLocally(p);
      return null;
    }
    const queued = this.#claiming.get(s.id) ?? [];
    this.#claiming.delete(s.id);
    c.fromOtherEdge = r.previousOwner !== this.store.member;
    if (c.fromOtherEdge) c.movedIn = true;
    if (p.ended || !s.challenges.includes(p)) {
      // Claimed, but the client went away meanwhile: the session is stale here now.
      s.challenges = [];
      this.#edge.addStale(s, this.#edge.now());
      for (const d of queued) this.forwarded(s.id, d);
      return null;
    }
    this.#edge.sessions.set(s.id, s);
    this.#edge.completeResume(s);
    this.#edge.log.info({ sessionId: s.id, from: r.previousOwner, epoch: r.epoch }, 'cluster.session_claimed');
    for (const d of queued) this.forwarded(s.id, d);
    return null;
  }

  // ------------------------------------------------------------------ messages from other edges

  movedAway(id: number): void {
    const s = this.#edge.sessions.get(id);
    if (!s) return;
    this.#edge.log.info({ sessionId: id }, 'cluster.session_moved: claimed by another edge, released here');
    this.#edge.dropMoved(s);
  }

  releaseRequested(id: number, requester: string): void {
    const s = this.#edge.sessions.get(id);
    if (s && s.socket) {
      this.#notify.set(id, requester);
      this.#edge.log.info({ sessionId: id, requester }, 'cluster.release_requested: the client resumed on another edge; closing the old socket');
      this.#edge.makeStale(s, 'the client resumed on another edge');
      return;
    }
    void this.store.stale(id, s?.cluster?.staleSince ?? this.#edge.now(), requester);
  }

  forwarded(id: number, data: Uint8Array): void {
    const queued = this.#claiming.get(id);
    if (queued) {
      queued.push(data.slice());
      return;
    }
    const s = this.#edge.sessions.get(id);
    if (!s) {
      // Not here (any more): hand it on to whoever holds it now, or answer it as data for an ended id.
      this.unknownData(id, BigInt(id), data);
      return;
    }
    const c = clusterState(s);
    if (c.movedIn && !c.fromOtherEdge) {
      // The session moved here and the master already sent newer data here: this older packet cannot be
      // delivered in order. (For a session that never moved, the master simply used another edge's link.)
      this.#edge.log.warn({ sessionId: id }, 'cluster.order_lost: master data sent to the previous edge arrived after newer data; ending the session');
      this.#edge.sendControl(id, Flag.Failure, utf8.encode('master data crossed a move between edges'));
      this.#endData.delete(id);
      this.#edge.kick(s);
      return;
    }
    const frame = new Uint8Array(TAG_SIZE + data.length);
    new DataView(frame.buffer).setBigUint64(0, BigInt(id), true);
    frame[8] = Flag.Data;
    frame.set(data, TAG_SIZE);
    const before = c.fromOtherEdge;
    this.#edge.masterFrame(frame);
    c.fromOtherEdge = before;
  }

  forwardedKick(id: number): void {
    const s = this.#edge.sessions.get(id);
    if (s) {
      this.#edge.log.info({ sessionId: id }, 'session.kicked (forwarded by another edge)');
      this.#edge.kick(s);
    } else if (!this.#claiming.has(id)) void this.store.kick(id);
  }

  adopted(list: AdoptedSession[]): void {
    for (const a of list) {
      if (this.#edge.sessions.has(a.id) || this.#claiming.has(a.id)) continue;
      const s = new Session(a.id, a.key, 'adopted');
      s.cluster = { epoch: a.epoch, owner: this.store.member, ownerLive: false, fromOtherEdge: false, staleSince: a.staleSince };
      s.replay = replayFrom(this.#edge.replayPool, a.missed);
      this.#edge.addStale(s, a.staleSince);
    }
  }

  resync(): void {
    for (const s of this.#edge.sessions.values()) {
      this.store.rewrite(s.id, s.clientKey, s.socket ? null : (s.cluster?.staleSince ?? this.#edge.now()), s.cluster?.epoch ?? 1, replayToArray(s.replay));
    }
  }
}
