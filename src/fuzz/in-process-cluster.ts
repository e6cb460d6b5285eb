// One cluster store for edges in this process (the lifecycle fuzzer's multi-edge target): a MemoryClusterStore
// (the store `voltlane --workers N` runs in its primary) behind one ClusterBackend per member. Each operation runs
// whole when called, as a Lua script in Redis or a request in the primary; messages between members (M/R/D/F/K)
// are delivered in order on a later turn, as a publish. Memberships never expire by time here: a member is dead
// when it leaves or is killed (the primary's rule for a worker whose channel closed), so a simulated clock can
// jump without taking live edges for dead.
import { ClusterError, type AdoptedSession, type ClaimResult, type ClusterBackend, type HeartbeatResult, type SessionRecord } from '../cluster/backend.js';
import { MemoryClusterStore } from '../cluster/memory-cluster.js';

/** Membership deadline given to the store for every heartbeat: far beyond any simulated run. */
const FOREVER_MS = 1e15;

export class InProcessClusterHub {
  readonly store: MemoryClusterStore;
  readonly #members = new Map<string, InProcessClusterBackend>();
  readonly #queue: Array<{ to: string; msg: Buffer }> = [];
  #scheduled = false;
  #busy = 0;

  constructor(now: () => number) {
    this.store = new MemoryClusterStore({ now, publish: (to, msg) => this.#post(to, msg) });
  }

  /** A backend for one more member (connect names it). */
  backend(): InProcessClusterBackend {
    return new InProcessClusterBackend(this);
  }

  /** @internal */
  register(member: string, b: InProcessClusterBackend): void {
    this.#members.set(member, b);
  }

  /** @internal */
  unregister(member: string, b: InProcessClusterBackend): void {
    if (this.#members.get(member) === b) this.#members.delete(member);
  }

  /** The member holding `id` in the store, or null (ended or never created). */
  owner(id: number): string | null {
    return this.store.lookup(id)?.owner ?? null;
  }

  #post(to: string, msg: Buffer): void {
    this.#queue.push({ to, msg: Buffer.from(msg) });
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#scheduled = false;
    this.#busy++;
    try {
      for (let m = this.#queue.shift(); m; m = this.#queue.shift()) this.#members.get(m.to)?.receive(m.msg);
    } finally {
      this.#busy--;
    }
  }

  /** True when no message waits for delivery. */
  get quiet(): boolean {
    return this.#queue.length === 0 && !this.#scheduled && this.#busy === 0;
  }
}

/** One member's view of the hub's store. `kill()` cuts it off at once: no more operations, no more messages. */
export class InProcessClusterBackend implements ClusterBackend {
  readonly kind = 'primary';
  readonly where = 'in-process store';
  readonly #hub: InProcessClusterHub;
  #member = '';
  #onMessage: ((msg: Buffer) => void) | null = null;
  #closed = false;
  #killed = false;

  constructor(hub: InProcessClusterHub) {
    this.#hub = hub;
  }

  get ready(): boolean {
    return !this.#closed && !this.#killed;
  }

  get status(): string {
    return this.#killed ? 'killed' : this.#closed ? 'closed' : 'ready';
  }

  get member(): string {
    return this.#member;
  }

  /** The process died: the store sees it go (its membership ends now) and it reaches nothing any more. */
  kill(): void {
    if (this.#killed) return;
    this.#killed = true;
    this.#hub.unregister(this.#member, this);
    this.#hub.store.leave(this.#member);
  }

  /** @internal A message for this member. */
  receive(msg: Buffer): void {
    if (this.ready) this.#onMessage?.(msg);
  }

  #run<T>(fn: (s: MemoryClusterStore) => T): Promise<T> {
    if (!this.ready) return Promise.reject(new ClusterError('VL_ERR_CLUSTER_PRIMARY', `the ${this.where} is unreachable (${this.status})`));
    try {
      return Promise.resolve(fn(this.#hub.store));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  connect(member: string, onMessage: (msg: Buffer) => void): Promise<void> {
    this.#member = member;
    this.#onMessage = onMessage;
    this.#hub.register(member, this);
    return this.#run(() => undefined);
  }

  allocIds(count: number, floor: number): Promise<number> {
    return this.#run((s) => s.allocIds(count, floor));
  }

  join(publicKeyHex: string, member: string): Promise<{ ok: true } | { ok: false; clusterKey: string }> {
    return this.#run((s) => s.join(publicKeyHex, member, FOREVER_MS));
  }

  heartbeat(member: string): Promise<HeartbeatResult> {
    return this.#run((s) => s.heartbeat(member, FOREVER_MS));
  }

  create(member: string, id: number, key: Uint8Array): Promise<void> {
    return this.#run((s) => s.create(member, id, key));
  }

  stale(member: string, id: number, since: number, ttlMs: number, notify: string): Promise<boolean> {
    return this.#run((s) => s.stale(member, id, since, ttlMs, notify));
  }

  deliver(member: string, id: number, data: Uint8Array, ttlMs: number): Promise<'ok' | 'fwd' | 'gone'> {
    return this.#run((s) => s.deliver(member, id, data.slice(), ttlMs));
  }

  kick(member: string, id: number): Promise<'fwd' | 'mine' | 'gone'> {
    return this.#run((s) => s.kick(member, id));
  }

  end(member: string, id: number, data: Uint8Array | null, kick: boolean): Promise<'ended' | 'moved' | 'gone'> {
    return this.#run((s) => s.end(member, id, data ? data.slice() : null, kick));
  }

  claim(member: string, id: number, epoch: number, ownerDead: boolean): Promise<Exclude<ClaimResult, { reason: 'unavailable' }>> {
    return this.#run((s) => s.claim(member, id, epoch, ownerDead));
  }

  adopt(dead: string, member: string, timeoutMs: number, ttlMs: number): Promise<AdoptedSession[]> {
    return this.#run((s) => s.adopt(dead, member, timeoutMs, ttlMs));
  }

  lookup(id: number): Promise<SessionRecord | null> {
    return this.#run((s) => s.lookup(id));
  }

  isAlive(member: string): Promise<boolean> {
    return this.#run((s) => s.isAlive(member));
  }

  publish(member: string, msg: string): Promise<void> {
    return this.#run((s) => s.publish(member, msg));
  }

  rewrite(member: string, id: number, key: Uint8Array, staleSince: number | null, epoch: number, missed: readonly Uint8Array[], ttlMs: number): Promise<void> {
    return this.#run((s) => s.rewrite(member, id, key, staleSince, epoch, missed, ttlMs));
  }

  leave(member: string): Promise<void> {
    return this.#run((s) => s.leave(member));
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
