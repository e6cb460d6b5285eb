// Resuming a session within a time window: one handshake per fresh connection, jittered exponential backoff between.
import { formatAddress, type EdgeAddress } from './client-address.js';
import { asClientError, ClientError } from './client-errors.js';
import { resumeSession } from './client-handshake.js';
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

async function attempt(addr: EdgeAddress, secrets: SessionSecrets, policy: ResumePolicy, signal: AbortSignal): Promise<Link> {
  const link = await Link.dial(addr, {
    timeoutMs: policy.handshakeTimeoutMs,
    maxFrameSize: policy.maxFrameSize,
    signal,
    ...(policy.tls ? { tls: policy.tls } : {}),
  });
  try {
    await resumeSession(link, secrets);
    return link;
  } catch (err) {
    link.destroy();
    throw err;
  }
}

/**
 * Resumes `secrets` on a new connection, retrying until `windowMs` has passed. Resolves with a
 * link whose next frames are application data. Rejects with VL_ERR_EDGE_KEY_CHANGED at once
 * (no retry), VL_ERR_CLOSED when `signal` aborts, else VL_ERR_RESUME_FAILED with the last reason.
 */
export async function resumeWithin(
  addr: EdgeAddress,
  secrets: SessionSecrets,
  policy: ResumePolicy,
  signal: AbortSignal,
): Promise<Link> {
  const deadline = performance.now() + policy.windowMs;
  let last: ClientError | null = null;
  let attempts = 0;
  let backoffs = 0;
  for (;;) {
    if (attempts > 0 || policy.delayFirst) {
      const remaining = deadline - performance.now();
      if (attempts > 0 && remaining <= 0) break;
      await pause(Math.min(backoffDelay(backoffs++, policy.initialDelayMs, policy.maxDelayMs), Math.max(0, remaining)), signal);
    }
    attempts++;
    try {
      return await attempt(addr, secrets, policy, signal);
    } catch (err) {
      const e = asClientError(err);
      if (e.code === 'VL_ERR_EDGE_KEY_CHANGED' || e.code === 'VL_ERR_CLOSED') throw e;
      last = e;
      if (!policy.retry) break;
    }
  }
  throw new ClientError(
    'VL_ERR_RESUME_FAILED',
    `could not resume session ${secrets.id} at ${formatAddress(addr)} within ${policy.windowMs} ms ` +
      `(${attempts} attempt${attempts === 1 ? '' : 's'}); last: ${last?.message ?? 'no attempt made'}`,
    { cause: last },
  );
}
