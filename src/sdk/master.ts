// voltlane/master: the backend side of the firehose. Listens for Voltlane edges, emits their
// tagged packets as events, and routes the master's Data and Kick packets back (PROTOCOL.md sec. 5).
import { EventEmitter } from 'node:events';
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import type { ProtocolError } from '../io/errors.js';
import { Flag, TAG_SIZE } from '../io/firehose.js';
import { MAX_U32 } from '../io/framing.js';
import { parseListenAddress } from './master-address.js';
import { EdgeConnection, type EdgeHost, type EdgeSettings } from './master-edge.js';
import { MasterError } from './master-error.js';

export { EdgeConnection } from './master-edge.js';
export { MasterError, type MasterErrorCode } from './master-error.js';
export { ProtocolError, type ProtocolErrorCode } from '../io/errors.js';

/** The frame cap of the original backend helper: 8 MiB. */
export const DEFAULT_MAX_FRAME_SIZE = 8_388_608;
export const DEFAULT_HIGH_WATER_MARK = 4 * 1024 * 1024;
export const DEFAULT_CLOSE_TIMEOUT_MS = 5_000;

/** The subset of a pino logger the master uses. */
export interface MasterLogger {
  warn(obj: object, msg: string): void;
}

export interface MasterOptions {
  /** Largest frame accepted from an edge, in bytes (id and flag included). Default 8,388,608. */
  maxFrameSize?: number;
  /** Per-edge write backlog, in bytes, past which send() returns false. Default 4 MiB. */
  highWaterMark?: number;
  /**
   * A short packet, an unknown flag or a Kick from an edge: 'close' (default) drops that edge
   * connection with the error; 'skip' reports it and reads on. An oversized frame always closes.
   */
  onProtocolError?: 'close' | 'skip';
  /** Where protocol errors go when nobody listens for 'error'. Without it they are dropped. */
  logger?: MasterLogger;
  /** How long close() waits for an edge to hang up before cutting it off. Default 5000 ms. */
  closeTimeoutMs?: number;
}

export interface MasterEvents {
  /**
   * Client data. `data` is a view into the receive buffer, valid until the listener returns:
   * copy it (`data.slice()`) to keep it.
   */
  data: [id: bigint, data: Uint8Array, edge: EdgeConnection];
  /**
   * The session ended for good (the edge's Failure packet): `id` gets no more packets. This is the
   * only event that ends a session (besides your own kick(), which the edge does not answer): stale
   * expiry, eviction, buffer overflow, an oversized client frame, an edge shutdown with
   * `persist_sessions = false` ("shutdown"). A dropped edge link is `edgeClosed`, never this.
   */
  failure: [id: bigint, reason: string, edge: EdgeConnection];
  /**
   * The session's client is back on a new socket, or (cluster) the session moved to `edge`: from
   * now on send() routes `id` there. After an edge restart each session whose client resumes
   * gets one.
   */
  reconnection: [id: bigint, edge: EdgeConnection];
  /** An edge connected (a new edge, or one that dialed again after its link dropped or it restarted). */
  edge: [edge: EdgeConnection];
  /**
   * An edge link closed; `error` says why when it was not a clean close. This ends no session: the
   * edge keeps its sessions while the link is down (it holds what clients send and redials), and a
   * restarted edge restores them (unless `persist_sessions = false`, whose shutdown sends a Failure
   * for each before the link closes). The routes through this link are dropped: until an id speaks
   * again, send() reaches it only while exactly one edge is connected.
   */
  edgeClosed: [edge: EdgeConnection, error: Error | undefined];
  /** An edge sent a malformed packet (a ProtocolError), or the listener failed. */
  error: [err: Error, edge: EdgeConnection | undefined];
}

export type ListenTarget = string | number | { host: string; port: number };

const kListen = Symbol('voltlane.master.listen');
const failureText = new TextDecoder('utf-8');

function resolveSettings(options: MasterOptions): EdgeSettings & { logger: MasterLogger | undefined } {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('voltlane/master: options must be an object');
  }
  const { maxFrameSize = DEFAULT_MAX_FRAME_SIZE, highWaterMark = DEFAULT_HIGH_WATER_MARK } = options;
  const { onProtocolError = 'close', logger, closeTimeoutMs = DEFAULT_CLOSE_TIMEOUT_MS } = options;
  if (!Number.isInteger(maxFrameSize) || maxFrameSize < TAG_SIZE || maxFrameSize > MAX_U32) {
    throw new RangeError(`voltlane/master: option maxFrameSize must be an integer ${TAG_SIZE}..${MAX_U32}, got ${maxFrameSize}`);
  }
  if (!Number.isInteger(highWaterMark) || highWaterMark < 1) {
    throw new RangeError(`voltlane/master: option highWaterMark must be a positive integer (bytes), got ${highWaterMark}`);
  }
  if (onProtocolError !== 'close' && onProtocolError !== 'skip') {
    throw new TypeError(`voltlane/master: option onProtocolError must be 'close' or 'skip', got ${String(onProtocolError)}`);
  }
  if (logger !== undefined && typeof logger?.warn !== 'function') {
    throw new TypeError('voltlane/master: option logger must have a warn(obj, msg) method');
  }
  if (!Number.isFinite(closeTimeoutMs) || closeTimeoutMs <= 0) {
    throw new RangeError(`voltlane/master: option closeTimeoutMs must be a positive number, got ${closeTimeoutMs}`);
  }
  return { maxFrameSize, highWaterMark, skipMalformed: onProtocolError === 'skip', closeTimeoutMs, logger };
}

