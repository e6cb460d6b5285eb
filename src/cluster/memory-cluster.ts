// The cluster store held in memory by the primary process of `voltlane --workers N` (no Redis): the same records,
// membership and missed-packet lists as the Redis keys of scripts.ts, in plain Maps, and one JavaScript function
// per script with the same semantics. The primary is single-threaded and handles each request whole, so every
// operation is atomic as a Lua script is in Redis. Optionally every lifecycle change also goes to a session store
// (the state file and journal of src/store), so a restart of the whole daemon keeps the sessions.
import type { SessionStore, StoredSession } from '../store/store.js';
import type { AdoptedSession, ClaimResult, HeartbeatResult, SessionRecord } from './backend.js';

/** The owner of sessions restored from the state file at start: taken for dead, so the first worker adopts them. */
export const RESTORED_OWNER = 'restored';

interface Rec {
  owner: string;
  epoch: number;
  key: Uint8Array;
  state: 'live' | 'stale';
  staleSince: number | null;
  createdAt: number;
  /** Wall-clock ms when the record expires (a stale record without an owner renewing it), or null. */
  expiresAt: number | null;
}

interface Missed {
  packets: Uint8Array[];
  expiresAt: number;
}

export interface MemoryClusterOptions {
  /** Sends a message (M/R/D/F/K, as in backend.ts) to one member; dropped if it is not connected. */
  publish(member: string, msg: Buffer): void;
  /** The cluster's public key (hex), when the primary knows it: a member with another key is refused. */
  publicKey?: string;
  /** Where the lifecycle changes go so that sessions outlive the primary (null: memory only). */
  persist?: SessionStore | null;
  now?: () => number;
}

export class MemoryClusterStore {
  readonly #o: MemoryClusterOptions;
  readonly #now: () => number;
  readonly #persist: SessionStore | null;
  #publicKey: string | null;
  #counter = 0;
  readonly #members = new Map<string, number>();
  readonly #markers = new Set<string>();
  readonly #sessions = new Map<number, Rec>();
  readonly #missed = new Map<number, Missed>();
  readonly #owned = new Map<string, Set<number>>();
  /** Set once the daemon stops: dead members' sessions are no longer adopted (they are saved instead). */
  stopping = false;

  constructor(o: MemoryClusterOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.#persist = o.persist ?? null;
    this.#publicKey = o.publicKey || null;
  }

  /** Sessions and missed packets held, for logs and tests. */
  get size(): { sessions: number; missedPackets: number; members: number } {
    let missedPackets = 0;
    for (const m of this.#missed.values()) missedPackets += m.packets.length;
    return { sessions: this.#sessions.size, missedPackets, members: this.#members.size };
  }

  /** Sessions read from the state file: stale, owned by a member already dead, so the first heartbeat adopts them. */
  restore(sessions: readonly StoredSession[], nextId: number, stoppedAt: number | null): void {
    const now = this.#now();
    this.#counter = Math.max(this.#counter, nextId - 1);
    if (sessions.length === 0) return;
    this.#members.set(RESTORED_OWNER, 0);
    const owned = this.#ownedBy(RESTORED_OWNER);
    for (const s of sessions) {
      const since = s.staleSince ?? stoppedAt ?? now;
      this.#sessions.set(s.id, { owner: RESTORED_OWNER, epoch: 1, key: s.clientKey, state: 'stale', staleSince: since, createdAt: s.createdAt, expiresAt: null });
      if (s.replay.length > 0) this.#missed.set(s.id, { packets: [...s.replay], expiresAt: Number.MAX_SAFE_INTEGER });
      owned.add(s.id);
    }
  }

  /** Every session held, as the session store keeps them (a live one stale from `now`). */
  *stored(now: number): Iterable<StoredSession> {
    for (const [id, r] of this.#sessions) {
      if (r.expiresAt !== null && r.expiresAt <= now) continue;
      const replay = this.#missed.get(id)?.packets ?? [];
      yield { id, clientKey: r.key, createdAt: r.createdAt, staleSince: r.state === 'stale' ? (r.staleSince ?? now) : now, snapshot: null, replay };
    }
  }

  #ownedBy(member: string): Set<number> {
    let s = this.#owned.get(member);
    if (!s) this.#owned.set(member, (s = new Set()));
    return s;
  }

  /** The record of `id` unless it expired (as a Redis key with a TTL). */
  #rec(id: number): Rec | undefined {
    const r = this.#sessions.get(id);
    if (r && r.expiresAt !== null && r.expiresAt <= this.#now()) {
      this.#sessions.delete(id);
      return undefined;
    }
    return r;
  }

