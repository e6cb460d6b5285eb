// What a config reload (SIGHUP) may change in a running edge: every key is either `live` (the new value applies
// to new work at once: new connections, frames, packets, log lines) or `restart` (kept as it is, reported as
// "needs restart"). The table's type lists every field of Config, so a new key does not compile until it is
// classified here; test/unit/config/reload.test.ts checks the same against the schema.
import { formatAddress, type HostPort } from './address.js';
import { KEYS, deepFreeze, type Config, type SectionName } from './schema.js';

export type ReloadClass = 'live' | 'restart';

type Section<S extends SectionName> = NonNullable<Config[S]>;
type ReloadTable = { readonly [S in SectionName]-?: { readonly [F in keyof Section<S>]-?: ReloadClass } };

/**
 * Reloadable or not, per key. Restart-only, and why: addresses and listeners are bound at start; the key file,
 * the state directory, the cluster and the worker count shape the process; buffers sized at start (the master
 * queue, the WebSocket and master frame caps from max_frame_size, the client buffer budget); the stale timeout
 * sets the deadlines of the sessions already kept and, in a cluster, the lifetime of their Redis records; the
 * reap interval is the grid the reaper's timer runs on.
 * handshake_timeout_secs applies to each connection from its accept, TLS and WebSocket ones too; the TLS layer keeps
 * its own limit from the start as well, so raising the timeout past it needs a restart for TLS handshakes.
 */
export const RELOAD: ReloadTable = {
  general: { logLevel: 'live', inspectPort: 'restart', workers: 'restart', refusalLogIntervalSecs: 'live', keyFile: 'restart', releaseIdleMemory: 'live' },
  listener: { address: 'restart' },
  master: { address: 'restart', channelCapacity: 'restart', channelCapacityBytes: 'restart', reconnectMinMs: 'live', reconnectMaxMs: 'live' },
  clients: {
    channelCapacity: 'live',
    channelCapacityBytes: 'live',
    staleTimeoutSecs: 'restart',
    staleReapIntervalSecs: 'restart',
    missedPacketsBufferSize: 'live',
    missedPacketsBufferBytes: 'live',
    maxStaleClients: 'live',
  },
  limits: {
    maxFrameSize: 'restart',
    handshakeTimeoutSecs: 'live',
    maxConnections: 'live',
    maxConnectionsPerAddress: 'live',
    newConnectionsPerAddressPerSec: 'live',
    newConnectionsBurst: 'live',
    maxHandshakesInFlight: 'live',
    frameTimeoutSecs: 'live',
    minFrameBytesPerSec: 'live',
    failedResumesPerAddressPerMin: 'live',
    maxStaleSharePerAddress: 'live',
    clientBufferBudgetBytes: 'restart',
  },
  http: { address: 'restart' },
  cluster: { redisUrl: 'restart', keyPrefix: 'restart', memberTimeoutSecs: 'restart' },
  tls: { address: 'restart', certFile: 'restart', keyFile: 'restart', caFile: 'restart' },
  websocket: { address: 'restart', path: 'restart', tls: 'restart', allowedOrigins: 'restart' },
  state: { persistSessions: 'restart', dir: 'restart' },
};

/** The class of a key by its dotted name ("limits.max_connections"); undefined for a name that is not a key. */
export function reloadClass(dotted: string): ReloadClass | undefined {
  const entry = KEYS.find((k) => k.dotted === dotted);
  if (entry === undefined) return undefined;
  return (RELOAD[entry.section] as Record<string, ReloadClass | undefined>)[entry.field];
}

/** One key whose value differs between the running config and the file. */
export interface ConfigChange {
  key: string;
  from: string;
  to: string;
}

export interface ReloadPlan {
  /** Live keys that changed: applied. */
  applied: ConfigChange[];
  /** Restart-only keys that changed: left as they are. */
  needsRestart: ConfigChange[];
  /** The running config with the applied changes: what the edge runs with from now on. */
  effective: Config;
}

/** Compares the running config with a freshly loaded one, key by key. */
export function planReload(running: Config, next: Config): ReloadPlan {
  const applied: ConfigChange[] = [];
  const needsRestart: ConfigChange[] = [];
  const tree = structuredClone(running) as unknown as Record<string, Record<string, unknown>>;
  for (const entry of KEYS) {
    const before = (running[entry.section] as Record<string, unknown> | undefined)?.[entry.field];
    const after = (next[entry.section] as Record<string, unknown> | undefined)?.[entry.field];
    if (JSON.stringify(before) === JSON.stringify(after)) continue;
    const change = { key: entry.dotted, from: show(before), to: show(after) };
    if (reloadClass(entry.dotted) === 'live') {
      applied.push(change);
      (tree[entry.section] ??= {})[entry.field] = structuredClone(after);
    } else {
      needsRestart.push(change);
    }
  }
  return { applied, needsRestart, effective: deepFreeze(tree as unknown as Config) };
}

/** `key old -> new, ...`, as the reload log lines say it. */
export function describeChanges(changes: readonly ConfigChange[]): string {
  return changes.map((c) => `${c.key} ${c.from} -> ${c.to}`).join(', ');
}

function show(v: unknown): string {
  if (v === null || v === undefined) return '""';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return JSON.stringify(v);
  if (typeof v === 'object' && 'host' in v && 'port' in v) return formatAddress(v as HostPort);
  return String(v);
}
