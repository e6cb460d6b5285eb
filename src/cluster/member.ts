// One edge's membership of a cluster, over either store (backend.ts): joining under the cluster's key, id blocks,
// session records, claims, missed-packet lists, forwarding to the owner, heartbeats and dead-member adoption.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../log.js';
import { ClusterError, type AdoptedSession, type ClaimResult, type ClusterBackend, type SessionRecord } from './backend.js';

export { ClusterError, type AdoptedSession, type ClaimResult, type SessionRecord } from './backend.js';

/** Ids taken from the store at a time; the next block is fetched when half of this one is used. */
export const ID_BLOCK = 512;

export interface ClusterOptions {
  backend: ClusterBackend;
  memberTimeoutMs: number;
  /** The edge's public key (compressed SEC1): every member must have the same. */
  publicKey: Uint8Array;
  /** How long a stale record lives in the store without an owner renewing it (stale timeout plus a margin). */
  staleTtlMs: number;
  log: Logger;
  /** The highest id this edge handed out before (e.g. from its state file): the counter never goes below it. */
  idFloor?: number;
  /** Names the member in the store; default host:pid:random. */
  member?: string;
  /** Set for Redis: the key prefix, named in a key mismatch error. */
  keyPrefix?: string;
}

export interface ClusterHost {
  /** Another edge claimed `id`: drop it here without a Failure. */
  movedAway(id: number): void;
  /** Another edge passed a challenge for `id`, live here (half-open socket): make it stale, then release. */
  releaseRequested(id: number, requester: string): void;
  /** Master data that reached another edge after `id` left it. */
  forwarded(id: number, data: Uint8Array): void;
  /** A Kick that reached another edge after `id` left it. */
  forwardedKick(id: number): void;
  /** Sessions of a dead member, now this edge's, stale. */
  adopted(sessions: AdoptedSession[]): void;
  /** The store came back without the cluster's data (restarted without persistence): write the local sessions again. */
  resync(): void;
}

/** Refusals and errors the cluster counts for /metrics. */
export interface ClusterCounters {
  /** New sessions refused because no id could be taken (the store unreachable and the block used up). */
  refusedNewSessions: number;
  /** Resumes refused because the store was unreachable. */
  refusedResumes: number;
  /** Store operations that failed. */
  errors: number;
  /** Master packets forwarded to another edge / received from another edge. */
  forwardedOut: number;
  forwardedIn: number;
  claims: number;
  adopted: number;
  resyncs: number;
}

export class ClusterMember {
  readonly member: string;
  readonly backend: ClusterBackend;
  readonly #o: ClusterOptions;
  /** Hears messages from other edges and cluster events (the edge attaches it before join). */
  #host: ClusterHost | null = null;
  #ids: { next: number; last: number } = { next: 1, last: 0 };
  #nextBlock: { next: number; last: number } | null = null;
  #fetching = false;
  #highest: number;
  #heartbeat: NodeJS.Timeout | null = null;
  #joined = false;
  #closed = false;
  #members: string[] = [];
  #lastError = '';
  /** Release waiters: id -> resolve. */
  readonly #releases = new Map<number, () => void>();
  readonly counters: ClusterCounters = {
    refusedNewSessions: 0,
    refusedResumes: 0,
    errors: 0,
    forwardedOut: 0,
    forwardedIn: 0,
    claims: 0,
    adopted: 0,
    resyncs: 0,
  };

  constructor(o: ClusterOptions) {
    this.#o = o;
    this.backend = o.backend;
    this.member = o.member ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    this.#highest = o.idFloor ?? 0;
  }

