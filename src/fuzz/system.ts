// The system under test as the fuzzer drives it: N clients and one master over real sockets against any edge,
// each step mirrored in the model, then settled (sync with the edge, wait for what must arrive) and checked.
import { Flag, type FirehosePacket, type FlagValue } from '../io/firehose.js';
import { ClientPeer, type EdgeAddress, type ResumeKey } from './client-peer.js';
import type { FuzzClock } from './clock.js';
import { checkIds, checkSession, inLinkOrder } from './invariants.js';
import type { LinkPacket } from './cluster-master.js';
import type { ClusterControl } from './multi-edge.js';
import type { LifecycleModel, ModelConfig, ModelSession } from './model.js';

/** The fuzzer's master as the system drives it: a MasterPeer (one edge) or a ClusterMaster (one link per edge). */
export interface FuzzMaster {
  readonly malformed: string[];
  readonly connections: number;
  readonly connected: boolean;
  send(id: bigint, flag: FlagValue, data?: Uint8Array): void;
  sync(): Promise<void>;
  drain(): FirehosePacket[];
  awaitConnection(poke?: () => Promise<void> | void, timeoutMs?: number): Promise<void>;
  down(): Promise<void>;
  up(): Promise<void>;
}

/** Extra powers when the edge runs in this process. */
export interface EdgeProbe {
  /** Resolves once the edge has seen the client's socket close (else the fuzzer waits `settleMs`). */
  awaitDetached?(id: bigint): Promise<void>;
  /** Resolves once the edge has seen the master link go down (else the fuzzer waits `settleMs`). */
  awaitMasterLost?(): Promise<void>;
  /** After every session ended and every socket closed: what the edge still holds (leaks), one line each. */
  leaks?(): Promise<string[]>;
}

/** What happened to the edge process in a restart step: when it went down and when the new one was ready (clock ms). */
export interface RestartTimes {
  /** When the old process was told to stop (restart) or killed (kill). */
  stoppedAt: number;
  /** When the new process was serving again. */
  readyAt: number;
}

/** Restarts the edge process on the same state (same key, same state directory, same address). */
export interface EdgeControl {
  /** `restart`: SIGTERM (every session kept), then start; `kill`: kill -9, then start. Resolves once it serves. */
  restart(kind: 'restart' | 'kill'): Promise<RestartTimes>;
}

/** An edge to fuzz: where clients dial, the master peer it dialed, its clock and its settings as the model needs them. */
export interface LifecycleTarget {
  edge: EdgeAddress;
  master: FuzzMaster;
  clock: FuzzClock;
  model: ModelConfig;
  /** master.reconnect_max_ms of the edge (how far to move a simulated clock for the edge to redial). */
  reconnectMaxMs: number;
  probe?: EdgeProbe;
  /** How long to wait for a packet the model says must arrive. */
  waitMs: number;
  /** Wall-clock pause after a client drops, when no probe can tell that the edge saw it. */
  settleMs: number;
  /** Ids issued to earlier runs against the same edge (ids are never reused). */
  issued: Set<bigint>;
  /** Present when the fuzzer may restart and kill the edge process. */
  control?: EdgeControl;
  /** Present for a cluster of edges (multi-edge.ts): clients pick an edge, edges die, leave and start. */
  cluster?: ClusterControl;
}

/** An invariant broke: the message lists every violation. */
export class FuzzViolation extends Error {
  constructor(readonly violations: string[], after: string) {
    super(`after ${after}:\n  - ${violations.join('\n  - ')}`);
    this.name = 'FuzzViolation';
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class LifecycleSystem {
  readonly clients: ClientPeer[] = [];
  readonly #resumesPassed = new Map<bigint, number>();
  readonly #strays: ClientPeer[] = [];
  /** Cluster: the slot of each passed resume, per id (each must have its Reconnection on that edge's link). */
  readonly #resumeSlots = new Map<bigint, number[]>();

  constructor(readonly t: LifecycleTarget) {}

  #client(s: ModelSession): ClientPeer {
    return this.clients[s.index]!;
  }

  // ------------------------------------------------------------ commands

  /** The slots running an edge (cluster), or [0]. */
  liveSlots(): number[] {
    const cl = this.t.cluster;
    return cl ? cl.edges.flatMap((e, i) => (e ? [i] : [])) : [0];
  }

  /** The `n`th running edge (modulo): its slot and address. */
  #pickEdge(n: number): { slot: number; at: EdgeAddress } {
    const cl = this.t.cluster;
    if (!cl) return { slot: 0, at: this.t.edge };
    const live = this.liveSlots();
    const slot = live[n % live.length]!;
    return { slot, at: { ...cl.edges[slot]! } };
  }

