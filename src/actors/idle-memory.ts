// Memory back to the system once a burst is over. V8 grows its young generation while a burst of connections
// allocates objects that live on (sockets, sessions): up to 32 MiB with Node's defaults, about 3 KiB per session
// of 10,000. It shrinks it again only at a garbage collection that finds the allocation rate low, and an edge
// that sits idle with its sessions allocates almost nothing, so no collection comes for a long while and the
// memory stays with the process. This asks V8 for a young-generation collection (about a millisecond with an
// empty young generation) while the event loop is idle and the young generation is grown, and tries again,
// less often after a while, until V8 judges the rate low enough to shrink it.
import v8 from 'node:v8';
import vm from 'node:vm';
import type { Logger } from '../log.js';

/** How often the young generation is looked at. */
export const CHECK_INTERVAL_MS = 2000;
/**
 * A young generation above this counts as grown: V8 starts it at 1 MiB and grows it up to 32 MiB with Node's
 * defaults; a process started with a smaller maximum (--max-semi-space-size=2) is left alone.
 */
export const GROWN_BYTES = 4 * 1024 * 1024;
/** Event-loop utilization over the last interval at or below which the process counts as idle. */
export const IDLE_UTILIZATION = 0.05;
/** Attempts made one interval apart before the wait between them doubles (V8 needs some seconds of calm). */
const STEADY_ATTEMPTS = 8;
/** Most intervals skipped between attempts that V8 declined. */
const MAX_SKIP = 15;

/** What the releaser reads and calls: the real heap by default, replaced in unit tests. */
export interface HeapProbe {
  /** Bytes the young generation holds from the system (V8's new space, committed). */
  youngBytes(): number;
  /** Event-loop utilization (0-1) since the previous call. */
  utilization(): number;
  /** A young-generation collection, or null where the runtime gives none. */
  collector(): (() => void) | null;
}

function newSpaceBytes(): number {
  for (const s of v8.getHeapSpaceStatistics()) if (s.space_name === 'new_space') return s.space_size;
  return 0;
}

let gcFn: ((o?: { type: 'minor' | 'major' }) => void) | null | undefined;

/**
 * V8's collection function: the flag that exposes it applies to contexts made after it is set, so a fresh
 * context hands it out without putting `gc` on this process's global object.
 */
function minorCollector(): (() => void) | null {
  if (gcFn === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      const fn: unknown = vm.runInNewContext('typeof gc === "function" ? gc : null');
      gcFn = typeof fn === 'function' ? (fn as (o?: { type: 'minor' | 'major' }) => void) : null;
    } catch {
      gcFn = null;
    }
  }
  const fn = gcFn;
  return fn === null ? null : () => fn({ type: 'minor' });
}

export function processHeapProbe(): HeapProbe {
  let last = performance.eventLoopUtilization();
  return {
    youngBytes: newSpaceBytes,
    utilization() {
      const now = performance.eventLoopUtilization();
      const u = performance.eventLoopUtilization(now, last).utilization;
      last = now;
      return u;
    },
    collector: minorCollector,
  };
}

export interface IdleMemoryOptions {
  enabled: boolean;
  log: Logger;
  probe?: HeapProbe;
  /** Timer start; false leaves ticking to the caller (unit tests). */
  timer?: boolean;
}

/** Gives the young generation back after a burst, when the process is idle (general.release_idle_memory). */
export class IdleMemory {
  readonly #log: Logger;
  readonly #probe: HeapProbe;
  #enabled: boolean;
  #timer: NodeJS.Timeout | null = null;
  #declined = 0;
  #skip = 0;
  #unavailable = false;
  /** Collections asked for, and those after which the young generation was smaller. */
  attempts = 0;
  releases = 0;
  releasedBytes = 0;

  constructor(o: IdleMemoryOptions) {
    this.#log = o.log;
    this.#probe = o.probe ?? processHeapProbe();
    this.#enabled = o.enabled;
    if (o.timer !== false) {
      this.#timer = setInterval(() => this.tick(), CHECK_INTERVAL_MS);
      this.#timer.unref();
    }
  }

  setEnabled(enabled: boolean): void {
    this.#enabled = enabled;
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** One look: collect if the young generation is grown (above GROWN_BYTES) and the last interval was idle. */
  tick(): void {
    const busy = this.#probe.utilization() > IDLE_UTILIZATION;
    const young = this.#probe.youngBytes();
    if (!this.#enabled || this.#unavailable || young <= GROWN_BYTES) {
      this.#declined = 0;
      this.#skip = 0;
      return;
    }
    if (busy) return;
    if (this.#skip > 0) {
      this.#skip--;
      return;
    }
    const collect = this.#probe.collector();
    if (collect === null) {
      this.#unavailable = true;
      this.#log.warn('memory.release_unavailable: this runtime gives no way to ask for a collection; general.release_idle_memory does nothing');
      return;
    }
    this.attempts++;
    collect();
    const after = this.#probe.youngBytes();
    if (after < young) {
      this.releases++;
      this.releasedBytes += young - after;
      this.#declined = 0;
      this.#log.info({ youngMiB: +(young / 1048576).toFixed(1), nowMiB: +(after / 1048576).toFixed(1) }, 'memory.released');
    } else {
      // V8 still sees the burst's allocation rate: wait longer before the next attempt.
      this.#declined++;
      this.#skip = this.#declined < STEADY_ATTEMPTS ? 0 : Math.min(2 ** (this.#declined - STEADY_ATTEMPTS), MAX_SKIP);
    }
  }
}
