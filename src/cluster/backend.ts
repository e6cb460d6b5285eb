// What a cluster member needs from the store that the edges share: the ten atomic operations (one Lua script each
// in Redis, one whole function call in the primary process), record reads, membership checks and messages between
// members. Two backends: Redis/Valkey (redis-cluster.ts) and the primary process of `voltlane --workers N` over
// Node's cluster IPC (ipc-backend.ts, served by memory-cluster.ts).
//
// Messages between members are byte strings, the same for both backends: M<id> (moved away), R<id>:<requester>
// (release request), D<id> (released), F<id>:<bytes> (forwarded master data), K<id> (forwarded kick).

export class ClusterError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'ClusterError';
    this.code = code;
  }
}

export interface SessionRecord {
  owner: string;
  epoch: number;
  key: Uint8Array;
  state: 'live' | 'stale';
  staleSince: number | null;
}

export interface AdoptedSession {
  id: number;
  epoch: number;
  key: Uint8Array;
  staleSince: number;
  missed: Uint8Array[];
}

export type ClaimResult =
  | { ok: true; previousOwner: string; epoch: number; missed: Uint8Array[] }
  | { ok: false; reason: 'gone' | 'raced' | 'live' | 'unavailable'; owner?: string };

export interface HeartbeatResult {
  /** False when the store lost this member's entry (its data was lost): the member joins again and resyncs. */
  alive: boolean;
  members: string[];
  dead: string[];
}

/** The shared store as a member sees it. Every operation is atomic in the store; `member` is the caller. */
export interface ClusterBackend {
  /** 'redis' or 'primary', for logs and metrics. */
  readonly kind: string;
  /** Where the store is, for logs (a Redis URL without its password, or "primary pid N"). */
  readonly where: string;
  /** True while the store answers. */
  readonly ready: boolean;
  /** The link's state for /readyz ("ready", "reconnecting", "closed", ...). */
  readonly status: string;

  /** Connects and starts delivering this member's messages to `onMessage`; `onReconnected` after a lost link came back. */
  connect(member: string, onMessage: (msg: Buffer) => void, onReconnected: () => void, onError: (err: Error) => void): Promise<void>;
  /** Raises the id counter to at least `floor`, adds `count` and returns the result (the last id of the block). */
  allocIds(count: number, floor: number): Promise<number>;
  /** Records the cluster's key (first member) or returns the differing cluster key; renews membership. */
  join(publicKeyHex: string, member: string, timeoutMs: number): Promise<{ ok: true } | { ok: false; clusterKey: string }>;
  heartbeat(member: string, timeoutMs: number): Promise<HeartbeatResult>;
  create(member: string, id: number, key: Uint8Array): Promise<void>;
  /** Marks a session of `member` stale; `notify` names a member waiting for its release (sent D<id>). True if owned. */
  stale(member: string, id: number, since: number, ttlMs: number, notify: string): Promise<boolean>;
  deliver(member: string, id: number, data: Uint8Array, ttlMs: number): Promise<'ok' | 'fwd' | 'gone'>;
  kick(member: string, id: number): Promise<'fwd' | 'mine' | 'gone'>;
  end(member: string, id: number, data: Uint8Array | null, kick: boolean): Promise<'ended' | 'moved' | 'gone'>;
  claim(member: string, id: number, epoch: number, ownerDead: boolean): Promise<Exclude<ClaimResult, { reason: 'unavailable' }>>;
  /** Takes over a dead member's sessions, stale, with their missed packets; [] if it is alive or already adopted. */
  adopt(dead: string, member: string, timeoutMs: number, ttlMs: number): Promise<AdoptedSession[]>;
  lookup(id: number): Promise<SessionRecord | null>;
  /** Whether `member` renewed its membership within the timeout. */
  isAlive(member: string): Promise<boolean>;
  /** Sends a message to one member. */
  publish(member: string, msg: string): Promise<void>;
  /** Writes a local session's record again (after the store lost its data). */
  rewrite(member: string, id: number, key: Uint8Array, staleSince: number | null, epoch: number, missed: readonly Uint8Array[], ttlMs: number): Promise<void>;
  /** Ends the membership at once (the others adopt the sessions at their next heartbeat). */
  leave(member: string): Promise<void>;
  close(): Promise<void>;
}
