// The edge supervisor: owns the listener, the master link (through the supervisor machine), the session
// registry and the actors. Its concerns live beside it: admission (admission.ts), the client data path
// (client-path.ts), master -> clients routing (master-router.ts), resumes (resume-flow.ts), the machines'
// effects (session-effects.ts), sessions across processes (session-keeping.ts), the cluster glue
// (cluster-glue.ts). Lifecycle moments are actor events; the per-packet path is a Map lookup and a batched write.
import net from 'node:net';
import { createActor, type Actor, type InspectionEvent, type Observer } from 'xstate';
import type { Config } from '../config/schema.js';
import { encodeFrame } from '../io/framing.js';
import { encodeHandshake } from '../io/handshake.js';
import { TAG_SIZE } from '../io/firehose.js';
import { deriveSessionKey, type KeyPair } from '../io/crypto.js';
import type { SessionMachine } from '../machines/session.js';
import type { supervisorMachine } from '../machines/supervisor.js';
import { watchLevel, type Logger } from '../log.js';
import type { EdgeCluster } from '../cluster/edge-cluster.js';
import type { ClusterMember } from '../cluster/member.js';
import { IdAllocator } from '../store/ids.js';
import { MemoryStore } from '../store/memory-store.js';
import type { SessionStore } from '../store/store.js';
import { Admission } from './admission.js';
import { clientClosed, clientData, clientEnded, resumePaused, slowFrame } from './client-path.js';
import { armHandshakeTimeout, noop, watchClientSocket, type ClientSocket, type ClientSocketOwner } from './client-sockets.js';
import { systemClock, type EdgeClock } from './clock.js';
import { joinCluster } from './cluster-glue.js';
import { FrameDeadlines } from './frame-deadline.js';
import { kPending, PendingConnection, type HandshakeHost } from './handshake.js';
import { IdleMemory } from './idle-memory.js';
import { InspectFilter } from './inspect-filter.js';
import { KeyQueue } from './key-queue.js';
import { MasterLink } from './master-link.js';
import { createSession } from './new-session.js';
import { clientBufferBudget, routeMasterPacket } from './master-router.js';
import { SlabPool } from './replay-buffer.js';
import { requestResume, resumeFailed, resumePassedHere } from './resume-flow.js';
import { awaySnapshot, endAllAtShutdown, provideSessionMachine, provideSupervisorMachine } from './session-effects.js';
import { detachAll, restoreSessions, saveAll } from './session-keeping.js';
import { toStored } from './session-persistence.js';
import { Session } from './session.js';
import { StaleReaper } from './stale-reaper.js';
import { StaleTable } from './stale-table.js';
import type { ClientBufferBudget } from './client-budget.js';
import { transportOf, type ClientConnection, type TransportName } from './transports/connection.js';
import { Transports } from './transports/listeners.js';

/** TCP keep-alive on client sockets: the first probe after this long idle. */
const KEEPALIVE_MS = 30_000;

export { MAX_CHALLENGES_PER_SESSION } from './resume-flow.js';
export { SHED_MIN_IDLE_MS } from './admission.js';

export interface EdgeOptions {
  config: Config;
  keyPair: KeyPair;
  log: Logger;
  clock?: EdgeClock;
  /** Attach an inspector (e.g. the Stately inspector) to the supervisor and the session actors. */
  inspect?: Observer<InspectionEvent> | ((ev: InspectionEvent) => void);
  /** Which sessions get the inspector; default all. */
  inspectSession?: (id: number) => boolean;
  /** Hears every lifecycle moment the edge logs (metrics, status page); never called per packet. */
  onLifecycle?: (ev: EdgeLifecycleEvent) => void;
  /** Cluster mode: this edge's membership (joined). Without it the edge holds its sessions alone. */
  cluster?: ClusterMember;
  /**
   * Where sessions outlive the process (src/store). Default: a MemoryStore (nothing survives; sessions end
   * with a Failure at shutdown). With a store and `state.persist_sessions` on, shutdown keeps every session.
   */
  store?: SessionStore;
}

/** A lifecycle moment, as logged: refusals carry the address, session moments the id. */
export type EdgeLifecycleEvent =
  | { type: 'connection.refused' | 'handshake.refused'; address: string; reason: string; transport?: TransportName }
  | { type: 'handshake.started'; address: string; transport?: TransportName }
  | { type: 'session.created' | 'session.stale' | 'session.challenged' | 'session.resumed'; sessionId: number }
  | { type: 'resume.failed' | 'session.reaped'; sessionId: number; reason: string };

