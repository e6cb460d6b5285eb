// What the edge's lifecycle hook reports, kept for metrics and the status page: totals by kind and reason,
// per-second counts of the last minute, the latest events, and distinct refused addresses (bounded).
import type { EdgeLifecycleEvent } from '../actors/edge.js';
import { classifyRefusal, PER_ADDRESS_CLASSES, type RefusalClass } from './refusals.js';

export interface RecentEvent {
  at: number;
  type: EdgeLifecycleEvent['type'];
  sessionId?: number;
  reason?: string;
}

/** Kinds counted per second for "rates of the last minute". */
export const RATE_KINDS = ['session.created', 'session.stale', 'session.resumed', 'session.reaped', 'resume.failed', 'refused'] as const;
export type RateKind = (typeof RATE_KINDS)[number];

const WINDOW_SECS = 60;
const MAX_REFUSED_ADDRESSES = 10_000;

export interface LifecycleOptions {
  /** Latest events kept for the status page. Default 50. */
  recent?: number;
  now?: () => number;
}

export class LifecycleRecorder {
  readonly #now: () => number;
  readonly #recentCap: number;
  readonly #recent: RecentEvent[] = [];
  readonly #buckets = new Map<RateKind, Uint32Array>();
  #bucketSecond = 0;
  /** Address -> last refusal time (ms), pruned past the window and capped. */
  readonly #refusedAddresses = new Map<string, number>();
  handshakesStarted = 0;
  readonly completed = { new: 0, resume: 0 };
  readonly refusals = new Map<RefusalClass, number>();
  /** Refusals by the transport the connection came in on (tcp, tls, ws, wss). */
  readonly refusalsByTransport = new Map<string, number>();
  /** Connections accepted into a handshake, by transport. */
  readonly handshakesByTransport = new Map<string, number>();
  readonly reaps = new Map<string, number>();

  /** Pass this as EdgeOptions.onLifecycle. */
  readonly record = (ev: EdgeLifecycleEvent): void => this.#record(ev);

  constructor(o: LifecycleOptions = {}) {
    this.#now = o.now ?? Date.now;
    this.#recentCap = o.recent ?? 50;
    for (const k of RATE_KINDS) this.#buckets.set(k, new Uint32Array(WINDOW_SECS));
    this.#bucketSecond = Math.floor(this.#now() / 1000);
  }

  #record(ev: EdgeLifecycleEvent): void {
    const now = this.#now();
    switch (ev.type) {
      case 'handshake.started':
        this.handshakesStarted++;
        this.handshakesByTransport.set(ev.transport ?? 'tcp', (this.handshakesByTransport.get(ev.transport ?? 'tcp') ?? 0) + 1);
        return; // too frequent to list; counted only
      case 'connection.refused':
      case 'handshake.refused': {
        const cls = classifyRefusal(ev.reason);
        this.refusals.set(cls, (this.refusals.get(cls) ?? 0) + 1);
        this.refusalsByTransport.set(ev.transport ?? 'tcp', (this.refusalsByTransport.get(ev.transport ?? 'tcp') ?? 0) + 1);
        if (PER_ADDRESS_CLASSES.has(cls)) this.#noteRefusedAddress(ev.address, now);
        this.#bump('refused', now);
        this.#push({ at: now, type: ev.type, reason: cls });
        return;
      }
      case 'session.created':
        this.completed.new++;
        break;
      case 'session.resumed':
        this.completed.resume++;
        break;
      case 'session.reaped':
        this.reaps.set(ev.reason, (this.reaps.get(ev.reason) ?? 0) + 1);
        break;
      default:
        break;
    }
    if ((RATE_KINDS as readonly string[]).includes(ev.type)) this.#bump(ev.type as RateKind, now);
    this.#push({ at: now, type: ev.type, sessionId: ev.sessionId, ...('reason' in ev ? { reason: ev.reason } : {}) });
  }

  #push(e: RecentEvent): void {
    this.#recent.push(e);
    if (this.#recent.length > this.#recentCap) this.#recent.shift();
  }

  /** Moves the per-second ring to `now`, zeroing the seconds skipped. */
  #advance(now: number): void {
    const sec = Math.floor(now / 1000);
    const steps = Math.min(WINDOW_SECS, sec - this.#bucketSecond);
    if (steps <= 0) return;
    for (const b of this.#buckets.values()) {
      for (let i = 1; i <= steps; i++) b[(this.#bucketSecond + i) % WINDOW_SECS] = 0;
    }
    this.#bucketSecond = sec;
  }

  #bump(kind: RateKind, now: number): void {
    this.#advance(now);
    const b = this.#buckets.get(kind)!;
    b[this.#bucketSecond % WINDOW_SECS]!++;
  }

  #noteRefusedAddress(address: string, now: number): void {
    this.#refusedAddresses.delete(address);
    this.#refusedAddresses.set(address, now);
    if (this.#refusedAddresses.size > MAX_REFUSED_ADDRESSES) {
      this.#refusedAddresses.delete(this.#refusedAddresses.keys().next().value as string);
    }
  }

  /** Distinct addresses refused by a per-address limit in the last minute (at most 10,000 tracked). */
  refusedAddresses(): number {
    const cutoff = this.#now() - WINDOW_SECS * 1000;
    for (const [addr, at] of this.#refusedAddresses) {
      if (at >= cutoff) break; // insertion order is time order
      this.#refusedAddresses.delete(addr);
    }
    return this.#refusedAddresses.size;
  }

  /** Count of each kind over the last minute. */
  lastMinute(): Record<RateKind, number> {
    this.#advance(this.#now());
    const out = {} as Record<RateKind, number>;
    for (const [k, b] of this.#buckets) out[k] = b.reduce((a, x) => a + x, 0);
    return out;
  }

  /** The latest events, newest last. */
  recent(): readonly RecentEvent[] {
    return this.#recent;
  }
}
