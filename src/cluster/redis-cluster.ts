// The cluster store in Redis/Valkey (ioredis): every atomic operation is one Lua script (scripts.ts), messages to
// a member go through its pub/sub channel. The member logic above it is in member.ts.
import { Redis } from 'ioredis';
import { ADOPT, ALLOC_IDS, CLAIM, CREATE, DELIVER, END, HEARTBEAT, JOIN, KICK, STALE } from './scripts.js';
import type { AdoptedSession, ClaimResult, ClusterBackend, HeartbeatResult, SessionRecord } from './backend.js';
import { ClusterError } from './backend.js';

type Cmd = (...args: Array<string | number | Buffer | Uint8Array>) => Promise<unknown>;

export interface RedisBackendOptions {
  redisUrl: string;
  keyPrefix: string;
}

export class RedisBackend implements ClusterBackend {
  readonly kind = 'redis';
  readonly where: string;
  readonly #url: string;
  readonly #p: string;
  readonly #channelPrefix: string;
  #cmd: Redis | null = null;
  #sub: Redis | null = null;

  constructor(o: RedisBackendOptions) {
    this.#url = o.redisUrl;
    this.where = redact(o.redisUrl);
    this.#p = o.keyPrefix;
    this.#channelPrefix = `${o.keyPrefix}:edge:`;
  }

  get ready(): boolean {
    return this.#cmd?.status === 'ready' && this.#sub?.status === 'ready';
  }

  get status(): string {
    return this.#cmd?.status ?? 'wait';
  }