export interface EdgeStats {
  sessions: number;
  live: number;
  stale: number;
  handshaking: number;
  openSockets: number;
  masterConnected: boolean;
  heldForMaster: number;
}

/** Counters for status, metrics and tests. */
export interface EdgeCounters {
  sessionsOpened: number;
  resumes: number;
  resumesFailed: number;
  replayed: number;
  failuresSent: number;
  kicks: number;
  refused: number;
  masterProtocolErrors: number;
  /** accept() failures of the listener (EMFILE, ENFILE, ...). */
  acceptErrors: number;
  /** Idle handshakes dropped to make room at the handshake cap. */
  handshakesShed: number;
  /** Clients cut off for sending a frame slower than the minimum rate. */
  slowFrames: number;
}

// Members marked @internal are shared with the edge's own modules (see the header), not an API.
export class Edge implements HandshakeHost, ClientSocketOwner {
  /** The settings in force; replaced as a whole by applySettings (read it at use, never keep a part of it). */
  config: Config;
  readonly log: Logger;
  readonly clock: EdgeClock;
  readonly keyPair: KeyPair;
  readonly edgePublicKeyFrame: Uint8Array;
  readonly sessions = new Map<number, Session>();
  /** Slabs the replay buffers of stale sessions take their blocks from. */
  readonly replayPool = new SlabPool();
  /** The TLS and WebSocket listeners (their connections come in through acceptConnection). */
  readonly transports: Transports;
  readonly counters: EdgeCounters = {
    sessionsOpened: 0,
    resumes: 0,
    resumesFailed: 0,
    replayed: 0,
    failuresSent: 0,
    kicks: 0,
    refused: 0,
    masterProtocolErrors: 0,
    acceptErrors: 0,
    handshakesShed: 0,
    slowFrames: 0,
  };
  /** @internal One memory budget for replay buffers and the queues of clients that are behind. */
  readonly clientBudget: ClientBufferBudget<Session>;
  /** @internal Sessions that are away, by id and by client address (eviction: the biggest holder's oldest). */
  readonly stale = new StaleTable<Session>();
  /** @internal Sessions whose sockets are paused while the master link is congested. */
  readonly paused = new Set<Session>();
  /** @internal Stale deadlines of every away session, expired on the reap ticks. */
  readonly reaper: StaleReaper<Session>;
  /** @internal */
  readonly masterLink: MasterLink;
  /** @internal Connection caps, rates, the handshake cap, refusal lines. */
  readonly admission: Admission;
  /** @internal Client frames in progress and their deadlines (minimum rate). */
  readonly frameDeadlines: FrameDeadlines<Session>;
  /** @internal Sessions whose key is to be derived in idle time (new ones, and stale ones still without it). */
  readonly keyQueue = new KeyQueue((s) => {
    if (!s.hasSessionKey && this.sessions.get(s.id) === s) this.deriveSessionKey(s);
  });
  /** @internal The young generation given back after bursts (general.release_idle_memory); made once serving. */
  idleMemory: IdleMemory | null = null;
  /** @internal Cluster mode: sessions shared with other edges through Redis or the primary process (src/cluster/). */
  readonly clusterGlue: EdgeCluster | null;
  /** @internal Where sessions outlive the process. */
  readonly store: SessionStore;
  /** @internal The session machine provided with its effects. */
  readonly sessionMachine: SessionMachine;
  /** @internal */
  readonly onLifecycle: EdgeOptions['onLifecycle'];
  readonly #supervisor: Actor<typeof supervisorMachine>;
  readonly #server: net.Server;
  readonly #inspection: InspectFilter;
  readonly #ids: IdAllocator;
  /** Shutdown keeps the sessions in the store instead of ending them. */
  readonly #keepSessions: boolean;
  /** @internal Trace logging is on (per-packet lines): checked on the data path instead of calling the logger. */
  trace = false;
  /** @internal Debug logging is on: handshake and resume steps build their lines only then. */
  debug = false;
  readonly #unwatchLevel: () => void;
  #nextAttempt = 1;
  #stopping = false;
  /** Every listener is bound: the master is dialed only from then on (a link up means the edge accepts clients). */
  #serving = false;
  /** The supervisor asked to dial before the listeners were bound. */
  #dialDeferred = false;
  #stopped: Promise<void> | null = null;
  #resolveStopped: (() => void) | null = null;

