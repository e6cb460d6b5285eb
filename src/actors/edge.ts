// The edge supervisor: owns the listener, the master link (through the supervisor machine), the session
// registry and the routing. Lifecycle moments are actor events; the per-packet path is a Map lookup and a
// batched write.
import net from 'node:net';
import { createActor, type Actor, type InspectionEvent, type Observer } from 'xstate';
import type { Config } from '../config/schema.js';
import { encodeFrame } from '../io/framing.js';
import { encodeHandshake } from '../io/handshake.js';
import { Flag, readIdNumber, readU64LE, TAG_SIZE } from '../io/firehose.js';
import { COPY_LIMIT, FrameWriter } from '../io/writer.js';
import { ProtocolError } from '../io/errors.js';
import { deriveSessionKey, type KeyPair } from '../io/crypto.js';
import { sessionMachine, type SessionEndReason, type SessionMachine } from '../machines/session.js';
import { supervisorMachine } from '../machines/supervisor.js';
import { logId, type Logger } from '../log.js';
import { systemClock, type EdgeClock } from './clock.js';
import { kPending, PendingConnection, PING_FRAME, type HandshakeHost, type PendingSocket } from './handshake.js';
import { KeyQueue } from './key-queue.js';
import { AddressCounts, TokenBuckets, WindowCounter } from './limits.js';
import { MasterLink } from './master-link.js';
import { RefusalLog } from './refusal-log.js';
import { FrameDeadlines } from './frame-deadline.js';
import { FD_RESERVE, fdLimitWarning, openFilesLimit } from './fd-limit.js';
import { ReplayBuffer, SlabPool } from './replay-buffer.js';
import { StaleReaper } from './stale-reaper.js';
import { kSession, Session, type SessionSocket } from './session.js';
import { EdgeCluster } from '../cluster/edge-cluster.js';
import type { RedisCluster } from '../cluster/redis-cluster.js';
import { transportOf, type ClientConnection, type TransportName } from './transports/connection.js';
import { Transports } from './transports/listeners.js';
import { restoreSession, toStored } from './session-persistence.js';
import { IdAllocator } from '../store/ids.js';
import { MemoryStore } from '../store/memory-store.js';
import type { SessionStore, StoredSession } from '../store/store.js';

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
  cluster?: RedisCluster;
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

const kEdge = Symbol('voltlane.edge');
type ClientSocket = SessionSocket & PendingSocket & { [kEdge]?: Edge };

const utf8 = new TextEncoder();

export interface EdgeStats {
  sessions: number;
  live: number;
  stale: number;
  handshaking: number;
  openSockets: number;
  masterConnected: boolean;
  heldForMaster: number;
}