  #noteError(err: Error): void {
    const text = err.message;
    if (text !== this.#lastError) {
      this.#lastError = text;
      this.#o.log.error({ err: text, store: this.backend.kind, at: this.backend.where }, 'cluster.store_error');
    }
  }

  /** True while the store answers and this edge is a member: new sessions and resumes may go ahead. */
  get ready(): boolean {
    return this.#joined && !this.#closed && this.backend.ready;
  }

  /** The store link's state ("ready", "reconnecting", "closed", ...). */
  get storeStatus(): string {
    return this.backend.status;
  }

  get lastError(): string {
    return this.#lastError;
  }

  /** Living members as of the last heartbeat (this edge included). */
  get members(): readonly string[] {
    return this.#members;
  }

  attach(host: ClusterHost): void {
    this.#host = host;
  }

  /** Connects, checks the cluster's key, takes an id block, subscribes and starts heartbeats. */
  async join(): Promise<void> {
    const b = this.backend;
    await b.connect(
      this.member,
      (msg) => this.#onMessage(msg),
      () => {
        this.#o.log.info({ store: b.kind, at: b.where }, 'cluster.store_reconnected');
        void this.#beat();
      },
      (err) => this.#noteError(err),
    );
    const hex = Buffer.from(this.#o.publicKey).toString('hex');
    const res = await b.join(hex, this.member, this.#o.memberTimeoutMs);
    if (!res.ok) {
      await this.close();
      throw new ClusterError(
        'VL_ERR_CLUSTER_KEY',
        `this edge's public key ${hex} differs from the cluster's ${res.clusterKey} (${this.#o.keyPrefix !== undefined ? `key prefix "${this.#o.keyPrefix}" at ` : ''}${b.where}): ` +
          'give every edge of a cluster the same key file, or use another cluster.key_prefix',
      );
    }
    this.#ids = await this.#fetchBlock();
    this.#joined = true;
    this.#members = [this.member];
    const every = Math.max(50, Math.floor(this.#o.memberTimeoutMs / 3));
    this.#heartbeat = setInterval(() => void this.#beat(), every);
    this.#heartbeat.unref();
    void this.#beat();
    this.#o.log.info({ member: this.member, store: b.kind, at: b.where, ...(this.#o.keyPrefix !== undefined ? { prefix: this.#o.keyPrefix } : {}) }, 'cluster.joined');
  }

  async #fetchBlock(): Promise<{ next: number; last: number }> {
    const last = await this.backend.allocIds(ID_BLOCK, this.#highest);
    return { next: last - ID_BLOCK + 1, last };
  }

  /** The next session id, or null when none can be had now (the store unreachable and the block used up). */
  nextId(): number | null {
    if (this.#ids.next > this.#ids.last) {
      if (this.#nextBlock === null) {
        this.#prefetch();
        this.counters.refusedNewSessions++;
        return null;
      }
      this.#ids = this.#nextBlock;
      this.#nextBlock = null;
    }
    const id = this.#ids.next++;
    if (id > this.#highest) this.#highest = id;
    if (this.#nextBlock === null && this.#ids.last - this.#ids.next < ID_BLOCK / 2) this.#prefetch();
    return id;
  }

  /** The highest id this edge handed out. */
  get highestId(): number {
    return this.#highest;
  }

  #prefetch(): void {
    if (this.#fetching || !this.backend.ready) return;
    this.#fetching = true;
    this.#fetchBlock().then(
      (b) => {
        this.#fetching = false;
        this.#nextBlock = b;
      },
      (err: unknown) => {
        this.#fetching = false;
        this.#ignore(err);
      },
    );
  }

  #ignore = (err: unknown): void => {
    this.counters.errors++;
    this.#noteError(err as Error);
  };

  /** A new session's record (fire and forget: queued while the store is away). */
  created(id: number, key: Uint8Array): void {
    this.backend.create(this.member, id, key).catch(this.#ignore);
  }

  /** The session went stale here; `notify` names a member waiting for its release. */
  stale(id: number, since: number, notify = ''): Promise<boolean> {
    return this.backend.stale(this.member, id, since, this.#o.staleTtlMs, notify).catch((err: unknown) => {
      this.#ignore(err);
      return false;
    });
  }

  /** Master data for a stale session of this edge, or one that left it: appended, forwarded, or gone. */
  deliver(id: number, data: Uint8Array): Promise<'ok' | 'fwd' | 'gone' | 'error'> {
    return this.backend.deliver(this.member, id, data, this.#o.staleTtlMs).then(
      (r) => {
        if (r === 'fwd') this.counters.forwardedOut++;
        return r;
      },
      (err: unknown) => {
        this.#ignore(err);
        return 'error' as const;
      },
    );
  }

  /** A Kick for a session this edge does not hold: forwarded to its owner if it has one. */
  kick(id: number): Promise<'fwd' | 'mine' | 'gone' | 'error'> {
    return this.backend.kick(this.member, id).catch((err: unknown) => {
      this.#ignore(err);
      return 'error' as const;
    });
  }

  /** The session ends here; 'ended' means this edge owned it (and owes the master its Failure unless kicked). */
  end(id: number, data: Uint8Array | null, kick: boolean): Promise<'ended' | 'moved' | 'gone' | 'error'> {
    return this.backend.end(this.member, id, data, kick).then(
      (r) => {
        if (r === 'moved' && data) this.counters.forwardedOut++;
        return r;
      },
      (err: unknown) => {
        this.#ignore(err);
        return 'error' as const;
      },
    );
  }

  /** The record of `id`, or null. */
  lookup(id: number): Promise<SessionRecord | null> {
    return this.backend.lookup(id);
  }

  /** Whether `member` renewed its membership within the timeout. */
  async isAlive(member: string): Promise<boolean> {
    if (member === this.member) return true;
    return this.backend.isAlive(member);
  }

  /** Asks the owner of a live session to let it go (its socket there is half-open); resolves once released or after `ms`. */
  requestRelease(id: number, owner: string, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#releases.delete(id);
        resolve(false);
      }, ms);
      this.#releases.set(id, () => {
        clearTimeout(timer);
        this.#releases.delete(id);
        resolve(true);
      });
      this.backend.publish(owner, `R${id}:${this.member}`).catch(this.#ignore);
    });
  }

  /** Takes the session after its challenge passed. */
  async claim(id: number, epoch: number, ownerDead: boolean): Promise<ClaimResult> {
    let r: ClaimResult;
    try {
      r = await this.backend.claim(this.member, id, epoch, ownerDead);
    } catch (err) {
      this.#ignore(err);
      return { ok: false, reason: 'unavailable' };
    }
    if (r.ok) this.counters.claims++;
    return r;
  }

  async #beat(): Promise<void> {
    if (this.#closed || !this.backend.ready) return;
    const b = this.backend;
    let r;
    try {
      r = await b.heartbeat(this.member, this.#o.memberTimeoutMs);
    } catch (err) {
      this.#ignore(err);
      return;
    }
    this.#members = r.members;
    if (!r.alive) {
      // The store lost the cluster's data (Redis restarted without persistence): join again, then rewrite the local sessions.
      this.counters.resyncs++;
      this.#o.log.warn({ store: b.kind, at: b.where }, 'cluster.store_data_lost: rejoining and writing the local sessions again');
      try {
        await b.join(Buffer.from(this.#o.publicKey).toString('hex'), this.member, this.#o.memberTimeoutMs);
        await b.allocIds(0, this.#highest);
        if (this.#ids.last > this.#highest) await b.allocIds(0, Math.max(this.#ids.last, this.#nextBlock?.last ?? 0));
      } catch (err) {
        this.#ignore(err);
        return;
      }
      this.#host?.resync();
    }
    for (const d of r.dead) await this.#adopt(d);
  }

  async #adopt(dead: string): Promise<void> {
    let out: AdoptedSession[];
    try {
      out = await this.backend.adopt(dead, this.member, this.#o.memberTimeoutMs, this.#o.staleTtlMs);
    } catch (err) {
      this.#ignore(err);
      return;
    }
    this.counters.adopted += out.length;
    this.#o.log.warn({ member: dead, sessions: out.length }, 'cluster.member_dead: its sessions adopted here, stale');
    this.#host?.adopted(out);
  }

  /** Rewrites a local session's record (after the store lost its data). */
  rewrite(id: number, key: Uint8Array, staleSince: number | null, epoch: number, missed: readonly Uint8Array[]): void {
    this.backend.rewrite(this.member, id, key, staleSince, epoch, missed, this.#o.staleTtlMs).catch(this.#ignore);
  }

  #onMessage(msg: Buffer): void {
    const kind = String.fromCharCode(msg[0]!);
    if (kind === 'F') {
      const colon = msg.indexOf(0x3a, 1);
      const id = Number(msg.subarray(1, colon).toString());
      this.counters.forwardedIn++;
      this.#host?.forwarded(id, new Uint8Array(msg.buffer, msg.byteOffset + colon + 1, msg.length - colon - 1));
      return;
    }
    const text = msg.toString('latin1', 1);
    if (kind === 'M') this.#host?.movedAway(Number(text));
    else if (kind === 'K') this.#host?.forwardedKick(Number(text));
    else if (kind === 'D') this.#releases.get(Number(text))?.();
    else if (kind === 'R') {
      const colon = text.indexOf(':');
      this.#host?.releaseRequested(Number(text.slice(0, colon)), text.slice(colon + 1));
    }
  }

  /**
   * Leaves the cluster: the membership expires at once, so the other edges adopt this edge's sessions (stale)
   * and their clients resume there. Idempotent.
   */
  async leave(): Promise<void> {
    if (this.#closed) return;
    if (this.#joined && this.backend.ready) {
      // Bounded: a store that went away must not hold up the shutdown (the membership then simply expires).
      const leaving = this.backend.leave(this.member).catch(this.#ignore);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([leaving, new Promise<void>((resolve) => (timer = setTimeout(resolve, 1_000)))]);
      clearTimeout(timer);
    }
    await this.close();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    await this.backend.close();
  }
}