  constructor(o: EdgeOptions) {
    this.config = o.config;
    this.log = o.log;
    const unwatch = [watchLevel(o.log, 'trace', (on) => (this.trace = on)), watchLevel(o.log, 'debug', (on) => (this.debug = on))];
    this.#unwatchLevel = () => unwatch.forEach((u) => u());
    this.clock = o.clock ?? systemClock;
    this.keyPair = o.keyPair;
    this.#inspection = new InspectFilter(o.inspect, o.inspectSession);
    this.onLifecycle = o.onLifecycle;
    this.store = o.store ?? new MemoryStore();
    // In a cluster, the cluster store keeps the sessions (src/cluster); the store here keeps them for a single edge.
    this.#keepSessions = o.store !== undefined && o.cluster === undefined && (o.config.state?.persistSessions ?? true);
    this.#ids = new IdAllocator(this.store, (err) => this.log.error({ err: String(err), store: this.store.kind }, 'store.ids_failed'));
    this.edgePublicKeyFrame = encodeFrame(encodeHandshake({ type: 'PubKey', key: o.keyPair.publicKey }));
    const L = o.config.limits;
    this.admission = new Admission({ config: o.config, log: this.log, clock: this.clock, counters: this.counters, onLifecycle: this.onLifecycle });
    this.frameDeadlines = new FrameDeadlines<Session>({
      graceSecs: L.frameTimeoutSecs,
      minBytesPerSec: L.minFrameBytesPerSec,
      now: () => this.clock.now(),
      onExpired: (s, d) => slowFrame(this, s, d),
    });
    this.masterLink = new MasterLink({
      address: o.config.master.address,
      capacity: o.config.master.channelCapacity,
      capacityBytes: o.config.master.channelCapacityBytes,
      connectTimeoutMs: 5_000,
      // Master packets carry client payloads: the client cap (at least the original's 8 MiB) plus the tag.
      maxFrame: Math.max(o.config.limits.maxFrameSize, 8 * 1024 * 1024) + TAG_SIZE,
      log: this.log,
      now: () => this.clock.now(),
      onFrame: (buf, start, len) => routeMasterPacket(this, buf, start, len),
      onConnected: () => this.#supervisor.send({ type: 'master.connected' }),
      onLost: (reason) => this.#supervisor.send({ type: 'master.lost', reason }),
      onWritable: () => resumePaused(this),
    });
    this.clientBudget = clientBufferBudget(this);
    this.sessionMachine = provideSessionMachine(this);
    this.clusterGlue = o.cluster ? joinCluster(this, o.cluster) : null;
    this.reaper = new StaleReaper<Session>({
      clock: this.clock,
      timeoutMs: o.config.clients.staleTimeoutSecs * 1000,
      intervalMs: o.config.clients.staleReapIntervalSecs * 1000,
      expire: (s) => this.actorOf(s).send({ type: 'stale.expired' }),
    });
    // Session actors join the supervisor's actor system (option `parent`) rather than each building one of its
    // own: far less memory per idle session. Inspection is then attached once, to that system, and filtered
    // to the supervisor and the sampled sessions.
    const inspect = this.#inspection.observer;
    const supervisor = provideSupervisorMachine(this, {
      drain: () => queueMicrotask(() => void this.#drain()), // outside the action: draining may create session actors
      stopped: () => this.#resolveStopped?.(),
    });
    this.#supervisor = createActor(supervisor, {
      clock: this.clock,
      ...(inspect ? { inspect } : {}),
    });
    this.#inspection.supervisor = this.#supervisor;
    // Keep-alive (30 s) set by Node on the accepted handle, as noDelay: no Socket.setKeepAlive call per connection.
    this.#server = net.createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_MS, pauseOnConnect: false });
    this.#server.on('connection', (s: net.Socket) => this.#onConnection(s as ClientSocket, true));
    this.#server.on('error', (err: NodeJS.ErrnoException) => this.admission.listenerError(err));
    this.transports = new Transports(this);
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * A reloaded config (SIGHUP): keys src/config/reload.ts marks live apply to new work from now on (connections,
   * handshakes, frames, packets, refusals, master reconnects); `config` must carry the running values of the others.
   */
  applySettings(config: Config): void {
    this.config = config;
    this.admission.applySettings(config);
    this.frameDeadlines.configure(config.limits.frameTimeoutSecs, config.limits.minFrameBytesPerSec);
    this.idleMemory?.setEnabled(config.general.releaseIdleMemory);
  }