  #key(kind: string, id: number | string): string {
    return `${this.#p}:${kind}:${id}`;
  }

  #r(): Redis {
    if (!this.#cmd) throw new ClusterError('VL_ERR_CLUSTER_REDIS', 'not connected to Redis');
    return this.#cmd;
  }

  #call(name: string): Cmd {
    const r = this.#r();
    return (r as unknown as Record<string, Cmd>)[name]!.bind(r);
  }

  async connect(member: string, onMessage: (msg: Buffer) => void, onReconnected: () => void, onError: (err: Error) => void): Promise<void> {
    const opts = {
      lazyConnect: true,
      // Commands issued while Redis is away wait for it (records, ends); new work is refused meanwhile by `ready`.
      maxRetriesPerRequest: null,
      enableOfflineQueue: true,
      connectTimeout: 2_000,
      retryStrategy: (times: number) => Math.min(2_000, 50 * 2 ** Math.min(times, 6)),
    };
    const cmd = new Redis(this.#url, { ...opts, connectionName: `voltlane:${member}` });
    const sub = new Redis(this.#url, { ...opts, connectionName: `voltlane-sub:${member}` });
    this.#cmd = cmd;
    this.#sub = sub;
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
      cmd.defineCommand(name, { numberOfKeys: keys, lua });
    }
    let wasReady = false;
    cmd.on('ready', () => {
      if (wasReady) onReconnected();
      wasReady = true;
    });
    cmd.on('error', onError);
    sub.on('error', onError);
    sub.on('messageBuffer', (_channel: Buffer, message: Buffer) => onMessage(message));
    try {
      await Promise.all([cmd.connect(), sub.connect()]);
    } catch (err) {
      await this.close();
      throw new ClusterError('VL_ERR_CLUSTER_REDIS', `cannot reach Redis at ${this.where}: ${(err as Error).message}`);
    }
    await sub.subscribe(this.#channelPrefix + member);
  }

  async allocIds(count: number, floor: number): Promise<number> {
    return Number(await this.#call('vlAlloc')(this.#key('ids', 'counter'), count, floor));
  }

  async join(publicKeyHex: string, member: string, timeoutMs: number): Promise<{ ok: true } | { ok: false; clusterKey: string }> {
    const res = (await this.#call('vlJoin')(this.#key('cluster', 'info'), this.#key('members', 'all'), this.#key('member', member), publicKeyHex, member, timeoutMs)) as string[];
    return res[0] === 'key' ? { ok: false, clusterKey: res[1]! } : { ok: true };
  }

  async heartbeat(member: string, timeoutMs: number): Promise<HeartbeatResult> {
    const r = (await this.#call('vlHeartbeat')(this.#key('member', member), this.#key('members', 'all'), member, timeoutMs)) as string[];
    const sep = r.indexOf('', 1);
    return { alive: Number(r[0]) === 1, members: r.slice(1, sep), dead: r.slice(sep + 1) };
  }

  async create(member: string, id: number, key: Uint8Array): Promise<void> {
    await this.#call('vlCreate')(this.#key('s', id), this.#key('owned', member), member, Buffer.from(key), id);
  }

  async stale(member: string, id: number, since: number, ttlMs: number, notify: string): Promise<boolean> {
    return (await this.#call('vlStale')(this.#key('s', id), member, since, ttlMs, this.#channelPrefix, notify, id)) === 1;
  }

  async deliver(member: string, id: number, data: Uint8Array, ttlMs: number): Promise<'ok' | 'fwd' | 'gone'> {
    return (await this.#call('vlDeliver')(this.#key('s', id), this.#key('m', id), member, Buffer.from(data), this.#channelPrefix, id, ttlMs)) as 'ok' | 'fwd' | 'gone';
  }

  async kick(member: string, id: number): Promise<'fwd' | 'mine' | 'gone'> {
    return (await this.#call('vlKick')(this.#key('s', id), member, this.#channelPrefix, id)) as 'fwd' | 'mine' | 'gone';
  }

  async end(member: string, id: number, data: Uint8Array | null, kick: boolean): Promise<'ended' | 'moved' | 'gone'> {
    return (await this.#call('vlEnd')(
      this.#key('s', id),
      this.#key('m', id),
      this.#key('owned', member),
      member,
      data ? Buffer.from(data) : '',
      data ? '1' : '0',
      this.#channelPrefix,
      id,
      kick ? '1' : '0',
    )) as 'ended' | 'moved' | 'gone';
  }

  async claim(member: string, id: number, epoch: number, ownerDead: boolean): Promise<Exclude<ClaimResult, { reason: 'unavailable' }>> {
    const r = (await this.#call('vlClaimBuffer')(
      this.#key('s', id),
      this.#key('m', id),
      this.#key('owned', member),
      member,
      epoch,
      ownerDead ? '1' : '0',
      this.#channelPrefix,
      id,
      `${this.#p}:owned:`,
    )) as Buffer[];
    const tag = r[0]!.toString();
    if (tag !== 'ok') return { ok: false, reason: tag as 'gone' | 'raced' | 'live', ...(r[1] ? { owner: r[1].toString() } : {}) };
    return { ok: true, previousOwner: r[1]!.toString(), epoch: Number(r[2]!.toString()), missed: r.slice(3).map((b) => new Uint8Array(b)) };
  }

  async adopt(dead: string, member: string, timeoutMs: number, ttlMs: number): Promise<AdoptedSession[]> {
    const r = (await this.#call('vlAdoptBuffer')(
      this.#key('members', 'all'),
      this.#key('owned', dead),
      this.#key('owned', member),
      dead,
      member,
      `${this.#p}:s:`,
      `${this.#p}:m:`,
      timeoutMs,
      ttlMs,
    )) as Buffer[];
    const out: AdoptedSession[] = [];
    for (let i = 0; i + 3 < r.length; i += 4) {
      out.push({ id: Number(r[i]!.toString()), epoch: Number(r[i + 1]!.toString()), key: new Uint8Array(r[i + 2]!), staleSince: Number(r[i + 3]!.toString()), missed: [] });
    }
    if (out.length > 0) {
      const cmd = this.#r();
      const lists = await Promise.all(out.map((s) => cmd.lrangeBuffer(this.#key('m', s.id), 0, -1).catch(() => [] as Buffer[])));
      lists.forEach((l, i) => (out[i]!.missed = l.map((b) => new Uint8Array(b))));
    }
    return out;
  }

  async lookup(id: number): Promise<SessionRecord | null> {
    const h = (await this.#r().hgetallBuffer(this.#key('s', id))) as Record<string, Buffer>;
    if (!h.owner || !h.key) return null;
    return {
      owner: h.owner.toString(),
      epoch: Number(h.epoch?.toString() ?? '0'),
      key: new Uint8Array(h.key),
      state: h.state?.toString() === 'stale' ? 'stale' : 'live',
      staleSince: h.staleSince ? Number(h.staleSince.toString()) : null,
    };
  }

  async isAlive(member: string): Promise<boolean> {
    const cmd = this.#r();
    const score = await cmd.zscore(this.#key('members', 'all'), member);
    if (score === null) return false;
    const [s, us] = await cmd.time();
    return Number(score) >= Number(s) * 1000 + Math.floor(Number(us) / 1000);
  }

  async publish(member: string, msg: string): Promise<void> {
    await this.#r().publish(this.#channelPrefix + member, msg);
  }

  async rewrite(member: string, id: number, key: Uint8Array, staleSince: number | null, epoch: number, missed: readonly Uint8Array[], ttlMs: number): Promise<void> {
    const s = this.#key('s', id);
    const m = this.#r().multi();
    m.hset(s, 'owner', member, 'epoch', epoch, 'key', Buffer.from(key), 'state', staleSince === null ? 'live' : 'stale', ...(staleSince === null ? [] : ['staleSince', staleSince]));
    if (staleSince !== null) m.pexpire(s, ttlMs);
    m.sadd(this.#key('owned', member), id);
    m.del(this.#key('m', id));
    for (const p of missed) m.rpush(this.#key('m', id), Buffer.from(p.buffer, p.byteOffset, p.length));
    await m.exec();
  }

  async leave(member: string): Promise<void> {
    if (!this.ready) return;
    await this.#r().multi().zadd(this.#key('members', 'all'), 0, member).del(this.#key('member', member)).exec();
  }

  async close(): Promise<void> {
    for (const r of [this.#cmd, this.#sub]) {
      if (!r) continue;
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