/**
 * Starts a master listening for Voltlane edges. `address`: "host:port", "[::1]:port",
 * "::1:42000", {host, port}, or a bare port (every interface). Port 0 picks a free port: read
 * it from `server.address`.
 *
 * ```ts
 * const master = await listen('127.0.0.1:42001');
 * master.on('data', (id, data) => master.send(id, data)); // echo
 * master.on('failure', (id, reason) => console.log(`client ${id} gone: ${reason}`));
 * ```
 */
export async function listen(address: ListenTarget, options: MasterOptions = {}): Promise<MasterServer> {
  const settings = resolveSettings(options);
  const { host, port } = parseListenAddress(address);
  const master = new MasterServer(settings, settings.logger);
  await master[kListen](host, port);
  return master;
}

/**
 * A listening master: the edges that dial it and the routes from client ids to them.
 *
 * Link versus sessions: an edge link that drops (`edgeClosed`: the network, the edge restarting or
 * crashing, your close()) says nothing about the sessions behind it. Sessions end only with a
 * `failure` event (or your kick()); keep per-session state until then. When the edge is back
 * (`edge`), clients that resume announce themselves with `reconnection`.
 *
 * With several
 * edges, send() and kick() go to the edge that last sent a packet for the id (use
 * EdgeConnection.send to choose explicitly). Edges of one cluster hand out ids unique across the
 * cluster and a session may move between them: its new edge announces it with a Reconnection, and
 * from then on the route follows it (edgeOf tells where an id is held). Data sent to the old edge
 * just before the move still reaches the client (the edges forward it), or ends the session with
 * one Failure if it could not be delivered in order.
 */
export class MasterServer extends EventEmitter<MasterEvents> {
  readonly #server: Server;
  readonly #settings: EdgeSettings;
  readonly #logger: MasterLogger | undefined;
  readonly #edges = new Set<EdgeConnection>();
  /** The one edge, while exactly one is connected. */
  #sole: EdgeConnection | undefined;
  /** Client id -> the edge that last sent something for it; dropped on Failure, Kick, edge close. */
  readonly #routes = new Map<bigint, EdgeConnection>();
  #address: { host: string; port: number } | undefined;
  #closing: Promise<void> | undefined;
  readonly #host: EdgeHost;

