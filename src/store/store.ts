// The session store: what the edge keeps of its sessions outside its own memory, so that they outlive the process.
// One interface, several backends: the embedded files (state file + journal, file-store.ts) and network stores.
//
// Contract, for every backend:
// - The lifecycle methods (created, stale, resumed, ended) are synchronous and cheap: they queue a record; the
//   backend writes what was queued in one batch per event-loop turn, never per packet. A record is written
//   before any client socket data of the same turn leaves the process (file backend) or as soon as the network
//   allows (a network backend; `flush()` says when it is durable).
// - Nothing here runs on the per-packet path. Replay buffers are handed over whole, at shutdown (saveAll) or
//   when a backend needs them elsewhere.
// - A backend never throws out of a lifecycle method: a write error is reported through `onError` and the edge
//   keeps serving (a session whose records were lost still works in this process; it may not survive it).

/** One session as the store keeps it. */
export interface StoredSession {
  readonly id: number;
  /** The client's public key, SEC1 (33 bytes compressed, or 65 uncompressed) as the client sent it. */
  readonly clientKey: Uint8Array;
  /** Wall-clock ms when the session was created. */
  readonly createdAt: number;
  /** Wall-clock ms when the session last went stale; null while (last known) live. */
  readonly staleSince: number | null;
  /**
   * The client address it last connected from: a restored session counts against it in the stale table (its
   * share per address, and whom a full table evicts). Absent in records that predate it.
   */
  readonly address?: string;
  /**
   * The session actor's persisted snapshot (XState `actor.getPersistedSnapshot()`), when the edge wrote one
   * (graceful shutdown); null when the session is known from the journal only (a crash) or never had an actor.
   */
  readonly snapshot: unknown;
  /** Master packets buffered for the client while it was away, oldest first (payloads, unframed). */
  readonly replay: readonly Uint8Array[];
}

/** What a store hands the edge at start. */
export interface LoadedState {
  /** Every session that had not ended, in id order. */
  readonly sessions: StoredSession[];
  /** Ids below this may have been issued before (by any process): they are never issued again. */
  readonly nextId: number;
  /** Wall-clock ms of the previous process's graceful shutdown; null if it did not shut down gracefully (crash) or none ran. */
  readonly stoppedAt: number | null;
  /** Whether any earlier state existed at all (false on a first start). */
  readonly found: boolean;
  /** Hex of the edge public key the sessions were created under; null when unknown. */
  readonly edgePublicKey: string | null;
  /** What could not be read, one line each (already logged as errors by the backend). */
  readonly problems: string[];
}

/** A block of ids handed to one edge: [first, end). */
export interface IdBlock {
  readonly first: number;
  readonly end: number;
}

/** Why a session ended, as recorded. */
export type EndReason = string;

export interface SessionStore {
  /** A short name for logs ("file", "redis"). */
  readonly kind: string;

  /**
   * Reads everything the store holds: the sessions that had not ended and the id floor. Called once, before
   * the edge accepts anything. A backend that finds damaged data moves it aside (or discards it), logs an
   * error naming it, and returns what it could read: it rejects only when it cannot work at all.
   */
  load(): Promise<LoadedState>;

  /**
   * Reserves `count` fresh ids that no process of this store ever had or will get, recorded durably before
   * the promise resolves (so a crash right after can never lead to reuse). The edge asks for blocks ahead of
   * need (ids.ts), so this is off the hot path; a cluster backend hands disjoint blocks to its edges.
   */
  allocateIds(count: number): Promise<IdBlock>;

  /** A session was created (before its ClientId is sent), by a client at `address`. */
  created(id: number, clientKey: Uint8Array, at: number, address?: string): void;
  /** The session lost its socket at `since` (wall-clock ms): its stale clock runs from there. */
  stale(id: number, since: number, address?: string): void;
  /** The session resumed on a new socket (from `address`): live again. */
  resumed(id: number, address?: string): void;
  /** The session ended (any reason, kick included): it is forgotten; its id is never issued again. */
  ended(id: number, reason: EndReason): void;

  /**
   * Graceful shutdown: writes every session (live and stale, with snapshot and replay buffer) and `stoppedAt`
   * as one consistent state, replacing what the store held. After it resolves, `load()` in a new process
   * returns exactly these sessions.
   */
  saveAll(sessions: Iterable<StoredSession>, stoppedAt: number): Promise<void>;

  /**
   * Gives the backend the edge's view of its current sessions, which it may read at any time (on the
   * event-loop thread) to compact what it holds, e.g. rewrite a state file so that a journal stays short.
   */
  attach(source: () => Iterable<StoredSession>): void;

  /** Resolves when every record queued so far is as durable as the backend makes it. */
  flush(): Promise<void>;

  /** Flushes and releases files, timers and connections. The store is unusable afterwards. Idempotent. */
  close(): Promise<void>;
}

/** What a backend reports (write failures, damaged data moved aside); the edge logs it. */
export interface StoreEvents {
  /** A failure to write or read; `path` names the file or key concerned when there is one. */
  onError(message: string, detail: { path?: string; err?: unknown }): void;
  /** Something worth an info line (a checkpoint written, a damaged file moved aside is an error, not this). */
  onInfo?(message: string, detail: Record<string, unknown>): void;
}
