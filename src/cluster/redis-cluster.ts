// One edge's membership of a cluster in Redis/Valkey (ioredis): joining under the cluster's key, id blocks,
// session records, claims, missed-packet lists, forwarding to the owner, heartbeats and dead-member adoption.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { ADOPT, ALLOC_IDS, CLAIM, CREATE, DELIVER, END, HEARTBEAT, JOIN, KICK, STALE } from './scripts.js';

/** Ids taken from Redis at a time; the next block is fetched when half of this one is used. */
export const ID_BLOCK = 512;

export class ClusterError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'ClusterError';
    this.code = code;
  }
}

export interface ClusterOptions {
  redisUrl: string;
  keyPrefix: string;
  memberTimeoutMs: number;
  /** The edge's public key (compressed SEC1): every member must have the same. */
  publicKey: Uint8Array;
  /** How long a stale record lives in Redis without an owner renewing it (stale timeout plus a margin). */
  staleTtlMs: number;
  log: Logger;
  /** The highest id this edge handed out before (e.g. from its state file): the counter never goes below it. */
  idFloor?: number;
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
  /** Redis came back without the cluster's data (restarted without persistence): write the local sessions again. */
  resync(): void;
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

type Cmd = (...args: Array<string | number | Buffer | Uint8Array>) => Promise<unknown>;

/** Refusals and errors the cluster counts for /metrics. */
export interface ClusterCounters {
  /** New sessions refused because no id could be taken (Redis unreachable and the block used up). */
  refusedNewSessions: number;
  /** Resumes refused because Redis was unreachable. */
  refusedResumes: number;
  /** Redis commands that failed. */
  errors: number;
  /** Master packets forwarded to another edge / received from another edge. */
  forwardedOut: number;
  forwardedIn: number;
  claims: number;
  adopted: number;
  resyncs: number;
}

export class RedisCluster {
  readonly member: string;
  readonly #o: ClusterOptions;
  /** Hears messages from other edges and cluster events (the edge attaches it before join). */
  #host: ClusterHost | null = null;
  readonly #cmd: Redis;
  readonly #sub: Redis;
  readonly #p: string;
  readonly #channelPrefix: string;
  readonly #channel: string;
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
    this.member = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    this.#p = o.keyPrefix;
    this.#channelPrefix = `${o.keyPrefix}:edge:`;
    this.#channel = this.#channelPrefix + this.member;
    this.#highest = o.idFloor ?? 0;
    const opts = {
      lazyConnect: true,
      // Commands issued while Redis is away wait for it (records, ends); new work is refused meanwhile by `ready`.
      maxRetriesPerRequest: null,
      enableOfflineQueue: true,
      connectTimeout: 2_000,
      retryStrategy: (times: number) => Math.min(2_000, 50 * 2 ** Math.min(times, 6)),
    };
    this.#cmd = new Redis(o.redisUrl, { ...opts, connectionName: `voltlane:${this.member}` });
    this.#sub = new Redis(o.redisUrl, { ...opts, connectionName: `voltlane-sub:${this.member}` });
    for (const [name, lua, keys] of [
      ['vlAlloc', ALLOC_IDS, 1],
      ['vlJoin', JOIN, 3],
      ['vlHeartbeat', HEARTBEAT, 2],
      ['vlCreate', CREATE, 2],
      ['vlStale', STALE, 1],
      ['vlDeliver', DELIVER, 2],
      ['vlKick', KICK, 1],
      ['vlEnd', END, 3],
      ['vlClaim', CLAIM, 3],
      ['vlAdopt', ADOPT, 3],
    ] as const) {
      this.#cmd.defineCommand(name, { numberOfKeys: keys, lua });
    }
    let wasReady = false;
    this.#cmd.on('ready', () => {
      if (wasReady) {
        this.#o.log.info({ redis: redact(o.redisUrl) }, 'cluster.redis_reconnected');
        void this.#beat();
      }
      wasReady = true;
    });
    this.#cmd.on('error', (err: Error) => this.#noteError(err));
    this.#sub.on('error', (err: Error) => this.#noteError(err));
    this.#cmd.on('end', () => undefined);
    this.#sub.on('messageBuffer', (_channel: Buffer, message: Buffer) => this.#onMessage(message));
  }

  #noteError(err: Error): void {
    const text = err.message;
    if (text !== this.#lastError) {
      this.#lastError = text;
      this.#o.log.error({ err: text, redis: redact(this.#o.redisUrl) }, 'cluster.redis_error');
    }
  }

  #call(name: string): Cmd {
    return (this.#cmd as unknown as Record<string, Cmd>)[name]!.bind(this.#cmd);
  }

  #key(kind: string, id: number | string): string {
    return `${this.#p}:${kind}:${id}`;
  }

  /** True while Redis answers and this edge is a member: new sessions and resumes may go ahead. */
  get ready(): boolean {
    return this.#joined && !this.#closed && this.#cmd.status === 'ready' && this.#sub.status === 'ready';
  }

  get redisStatus(): string {
    return this.#cmd.status;
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
    try {
      await Promise.all([this.#cmd.connect(), this.#sub.connect()]);
    } catch (err) {
      await this.close();
      throw new ClusterError('VL_ERR_CLUSTER_REDIS', `cannot reach Redis at ${redact(this.#o.redisUrl)}: ${(err as Error).message}`);
    }
    const hex = Buffer.from(this.#o.publicKey).toString('hex');
    const res = (await this.#call('vlJoin')(this.#key('cluster', 'info'), this.#key('members', 'all'), this.#key('member', this.member), hex, this.member, this.#o.memberTimeoutMs)) as string[];
    if (res[0] === 'key') {
      await this.close();
      throw new ClusterError(
        'VL_ERR_CLUSTER_KEY',
        `this edge's public key ${hex} differs from the cluster's ${res[1]} (key prefix "${this.#p}" at ${redact(this.#o.redisUrl)}): ` +
          'give every edge of a cluster the same key file, or use another cluster.key_prefix',
      );
    }
    await this.#sub.subscribe(this.#channel);
    this.#ids = await this.#fetchBlock();
    this.#joined = true;
    this.#members = [this.member];
    const every = Math.max(50, Math.floor(this.#o.memberTimeoutMs / 3));
    this.#heartbeat = setInterval(() => void this.#beat(), every);
    this.#heartbeat.unref();
    void this.#beat();
    this.#o.log.info({ member: this.member, redis: redact(this.#o.redisUrl), prefix: this.#p }, 'cluster.joined');
  }

  async #fetchBlock(): Promise<{ next: number; last: number }> {
    const last = Number(await this.#call('vlAlloc')(this.#key('ids', 'counter'), ID_BLOCK, this.#highest));
    return { next: last - ID_BLOCK + 1, last };
  }

  /** The next session id, or null when none can be had now (Redis unreachable and the block used up). */
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
    if (this.#fetching || this.#cmd.status !== 'ready') return;
    this.#fetching = true;
    this.#fetchBlock().then(
      (b) => {
        this.#fetching = false;
        this.#nextBlock = b;
      },
      () => {
        this.#fetching = false;
      },
    );
  }

  #ignore = (err: unknown): void => {
    this.counters.errors++;
    this.#noteError(err as Error);
  };

  /** A new session's record (fire and forget: queued while Redis is away). */
  created(id: number, key: Uint8Array): void {
    this.#call('vlCreate')(this.#key('s', id), this.#key('owned', this.member), this.member, Buffer.from(key), id).catch(this.#ignore);
  }

  /** The session went stale here; `notify` names a member waiting for its release. */
  stale(id: number, since: number, notify = ''): Promise<boolean> {
    return this.#call('vlStale')(this.#key('s', id), this.member, since, this.#o.staleTtlMs, this.#channelPrefix, notify, id).then(
      (r) => r === 1,
      (err: unknown) => {
        this.#ignore(err);
        return false;
      },
    );
  }

  /** Master data for a stale session of this edge, or one that left it: appended, forwarded, or gone. */
  deliver(id: number, data: Uint8Array): Promise<'ok' | 'fwd' | 'gone' | 'error'> {
    return this.#call('vlDeliver')(this.#key('s', id), this.#key('m', id), this.member, Buffer.from(data), this.#channelPrefix, id, this.#o.staleTtlMs).then(
      (r) => {
        if (r === 'fwd') this.counters.forwardedOut++;
        return r as 'ok' | 'fwd' | 'gone';
      },
      (err: unknown) => {
        this.#ignore(err);
        return 'error' as const;
      },
    );
  }

  /** A Kick for a session this edge does not hold: forwarded to its owner if it has one. */
  kick(id: number): Promise<'fwd' | 'mine' | 'gone' | 'error'> {
    return this.#call('vlKick')(this.#key('s', id), this.member, this.#channelPrefix, id).then(
      (r) => r as 'fwd' | 'mine' | 'gone',
      (err: unknown) => {
        this.#ignore(err);
        return 'error' as const;
      },
    );
  }

  /** The session ends here; 'ended' means this edge owned it (and owes the master its Failure unless kicked). */
  end(id: number, data: Uint8Array | null, kick: boolean): Promise<'ended' | 'moved' | 'gone' | 'error'> {
    return this.#call('vlEnd')(
      this.#key('s', id),
      this.#key('m', id),
      this.#key('owned', this.member),
      this.member,
      data ? Buffer.from(data) : '',
      data ? '1' : '0',
      this.#channelPrefix,
      id,
      kick ? '1' : '0',
    ).then(
      (r) => {
        if (r === 'moved' && data) this.counters.forwardedOut++;
        return r as 'ended' | 'moved' | 'gone';
      },
      (err: unknown) => {
        this.#ignore(err);
        return 'error' as const;
      },
    );
  }

  /** The record of `id`, or null. */
  async lookup(id: number): Promise<SessionRecord | null> {
    const h = (await this.#cmd.hgetallBuffer(this.#key('s', id))) as Record<string, Buffer>;
    if (!h.owner || !h.key) return null;
    return {
      owner: h.owner.toString(),
      epoch: Number(h.epoch?.toString() ?? '0'),
      key: new Uint8Array(h.key),
      state: h.state?.toString() === 'stale' ? 'stale' : 'live',
      staleSince: h.staleSince ? Number(h.staleSince.toString()) : null,
    };
  }

  /** Whether `member` renewed its membership within the timeout (as of the last heartbeat, then Redis). */
  async isAlive(member: string): Promise<boolean> {
    if (member === this.member) return true;
    const score = await this.#cmd.zscore(this.#key('members', 'all'), member);
    if (score === null) return false;
    const [s, us] = await this.#cmd.time();
    return Number(score) >= Number(s) * 1000 + Math.floor(Number(us) / 1000);
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
      this.#cmd.publish(this.#channelPrefix + owner, `R${id}:${this.member}`).catch(this.#ignore);
    });
  }

  /** Takes the session after its challenge passed. */
  async claim(id: number, epoch: number, ownerDead: boolean): Promise<ClaimResult> {
    let r: Buffer[];
    try {
      r = (await this.#call('vlClaimBuffer')(
        this.#key('s', id),
        this.#key('m', id),
        this.#key('owned', this.member),
        this.member,
        epoch,
        ownerDead ? '1' : '0',
        this.#channelPrefix,
        id,
        `${this.#p}:owned:`,
      )) as Buffer[];
    } catch (err) {
      this.#ignore(err);
      return { ok: false, reason: 'unavailable' };
    }
    const tag = r[0]!.toString();
    if (tag !== 'ok') return { ok: false, reason: tag as 'gone' | 'raced' | 'live', ...(r[1] ? { owner: r[1].toString() } : {}) };
    this.counters.claims++;
    return { ok: true, previousOwner: r[1]!.toString(), epoch: Number(r[2]!.toString()), missed: r.slice(3).map((b) => new Uint8Array(b)) };
  }

  async #beat(): Promise<void> {
    if (this.#closed || this.#cmd.status !== 'ready') return;
    let r: string[];
    try {
      r = (await this.#call('vlHeartbeat')(this.#key('member', this.member), this.#key('members', 'all'), this.member, this.#o.memberTimeoutMs)) as string[];
    } catch (err) {
      this.#ignore(err);
      return;
    }
    const alive = Number(r[0]) === 1;
    const sep = r.indexOf('', 1);
    this.#members = r.slice(1, sep);
    const dead = r.slice(sep + 1);
    if (!alive) {
      // Redis lost the cluster's data (restarted without persistence): join again, then rewrite the local sessions.
      this.counters.resyncs++;
      this.#o.log.warn({ redis: redact(this.#o.redisUrl) }, 'cluster.redis_data_lost: rejoining and writing the local sessions again');
      try {
        await this.#call('vlJoin')(this.#key('cluster', 'info'), this.#key('members', 'all'), this.#key('member', this.member), Buffer.from(this.#o.publicKey).toString('hex'), this.member, this.#o.memberTimeoutMs);
        await this.#call('vlAlloc')(this.#key('ids', 'counter'), 0, this.#highest);
        if (this.#ids.last > this.#highest) await this.#call('vlAlloc')(this.#key('ids', 'counter'), 0, Math.max(this.#ids.last, this.#nextBlock?.last ?? 0));
      } catch (err) {
        this.#ignore(err);
        return;
      }
      this.#host?.resync();
    }
    for (const d of dead) await this.#adopt(d);
  }

  async #adopt(dead: string): Promise<void> {
    let r: Buffer[];
    try {
      r = (await this.#call('vlAdoptBuffer')(
        this.#key('members', 'all'),
        this.#key('owned', dead),
        this.#key('owned', this.member),
        dead,
        this.member,
        `${this.#p}:s:`,
        `${this.#p}:m:`,
        this.#o.memberTimeoutMs,
        this.#o.staleTtlMs,
      )) as Buffer[];
    } catch (err) {
      this.#ignore(err);
      return;
    }
    const out: AdoptedSession[] = [];
    for (let i = 0; i + 3 < r.length; i += 4) {
      out.push({ id: Number(r[i]!.toString()), epoch: Number(r[i + 1]!.toString()), key: new Uint8Array(r[i + 2]!), staleSince: Number(r[i + 3]!.toString()), missed: [] });
    }
    if (out.length > 0) {
      const lists = await Promise.all(out.map((s) => this.#cmd.lrangeBuffer(this.#key('m', s.id), 0, -1).catch(() => [] as Buffer[])));
      lists.forEach((l, i) => (out[i]!.missed = l.map((b) => new Uint8Array(b))));
    }
    this.counters.adopted += out.length;
    this.#o.log.warn({ member: dead, sessions: out.length }, 'cluster.member_dead: its sessions adopted here, stale');
    this.#host?.adopted(out);
  }

  /** Rewrites a local session's record (after Redis lost its data). */
  rewrite(id: number, key: Uint8Array, staleSince: number | null, epoch: number, missed: readonly Uint8Array[]): void {
    const s = this.#key('s', id);
    const m = this.#cmd.multi();
    m.hset(s, 'owner', this.member, 'epoch', epoch, 'key', Buffer.from(key), 'state', staleSince === null ? 'live' : 'stale', ...(staleSince === null ? [] : ['staleSince', staleSince]));
    if (staleSince !== null) m.pexpire(s, this.#o.staleTtlMs);
    m.sadd(this.#key('owned', this.member), id);
    m.del(this.#key('m', id));
    for (const p of missed) m.rpush(this.#key('m', id), Buffer.from(p.buffer, p.byteOffset, p.length));
    m.exec().catch(this.#ignore);
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
    if (this.#joined && this.#cmd.status === 'ready') {
      // Bounded: a Redis that went away must not hold up the shutdown (the membership then simply expires).
      const leaving = this.#cmd
        .multi()
        .zadd(this.#key('members', 'all'), 0, this.member)
        .del(this.#key('member', this.member))
        .exec()
        .catch(this.#ignore);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([leaving, new Promise<void>((resolve) => (timer = setTimeout(resolve, 1_000)))]);
      clearTimeout(timer);
    }
    await this.close();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    for (const r of [this.#cmd, this.#sub]) {
      if (r.status !== 'ready') {
        r.disconnect();
        continue;
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([r.quit().catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, 1_000)))]);
      clearTimeout(timer);
      r.disconnect();
    }
  }
}

/** The URL without its password, for logs. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'redis://?';
  }
}
