// The shape of a Voltlane config: its types, every TOML key with the rule its value
// must meet and the environment names that set it, and the error a bad value raises.
import { checkAddress, ADDRESS_FORMS, type HostPort } from './address.js';

export type { HostPort } from './address.js';

export type LogLevel = 'off' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

export interface Config {
  general: {
    logLevel: LogLevel;
    inspectPort: number;
    /** Processes serving the listener: a count, or 'auto' (one per core). */
    workers: number | 'auto';
    /** Refusal log lines: one per reason and address per this many seconds, with a count; 0 logs each. */
    refusalLogIntervalSecs: number;
    /** The edge's secret key file; relative paths are resolved against the config file's directory. */
    keyFile: string;
    /** Ask V8 for a young-generation collection when idle after a burst, so that its grown memory goes back. */
    releaseIdleMemory: boolean;
  };
  listener: { address: HostPort };
  master: {
    address: HostPort;
    channelCapacity: number;
    channelCapacityBytes: number;
    reconnectMinMs: number;
    reconnectMaxMs: number;
  };
  clients: {
    channelCapacity: number;
    channelCapacityBytes: number;
    staleTimeoutSecs: number;
    staleReapIntervalSecs: number;
    missedPacketsBufferSize: number;
    missedPacketsBufferBytes: number;
    maxStaleClients: number;
  };
  limits: {
    maxFrameSize: number;
    handshakeTimeoutSecs: number;
    maxConnections: number;
    maxConnectionsPerAddress: number;
    newConnectionsPerAddressPerSec: number;
    newConnectionsBurst: number;
    maxHandshakesInFlight: number;
    /** Grace for a client frame in progress, seconds, extended by 1 s per minFrameBytesPerSec received. */
    frameTimeoutSecs: number;
    minFrameBytesPerSec: number;
    failedResumesPerAddressPerMin: number;
    /** Most of the stale table one address (an IPv6 /64 as one) holds: below 1 a share of max_stale_clients, else a count. */
    maxStaleSharePerAddress: number;
    /** Everything buffered for clients together (replay buffers, queues of clients behind), bytes; 'auto' from memory. */
    clientBufferBudgetBytes: number | 'auto';
  };
  /** The status server (/metrics, /healthz, /readyz, /); absent or a null address: off. */
  http?: { address: HostPort | null };
  /** Many edges as one cluster through Redis/Valkey; absent or an empty redisUrl: off. */
  cluster?: { redisUrl: string; keyPrefix: string; memberTimeoutSecs: number };
  /** The TLS listener and the certificate files (also used by the WebSocket listener with `tls`); absent: off. */
  tls?: { address: HostPort | null; certFile: string; keyFile: string; caFile: string };
  /** The WebSocket listener; absent or a null address: off. */
  websocket?: { address: HostPort | null; path: string; tls: boolean; allowedOrigins: readonly string[] };
  /** Sessions across restarts and crashes (src/store); absent: on. */
  state?: { persistSessions: boolean; /** Where voltlane.state and voltlane.journal live; "": the key file's directory. */ dir: string };
}

export type SectionName = keyof Config;

/** A bad config value, a missing/unreadable file or a TOML syntax error. */
export class ConfigError extends Error {
  readonly code = 'VL_ERR_CONFIG';
  /** Dotted TOML key, e.g. "clients.stale_timeout_secs", when one key is at fault. */
  readonly key: string | undefined;
  /** Where the bad value came from: a file path, "environment variable X", "flag --listen". */
  readonly source: string | undefined;