  async connect(m: LifecycleModel, edge = 0): Promise<void> {
    const { slot, at } = this.#pickEdge(edge);
    const c = new ClientPeer(at, this.t.waitMs * 4);
    this.clients.push(c);
    const id = await c.connect();
    const dup = checkIds(id, this.t.issued);
    this.t.issued.add(id);
    m.connected(id, slot);
    this.t.cluster?.master.learn(id, slot);
    if (dup.length) throw new FuzzViolation(dup, 'connect');
  }

  clientSend(m: LifecycleModel, s: ModelSession, n: number, pad: number): void {
    if (s.phase !== 'live') return;
    const data = Array.from({ length: n }, () => m.clientPayload(s, pad));
    this.#client(s).send(data);
    m.clientSent(s, data);
  }

  /**
   * Master data for `s`. On a cluster it goes where voltlane/master routes it (nowhere if no route), or, `late`,
   * to the edge that held the session before its last move (a master that had not yet seen the Reconnection).
   */
  masterSend(m: LifecycleModel, s: ModelSession, n: number, pad: number, late = false): void {
    if (!m.masterUp) return;
    const cl = this.t.cluster;
    const slot = cl ? (late ? cl.master.lateRoute(s.id) : cl.master.route(s.id)) : 0;
    if (slot === null) return;
    for (let i = 0; i < n; i++) {
      const p = m.masterPayload(s, pad);
      if (cl) {
        cl.master.sendVia(slot, s.id, Flag.Data, p);
        m.masterSentVia(s, p, slot);
      } else {
        this.t.master.send(s.id, Flag.Data, p);
        m.masterSent(s, p);
      }
    }
  }

  /** The client announces a frame one byte over the edge's cap. */
  async oversize(m: LifecycleModel, s: ModelSession, maxFrameSize: number): Promise<void> {
    if (s.phase !== 'live') return;
    const q = this.#client(s).current!;
    const head = Buffer.alloc(4);
    head.writeUInt32LE(Math.min(0xffff_ffff, maxFrameSize + 1));
    q.socket.write(head);
    m.oversized(s);
    await q.until(() => q.closed, this.t.waitMs, 'the edge to close a client that sent an oversize frame').catch(() => {
      throw new FuzzViolation([`session ${s.id}: socket still open after an oversize frame`], 'oversize');
    });
  }

  async drop(m: LifecycleModel, s: ModelSession): Promise<void> {
    if (s.phase !== 'live') return;
    this.#client(s).drop();
    m.dropped(s, this.t.clock.now());
    if (this.t.probe?.awaitDetached) await this.t.probe.awaitDetached(s.id);
    else await sleep(this.t.settleMs);
  }

