// Resuming a session (or starting a new one) within a time window: one handshake per fresh connection, jittered
// exponential backoff between; an edge that no longer knows the session is told apart from one that is unreachable.
import { formatAddress, type EdgeAddress } from './client-address.js';
import { asClientError, ClientError } from './client-errors.js';
import type { KeyPair } from '../io/crypto.js';
import { resumeSession, startSession } from './client-handshake.js';
import { Link } from './client-link.js';
import type { SessionSecrets } from './client-resume-state.js';
import type { TlsClientOptions } from './client-options.js';

export interface ResumePolicy {
  readonly windowMs: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** Keep trying after a failed attempt (false: one attempt only). */
  readonly retry: boolean;
  /** Back off before the first attempt too (after a drop; not for a resume at startup). */
  readonly delayFirst: boolean;
  readonly handshakeTimeoutMs: number;
  readonly maxFrameSize: number;
  readonly tls?: TlsClientOptions;
}

/** Delay before the (n+1)-th backoff: half the capped exponential, plus up to as much again at random. */
export function backoffDelay(n: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.min(n, 32));
  return Math.round(base / 2 + random() * (base / 2));
}

/** Waits `ms`, or rejects with VL_ERR_CLOSED as soon as `signal` aborts (timers only: runs in browsers too). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const closed = (): void => {
      clearTimeout(timer);
      reject(new ClientError('VL_ERR_CLOSED', 'the client was closed'));
    };
    if (signal.aborted) {
      reject(new ClientError('VL_ERR_CLOSED', 'the client was closed'));
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', closed);
      resolve();
    }, ms);
    signal.addEventListener('abort', closed, { once: true });
  });
}

/** Dials with the policy's timeout, frame cap and certificates. */
function dial(addr: EdgeAddress, policy: ResumePolicy, signal: AbortSignal): Promise<Link> {
  return Link.dial(addr, {
    timeoutMs: policy.handshakeTimeoutMs,
    maxFrameSize: policy.maxFrameSize,
    signal,
    ...(policy.tls ? { tls: policy.tls } : {}),
  });
}

/** Runs `handshake` on a fresh link; the link is destroyed if it fails. */
async function attempt<T>(addr: EdgeAddress, policy: ResumePolicy, signal: AbortSignal, handshake: (link: Link) => Promise<T>): Promise<T> {
  const link = await dial(addr, policy, signal);
  try {
    return await handshake(link);
  } catch (err) {
    link.destroy();
    throw err;
  }
}

/**
 * Edge closes after `ClientId` without a `Challenge` on this many attempts in a row: the session is
 * lost. One is not enough: an edge that is shutting down closes the handshakes in progress too, and
 * the next attempt reaches its successor (or finds the port closed, which breaks the run).
 */
export const SESSION_LOST_AFTER = 2;

/**
 * Calls `once` until it resolves, with backoff, until `windowMs` has passed. `settle` sees every
 * failure (and how many attempts in a row failed with the same code) and may end the loop by
 * returning the error to throw. Rejects with VL_ERR_CLOSED when `signal` aborts.
 */
async function withinWindow<T>(
  policy: ResumePolicy,
  signal: AbortSignal,
  once: () => Promise<T>,
  settle: (e: ClientError, sameInARow: number) => ClientError | null,
  giveUp: (attempts: number, last: ClientError | null) => ClientError,
): Promise<T> {
  const deadline = performance.now() + policy.windowMs;
  let last: ClientError | null = null;
  let attempts = 0;
  let backoffs = 0;
  let inARow = 0;
  for (;;) {
    if (attempts > 0 || policy.delayFirst) {
      const remaining = deadline - performance.now();
      if (attempts > 0 && remaining <= 0) break;
      await pause(Math.min(backoffDelay(backoffs++, policy.initialDelayMs, policy.maxDelayMs), Math.max(0, remaining)), signal);
    }
    attempts++;
    try {
      return await once();
    } catch (err) {
      const e = asClientError(err);
      if (e.code === 'VL_ERR_CLOSED') throw e;
      inARow = last?.code === e.code ? inARow + 1 : 1;
      last = e;
      const stop = settle(e, inARow);
      if (stop) throw stop;
      if (!policy.retry) break;
    }
  }
  throw giveUp(attempts, last);
}

const plural = (n: number): string => `${n} attempt${n === 1 ? '' : 's'}`;

/**
 * Resumes `secrets` on a new connection, retrying until `windowMs` has passed. Resolves with a
 * link whose next frames are application data. Rejects with VL_ERR_EDGE_KEY_CHANGED at once
 * (no retry); with VL_ERR_SESSION_LOST when the edge closed SESSION_LOST_AFTER attempts in a row
 * right after our ClientId (or the only attempt, when `retry` is off); VL_ERR_CLOSED when `signal`
 * aborts; else VL_ERR_RESUME_FAILED with the last reason.
 */
export function resumeWithin(addr: EdgeAddress, secrets: SessionSecrets, policy: ResumePolicy, signal: AbortSignal): Promise<Link> {
  return withinWindow(
    policy,
    signal,
    () =>
      attempt(addr, policy, signal, async (link) => {
        await resumeSession(link, secrets);
        return link;
      }),
    (e, inARow) => {
      if (e.code === 'VL_ERR_EDGE_KEY_CHANGED') return e;
      if (e.code === 'VL_ERR_SESSION_LOST' && (inARow >= SESSION_LOST_AFTER || !policy.retry)) {
        return new ClientError(
          'VL_ERR_SESSION_LOST',
          `session ${secrets.id} is lost: the edge at ${formatAddress(addr)} closed ${plural(inARow)} in a row right after ClientId, without a Challenge (it does not know the session)`,
          { cause: e },
        );
      }
      return null;
    },
    (attempts, last) =>
      new ClientError(
        'VL_ERR_RESUME_FAILED',
        `could not resume session ${secrets.id} at ${formatAddress(addr)} within ${policy.windowMs} ms ` +
          `(${plural(attempts)}); last: ${last?.message ?? 'no attempt made'}`,
        { cause: last },
      ),
  );
}

/** Starts a new session (fresh connection, new-session handshake), retrying like a resume. */
export function newSessionWithin(addr: EdgeAddress, keyPair: KeyPair, policy: ResumePolicy, signal: AbortSignal): Promise<{ link: Link; secrets: SessionSecrets }> {
  return withinWindow(
    policy,
    signal,
    () => attempt(addr, policy, signal, async (link) => ({ link, secrets: await startSession(link, keyPair) })),
    () => null,
    (attempts, last) =>
      new ClientError(
        'VL_ERR_RESUME_FAILED',
        `could not start a new session at ${formatAddress(addr)} within ${policy.windowMs} ms (${plural(attempts)}); last: ${last?.message ?? 'no attempt made'}`,
        { cause: last },
      ),
  );
}
