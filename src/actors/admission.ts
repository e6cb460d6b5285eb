// Admission of client connections, checked before any crypto: the connection caps (total, per address, the
// open-file limit), the new-connection rate, the handshake cap with shedding of the longest-idle handshake,
// failed resumes per address, and the refusal lines (throttled) and counts. "Per address" counts an IPv4 address
// as itself (also written IPv4-mapped) and an IPv6 address by its /64, the block one subscriber usually holds.
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { EdgeClock } from './clock.js';
import type { EdgeCounters, EdgeLifecycleEvent } from './edge.js';
import { FD_RESERVE, fdLimitWarning, openFilesLimit } from './fd-limit.js';
import type { PendingConnection } from './handshake.js';
import { AddressCounts, TokenBuckets, WindowCounter } from './limits.js';
import { RefusalLog } from './refusal-log.js';
import { addressGroup } from './stale-table.js';
import type { TransportName } from './transports/connection.js';

/** A handshake idle this long at least may be shed at the handshake cap. */
export const SHED_MIN_IDLE_MS = 250;

export interface AdmissionOptions {
  config: Config;
  log: Logger;
  clock: EdgeClock;
  counters: EdgeCounters;
  onLifecycle?: ((ev: EdgeLifecycleEvent) => void) | undefined;
}

export class Admission {
  /** Handshakes in flight, in order of last progress (the shedding order). */
  readonly pending = new Set<PendingConnection>();
  /** Client sockets open (handshaking or holding a session). */
  openSockets = 0;
  readonly #o: AdmissionOptions;
  readonly #addrCounts = new AddressCounts();
  readonly #connBuckets: TokenBuckets;
  readonly #failedByAddr: WindowCounter;
  readonly #sweepTimer: NodeJS.Timeout;
  /** Refusal log lines, throttled per reason and address. */
  readonly #refusals: RefusalLog;
  /** Client sockets the open-file limit leaves room for. */
  readonly #fdCap: number;
  readonly #nofile: number | null;