  /** Binds the listener and starts dialing the master. Resolves with the bound address. */
  async start(): Promise<{ host: string; port: number }> {
    const loaded = await this.store.load();
    await this.#ids.start();
    // Sessions first, then the listeners: a resume that arrives as soon as the port opens finds its session.
    this.#supervisor.start();
    restoreSessions(this, loaded.sessions, loaded.stoppedAt);
    this.store.attach(() => [...this.sessions.values()].map(toStored));
    const { host, port } = this.config.listener.address;
    await new Promise<void>((resolve, reject) => {
      const onErr = (e: Error) => reject(e);
      this.#server.once('error', onErr);
      this.#server.listen({ host, port, backlog: 4096 }, () => {
        this.#server.off('error', onErr);
        resolve();
      });
    });
    const a = this.#server.address() as net.AddressInfo;
    this.log.info({ address: `${a.address}:${a.port}`, master: `${this.config.master.address.host}:${this.config.master.address.port}` }, 'edge.listening');
    try {
      await this.transports.start();
    } catch (err) {
      await new Promise<void>((resolve) => this.#server.close(() => resolve()));
      throw err;
    }
    this.#serving = true;
    this.idleMemory = new IdleMemory({ enabled: this.config.general.releaseIdleMemory, log: this.log });
    if (this.#dialDeferred) {
      this.#dialDeferred = false;
      if (!this.#stopping) this.masterLink.dial();
    }
    return { host: a.address, port: a.port };
  }

  /** Stops accepting, ends the sessions, flushes to the master and closes. Idempotent. */
  stop(): Promise<void> {
    if (this.#stopped) return this.#stopped;
    this.#stopped = new Promise<void>((resolve) => {
      this.#resolveStopped = resolve;
    });
    this.#supervisor.send({ type: 'edge.shutdown' });
    return this.#stopped;
  }

  get masterState(): string {
    return String(this.#supervisor.getSnapshot().value);
  }

  get supervisor(): Actor<typeof supervisorMachine> {
    return this.#supervisor;
  }

  /** @internal The edge is shutting down. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** Firehose traffic counters: packets and bytes each way on the master link. */
  traffic(): { packetsToMaster: number; bytesToMaster: number; packetsFromMaster: number; bytesFromMaster: number; masterState: string; masterReconnects: number } {
    const m = this.masterLink;
    const snap = this.#supervisor.getSnapshot();
    return {
      packetsToMaster: m.packetsOut,
      bytesToMaster: m.bytesOut,
      packetsFromMaster: m.packetsIn,
      bytesFromMaster: m.bytesIn,
      masterState: this.masterState,
      masterReconnects: snap.context.reconnects,
    };
  }

  /** Cluster mode: this edge's membership and cluster store health; null when the edge runs alone. */
  get cluster(): ClusterMember | null {
    return this.clusterGlue?.store ?? null;
  }

  stats(): EdgeStats {
    return {
      sessions: this.sessions.size,
      live: this.sessions.size - this.stale.size,
      stale: this.stale.size,
      handshaking: this.admission.pending.size,
      openSockets: this.admission.openSockets,
      masterConnected: this.masterLink.connected,
      heldForMaster: this.masterLink.heldPackets,
    };
  }

  /** @internal Whether an inspector sees this session actor. */
  isInspected(actor: unknown): boolean {
    return this.#inspection.has(actor);
  }

  async #drain(): Promise<void> {
    this.#stopping = true;
    this.reaper.stop();
    this.keyQueue.stop();
    this.idleMemory?.stop();
    this.log.info({ sessions: this.sessions.size }, 'edge.draining');
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    const transportsClosed = this.transports.close();
    for (const p of [...this.admission.pending]) p.end();
    if (this.#keepSessions) {
      detachAll(this);
    } else {
      endAllAtShutdown(this);
    }
    await this.masterLink.close(2_000);
    if (this.#keepSessions) await saveAll(this);
    await this.clusterGlue?.store.leave();
    await this.store.close();
    await closed;
    await transportsClosed;
    this.frameDeadlines.stop();
    this.admission.close();
    this.#unwatchLevel();
    this.clientBudget.close();
    this.#supervisor.send({ type: 'master.drained' });
  }

  // ---------------------------------------------------------------- actors

  /**
   * @internal The session's actor, created on its first lifecycle event in the machine's initial state,
   * live.connected, where a new session starts, or in away.stale when it went stale without one
   * (session-effects.ts socketClosed), counting the resumes it passed without one. Sessions join the supervisor's
   * actor system.
   */
  actorOf(s: Session, inspected = false): Actor<SessionMachine> {
    if (s.actor) return s.actor;
    // XState announces an actor ('@xstate.actor') from its constructor: the filter must know beforehand.
    this.#inspection.creating = inspected;
    const snapshot = s.awaySince === null && s.resumes === 0 ? undefined : awaySnapshot(this.sessionMachine, s.id, s.awaySince, s.resumes);
    const actor = createActor(this.sessionMachine, { input: { id: s.id }, parent: this.#supervisor, ...(snapshot ? { snapshot } : {}) });
    this.#inspection.creating = false;
    s.actor = actor;
    s.awaySince = null;
    s.resumes = 0;
    actor.start();
    return actor;
  }

  /** @internal The supervisor dials the master; until every listener is bound the dial waits for them. */
  dialMaster(): void {
    if (this.#serving) this.masterLink.dial();
    else this.#dialDeferred = true;
  }

  /** @internal Whether an inspector watches session `id` (its actor is then made at once, not on first need). */
  inspects(id: number): boolean {
    return this.#inspection.wants(id);
  }

  /** @internal A session actor for `id` is about to be created elsewhere (restore); null: done. */
  willCreateActor(id: number | null): void {
    this.#inspection.creating = id !== null && this.#inspection.wants(id);
  }

  /** @internal The next resume round's number. */
  nextAttempt(): number {
    return this.#nextAttempt++;
  }

  // ---------------------------------------------------------------- accepting clients

  /** A connection from another transport's listener (TLS, WebSocket): the same limits, counted together. */
  acceptConnection(conn: ClientConnection): void {
    this.#onConnection(conn as ClientSocket, false);
  }

  #onConnection(sock: ClientSocket, keepAliveSet: boolean): void {
    this.keyQueue.busy();
    const addr = sock.remoteAddress ?? 'unknown';
    const transport = transportOf(sock);
    if (this.admission.admit(addr, transport, this.#stopping) !== null) {
      sock.on('error', noop);
      sock.destroy();
      return;
    }
    if (!keepAliveSet) sock.setKeepAlive(true, KEEPALIVE_MS);
    const p = new PendingConnection(sock, addr, this);
    p.lastProgress = this.clock.now();
    sock[kPending] = p;
    this.admission.pending.add(p);
    this.onLifecycle?.({ type: 'handshake.started', address: addr, transport });
    armHandshakeTimeout(p, this.config.limits.handshakeTimeoutSecs);
    watchClientSocket(sock, this);
  }

  /** Client bytes (every client socket's 'data'). */
  onClientData(sock: ClientSocket, chunk: Buffer): void {
    clientData(this, sock, chunk);
  }
  onClientClose(sock: ClientSocket): void {
    clientClosed(this, sock);
  }
  onClientEnd(sock: ClientSocket): void {
    clientEnded(this, sock);
  }

  // ---------------------------------------------------------------- handshake host

  createSession(p: PendingConnection, clientKey: Uint8Array): void {
    createSession(this, p, clientKey, this.clusterGlue ? this.clusterGlue.nextId() : this.#ids.take());
  }

  requestResume(p: PendingConnection, idBig: bigint): Session | string | Promise<Session | string> {
    return requestResume(this, p, idBig);
  }

  deriveSessionKey(s: Session): Uint8Array | Error {
    return s.sessionKey((clientKey) => deriveSessionKey(this.keyPair.secretKey, clientKey));
  }

  resumePassed(p: PendingConnection): void {
    const s = p.session!;
    // In a cluster the session is claimed in the cluster store first (it may come from another edge).
    if (this.clusterGlue && s.challenges.includes(p)) return this.clusterGlue.passed(p, s);
    resumePassedHere(this, p);
  }

  resumeFailed(p: PendingConnection, reason: string): void {
    resumeFailed(this, p, reason);
  }

  pendingEnded(p: PendingConnection): void {
    this.admission.pending.delete(p);
    const s = p.session;
    if (s && p.step !== 'done' && s.challenges.includes(p)) {
      // The attempt's socket went away mid-challenge.
      resumeFailed(this, p, 'connection closed during the challenge');
    }
  }

  refuse(p: PendingConnection, reason: string, detail?: Record<string, unknown>): void {
    this.admission.refused('handshake.refused', p.address, reason, transportOf(p.socket), detail);
  }

  progressed(p: PendingConnection): void {
    this.admission.progressed(p);
  }
}
