// The process's file-descriptor limit (RLIMIT_NOFILE, `ulimit -n`) against max_connections: read once at
// start from /proc/self/limits (Linux; elsewhere unknown), with the warning an operator needs when the
// connection cap cannot be reached because accept() would fail first.
import { readFileSync } from 'node:fs';

/** Descriptors kept for everything besides client sockets: master link, listener, logs, status server, key file. */
export const FD_RESERVE = 64;

/** The soft limit on open files, or null when it cannot be read (not Linux, or unlimited). */
export function openFilesLimit(procLimits = '/proc/self/limits'): number | null {
  let text: string;
  try {
    text = readFileSync(procLimits, 'utf8');
  } catch {
    return null;
  }
  const line = text.split('\n').find((l) => l.startsWith('Max open files'));
  const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
  if (soft === undefined || !/^[0-9]+$/.test(soft)) return null;
  return Number(soft);
}

/**
 * The warning for `maxConnections` under `limit` open files, or null when it fits. Client sockets past
 * `limit - FD_RESERVE` are refused by the edge itself (logged and counted) rather than failing in accept().
 */
export function fdLimitWarning(maxConnections: number, limit: number | null): string | null {
  if (limit === null || maxConnections + FD_RESERVE <= limit) return null;
  const usable = Math.max(0, limit - FD_RESERVE);
  return (
    `limits.max_connections is ${maxConnections} but the process may open only ${limit} files (ulimit -n): ` +
    `at most ${usable} client connections will be accepted (${FD_RESERVE} descriptors kept for the rest). ` +
    `Raise the limit (ulimit -n ${maxConnections + FD_RESERVE}, or LimitNOFILE= in the systemd unit) or lower max_connections.`
  );
}