  #takeMissed(id: number): Uint8Array[] {
    const m = this.#missed.get(id);
    this.#missed.delete(id);
    if (!m || m.expiresAt <= this.#now()) return [];
    return m.packets;
  }

  /** Drops expired records and lists (Redis expires keys by itself). */
  sweep(): void {
    const now = this.#now();
    for (const [id, r] of this.#sessions) {
      if (r.expiresAt !== null && r.expiresAt <= now) {
        this.#sessions.delete(id);
        this.#owned.get(r.owner)?.delete(id);
      }
    }
    for (const [id, m] of this.#missed) if (m.expiresAt <= now) this.#missed.delete(id);
  }

  #send(member: string, head: string, data?: Uint8Array): void {
    const h = Buffer.from(head, 'latin1');
    this.#o.publish(member, data ? Buffer.concat([h, data]) : h);
  }

  // ------------------------------------------------------------------ the scripts (scripts.ts), one each

  allocIds(count: number, floor: number): number {
    if (this.#counter < floor) this.#counter = floor;
    this.#counter += count;
    return this.#counter;
  }

  /** Raises the counter to at least `last` (a block the session store reserved durably). */
  raiseCounter(last: number): void {
    if (this.#counter < last) this.#counter = last;
  }

  join(publicKeyHex: string, member: string, timeoutMs: number): { ok: true } | { ok: false; clusterKey: string } {
    if (this.#publicKey !== null && this.#publicKey !== publicKeyHex) return { ok: false, clusterKey: this.#publicKey };
    this.#publicKey = publicKeyHex;
    this.#members.set(member, this.#now() + timeoutMs);
    this.#markers.add(member);
    return { ok: true };
  }

  heartbeat(member: string, timeoutMs: number): HeartbeatResult {
    const now = this.#now();
    const known = this.#members.has(member);
    this.#members.set(member, now + timeoutMs);
    const alive = known && this.#markers.has(member);
    const members: string[] = [];
    const dead: string[] = [];
    for (const [m, until] of this.#members) (until >= now ? members : dead).push(m);
    return { alive, members, dead };
  }

  create(member: string, id: number, key: Uint8Array): void {
    const now = this.#now();
    this.#sessions.set(id, { owner: member, epoch: 1, key, state: 'live', staleSince: null, createdAt: now, expiresAt: null });
    this.#ownedBy(member).add(id);
    this.#persist?.created(id, key, now);
  }

  stale(member: string, id: number, since: number, ttlMs: number, notify: string): boolean {
    const r = this.#rec(id);
    const mine = r !== undefined && r.owner === member;
    if (mine) {
      r.state = 'stale';
      r.staleSince = since;
      r.expiresAt = this.#now() + ttlMs;
      this.#persist?.stale(id, since);
    }
    if (notify !== '') this.#send(notify, `D${id}`);
    return mine;
  }

  deliver(member: string, id: number, data: Uint8Array, ttlMs: number): 'ok' | 'fwd' | 'gone' {
    const r = this.#rec(id);
    if (!r) return 'gone';
    if (r.owner === member) {
      let m = this.#missed.get(id);
      if (!m || m.expiresAt <= this.#now()) this.#missed.set(id, (m = { packets: [], expiresAt: 0 }));
      m.packets.push(data);
      m.expiresAt = this.#now() + ttlMs;
      return 'ok';
    }
    this.#send(r.owner, `F${id}:`, data);
    return 'fwd';
  }

  kick(member: string, id: number): 'fwd' | 'mine' | 'gone' {
    const r = this.#rec(id);
    if (!r) return 'gone';
    if (r.owner === member) return 'mine';
    this.#send(r.owner, `K${id}`);
    return 'fwd';
  }

  end(member: string, id: number, data: Uint8Array | null, kick: boolean): 'ended' | 'moved' | 'gone' {
    const r = this.#rec(id);
    if (!r) return 'gone';
    if (r.owner === member) {
      this.#sessions.delete(id);
      this.#missed.delete(id);
      this.#owned.get(member)?.delete(id);
      this.#persist?.ended(id, kick ? 'kick' : 'ended');
      return 'ended';
    }
    if (data) this.#send(r.owner, `F${id}:`, data);
    if (kick) this.#send(r.owner, `K${id}`);
    return 'moved';
  }

  claim(member: string, id: number, epoch: number, ownerDead: boolean): Exclude<ClaimResult, { reason: 'unavailable' }> {
    const r = this.#rec(id);
    if (!r) return { ok: false, reason: 'gone' };
    if (r.epoch !== epoch) return { ok: false, reason: 'raced' };
    const owner = r.owner;
    if (owner !== member && r.state !== 'stale' && !ownerDead) return { ok: false, reason: 'live', owner };
    r.owner = member;
    r.epoch = epoch + 1;
    r.state = 'live';
    r.expiresAt = null;
    const missed = this.#takeMissed(id);
    if (owner !== member) {
      this.#owned.get(owner)?.delete(id);
      this.#ownedBy(member).add(id);
      this.#send(owner, `M${id}`);
    }
    this.#persist?.resumed(id);
    return { ok: true, previousOwner: owner, epoch: r.epoch, missed };
  }

  adopt(dead: string, member: string, timeoutMs: number, ttlMs: number): AdoptedSession[] {
    const now = this.#now();
    const score = this.#members.get(dead);
    if (this.stopping || score === undefined || score >= now) return [];
    this.#members.delete(dead);
    this.#markers.delete(dead);
    const out: AdoptedSession[] = [];
    const mine = this.#ownedBy(member);
    for (const id of this.#owned.get(dead) ?? []) {
      const r = this.#rec(id);
      if (!r || r.owner !== dead) continue;
      // A member that left (score 0) was alive until now; a silent one until its last heartbeat.
      const since = r.state === 'stale' && r.staleSince !== null ? r.staleSince : score === 0 ? now : score - timeoutMs;
      r.epoch++;
      r.owner = member;
      r.state = 'stale';
      r.staleSince = since;
      r.expiresAt = now + ttlMs;
      mine.add(id);
      const m = this.#missed.get(id);
      out.push({ id, epoch: r.epoch, key: r.key, staleSince: since, missed: m && m.expiresAt > now ? [...m.packets] : [] });
      this.#persist?.stale(id, since);
    }
    this.#owned.delete(dead);
    return out;
  }

  // ------------------------------------------------------------------ reads and plain commands

  lookup(id: number): SessionRecord | null {
    const r = this.#rec(id);
    if (!r) return null;
    return { owner: r.owner, epoch: r.epoch, key: r.key, state: r.state, staleSince: r.staleSince };
  }

  isAlive(member: string): boolean {
    const until = this.#members.get(member);
    return until !== undefined && until >= this.#now();
  }

  publish(member: string, msg: string): void {
    this.#send(member, msg);
  }

  rewrite(member: string, id: number, key: Uint8Array, staleSince: number | null, epoch: number, missed: readonly Uint8Array[], ttlMs: number): void {
    const now = this.#now();
    const old = this.#sessions.get(id);
    this.#sessions.set(id, { owner: member, epoch, key, state: staleSince === null ? 'live' : 'stale', staleSince, createdAt: old?.createdAt ?? now, expiresAt: staleSince === null ? null : now + ttlMs });
    this.#ownedBy(member).add(id);
    this.#missed.delete(id);
    if (missed.length > 0) this.#missed.set(id, { packets: [...missed], expiresAt: now + ttlMs });
  }

  leave(member: string): void {
    if (this.#members.has(member)) this.#members.set(member, 0);
    this.#markers.delete(member);
  }
}
