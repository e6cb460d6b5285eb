// The edge's clock: wall time for limits and stale deadlines, and timers for XState delays. Tests inject their own.

/** XState's actor clock (timers for delayed transitions) plus `now()`. */
export interface EdgeClock {
  now(): number;
  setTimeout(fn: (...args: unknown[]) => void, timeout: number): unknown;
  clearTimeout(id: unknown): void;
}

export const systemClock: EdgeClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as NodeJS.Timeout),
};