  async resume(m: LifecycleModel, s: ModelSession, key: ResumeKey, during: number, extra: number, dropOld = false, edge = 0): Promise<void> {
    const c = this.#client(s);
    const { slot, at } = this.#pickEdge(edge);
    c.edge = at;
    const wasEnded = s.phase === 'ended';
    const wasLive = s.phase === 'live';
    const old = c.current;
    const extraData = Array.from({ length: extra }, () => m.clientPayload(s, 3));
    const sendDuring = m.masterUp ? during : 0;
    const got = await c.resume(key, {
      extra: extraData,
      onChallenge: async () => {
        if (dropOld && s.phase === 'live') await this.drop(m, s);
        if (sendDuring === 0) return;
        this.masterSend(m, s, sendDuring, 5);
        await this.t.master.sync();
      },
    });
    const want = wasEnded ? 'refused' : s.phase === 'ended' ? 'failed' : m.resumeOutcome(s, key);
    if (got !== want) {
      throw new FuzzViolation([`resume of session ${s.id} (${key} key, ${wasEnded ? 'ended' : wasLive ? 'live: takeover' : 'stale'}) ${got}, expected ${want}`], 'resume');
    }
    if (got !== 'passed') return;
    this.#resumesPassed.set(s.id, (this.#resumesPassed.get(s.id) ?? 0) + 1);
    if (this.t.cluster) {
      this.#resumeSlots.set(s.id, [...(this.#resumeSlots.get(s.id) ?? []), slot]);
      m.resumedOn(s, slot);
    } else m.resumed(s);
    m.clientSent(s, extraData);
    if (wasLive && old && !dropOld) {
      await old.until(() => old.closed, this.t.waitMs, 'the edge to close the old socket after a takeover').catch(() => {
        throw new FuzzViolation([`session ${s.id}: the old socket was not closed after the takeover`], 'resume');
      });
    }
  }

