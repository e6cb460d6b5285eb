// Edge inspection: the observer the Edge attaches to the supervisor and the sampled sessions, a bounded queue
// drained once per event-loop turn into the relay, and the list of inspected actors for late-joining UIs.
import type { ActorRefLike, InspectionEvent, Observer } from 'xstate';
import { actorEvent, toStately } from './convert.js';
import { DropQueue } from './queue.js';
import { InspectRelay } from './relay.js';
import { SessionSampler } from './sampler.js';

export interface EdgeInspectorOptions {
  /** Relay port on loopback; 0 picks a free one. */
  port: number;
  host?: string;
  /** Most sessions inspected at once (`--inspect-sessions`); default 10. */
  sessions?: number;
  /** A session followed whatever the sample (`--inspect-id`). */
  followId?: number | null;
  /** Events held for the relay at most; past it they are dropped and counted. Default 4096. */
  queueCapacity?: number;
  /** Unsent bytes per UI before events to it are dropped. Default 1 MiB. */
  maxBufferedBytes?: number;
}

export interface InspectorStats {
  clients: number;
  inspectedSessions: number;
  queued: number;
  /** Events sent, counted once per UI. */
  sent: number;
  /** Events dropped because the queue was full. */
  droppedQueueFull: number;
  /** Events dropped because a UI had too much unsent. */
  droppedSlowClient: number;
}

const DEFAULT_SESSIONS = 10;

export class EdgeInspector {
  readonly relay: InspectRelay;
  readonly sampler: SessionSampler;
  readonly #queue: DropQueue<InspectionEvent>;
  /** Inspected actors that are still running, by XState sessionId, with their root id. */
  readonly #actors = new Map<string, { ref: ActorRefLike; rootId: string | undefined }>();
  /** Every actor shown to the UIs (registered), running or not: an event from any other actor is not shown. */
  readonly #shown = new WeakSet<object>();
  /**
   * Events from actors not shown (an unsampled session's `xstate.done.actor` to the supervisor): left out, and
   * so is the snapshot they produce in the receiving actor, which would name them too.
   */
  readonly #hidden = new WeakSet<object>();
  #scheduled = false;
  #closed = false;

  /** The observer for EdgeOptions.inspect: O(1), no serialization, never throws. */
  readonly observer: Observer<InspectionEvent> = { next: (ev) => this.#observe(ev) };
  /** For EdgeOptions.inspectSession. */
  readonly inspectSession = (id: number): boolean => this.sampler.admit(id);

  constructor(o: EdgeInspectorOptions) {
    this.sampler = new SessionSampler({ maxSessions: o.sessions ?? DEFAULT_SESSIONS, followId: o.followId ?? null });
    this.#queue = new DropQueue(o.queueCapacity ?? 4096);
    this.relay = new InspectRelay({
      port: o.port,
      ...(o.host ? { host: o.host } : {}),
      ...(o.maxBufferedBytes ? { maxBufferedBytes: o.maxBufferedBytes } : {}),
      onClient: () => [...this.#actors.values()].map((a) => JSON.stringify(actorEvent(a.ref, a.rootId))),
    });
  }

  /** Starts the relay; resolves with the URL to open. */
  start(): Promise<string> {
    return this.relay.start();
  }

  stats(): InspectorStats {
    return {
      clients: this.relay.clients,
      inspectedSessions: this.sampler.size,
      queued: this.#queue.size,
      sent: this.relay.sent,
      droppedQueueFull: this.#queue.dropped,
      droppedSlowClient: this.relay.dropped,
    };
  }

  #observe(ev: InspectionEvent): void {
    if (this.#closed) return;
    if (ev.type === '@xstate.actor') {
      this.#actors.set(ev.actorRef.sessionId, { ref: ev.actorRef, rootId: ev.rootId });
      this.#shown.add(ev.actorRef);
    } else if (ev.type === '@xstate.snapshot') {
      if (ev.snapshot.status !== 'active') {
        this.#actors.delete(ev.actorRef.sessionId);
        const id = sessionIdOf(ev.actorRef);
        if (id !== null) this.sampler.release(id);
      }
      if (this.#hidden.has(ev.event)) return;
    } else if (ev.type === '@xstate.event') {
      if (ev.sourceRef !== undefined && !this.#shown.has(ev.sourceRef)) {
        this.#hidden.add(ev.event);
        return;
      }
    } else {
      return; // microsteps and actions: the inspector does not show them
    }
    if (this.relay.clients === 0) return;
    this.#queue.push(ev, ev.type === '@xstate.actor');
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  /** Serializes and sends what is queued, once per turn, after the data path's work. */
  #flush(): void {
    this.#scheduled = false;
    for (let ev = this.#queue.shift(); ev !== undefined; ev = this.#queue.shift()) {
      const out = toStately(ev);
      if (out !== null) this.relay.broadcast(JSON.stringify(out), ev.type === '@xstate.actor');
    }
  }

  /**
   * Sends what is still queued (the supervisor's drain and stop, the sessions' final states: call it after the
   * edge stopped), then closes the UIs' sockets with 1001 (going away) once their data is out.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    this.#actors.clear();
    await this.relay.close();
  }
}

/** The Voltlane session id of a session actor (its context.id), or null for other actors. */
function sessionIdOf(ref: ActorRefLike): number | null {
  const logic = (ref as unknown as { logic?: { id?: string } }).logic;
  if (logic?.id !== 'session') return null;
  const ctx = (ref.getSnapshot() as { context?: { id?: unknown } }).context;
  return typeof ctx?.id === 'number' ? ctx.id : null;
}