  constructor(o: AdmissionOptions) {
    this.#o = o;
    const L = o.config.limits;
    this.#connBuckets = new TokenBuckets(L.newConnectionsPerAddressPerSec, L.newConnectionsBurst);
    this.#failedByAddr = new WindowCounter(L.failedResumesPerAddressPerMin);
    this.#sweepTimer = setInterval(() => {
      const now = o.clock.now();
      this.#connBuckets.sweep(now);
      this.#failedByAddr.sweep(now);
    }, 60_000);
    this.#sweepTimer.unref();
    this.#refusals = new RefusalLog(o.log, o.config.general.refusalLogIntervalSecs);
    const nofile = openFilesLimit();
    this.#nofile = nofile;
    this.#fdCap = nofile === null ? Number.POSITIVE_INFINITY : Math.max(1, nofile - FD_RESERVE);
    this.#warnFdLimit(L.maxConnections);
  }

  #warnFdLimit(maxConnections: number): void {
    const fdWarning = fdLimitWarning(maxConnections, this.#nofile);
    if (fdWarning) this.#o.log.warn({ openFilesLimit: this.#nofile, maxConnections }, `config.warning: ${fdWarning}`);
  }

  /**
   * The limits of a reloaded config: the caps apply to the next connection, the rates to the next token and
   * failure, the refusal log interval to the next line. Counts of what is open are kept.
   */
  applySettings(config: Config): void {
    const before = this.#o.config;
    this.#o.config = config;
    const L = config.limits;
    this.#connBuckets.configure(L.newConnectionsPerAddressPerSec, L.newConnectionsBurst);
    this.#failedByAddr.setLimit(L.failedResumesPerAddressPerMin);
    if (config.general.refusalLogIntervalSecs !== before.general.refusalLogIntervalSecs) this.#refusals.setIntervalSecs(config.general.refusalLogIntervalSecs);
    if (L.maxConnections !== before.limits.maxConnections) this.#warnFdLimit(L.maxConnections);
  }

  /**
   * Why a new connection from `addr` is refused (logged and counted here), or null: then it is admitted and
   * counted as open until `closed`.
   */
  admit(address: string, transport: TransportName, stopping: boolean): string | null {
    const L = this.#o.config.limits;
    const addr = addressGroup(address);
    let refusal: string | null = null;
    if (stopping) refusal = 'edge is shutting down';
    else if (this.openSockets >= L.maxConnections) refusal = `connection limit reached (${L.maxConnections})`;
    else if (this.openSockets >= this.#fdCap) refusal = `file-descriptor limit reached (${this.#fdCap} client sockets under ulimit -n)`;
    else if (this.#addrCounts.get(addr) >= L.maxConnectionsPerAddress)
      refusal = `per-address connection limit reached (${L.maxConnectionsPerAddress})`;
    else if (!this.#connBuckets.take(addr, this.#o.clock.now())) refusal = 'new-connection rate exceeded';
    else if (this.pending.size >= L.maxHandshakesInFlight && !this.#shedIdleHandshake())
      refusal = `too many handshakes in flight (${L.maxHandshakesInFlight})`;
    if (refusal !== null) {
      this.refused('connection.refused', address, refusal, transport, addr !== address ? { addressGroup: addr } : undefined);
      return refusal;
    }
    this.openSockets++;
    this.#addrCounts.inc(addr);
    return null;
  }

  /** An admitted socket closed. */
  closed(address: string): void {
    this.openSockets--;
    this.#addrCounts.dec(addressGroup(address));
  }

  /** Counts, logs (throttled) and reports a refusal. */
  refused(
    kind: 'connection.refused' | 'handshake.refused',
    address: string,
    reason: string,
    transport?: TransportName,
    detail?: Record<string, unknown>,
  ): void {
    this.#o.counters.refused++;
    this.#refusals.refused(kind, address, reason, { transport, ...detail });
    this.#o.onLifecycle?.({ type: kind, address, reason, transport });
  }

  /** Whether `addr` made too many failed resumes lately. */
  resumesBlocked(address: string): boolean {
    return this.#failedByAddr.blocked(addressGroup(address), this.#o.clock.now());
  }

  /** A failed resume, counted against the address that made it (never against the session's id). */
  resumeFailedFrom(address: string): void {
    this.#failedByAddr.record(addressGroup(address), this.#o.clock.now());
  }

  /**
   * At the handshake cap: drops the handshake idle longest (`pending` is kept in order of last progress) if it
   * has been idle for SHED_MIN_IDLE_MS at least, making room for a new connection. Legit handshakes finish
   * within a round trip, so what idles at the head is what holds slots without using them.
   */
  #shedIdleHandshake(): boolean {
    const oldest = this.pending.values().next().value as PendingConnection | undefined;
    if (!oldest || this.#o.clock.now() - oldest.lastProgress < SHED_MIN_IDLE_MS) return false;
    this.#o.counters.handshakesShed++;
    oldest.fail(`idle handshake shed to make room (handshakes in flight at the cap, step: ${oldest.step})`, 'VL_ERR_HANDSHAKE_SHED');
    return true;
  }

  /** A handshake moved on: it goes to the back of the shedding order. */
  progressed(p: PendingConnection): void {
    p.lastProgress = this.#o.clock.now();
    if (this.pending.delete(p)) this.pending.add(p);
  }

  /** The listener failed to accept (EMFILE/ENFILE at the file-descriptor limit, ...): counted, logged throttled. */
  listenerError(err: NodeJS.ErrnoException): void {
    if (err.syscall === 'accept' || err.code === 'EMFILE' || err.code === 'ENFILE') {
      this.#o.counters.acceptErrors++;
      const reason = `accept failed: ${err.code ?? err.message}${err.code === 'EMFILE' || err.code === 'ENFILE' ? ' (file-descriptor limit reached)' : ''}`;
      this.#refusals.refused('connection.refused', 'listener', reason, { code: err.code });
      this.#o.onLifecycle?.({ type: 'connection.refused', address: 'listener', reason });
      return;
    }
    this.#o.log.error({ err: err.message, code: err.code }, 'listener.error');
  }

  close(): void {
    clearInterval(this.#sweepTimer);
    this.#refusals.close();
  }
}