export class Edge implements HandshakeHost {
  readonly config: Config;
  readonly log: Logger;
  readonly clock: EdgeClock;
  readonly keyPair: KeyPair;
  readonly edgePublicKeyFrame: Uint8Array;
  readonly sessions = new Map<number, Session>();
  /** Slabs the replay buffers of stale sessions take their blocks from. */
  readonly replayPool = new SlabPool();
  /** Sessions that are away, in the order they went stale (oldest first). */
  readonly #stale = new Map<number, Session>();
  readonly #paused = new Set<Session>();
  /** Stale deadlines of every away session, expired on the reap ticks. */
  readonly #reaper: StaleReaper<Session>;
  readonly #master: MasterLink;
  readonly #supervisor: Actor<typeof supervisorMachine>;
  readonly #sessionMachine;
  readonly #server: net.Server;
  /** The TLS and WebSocket listeners (their connections come in through acceptConnection). */
  readonly transports: Transports;
  readonly #pending = new Set<PendingConnection>();
  readonly #addrCounts = new AddressCounts();
  readonly #connBuckets: TokenBuckets;
  readonly #failedByAddr: WindowCounter;
  readonly #sweepTimer: NodeJS.Timeout;
  /** Refusal log lines, throttled per reason and address. */
  readonly #refusals: RefusalLog;
  /** Client frames in progress and their deadlines (minimum rate). */
  readonly #frameDeadlines: FrameDeadlines<Session>;
  /** Client sockets the open-file limit leaves room for. */
  readonly #fdCap: number;
  readonly #inspect: EdgeOptions['inspect'];
  readonly #inspectSession: (id: number) => boolean;
  /** Session actors whose inspection events pass the filter. */
  readonly #inspected = new Set<unknown>();
  /** Sessions whose key is to be derived in idle time (new ones, and stale ones still without it). */
  readonly #keyQueue = new KeyQueue((s) => {
    if (!s.hasSessionKey && this.sessions.get(s.id) === s) this.deriveSessionKey(s);
  });
  /** Whether the session actor being created now is to be inspected. */
  #inspectNext = false;
  readonly #onLifecycle: EdgeOptions['onLifecycle'];
  /** Cluster mode: sessions shared with other edges through Redis (src/cluster/). */
  readonly #cluster: EdgeCluster | null;
  readonly #store: SessionStore;
  readonly #ids: IdAllocator;
  /** Shutdown keeps the sessions in the store instead of ending them. */
  readonly #keepSessions: boolean;
  #nextAttempt = 1;
  #openSockets = 0;
  #stopping = false;
  #stopped: Promise<void> | null = null;
  #resolveStopped: (() => void) | null = null;
  /** Counters for status and tests. */
  readonly counters = {
    sessionsOpened: 0,
    resumes: 0,
    resumesFailed: 0,
    replayed: 0,
    failuresSent: 0,
    kicks: 0,
    refused: 0,
    masterProtocolErrors: 0,
    /** accept() failures of the listener (EMFILE, ENFILE, ...). */
    acceptErrors: 0,
    /** Idle handshakes dropped to make room at the handshake cap. */
    handshakesShed: 0,
    /** Clients cut off for sending a frame slower than the minimum rate. */
    slowFrames: 0,
  };

  constructor(o: EdgeOptions) {
    this.config = o.config;
    this.log = o.log;
    this.clock = o.clock ?? systemClock;
    this.keyPair = o.keyPair;
    this.#inspect = o.inspect;
    this.#inspectSession = o.inspectSession ?? (() => true);
    this.#onLifecycle = o.onLifecycle;
    this.#store = o.store ?? new MemoryStore();
    // In a cluster, Redis keeps the sessions (src/cluster); the store here keeps them for a single edge.
    this.#keepSessions = o.store !== undefined && o.cluster === undefined && (o.config.state?.persistSessions ?? true);
    this.#ids = new IdAllocator(this.#store, (err) => this.log.error({ err: String(err), store: this.#store.kind }, 'store.ids_failed'));
    this.edgePublicKeyFrame = encodeFrame(encodeHandshake({ type: 'PubKey', key: o.keyPair.publicKey }));
    const L = o.config.limits;
    this.#connBuckets = new TokenBuckets(L.newConnectionsPerAddressPerSec, L.newConnectionsBurst);
    this.#failedByAddr = new WindowCounter(L.failedResumesPerAddressPerMin);
    this.#sweepTimer = setInterval(() => {
      const now = this.clock.now();
      this.#connBuckets.sweep(now);
      this.#failedByAddr.sweep(now);
    }, 60_000);
    this.#sweepTimer.unref();
    this.#refusals = new RefusalLog(this.log, o.config.general.refusalLogIntervalSecs);
    this.#frameDeadlines = new FrameDeadlines<Session>({
      graceSecs: L.frameTimeoutSecs,
      minBytesPerSec: L.minFrameBytesPerSec,
      now: () => this.clock.now(),
      onExpired: (s, d) => this.#slowFrame(s, d),
    });
    const nofile = openFilesLimit();
    this.#fdCap = nofile === null ? Number.POSITIVE_INFINITY : Math.max(1, nofile - FD_RESERVE);
    const fdWarning = fdLimitWarning(L.maxConnections, nofile);
    if (fdWarning) this.log.warn({ openFilesLimit: nofile, maxConnections: L.maxConnections }, `config.warning: ${fdWarning}`);

    this.#master = new MasterLink({
      address: o.config.master.address,
      capacity: o.config.master.channelCapacity,
      capacityBytes: o.config.master.channelCapacityBytes,
      connectTimeoutMs: 5_000,
      // Master packets carry client payloads: the client cap (at least the original's 8 MiB) plus the tag.
      maxFrame: Math.max(o.config.limits.maxFrameSize, 8 * 1024 * 1024) + TAG_SIZE,
      log: this.log,
      onFrame: (f) => this.#onMasterFrame(f),
      onConnected: () => this.#supervisor.send({ type: 'master.connected' }),
      onLost: (reason) => this.#supervisor.send({ type: 'master.lost', reason }),
      onWritable: () => this.#resumePaused(),
    });
    this.#sessionMachine = this.#provideSessionMachine();
    this.#cluster = o.cluster ? this.#joinCluster(o.cluster) : null;
    this.#reaper = new StaleReaper<Session>({
      clock: this.clock,
      timeoutMs: o.config.clients.staleTimeoutSecs * 1000,
      intervalMs: o.config.clients.staleReapIntervalSecs * 1000,
      expire: (s) => this.#actorOf(s).send({ type: 'stale.expired' }),
    });
    // Session actors join the supervisor's actor system (option `parent`) rather than each building one of its
    // own: far less memory per idle session. Inspection is then attached once, to that system, and filtered
    // to the supervisor and the sampled sessions.
    const inspect = this.#inspect;
    this.#supervisor = createActor(this.#provideSupervisorMachine(), {
      clock: this.clock,
      ...(inspect ? { inspect: this.#filteredInspector(inspect) } : {}),
    });
    this.#server = net.createServer({ noDelay: true, pauseOnConnect: false });
    this.#server.on('connection', (s: net.Socket) => this.#onConnection(s as ClientSocket));
    this.#server.on('error', (err: NodeJS.ErrnoException) => this.#onListenerError(err));
    this.transports = new Transports(this);
  }

  /** Passes on the supervisor's inspection events and those of the sampled session actors. */
  #filteredInspector(inspect: NonNullable<EdgeOptions['inspect']>): (ev: InspectionEvent) => void {
    const next = typeof inspect === 'function' ? inspect : (ev: InspectionEvent) => inspect.next?.(ev);
    return (ev) => {
      const ref = ev.actorRef;
      if (ev.type === '@xstate.actor' && this.#inspectNext) this.#inspected.add(ref);
      // The supervisor announces itself from its constructor, before #supervisor is assigned.
      const supervisor = (this.#supervisor as unknown) === undefined || ref === this.#supervisor;
      if (supervisor || this.#inspected.has(ref)) next(ev);
      if (ev.type === '@xstate.snapshot' && ref !== this.#supervisor && (ev.snapshot as { status?: string }).status !== 'active') {
        this.#inspected.delete(ref);
      }
    };
  }

  // ---------------------------------------------------------------- lifecycle

  /** Binds the listener and starts dialing the master. Resolves with the bound address. */
  async start(): Promise<{ host: string; port: number }> {
    const loaded = await this.#store.load();
    await this.#ids.start();
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
    this.#supervisor.start();
    this.#restore(loaded.sessions, loaded.stoppedAt);
    this.#store.attach(() => [...this.sessions.values()].map(toStored));
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

  /** Firehose traffic counters: packets and bytes each way on the master link. */
  traffic(): { packetsToMaster: number; bytesToMaster: number; packetsFromMaster: number; bytesFromMaster: number; masterState: string; masterReconnects: number } {
    const m = this.#master;
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

  /** Cluster mode: this edge's membership and Redis health; null when the edge runs alone. */
  get cluster(): RedisCluster | null {
    return this.#cluster?.store ?? null;
  }

  stats(): EdgeStats {
    return {
      sessions: this.sessions.size,
      live: this.sessions.size - this.#stale.size,
      stale: this.#stale.size,
      handshaking: this.#pending.size,
      openSockets: this.#openSockets,
      masterConnected: this.#master.connected,
      heldForMaster: this.#master.heldPackets,
    };
  }

  async #drain(): Promise<void> {
    this.#stopping = true;
    this.#reaper.stop();
    this.#keyQueue.stop();
    this.log.info({ sessions: this.sessions.size }, 'edge.draining');
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    const transportsClosed = this.transports.close();
    for (const p of [...this.#pending]) p.end();
    if (this.#keepSessions) {
      this.#detachAll();
    } else {
      for (const s of [...this.sessions.values()]) {
        s.writer?.flush();
        s.socket?.end();
        this.#actorOf(s).send({ type: 'edge.shutdown' });
      }
    }
    await this.#master.close(2_000);
    if (this.#keepSessions) await this.#saveAll();
    await this.#cluster?.store.leave();
    await this.#store.close();
    await closed;
    await transportsClosed;
    clearInterval(this.#sweepTimer);
    this.#frameDeadlines.stop();
    this.#refusals.close();
    this.#supervisor.send({ type: 'master.drained' });
  }

  // ---------------------------------------------------------------- machines with their effects

  #provideSupervisorMachine() {
    const m = this.config.master;
    return supervisorMachine.provide({
      actions: {
        dialMaster: () => this.#master.dial(),
        dropMaster: ({ event }) => {
          this.log.warn({ reason: event.type === 'master.lost' ? event.reason : '' }, 'master.lost');
          this.#master.drop();
        },
        flushHeld: () => {
          this.log.info({ held: this.#master.heldPackets }, 'master.connected');
          this.#master.flushHeld();
        },
        drain: () => {
          void this.#drain();
        },
        stopped: () => {
          this.log.info('edge.stopped');
          this.#resolveStopped?.();
        },
      },
      delays: {
        backoff: ({ context }) => {
          const base = Math.min(m.reconnectMaxMs, m.reconnectMinMs * 2 ** Math.min(20, Math.max(0, context.failures - 1)));
          return Math.round(base * (0.75 + Math.random() * 0.25));
        },
      },
    });
  }

  #provideSessionMachine() {
    const get = (id: number): Session | undefined => this.sessions.get(id);
    return sessionMachine.provide({
      actions: {
        closeSocket: ({ context }) => {
          const s = get(context.id);
          if (s?.socket) this.#endSocket(s);
        },
        closeAttemptSocket: ({ context }) => {
          const s = get(context.id);
          if (s) for (const a of s.challenges.splice(0)) a.end();
        },
        sendFailure: ({ context }, params: { reason: SessionEndReason }) => {
          if (this.#cluster) return; // sent once Redis confirms this edge owned the session (EdgeCluster.ended)
          this.#store.ended(context.id, params.reason);
          this.counters.failuresSent++;
          this.#master.sendControl(context.id, Flag.Failure, utf8.encode(params.reason));
        },
        completeResume: ({ context }) => {
          const s = get(context.id);
          if (s) this.#completeResume(s);
        },
        enteredStale: ({ context, event }) => {
          const s = get(context.id);
          if (!s) return;
          this.#stale.set(s.id, s);
          this.#cluster?.enteredStale(s, context.staleSince ?? this.clock.now());
          this.#reaper.add(s, context.staleSince ?? this.clock.now());
          if (!s.hasSessionKey) this.#keyQueue.add(s);
          // Restored sessions are already in the store as stale, and are logged once in all.
          if (event.type !== 'edge.restored') {
            this.#store.stale(s.id, context.staleSince ?? this.clock.now());
            if (!this.#stopping) this.log.info({ sessionId: s.id, state: 'stale' }, 'session.stale');
          }
          this.#onLifecycle?.({ type: 'session.stale', sessionId: s.id });
          const max = this.config.clients.maxStaleClients;
          while (this.#stale.size > max) {
            const oldest = this.#stale.values().next().value as Session;
            this.#stale.delete(oldest.id);
            this.log.info({ sessionId: oldest.id, staleClients: this.#stale.size + 1, max }, 'session.evicted');
            this.#actorOf(oldest).send({ type: 'stale.evicted' });
          }
        },
        leftStale: ({ context }) => {
          const s = this.#stale.get(context.id);
          if (!s) return;
          this.#stale.delete(s.id);
          this.#reaper.remove(s);
          this.#cluster?.leftStale(s);
        },
        release: ({ context }) => {
          const s = get(context.id);
          if (!s) return;
          this.sessions.delete(s.id);
          this.#stale.delete(s.id);
          this.#reaper.remove(s);
          this.#paused.delete(s);
          if (s.socket) this.#detachSocket(s, true);
          s.missed?.clear();
          s.missed = null;
          if (context.endReason === 'kick') {
            this.counters.kicks++;
            this.#store.ended(s.id, 'kick');
          }
          this.#cluster?.ended(s.id, context.endReason);
          this.log.info({ sessionId: s.id, state: 'reaped', reason: context.endReason, resumes: context.resumes }, 'session.reaped');
          this.#onLifecycle?.({ type: 'session.reaped', sessionId: s.id, reason: context.endReason ?? 'unknown' });
        },
      },
    });
  }

  /** The cluster glue, with what it may do to this edge's sessions (src/cluster/edge-cluster.ts). */
  #joinCluster(store: RedisCluster): EdgeCluster {
    const forwardLeftovers = (s: Session) => {
      const sock = s.socket as ClientSocket | null;
      if (sock && s.decoder) this.#forwardFrames(s, sock);
    };
    return new EdgeCluster(store, {
      log: this.log,
      sessions: this.sessions,
      replayPool: this.replayPool,
      now: () => this.clock.now(),
      sendControl: (id, flag, data) => {
        if (flag === Flag.Failure) this.counters.failuresSent++;
        this.#master.sendControl(id, flag, data);
      },
      masterFrame: (f) => this.#onMasterFrame(f),
      resumeFailed: (p, reason) => this.resumeFailed(p, reason),
      resumePassedLocally: (p) => {
        this.#resumePassedHere(p);
        forwardLeftovers(p.session!);
      },
      completeResume: (s) => {
        // A session claimed from another edge: its one challenge passed.
        s.winner ??= s.challenges.shift() ?? null;
        this.#completeResume(s);
        forwardLeftovers(s);
      },
      addStale: (s, since) => {
        this.sessions.set(s.id, s);
        this.#actorOf(s).send({ type: 'socket.closed', reason: 'held here without a socket', at: since });
      },
      dropMoved: (s) => {
        for (const a of s.challenges.splice(0)) a.end();
        this.sessions.delete(s.id);
        this.#stale.delete(s.id);
        this.#reaper.remove(s);
        this.#paused.delete(s);
        if (s.socket) this.#detachSocket(s, true);
        // Out of the registry first: the actor's effects then find no session and do nothing; kick ends it.
        s.actor?.send({ type: 'session.kick' });
        s.missed?.clear();
        s.missed = null;
        this.#onLifecycle?.({ type: 'session.reaped', sessionId: s.id, reason: 'moved to another edge' });
      },
      makeStale: (s, why) => {
        this.#detachSocket(s, true);
        this.#actorOf(s).send({ type: 'socket.closed', reason: why, at: this.clock.now() });
      },
      kick: (s) => this.#actorOf(s).send({ type: 'session.kick' }),
      nextAttempt: () => this.#nextAttempt++,
    });
  }

  // ---------------------------------------------------------------- accepting clients

  /** A connection from another transport's listener (TLS, WebSocket): the same limits, counted together. */
  acceptConnection(conn: ClientConnection): void {
    this.#onConnection(conn as ClientSocket);
  }

  #onConnection(sock: ClientSocket): void {
    const addr = sock.remoteAddress ?? 'unknown';
    const transport = transportOf(sock);
    const L = this.config.limits;
    let refusal: string | null = null;
    if (this.#stopping) refusal = 'edge is shutting down';
    else if (this.#openSockets >= L.maxConnections) refusal = `connection limit reached (${L.maxConnections})`;
    else if (this.#openSockets >= this.#fdCap) refusal = `file-descriptor limit reached (${this.#fdCap} client sockets under ulimit -n)`;
    else if (this.#addrCounts.get(addr) >= L.maxConnectionsPerAddress)
      refusal = `per-address connection limit reached (${L.maxConnectionsPerAddress})`;
    else if (!this.#connBuckets.take(addr, this.clock.now())) refusal = 'new-connection rate exceeded';
    else if (this.#pending.size >= L.maxHandshakesInFlight && !this.#shedIdleHandshake())
      refusal = `too many handshakes in flight (${L.maxHandshakesInFlight})`;
    if (refusal !== null) {
      this.counters.refused++;
      this.#refusals.refused('connection.refused', addr, refusal, { transport });
      this.#onLifecycle?.({ type: 'connection.refused', address: addr, reason: refusal, transport });
      sock.on('error', noop);
      sock.destroy();
      return;
    }
    this.#openSockets++;
    this.#addrCounts.inc(addr);
    sock.setKeepAlive(true, 30_000);
    const p = new PendingConnection(sock, addr, this);
    p.lastProgress = this.clock.now();
    sock[kPending] = p;
    sock[kEdge] = this;
    this.#pending.add(p);
    this.#onLifecycle?.({ type: 'handshake.started', address: addr, transport });
    p.timer = setTimeout(onHandshakeTimeout, L.handshakeTimeoutSecs * 1000, p);
    sock.on('data', onSocketData);
    sock.on('close', onSocketClose);
    sock.on('drain', onSocketDrain);
    sock.on('error', noop);
  }

  // ---------------------------------------------------------------- handshake host

  createSession(p: PendingConnection, clientKey: Uint8Array): void {
    const id = this.#cluster ? this.#cluster.nextId() : this.#ids.take();
    if (id === null) {
      p.fail(
        this.#cluster
          ? 'cluster store unreachable and this edge has no session id left: new sessions are refused until it is back'
          : `no session id available yet from the ${this.#store.kind} store`,
        this.#cluster ? 'VL_ERR_CLUSTER_UNAVAILABLE' : 'VL_ERR_NO_IDS',
      );
      return;
    }
    const s = new Session(id, clientKey, p.address);
    s.createdAt = this.clock.now();
    // Recorded before the ClientId below can leave the process (the journal writes first in a turn).
    this.#store.created(id, clientKey, s.createdAt);
    this.sessions.set(id, s);
    this.#cluster?.created(s);
    this.counters.sessionsOpened++;
    // Derived in idle time now rather than during a reconnect storm, when every resume would need it at once.
    this.#keyQueue.add(s);
    // An inspected session gets its actor at once so the inspector sees it from the start; others get
    // theirs at their first lifecycle event.
    if (this.#inspect !== undefined && this.#inspectSession(id)) this.#actorOf(s, true);
    p.handOver();
    const sock = p.socket as ClientSocket;
    sock[kPending] = undefined;
    this.#adoptSocket(s, sock, p);
    s.writer!.writeFrame(encodeHandshake({ type: 'ClientId', id: BigInt(id) }));
    this.log.info({ sessionId: id, address: p.address, state: 'connected' }, 'session.created');
    this.#onLifecycle?.({ type: 'session.created', sessionId: id });
  }

  /**
   * The session's actor, created (in the machine's initial state, live.connected, where a new session
   * starts) on its first lifecycle event. Sessions join the supervisor's actor system.
   */
  #actorOf(s: Session, inspected = false): Actor<SessionMachine> {
    if (s.actor) return s.actor;
    // XState announces an actor ('@xstate.actor') from its constructor: the filter must know beforehand.
    this.#inspectNext = inspected;
    const actor = createActor(this.#sessionMachine, { input: { id: s.id }, parent: this.#supervisor });
    this.#inspectNext = false;
    s.actor = actor;
    actor.start();
    return actor;
  }

  requestResume(p: PendingConnection, idBig: bigint): Session | string | Promise<Session | string> {
    const now = this.clock.now();
    if (this.#failedByAddr.blocked(p.address, now)) return 'too many failed resumes from this address';
    const id = idBig <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(idBig) : -1;
    const s = id > 0 ? this.sessions.get(id) : undefined;
    const blocked = this.#cluster?.resumeBlocked();
    if (blocked) return blocked;
    if (!s && this.#cluster && id > 0) {
      return this.#cluster.resumeRemote(p, id).then((r) => {
        if (typeof r === 'string' && r.startsWith('resume of unknown')) this.#failedByAddr.record(p.address, this.clock.now());
        return r;
      });
    }
    if (!s) {
      this.#failedByAddr.record(p.address, now);
      return `resume of unknown session ${idBig}`;
    }
    // A pending challenge never blocks a later one: at the cap, the oldest gives way (it has been silent
    // longest; the owner answers within a round trip).
    if (s.challenges.length >= MAX_CHALLENGES_PER_SESSION) {
      s.challenges[0]!.fail('superseded by newer challenges of the same session', 'VL_ERR_RESUME_SUPERSEDED', { sessionId: id });
    }
    const actor = this.#actorOf(s);
    let round = actor.getSnapshot().context.attempt;
    if (s.challenges.length === 0) {
      // The first challenge of a round moves the machine to `challenged`; later ones join the round.
      round = this.#nextAttempt++;
      actor.send({ type: 'resume.requested', attempt: round });
      if (actor.getSnapshot().context.attempt !== round) return 'session cannot be resumed now';
    }
    s.challenges.push(p);
    p.attempt = round;
    this.log.info({ sessionId: id, address: p.address, state: 'challenged' }, 'session.challenged');
    this.#onLifecycle?.({ type: 'session.challenged', sessionId: id });
    return s;
  }

  deriveSessionKey(s: Session): Uint8Array | Error {
    return s.sessionKey((clientKey) => deriveSessionKey(this.keyPair.secretKey, clientKey));
  }

  resumePassed(p: PendingConnection): void {
    const s = p.session!;
    // In a cluster the session is claimed in Redis first (it may come from another edge).
    if (this.#cluster && s.challenges.includes(p)) return this.#cluster.passed(p, s);
    this.#resumePassedHere(p);
  }

  #resumePassedHere(p: PendingConnection): void {
    const s = p.session!;
    const i = s.challenges.indexOf(p);
    if (i < 0 || this.sessions.get(s.id) !== s) {
      p.end();
      return;
    }
    s.challenges.splice(i, 1);
    s.winner = p;
    this.#actorOf(s).send({ type: 'resume.passed', attempt: p.attempt });
    if (s.winner === p) {
      // The machine did not take it (the session is ending): drop the connection.
      s.winner = null;
      p.end();
    }
  }

  resumeFailed(p: PendingConnection, reason: string): void {
    const s = p.session;
    if (!s) return;
    this.counters.resumesFailed++;
    this.#onLifecycle?.({ type: 'resume.failed', sessionId: s.id, reason });
    // Failures count against the address that made them, never against the session's id.
    this.#failedByAddr.record(p.address, this.clock.now());
    const i = s.challenges.indexOf(p);
    if (this.#cluster && this.sessions.get(s.id) !== s) {
      if (i >= 0) this.#cluster.remoteFailed(s);
      return;
    }
    if (i < 0) return;
    s.challenges.splice(i, 1);
    // The round ends when its last challenge failed; until then the others may still answer.
    if (s.challenges.length === 0) this.#actorOf(s).send({ type: 'resume.failed', attempt: p.attempt, reason });
  }

  pendingEnded(p: PendingConnection): void {
    this.#pending.delete(p);
    const s = p.session;
    if (s && p.step !== 'done' && s.challenges.includes(p)) {
      // The attempt's socket went away mid-challenge.
      this.resumeFailed(p, 'connection closed during the challenge');
    }
  }

  refuse(p: PendingConnection, reason: string, detail?: Record<string, unknown>): void {
    this.counters.refused++;
    const transport = transportOf(p.socket);
    this.#refusals.refused('handshake.refused', p.address, reason, { transport, ...detail });
    this.#onLifecycle?.({ type: 'handshake.refused', address: p.address, reason, transport });
  }

  // ---------------------------------------------------------------- sockets of sessions

  /** Makes `sock` the session's socket, with the handshake's decoder (leftover bytes kept). */
  #adoptSocket(s: Session, sock: ClientSocket, p: PendingConnection): void {
    sock[kSession] = s;
    s.socket = sock;
    s.address = p.address;
    s.writer = new FrameWriter(sock);
    p.decoder.maxFrame = this.config.limits.maxFrameSize;
    s.decoder = p.decoder;
    s.outPackets = 0;
    if (this.#master.congested) this.#pauseClient(s);
  }

  /** Takes the socket away from the session; `destroy` closes it. No event is sent. */
  #detachSocket(s: Session, destroy: boolean): void {
    const sock = s.socket;
    if (!sock) return;
    s.socket = null;
    s.writer?.discard();
    s.writer = null;
    s.decoder = null;
    if (s.paused) {
      s.paused = false;
      this.#paused.delete(s);
    }
    if (destroy) sock.destroy();
  }

  /** Ends the session's socket after what is queued for it (Kick, oversize frame, shutdown): the data, then FIN. */
  #endSocket(s: Session): void {
    const sock = s.socket;
    if (!sock) return;
    s.writer?.flush();
    this.#detachSocket(s, false);
    endGracefully(sock);
  }

  #completeResume(s: Session): void {
    const p = s.winner;
    s.winner = null;
    if (!p) return;
    // The first valid response won: the other challenges of the round are over.
    for (const rival of s.challenges.splice(0)) rival.fail('another reconnect of this session passed first', 'VL_ERR_RESUME_FAILED', { sessionId: s.id });
    let carried: Uint8Array[] = [];
    const old = s.socket;
    if (old) {
      carried = s.writer?.takePending() ?? [];
      this.#detachSocket(s, true);
      this.log.info({ sessionId: s.id, oldAddress: s.address, address: p.address }, 'session.takeover');
    }
    const sock = p.socket as ClientSocket;
    sock[kPending] = undefined;
    p.handOver();
    this.#adoptSocket(s, sock, p);
    const w = s.writer!;
    w.writeRaw(PING_FRAME);
    for (const c of carried) w.writeRaw(c);
    const missed = s.missed;
    const replayed = missed?.count ?? 0;
    if (missed) {
      // The writer keeps large payloads by reference until its flush: those are copied out of the pooled block.
      for (const m of missed.packets()) w.writeFrame(m.length >= COPY_LIMIT ? m.slice() : m);
      this.counters.replayed += missed.count;
      missed.clear();
      s.missed = null;
    }
    this.#store.resumed(s.id);
    this.#master.sendControl(s.id, Flag.Reconnection);
    this.counters.resumes++;
    this.log.info({ sessionId: s.id, address: p.address, replayed, state: 'connected' }, 'session.resumed');
    this.#onLifecycle?.({ type: 'session.resumed', sessionId: s.id });
  }

  /** Client bytes: handshake frames while pending, else frames forwarded to the master. */
  onClientData(sock: ClientSocket, chunk: Buffer): void {
    const p = sock[kPending];
    if (p) {
      p.decoder.push(chunk);
      p.pump();
      const s = sock[kSession];
      if (s && s.socket === sock) this.#forwardFrames(s, sock);
      return;
    }
    const s = sock[kSession];
    if (!s || s.socket !== sock) return; // an old socket after a takeover: nothing it sends is forwarded
    s.decoder!.push(chunk);
    this.#forwardFrames(s, sock, chunk.length);
  }

  #forwardFrames(s: Session, sock: ClientSocket, bytes = 0): void {
    const dec = s.decoder!;
    const master = this.#master;
    let frames = 0;
    for (;;) {
      const f = dec.next();
      if (f === null) break;
      if (f instanceof ProtocolError) {
        this.log.warn({ sessionId: s.id, address: s.address, reason: f.message, code: f.code }, 'client.frame_too_large');
        this.#frameDeadlines.delete(s);
        this.#actorOf(s).send({ type: 'frame.oversize' });
        return;
      }
      frames++;
      master.sendData(s.id, f);
    }
    this.#frameDeadlines.afterRead(s, bytes, dec.bufferedBytes + (dec.pendingFrameLength >= 0 ? 4 : 0), frames);
    if (master.congested && s.socket === sock) this.#pauseClient(s);
  }

  onClientClose(sock: ClientSocket): void {
    this.#openSockets--;
    const addr = sock.remoteAddress ?? 'unknown';
    this.#addrCounts.dec(addr);
    const p = sock[kPending];
    if (p) {
      sock[kPending] = undefined;
      if (!p.ended) {
        p.fail('connection closed during the handshake');
      }
    }
    const s = sock[kSession];
    if (s && s.socket === sock) {
      this.#detachSocket(s, false);
      this.#frameDeadlines.delete(s);
      this.log.info({ sessionId: s.id, address: addr }, 'client.disconnected');
      this.#actorOf(s).send({ type: 'socket.closed', reason: 'closed', at: this.clock.now() });
    }
  }

  #pauseClient(s: Session): void {
    if (s.paused || !s.socket) return;
    s.paused = true;
    s.socket.pause();
    this.#paused.add(s);
  }

  #resumePaused(): void {
    for (const s of this.#paused) {
      s.paused = false;
      s.socket?.resume();
    }
    this.#paused.clear();
  }

  /** A frame in progress fell behind the minimum rate: cut the client off; the session goes stale like any drop. */
  #slowFrame(s: Session, d: { elapsedMs: number; received: number }): void {
    if (!s.socket || this.sessions.get(s.id) !== s) return;
    this.counters.slowFrames++;
    const L = this.config.limits;
    this.log.warn(
      { sessionId: s.id, address: s.address, received: d.received, elapsedMs: Math.round(d.elapsedMs), frameTimeoutSecs: L.frameTimeoutSecs, minFrameBytesPerSec: L.minFrameBytesPerSec },
      'client.frame_too_slow',
    );
    this.#detachSocket(s, true);
    this.#actorOf(s).send({ type: 'socket.closed', reason: 'frame too slow', at: this.clock.now() });
  }

  /**
   * At the handshake cap: drops the handshake idle longest (#pending is kept in order of last progress) if it
   * has been idle for SHED_MIN_IDLE_MS at least, making room for a new connection. Legit handshakes finish
   * within a round trip, so what idles at the head is what holds slots without using them.
   */
  #shedIdleHandshake(): boolean {
    const oldest = this.#pending.values().next().value as PendingConnection | undefined;
    if (!oldest || this.clock.now() - oldest.lastProgress < SHED_MIN_IDLE_MS) return false;
    this.counters.handshakesShed++;
    oldest.fail(`idle handshake shed to make room (handshakes in flight at the cap, step: ${oldest.step})`, 'VL_ERR_HANDSHAKE_SHED');
    return true;
  }

  /** A handshake moved on: it goes to the back of the shedding order. */
  progressed(p: PendingConnection): void {
    p.lastProgress = this.clock.now();
    if (this.#pending.delete(p)) this.#pending.add(p);
  }

  /** The listener failed to accept (EMFILE/ENFILE at the file-descriptor limit, ...): counted, logged throttled. */
  #onListenerError(err: NodeJS.ErrnoException): void {
    if (err.syscall === 'accept' || err.code === 'EMFILE' || err.code === 'ENFILE') {
      this.counters.acceptErrors++;
      const reason = `accept failed: ${err.code ?? err.message}${err.code === 'EMFILE' || err.code === 'ENFILE' ? ' (file-descriptor limit reached)' : ''}`;
      this.#refusals.refused('connection.refused', 'listener', reason, { code: err.code });
      this.#onLifecycle?.({ type: 'connection.refused', address: 'listener', reason });
      return;
    }
    this.log.error({ err: err.message, code: err.code }, 'listener.error');
  }

  /** A client that does not read: close its socket; the session goes stale like any drop. */
  #overflow(s: Session, why: string): void {
    this.log.warn({ sessionId: s.id, address: s.address, reason: why }, 'client.overflow');
    this.#detachSocket(s, true);
    this.#actorOf(s).send({ type: 'socket.closed', reason: why, at: this.clock.now() });
  }

  // ---------------------------------------------------------------- master -> clients

  #onMasterFrame(f: Uint8Array): void {
    if (f.length < TAG_SIZE) {
      this.counters.masterProtocolErrors++;
      this.log.warn({ bytes: f.length }, 'master.protocol_error: packet shorter than id + flag, skipped');
      return;
    }
    const flag = f[8]!;
    const id = readIdNumber(f, 0);
    if (flag === Flag.Data) {
      const s = id > 0 ? this.sessions.get(id) : undefined;
      if (s === undefined) return this.#cluster ? this.#cluster.unknownData(id, readU64LE(f, 0), f.subarray(TAG_SIZE)) : this.#unknownId(f, id);
      if (s.cluster !== null && s.cluster.fromOtherEdge) s.cluster.fromOtherEdge = false;
      const data = f.subarray(TAG_SIZE);
      const w = s.writer;
      if (w !== null) {
        w.writeFrame(data);
        const C = this.config.clients;
        if (++s.outPackets > C.channelCapacity) {
          if (s.socket!.writableLength === 0) s.outPackets = 1;
          else return this.#overflow(s, `outgoing queue over ${C.channelCapacity} packets`);
        }
        if (s.outPackets === 1) s.outHead = data.length + 4;
        // The packet in flight is not counted: one packet of any size always fits (an 8 MiB one under a 4 MiB cap).
        if (w.backlogBytes - s.outHead > C.channelCapacityBytes) this.#overflow(s, `outgoing queue over ${C.channelCapacityBytes} bytes`);
        return;
      }
      return this.#bufferMissed(s, data);
    }
    if (flag === Flag.Kick) {
      const s = id > 0 ? this.sessions.get(id) : undefined;
      if (s === undefined) {
        if (this.#cluster?.unknownKick(id)) return;
        this.log.info({ sessionId: id >= 0 ? id : logId(readU64LE(f, 0)) }, 'master.kick_unknown: ignored');
        return;
      }
      this.log.info({ sessionId: id }, 'session.kicked');
      this.#actorOf(s).send({ type: 'session.kick' });
      return;
    }
    this.counters.masterProtocolErrors++;
    this.log.warn(
      { sessionId: id >= 0 ? id : logId(readU64LE(f, 0)), flag },
      flag <= 3 ? 'master.protocol_error: edge-to-master flag from the master, skipped' : 'master.protocol_error: unknown flag, skipped',
    );
  }

  #bufferMissed(s: Session, data: Uint8Array): void {
    const C = this.config.clients;
    const missed = s.missed;
    const count = missed?.count ?? 0;
    if (count >= C.missedPacketsBufferSize || (missed?.bytes ?? 0) + data.length > C.missedPacketsBufferBytes) {
      this.log.info({ sessionId: s.id, buffered: count }, 'session.missed_overflow');
      this.#cluster?.overflowing(s, data);
      this.#actorOf(s).send({ type: 'missed.overflow' });
      return;
    }
    (s.missed ??= new ReplayBuffer(this.replayPool)).push(data);
    this.#cluster?.buffered(s, data);
  }

  /**
   * Master data for an id with no session (never issued, ended with its Failure, or kicked): answered with a
   * Failure every time, so a master that missed a session's Failure learns it at its next send. The edge keeps
   * nothing of ended ids for this.
   */
  #unknownId(f: Uint8Array, id: number): void {
    const big = readU64LE(f, 0);
    this.counters.failuresSent++;
    this.log.info({ sessionId: logId(big) }, 'master.data_for_unknown_session: Failure sent');
    this.#master.sendControl(big, Flag.Failure, utf8.encode('unknown client'));
  }

  // ---------------------------------------------------------------- sessions across processes (src/store)

  /** Restores the store's sessions, all away: stale since their own time, else the shutdown, else now. */
  #restore(stored: StoredSession[], stoppedAt: number | null): void {
    if (stored.length === 0) return;
    const now = this.clock.now();
    const ctx = {
      machine: this.#sessionMachine,
      pool: this.replayPool,
      parent: this.#supervisor,
      onBadSnapshot: (id: number, err: unknown) =>
        this.log.warn({ sessionId: id, err: String(err) }, 'session.restore_snapshot_failed: restored from its record'),
      creating: (id: number | null) => {
        this.#inspectNext = id !== null && this.#inspect !== undefined && this.#inspectSession(id);
      },
    };
    // Restored oldest stale time first (then by id): the order in which they are evicted past max_stale_clients.
    const since = (r: StoredSession): number => r.staleSince ?? stoppedAt ?? now;
    stored = [...stored].sort((a, b) => since(a) - since(b) || a.id - b.id);
    let buffered = 0;
    for (const r of stored) {
      const s = restoreSession(r, ctx);
      this.sessions.set(s.id, s);
      buffered += s.missed?.count ?? 0;
    }
    for (const r of stored) {
      const s = this.sessions.get(r.id);
      if (!s?.actor) continue;
      s.actor.start();
      s.actor.send({ type: 'edge.restored', at: since(r) });
      this.#onLifecycle?.({ type: 'session.stale', sessionId: s.id });
    }
    this.log.info({ sessions: stored.length, stale: this.#stale.size, buffered, stoppedAt, store: this.#store.kind }, 'store.restored');
  }

  /** Shutdown with sessions kept: every socket closed without ending its session, every live session stale now. */
  #detachAll(): void {
    const now = this.clock.now();
    // In id order (creation order): which live sessions are evicted past max_stale_clients does not depend on history.
    for (const s of [...this.sessions.values()].sort((a, b) => a.id - b.id)) {
      for (const a of s.challenges.splice(0)) a.end();
      if (!s.socket) continue;
      this.#endSocket(s);
      // Stale from now: master data until the link closes follows the stale rules (buffered, or a Failure).
      this.#actorOf(s).send({ type: 'socket.closed', reason: 'shutdown', at: now });
    }
  }

  /** Writes every session with its snapshot and replay buffer to the store, then stops the actors. */
  async #saveAll(): Promise<void> {
    const list = [...this.sessions.values()];
    const t0 = performance.now();
    try {
      await this.#store.saveAll(list.map(toStored), this.clock.now());
      this.log.info({ sessions: list.length, ms: Math.round(performance.now() - t0), store: this.#store.kind }, 'store.saved');
    } catch (err) {
      this.log.error({ err: String(err), store: this.#store.kind }, 'store.save_failed: sessions will not survive this restart');
    }
    // Done in this process: the actors reach `kept` (final), which cancels their timers; the sessions do not end.
    for (const s of list) s.actor?.send({ type: 'edge.kept' });
  }
}

function noop(): void {}

/**
 * Challenges of one session outstanding at once. Past it the oldest is dropped for the newest, so silent
 * challenges (an attacker who knows the id) can never hold the owner out; each costs its address a failure.
 */
export const MAX_CHALLENGES_PER_SESSION = 16;

/** A handshake idle this long at least may be shed at the handshake cap. */
export const SHED_MIN_IDLE_MS = 250;

/** A socket that ends gracefully is destroyed if its peer has not closed it within this time. */
const CLOSE_GRACE_MS = 1_000;

/** Sends FIN after the queued data; destroys the socket if it is not closed within CLOSE_GRACE_MS (ws's close timer). */
function endGracefully(sock: ClientConnection): void {
  if (sock.destroyed) return;
  sock.end();
  const timer = setTimeout(() => sock.destroy(), CLOSE_GRACE_MS);
  timer.unref();
  sock.once('close', () => clearTimeout(timer));
}

function onHandshakeTimeout(p: PendingConnection): void {
  p.timer = null;
  p.fail(`handshake not finished within the timeout (step: ${p.step})`, 'VL_ERR_HANDSHAKE_TIMEOUT');
}

// Module-level listeners shared by every client socket: the owner is found by symbol, no closure per socket.
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

function onSocketClose(this: ClientSocket): void {
  this[kEdge]!.onClientClose(this);
}

function onSocketDrain(this: ClientSocket): void {
  const s = this[kSession];
  if (s && s.socket === this) s.outPackets = 0;
}