  async resumeUnknown(offset: number): Promise<void> {
    const c = new ClientPeer(this.#pickEdge(offset).at, this.t.waitMs * 4);
    this.#strays.push(c);
    c.id = (1n << 50n) + BigInt(offset);
    const got = await c.resume('right');
    if (got !== 'refused') throw new FuzzViolation([`resume of never-issued id ${c.id} ${got}, expected refused`], 'resume of an unknown id');
  }

  /** A Kick, routed as data is (on a cluster, `via` names the edge explicitly, as EdgeConnection.send does). */
  async kick(m: LifecycleModel, s: ModelSession, via?: number): Promise<void> {
    if (!m.masterUp) return;
    const wasLive = s.phase === 'live';
    const cl = this.t.cluster;
    if (cl) {
      const slot = via ?? cl.master.route(s.id);
      if (slot === null) return;
      cl.master.sendVia(slot, s.id, Flag.Kick);
    } else this.t.master.send(s.id, Flag.Kick);
    m.kicked(s);
    if (wasLive) {
      const q = this.#client(s).current!;
      await this.t.master.sync();
      await q.until(() => q.closed, this.t.waitMs, 'the kicked client socket to close').catch(() => {
        throw new FuzzViolation([`session ${s.id}: socket still open after Kick`], 'kick');
      });
    }
  }

  /** Time passes: a simulated clock moves by `ms`; a real one waits until every stale session surely expired. */
  async timePasses(m: LifecycleModel, ms: number): Promise<void> {
    if (this.t.clock.simulated) await this.t.clock.advance(ms);
    else {
      const until = m.allStaleEndBy();
      await this.t.clock.advance(until === null ? 5 : until - this.t.clock.now());
    }
    await this.tick(m);
  }

  /**
   * The edge process restarts (SIGTERM) or is killed (kill -9) and starts again on the same state: every client
   * socket closes, the master link drops and comes back; every session that had not ended is stale and resumable.
   */
  async restart(m: LifecycleModel, kind: 'restart' | 'kill'): Promise<void> {
    const control = this.t.control;
    if (!control) throw new Error('this target cannot restart its edge');
    if (!m.masterUp) return;
    const master = this.t.master;
    const links = master.connections;
    const { stoppedAt, readyAt } = await control.restart(kind);
    for (const s of m.sessions) {
      if (s.phase !== 'live') continue;
      const q = this.#client(s).current!;
      await q.until(() => q.closed, this.t.waitMs, `the old edge to close client ${s.id}`).catch(() => {
        throw new FuzzViolation([`session ${s.id}: socket still open after the edge process stopped`], kind);
      });
    }
    if (kind === 'restart') m.restarted('restart', stoppedAt);
    else m.restarted('kill', stoppedAt, Math.max(0, readyAt - stoppedAt));
    const poke = this.t.clock.simulated
      ? async () => {
          await this.t.clock.advance(this.t.reconnectMaxMs);
          await this.tick(m);
        }
      : undefined;
    const deadline = Date.now() + this.t.waitMs * 4;
    while (!(master.connections > links && master.connected)) {
      if (Date.now() > deadline) throw new FuzzViolation(['the restarted edge did not dial the master'], kind);
      await master.awaitConnection(poke, this.t.waitMs * 4);
      if (!(master.connections > links)) await sleep(5);
    }
    // A real process takes a while to stop and start: sessions whose stale time ran out meanwhile have ended.
    await this.tick(m);
  }

  /**
   * Cluster: the edge in the `n`th running slot dies (`kill`: kill -9) or stops (`leave`: SIGTERM); `replace` starts
   * a new edge in its slot. Its clients' sockets close; every session it held must be adopted by a running edge,
   * stale (live ones from now), with its buffered packets. At least one edge always runs.
   */
  async edgeDown(m: LifecycleModel, n: number, kind: 'kill' | 'leave', replace: boolean): Promise<void> {
    const cl = this.t.cluster;
    if (!cl) throw new Error('this target runs one edge');
    const live = this.liveSlots();
    if (!m.masterUp || (live.length < 2 && !replace)) return;
    const slot = live[n % live.length]!;
    const at = this.t.clock.now();
    const sockets = m.sessions.filter((s) => s.edge === slot && s.phase === 'live').map((s) => ({ s, q: this.#client(s).current! }));
    if (kind === 'kill') await cl.kill(slot);
    else await cl.leave(slot);
    for (const { s, q } of sockets) {
      await q.until(() => q.closed, this.t.waitMs, `the ${kind === 'kill' ? 'killed' : 'stopped'} edge's socket of client ${s.id} to close`).catch(() => {
        throw new FuzzViolation([`session ${s.id}: socket still open after its edge ${kind === 'kill' ? 'died' : 'stopped'}`], kind);
      });
    }
    const orphans = m.edgeGone(slot, at);
    if (replace) await this.edgeStart(m, slot);
    await this.#adoption(m, orphans, kind);
  }

  /** Cluster: a new edge in the `n`th empty slot (none empty: nothing). */
  async edgeStart(m: LifecycleModel, n: number): Promise<void> {
    const cl = this.t.cluster;
    if (!cl) throw new Error('this target runs one edge');
    const empty = cl.edges.flatMap((e, i) => (e ? [] : [i]));
    if (empty.length === 0 || !m.masterUp) return;
    await cl.start(empty.includes(n) ? n : empty[n % empty.length]!);
  }

  /** Waits until a running edge owns each orphan in the cluster store (or it ended), and tells the model which. */
  async #adoption(m: LifecycleModel, orphans: ModelSession[], after: string): Promise<void> {
    const cl = this.t.cluster!;
    const deadline = Date.now() + this.t.waitMs * 4;
    for (const s of orphans) {
      for (;;) {
        const h = cl.holder(s.id);
        if (h !== null && h >= 0) {
          m.adopted(s, h);
          break;
        }
        if (h === null) throw new FuzzViolation([`session ${s.id}: its record left the cluster store when its edge went (nothing ended it)`], after);
        if (Date.now() > deadline) throw new FuzzViolation([`session ${s.id}: no running edge adopted it after its edge went`], after);
        await sleep(5);
      }
    }
    await cl.quiet();
  }

  async masterDown(m: LifecycleModel): Promise<void> {
    if (!m.masterUp) return;
    await this.t.master.down();
    m.masterUp = false;
    // What the edge writes before it sees the link go is lost with the socket (TCP has no ack): wait until it knows.
    if (this.t.probe?.awaitMasterLost) await this.t.probe.awaitMasterLost();
    else await sleep(this.t.settleMs);
  }

  async masterUp(m: LifecycleModel): Promise<void> {
    if (m.masterUp) return;
    await this.t.master.up();
    const poke = this.t.clock.simulated
      ? async () => {
          await this.t.clock.advance(this.t.reconnectMaxMs);
          await this.tick(m);
        }
      : undefined;
    await this.t.master.awaitConnection(poke);
    m.masterUp = true;
  }

  // ------------------------------------------------------------ settling and checking

  /** Ends in the model every stale session past its timeout; on a real clock, waits out sessions in the unsure window. */
  async tick(m: LifecycleModel): Promise<void> {
    const unsure = m.expire(this.t.clock.now());
    if (unsure !== null && !this.t.clock.simulated) {
      await this.t.clock.advance(unsure - this.t.clock.now());
      m.expire(this.t.clock.now());
    }
  }

  #byId(): Map<bigint, FirehosePacket[]> {
    const out = new Map<bigint, FirehosePacket[]>();
    for (const p of this.t.master.drain()) {
      let l = out.get(p.id);
      if (!l) out.set(p.id, (l = []));
      l.push(p);
    }
    return out;
  }

  #satisfied(m: LifecycleModel): boolean {
    const byId = m.masterUp ? this.#byId() : null;
    for (const s of m.sessions) {
      if (this.#client(s).received().length < s.toClient.length) return false;
      if (byId && (byId.get(s.id)?.length ?? 0) < s.toMaster.length) return false;
    }
    return true;
  }

  /** Syncs with the edge, waits for what the model says must have arrived, then checks every invariant. */
  async settle(m: LifecycleModel, after: string): Promise<void> {
    await this.t.cluster?.quiet();
    if (m.masterUp) await this.t.master.sync();
    const deadline = Date.now() + this.t.waitMs;
    while (!this.#satisfied(m) && Date.now() < deadline) await sleep(1);
    this.check(m, after);
  }

  check(m: LifecycleModel, after: string): void {
    const byId = this.#byId();
    const violations: string[] = [];
    if (this.t.master.malformed.length) violations.push(`edge sent malformed firehose packets: ${this.t.master.malformed.join('; ')}`);
    for (const s of m.sessions) {
      const raw = byId.get(s.id) ?? [];
      // A cluster keeps order per link: the packets in the model's order if each link's are in order.
      const linked = this.t.cluster ? inLinkOrder(s.toMaster, raw as LinkPacket[]) : null;
      const atMaster = linked ? linked.ordered : raw;
      const o = { session: s, received: this.#client(s).received(), atMaster, resumesPassed: this.#resumesPassed.get(s.id) ?? 0 };
      // While the link is down the master's view is behind: only check that it is a prefix (per link, on a cluster).
      if (!m.masterUp && atMaster.length < s.toMaster.length) {
        const partial = checkSession({ ...o, session: { ...s, toMaster: linked ? linked.matched : s.toMaster.slice(0, atMaster.length) } });
        violations.push(...partial.filter((v) => !v.includes('Reconnection')));
        continue;
      }
      violations.push(...checkSession(o));
      const want = this.#resumeSlots.get(s.id) ?? [];
      const got = atMaster.filter((p) => p.flag === Flag.Reconnection).map((p) => (p as LinkPacket).slot);
      if (this.t.cluster && got.some((slot, i) => slot !== want[i])) {
        violations.push(`session ${s.id}: Reconnection(s) on the links of edges [${got.join(', ')}], resumes passed on edges [${want.join(', ')}] (each must come on the new edge's link)`);
      }
    }
    if (violations.length) throw new FuzzViolation(violations, after);
  }

  /** Ends every session (Kick), then checks that nothing is left: sockets closed by the edge, no leaks. */
  async finish(m: LifecycleModel): Promise<void> {
    await this.tick(m);
    await this.masterUp(m);
    for (const s of m.sessions) if (s.phase !== 'ended') await this.kick(m, s, this.t.cluster ? s.edge : undefined);
    await this.settle(m, 'the final Kick of every session');
    const violations: string[] = [];
    for (const c of this.clients) c.close();
    for (const c of this.#strays) c.close();
    if (this.t.probe?.leaks) violations.push(...(await this.t.probe.leaks()));
    if (violations.length) throw new FuzzViolation(violations, 'every session ended');
  }

  dispose(): void {
    for (const c of this.clients) c.close();
    for (const c of this.#strays) c.close();
  }
}