  /** @internal Use listen(). */
  constructor(settings: EdgeSettings, logger: MasterLogger | undefined) {
    super();
    this.#settings = settings;
    this.#logger = logger;
    this.#host = {
      packet: (edge, id, flag, data) => this.#onPacket(edge, id, flag, data),
      protocolError: (edge, err) => this.#report(err, edge),
      kicked: (edge, id) => this.#forget(edge, id),
      closed: (edge, error) => this.#onEdgeClosed(edge, error),
    };
    this.#server = createServer(
      { allowHalfOpen: true, noDelay: true, highWaterMark: settings.highWaterMark },
      (socket) => this.#onConnection(socket),
    );
  }

  /** @internal */
  [kListen](host: string | undefined, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = this.#server;
      const onError = (err: Error): void => {
        const e = new Error(`voltlane/master: cannot listen on ${host ?? '*'}:${port}: ${err.message}`, { cause: err });
        reject(Object.assign(e, { code: (err as NodeJS.ErrnoException).code ?? 'VL_ERR_LISTEN' }));
      };
      server.once('error', onError);
      server.listen({ host, port }, () => {
        server.off('error', onError);
        server.on('error', (err) => this.#report(err, undefined));
        const info = server.address() as AddressInfo;
        this.#address = { host: info.address, port: info.port };
        resolve();
      });
    });
  }

  /** The bound address (the real port when listening on port 0). */
  get address(): { host: string; port: number } {
    return { ...this.#address! };
  }

  /** The connected edges. */
  get edges(): ReadonlySet<EdgeConnection> {
    return this.#edges;
  }

  /**
   * The edge that holds client `id` as far as this master knows: the one that last sent a Data or
   * Reconnection for it (or the only edge); undefined when none is known (the id failed, was kicked,
   * its edge's link closed, or several edges are connected and none has spoken for it yet).
   */
  edgeOf(id: bigint): EdgeConnection | undefined {
    return this.#routes.get(id) ?? this.#sole;
  }

  /**
   * Queues a Data packet for client `id` on the edge that last sent something for it (or the
   * only edge). Returns false when that edge's backlog is at or over highWaterMark: await
   * drain(). Throws MasterError VL_ERR_NO_EDGE when no edge is connected, VL_ERR_NO_ROUTE when
   * several are and none has sent anything for `id` (or it failed or was kicked).
   */
  send(id: bigint, data: Uint8Array | string): boolean {
    return this.#route(id, 'send to').send(id, data);
  }

  /** Queues a Kick for client `id` (routed like send); its route is forgotten. */
  kick(id: bigint): boolean {
    return this.#route(id, 'kick').kick(id);
  }

  /** Resolves when every edge connection's backlog is under highWaterMark (closed ones count as drained). */
  async drain(): Promise<void> {
    await Promise.all([...this.#edges].map((edge) => edge.drain().catch(() => undefined)));
  }

  /** Stops listening, flushes and closes every edge connection; resolves when all are closed. */
  close(): Promise<void> {
    this.#closing ??= Promise.all([
      new Promise<void>((resolve) => this.#server.close(() => resolve())),
      ...[...this.#edges].map((edge) => edge.close()),
    ]).then(() => undefined);
    return this.#closing;
  }

  #route(id: bigint, what: string): EdgeConnection {
    const edge = this.#routes.get(id) ?? this.#sole;
    if (edge !== undefined) return edge;
    if (this.#edges.size === 0) {
      throw new MasterError('VL_ERR_NO_EDGE', `voltlane/master: cannot ${what} id ${String(id)}: no edge is connected`);
    }
    throw new MasterError(
      'VL_ERR_NO_ROUTE',
      `voltlane/master: cannot ${what} id ${String(id)}: ${this.#edges.size} edges are connected and none has sent anything for this id`,
    );
  }

  #onConnection(socket: Socket): void {
    if (this.#closing !== undefined) {
      socket.destroy();
      return;
    }
    const edge = new EdgeConnection(socket, this.#host, this.#settings);
    this.#edges.add(edge);
    this.#sole = this.#edges.size === 1 ? edge : undefined;
    this.emit('edge', edge);
  }

  /** The per-packet path: one Map lookup, one emit. */
  #onPacket(edge: EdgeConnection, id: bigint, flag: number, data: Uint8Array): void {
    if (flag === Flag.Data) {
      if (this.#routes.get(id) !== edge) this.#routes.set(id, edge);
      this.emit('data', id, data, edge);
    } else if (flag === Flag.Failure) {
      this.#forget(edge, id);
      this.emit('failure', id, failureText.decode(data), edge);
    } else {
      this.#routes.set(id, edge);
      this.emit('reconnection', id, edge);
    }
  }

  #forget(edge: EdgeConnection, id: bigint): void {
    if (this.#routes.get(id) === edge) this.#routes.delete(id);
  }

  #onEdgeClosed(edge: EdgeConnection, error: Error | undefined): void {
    if (!this.#edges.delete(edge)) return;
    for (const [id, owner] of this.#routes) if (owner === edge) this.#routes.delete(id);
    this.#sole = this.#edges.size === 1 ? this.#edges.values().next().value : undefined;
    this.emit('edgeClosed', edge, error);
  }

  /** Protocol errors never throw: emitted if someone listens, else logged, else dropped. */
  #report(err: Error, edge: EdgeConnection | undefined): void {
    if (this.listenerCount('error') > 0) {
      this.emit('error', err, edge);
    } else {
      this.#logger?.warn(
        { err, code: (err as Partial<ProtocolError>).code, edge: edge?.toString() },
        'master.protocol_error',
      );
    }
  }
}

/**
 * Echoes every Data packet back to its id on the edge it came from (demo and benchmarks).
 * An edge whose backlog passes highWaterMark is paused until it drains. Returns a detach function.
 */
export function createEchoHandler(server: MasterServer): () => void {
  const paused = new WeakSet<EdgeConnection>();
  const onData = (id: bigint, data: Uint8Array, edge: EdgeConnection): void => {
    // `data` views a receive chunk that is never reused, so queueing it without a copy is safe.
    if (edge.send(id, data) || paused.has(edge)) return;
    paused.add(edge);
    edge.pause();
    edge.drain().then(
      () => {
        paused.delete(edge);
        edge.resume();
      },
      () => paused.delete(edge),
    );
  };
  server.on('data', onData);
  return () => {
    server.off('data', onData);
  };
}