  constructor(message: string, options: { key?: string; source?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ConfigError';
    this.key = options.key;
    this.source = options.source;
  }
}

/** Outcome of checking one raw value: the typed value, or why it was refused. */
export type Checked<T> = { ok: true; value: T } | { ok: false; problem?: string };

/** How one key's value is checked, from TOML (typed) or from an env var / flag (a string). */
export interface Rule<T> {
  /** Human description of a good value, quoted in errors. */
  readonly expected: string;
  fromToml(raw: unknown): Checked<T>;
  fromString(raw: string): Checked<T>;
}

export interface KeySpec<T> {
  /** TOML key inside its section, snake_case. */
  readonly key: string;
  readonly rule: Rule<T>;
  /** Extra environment names besides VOLTLANE_<SECTION>_<KEY>, checked first. */
  readonly aliases?: readonly string[];
}

type Section<S extends SectionName> = NonNullable<Config[S]>;
type Schema = { readonly [S in SectionName]: { readonly [F in keyof Section<S>]: KeySpec<Section<S>[F]> } };

const LOG_LEVELS: readonly LogLevel[] = ['off', 'error', 'warn', 'info', 'debug', 'trace'];
const INTEGER_TEXT = /^[+-]?[0-9]+$/;
const DECIMAL_TEXT = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
/** Node timers overflow past 2^31-1 ms and then fire at once, so no delay may exceed it. */
export const MAX_TIMER_MS = 2_147_483_647;
const MAX_TIMER_SECS = MAX_TIMER_MS / 1000;
const fail = { ok: false } as const;

function logLevel(): Rule<LogLevel> {
  const fromString = (raw: string): Checked<LogLevel> => {
    const lower = raw.trim().toLowerCase();
    const level = LOG_LEVELS.find((l) => l === lower);
    return level === undefined ? fail : { ok: true, value: level };
  };
  return {
    expected: 'one of Off, Error, Warn, Info, Debug, Trace (any case)',
    fromToml: (raw) => (typeof raw === 'string' ? fromString(raw) : fail),
    fromString,
  };
}

function address(opts: { allowPortZero: boolean }): Rule<HostPort> {
  const fromString = (raw: string): Checked<HostPort> => {
    const result = checkAddress(raw);
    if (typeof result === 'string') return { ok: false, problem: result };
    if (result.port === 0 && !opts.allowPortZero) return { ok: false, problem: 'port 0 cannot be connected to' };
    return { ok: true, value: result };
  };
  return {
    expected: opts.allowPortZero ? ADDRESS_FORMS : ADDRESS_FORMS.replace('port 0 to', 'port 1 to'),
    fromToml: (raw) => (typeof raw === 'string' ? fromString(raw) : fail),
    fromString,
  };
}

/** An address, or the empty string for "off" (null). */
function optionalAddress(): Rule<HostPort | null> {
  const inner = address({ allowPortZero: true });
  const fromString = (raw: string): Checked<HostPort | null> => (raw.trim() === '' ? { ok: true, value: null } : inner.fromString(raw));
  return {
    expected: `"" (off) or ${ADDRESS_FORMS}`,
    fromToml: (raw) => (typeof raw === 'string' ? fromString(raw) : fail),
    fromString,
  };
}

function integer(min: number, max: number = Number.MAX_SAFE_INTEGER, unit = ''): Rule<number> {
  const inRange = (n: number): Checked<number> =>
    Number.isSafeInteger(n) && n >= min && n <= max ? { ok: true, value: n } : fail;
  return {
    expected: `an integer${unit} from ${min} to ${max}`,
    fromToml: (raw) => (typeof raw === 'number' ? inRange(raw) : fail),
    fromString: (raw) => {
      const text = raw.trim();
      return INTEGER_TEXT.test(text) ? inRange(Number(text)) : fail;
    },
  };
}

function positive(unit: string, max: number = Number.MAX_VALUE): Rule<number> {
  const inRange = (n: number): Checked<number> =>
    Number.isFinite(n) && n > 0 && n <= max ? { ok: true, value: n } : fail;
  const bound = max === Number.MAX_VALUE ? '' : ` and at most ${max}`;
  return {
    expected: `a number${unit} greater than 0${bound} (fractional allowed, e.g. 0.5)`,
    fromToml: (raw) => (typeof raw === 'number' ? inRange(raw) : fail),
    fromString: (raw) => {
      const text = raw.trim();
      return DECIMAL_TEXT.test(text) ? inRange(Number(text)) : fail;
    },
  };
}

/** A worker count (1..1024) or "auto" (one per core). */
function workers(): Rule<number | 'auto'> {
  const ints = integer(1, 1024);
  const fromString = (raw: string): Checked<number | 'auto'> => (raw.trim().toLowerCase() === 'auto' ? { ok: true, value: 'auto' } : ints.fromString(raw));
  return {
    expected: '"auto" (one per core) or an integer from 1 to 1024',
    fromToml: (raw) => (typeof raw === 'string' ? fromString(raw) : ints.fromToml(raw)),
    fromString,
  };
}

/** A share of a whole (a number greater than 0 and less than 1) or a count (an integer, at least 1). */
function shareOrCount(): Rule<number> {
  const check = (n: number): Checked<number> =>
    Number.isFinite(n) && n > 0 && (n < 1 || Number.isSafeInteger(n)) ? { ok: true, value: n } : fail;
  return {
    expected: 'a share of max_stale_clients (a number greater than 0 and less than 1, e.g. 0.25) or a count (an integer, at least 1)',
    fromToml: (raw) => (typeof raw === 'number' ? check(raw) : fail),
    fromString: (raw) => {
      const text = raw.trim();
      return DECIMAL_TEXT.test(text) ? check(Number(text)) : fail;
    },
  };
}

/** "auto" or an integer number of bytes, at least `min`. */
function bytesOrAuto(min: number): Rule<number | 'auto'> {
  const ints = integer(min, Number.MAX_SAFE_INTEGER, ' number of bytes');
  const fromString = (raw: string): Checked<number | 'auto'> => (raw.trim().toLowerCase() === 'auto' ? { ok: true, value: 'auto' } : ints.fromString(raw));
  return {
    expected: `"auto" (from the machine's memory) or ${ints.expected}`,
    fromToml: (raw) => (typeof raw === 'string' ? fromString(raw) : ints.fromToml(raw)),
    fromString,
  };
}

/** "" (off) or a redis:// / rediss:// URL. */
function redisUrl(): Rule<string> {
  const fromString = (raw: string): Checked<string> => {
    const text = raw.trim();
    if (text === '') return { ok: true, value: '' };
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return { ok: false, problem: 'not a URL' };
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return { ok: false, problem: `scheme ${url.protocol} is not redis: or rediss:` };
    if (url.hostname === '') return { ok: false, problem: 'no host' };
    return { ok: true, value: text };
  };
  return {
    expected: '"" (off) or a URL such as redis://127.0.0.1:6379 or rediss://user:password@host:6380/0',
    fromToml: (raw) => (typeof raw === 'string' ? fromString(raw) : fail),
    fromString,
  };
}

/** A Redis key prefix: 1 to 64 of A-Z a-z 0-9 _ - . : */
function keyPrefix(): Rule<string> {
  const fromString = (raw: string): Checked<string> => (/^[A-Za-z0-9_.:-]{1,64}$/.test(raw.trim()) ? { ok: true, value: raw.trim() } : fail);
  return {
    expected: '1 to 64 characters from A-Z a-z 0-9 _ - . :',
    fromToml: (raw) => (typeof raw === 'string' ? fromString(raw) : fail),
    fromString,
  };
}

/** A file path, or "" for none (unless required); relative paths are resolved against the config file's directory. */
function filePath(what = 'a file path', required = false): Rule<string> {
  const fromString = (raw: string): Checked<string> =>
    raw.includes('\0') || (required && raw.trim() === '') ? fail : { ok: true, value: raw.trim() };
  return {
    expected: `${what} (relative to the config file's directory)${required ? '' : ', or "" for none'}`,
    fromToml: (raw) => (typeof raw === 'string' ? fromString(raw) : fail),
    fromString,
  };
}

function boolean(): Rule<boolean> {
  const fromString = (raw: string): Checked<boolean> => {
    const t = raw.trim().toLowerCase();
    return t === 'true' || t === '1' ? { ok: true, value: true } : t === 'false' || t === '0' ? { ok: true, value: false } : fail;
  };
  return {
    expected: 'true or false',
    fromToml: (raw) => (typeof raw === 'boolean' ? { ok: true, value: raw } : fail),
    fromString,
  };
}

/** The path part of a URL: starts with "/", no spaces, query or fragment. */
function urlPath(): Rule<string> {
  const fromString = (raw: string): Checked<string> =>
    /^\/[^\s?#]*$/.test(raw.trim()) ? { ok: true, value: raw.trim() } : { ok: false, problem: 'a path starts with "/" and has no spaces, "?" or "#"' };
  return {
    expected: 'a URL path such as "/" or "/voltlane"',
    fromToml: (raw) => (typeof raw === 'string' ? fromString(raw) : fail),
    fromString,
  };
}

/** Browser origins ("https://game.example.com"): a TOML array of strings, or a comma-separated string in the environment. */
function origins(): Rule<readonly string[]> {
  const check = (list: string[]): Checked<readonly string[]> => {
    for (const o of list) {
      if (o !== '*' && !/^[a-z][a-z0-9+.-]*:\/\/[^\s/?#]+$/i.test(o)) {
        return { ok: false, problem: `"${o}" is not an origin (scheme://host[:port], no path)` };
      }
    }
    return { ok: true, value: list.map((o) => o.toLowerCase()) };
  };
  return {
    expected: 'a list of origins such as ["https://game.example.com"]; [] allows any',
    fromToml: (raw) => (Array.isArray(raw) && raw.every((o) => typeof o === 'string') ? check(raw as string[]) : fail),
    fromString: (raw) => check(raw.split(',').map((o) => o.trim()).filter((o) => o !== '')),
  };
}

const count = (min: number) => integer(min);
const bytes = (min: number) => integer(min, Number.MAX_SAFE_INTEGER, ' number of bytes');
const millis = () => integer(1, MAX_TIMER_MS, ' number of milliseconds');
const seconds = () => positive(' of seconds', MAX_TIMER_SECS);

/** Every key Voltlane reads, grouped by TOML section. */
export const SCHEMA: Schema = {
  general: {
    logLevel: { key: 'log_level', rule: logLevel(), aliases: ['VOLTLANE_LOG_LEVEL'] },
    inspectPort: { key: 'inspect_port', rule: integer(0, 65535) },
    workers: { key: 'workers', rule: workers() },
    refusalLogIntervalSecs: { key: 'refusal_log_interval_secs', rule: integer(0, 86_400, ' number of seconds') },
    keyFile: { key: 'key_file', rule: filePath('a file path', true) },
    releaseIdleMemory: { key: 'release_idle_memory', rule: boolean() },
  },
  listener: {
    address: { key: 'address', rule: address({ allowPortZero: true }) },
  },
  master: {
    address: { key: 'address', rule: address({ allowPortZero: false }) },
    channelCapacity: { key: 'channel_capacity', rule: count(1) },
    channelCapacityBytes: { key: 'channel_capacity_bytes', rule: bytes(1) },
    reconnectMinMs: { key: 'reconnect_min_ms', rule: millis() },
    reconnectMaxMs: { key: 'reconnect_max_ms', rule: millis() },
  },
  clients: {
    channelCapacity: { key: 'channel_capacity', rule: count(1) },
    channelCapacityBytes: { key: 'channel_capacity_bytes', rule: bytes(1) },
    staleTimeoutSecs: { key: 'stale_timeout_secs', rule: seconds() },
    staleReapIntervalSecs: { key: 'stale_reap_interval_secs', rule: seconds() },
    missedPacketsBufferSize: { key: 'missed_packets_buffer_size', rule: count(0) },
    missedPacketsBufferBytes: { key: 'missed_packets_buffer_bytes', rule: bytes(0) },
    maxStaleClients: { key: 'max_stale_clients', rule: count(0) },
  },
  limits: {
    maxFrameSize: { key: 'max_frame_size', rule: integer(1, 0xffff_ffff, ' number of bytes') },
    handshakeTimeoutSecs: { key: 'handshake_timeout_secs', rule: seconds() },
    maxConnections: { key: 'max_connections', rule: count(1) },
    maxConnectionsPerAddress: { key: 'max_connections_per_address', rule: count(1) },
    newConnectionsPerAddressPerSec: {
      key: 'new_connections_per_address_per_sec',
      rule: positive(' of connections per second'),
    },
    newConnectionsBurst: { key: 'new_connections_burst', rule: count(1) },
    maxHandshakesInFlight: { key: 'max_handshakes_in_flight', rule: count(1) },
    frameTimeoutSecs: { key: 'frame_timeout_secs', rule: seconds() },
    minFrameBytesPerSec: { key: 'min_frame_bytes_per_sec', rule: count(1) },
    failedResumesPerAddressPerMin: { key: 'failed_resumes_per_address_per_min', rule: count(1) },
    maxStaleSharePerAddress: { key: 'max_stale_share_per_address', rule: shareOrCount() },
    clientBufferBudgetBytes: { key: 'client_buffer_budget_bytes', rule: bytesOrAuto(65_536) },
  },
  http: {
    address: { key: 'address', rule: optionalAddress() },
  },
  cluster: {
    redisUrl: { key: 'redis_url', rule: redisUrl() },
    keyPrefix: { key: 'key_prefix', rule: keyPrefix() },
    memberTimeoutSecs: { key: 'member_timeout_secs', rule: positive(' of seconds', 3600) },
  },
  tls: {
    address: { key: 'address', rule: optionalAddress() },
    certFile: { key: 'cert_file', rule: filePath() },
    keyFile: { key: 'key_file', rule: filePath() },
    caFile: { key: 'ca_file', rule: filePath() },
  },
  websocket: {
    address: { key: 'address', rule: optionalAddress() },
    path: { key: 'path', rule: urlPath() },
    tls: { key: 'tls', rule: boolean() },
    allowedOrigins: { key: 'allowed_origins', rule: origins() },
  },
  state: {
    persistSessions: { key: 'persist_sessions', rule: boolean() },
    dir: { key: 'dir', rule: filePath('a directory') },
  },
};

/** One key, flattened: where it lives in Config, its dotted TOML name and env names. */
export interface KeyEntry {
  readonly section: SectionName;
  readonly field: string;
  /** e.g. "clients.stale_timeout_secs" */
  readonly dotted: string;
  /** Environment names, strongest first (aliases, then VOLTLANE_<SECTION>_<KEY>). */
  readonly envNames: readonly string[];
  readonly rule: Rule<unknown>;
}

export const SECTIONS = Object.keys(SCHEMA) as SectionName[];

export const KEYS: readonly KeyEntry[] = SECTIONS.flatMap((section) =>
  Object.entries(SCHEMA[section] as Record<string, KeySpec<unknown>>).map(([field, spec]) => ({
    section,
    field,
    dotted: `${section}.${spec.key}`,
    envNames: [...(spec.aliases ?? []), `VOLTLANE_${section}_${spec.key}`.toUpperCase()],
    rule: spec.rule,
  })),
);

/** Freezes an object and everything reachable from it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
