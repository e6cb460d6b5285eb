// The edge settings the lifecycle fuzzer's model must share with the edge it fuzzes: from flags, else the edge's
// connserver.toml (`voltlane fuzz --config`), else the fuzzer's defaults; confirmed, when the edge runs a status
// server, against what the running edge reports (/status.json `settings`). A difference is a settings mismatch,
// reported as such before any run, never left to surface as a violated invariant.
import { formatAddress, type Config, type HostPort } from '../config/index.js';
import { edgeSettings, type EdgeSettings } from '../http/settings.js';

export interface FuzzSettings {
  staleTimeoutSecs: number;
  staleReapIntervalSecs: number;
  missedPacketsBufferSize: number;
  maxStaleClients: number;
  maxFrameSize: number;
}

/** Each setting: its config key, the flag that overrides it, the fuzzer's default. */
export const FUZZ_SETTINGS: ReadonlyArray<{ name: keyof FuzzSettings; dotted: string; flag: string; dflt: number }> = [
  { name: 'staleTimeoutSecs', dotted: 'clients.stale_timeout_secs', flag: 'stale-timeout', dflt: 0.5 },
  { name: 'staleReapIntervalSecs', dotted: 'clients.stale_reap_interval_secs', flag: 'reap-interval', dflt: 0.05 },
  { name: 'missedPacketsBufferSize', dotted: 'clients.missed_packets_buffer_size', flag: 'missed-buffer', dflt: 4 },
  { name: 'maxStaleClients', dotted: 'clients.max_stale_clients', flag: 'max-stale', dflt: 65535 },
  { name: 'maxFrameSize', dotted: 'limits.max_frame_size', flag: 'max-frame', dflt: 8_388_599 },
];

export interface ResolvedSettings {
  values: FuzzSettings;
  /** Where each value came from: "flag --stale-timeout", the config path, or "the fuzzer's default". */
  from: Record<keyof FuzzSettings, string>;
}

/** A setting the fuzzer cannot work with, or one that differs from the running edge's: exit 2, not a violation. */
export class SettingsError extends Error {
  constructor(
    readonly kind: 'settings mismatch' | 'edge not set up for fuzzing' | 'cannot confirm settings',
    readonly lines: readonly string[],
  ) {
    super(`${kind}:\n${lines.map((l) => `  ${l}`).join('\n')}`);
  }
}

/** Flags first, then the config file, then the defaults. `parse` checks a flag's text (throws on a bad number). */
export function resolveSettings(
  flags: Readonly<Record<string, string | undefined>>,
  config: { config: Config; path: string } | null,
  parse: (text: string, flag: string) => number,
): ResolvedSettings {
  const fromConfig = config ? edgeSettings(config.config) : null;
  const values = {} as FuzzSettings;
  const from = {} as Record<keyof FuzzSettings, string>;
  for (const s of FUZZ_SETTINGS) {
    const flag = flags[s.flag];
    const inFile = fromConfig?.[s.dotted];
    if (flag !== undefined) {
      values[s.name] = parse(flag, s.flag);
      from[s.name] = `flag --${s.flag}`;
    } else if (typeof inFile === 'number' && config) {
      values[s.name] = inFile;
      from[s.name] = config.path;
    } else {
      values[s.name] = s.dflt;
      from[s.name] = "the fuzzer's default";
    }
  }
  return { values, from };
}

/** One line per setting where the fuzzer and the running edge differ. */
export function settingsMismatches(mine: ResolvedSettings, edge: EdgeSettings, edgeSource: string): string[] {
  const out: string[] = [];
  for (const s of FUZZ_SETTINGS) {
    const theirs = edge[s.dotted];
    if (theirs !== mine.values[s.name]) {
      out.push(`${s.dotted}: the fuzzer uses ${mine.values[s.name]} (${mine.from[s.name]}), the running edge ${JSON.stringify(theirs ?? null)} (${edgeSource})`);
    }
  }
  return out;
}

/** What makes a fuzz run fail for reasons other than the edge's behaviour: loopback rate limits the fuzzer trips. */
export function fuzzingProblems(edge: EdgeSettings, source: string): string[] {
  const need: Array<[string, number, string]> = [
    ['limits.new_connections_per_address_per_sec', 10_000, 'the fuzzer opens many connections from one loopback address'],
    ['limits.new_connections_burst', 1_000, 'the fuzzer opens many connections from one loopback address'],
    ['limits.failed_resumes_per_address_per_min', 10_000, 'the fuzzer fails resumes on purpose (wrong keys, unknown ids)'],
  ];
  const out: string[] = [];
  for (const [key, min, why] of need) {
    const v = edge[key];
    if (typeof v === 'number' && v < min) out.push(`${key} is ${v} (${source}): ${why}; set it to at least ${min} (e.g. 100000)`);
  }
  return out;
}

/** The address to dial for a listener bound to `a` (an unspecified host means this machine's loopback). */
export function dialable(a: HostPort): HostPort {
  if (a.host === '0.0.0.0') return { host: '127.0.0.1', port: a.port };
  if (a.host === '::') return { host: '::1', port: a.port };
  return a;
}

/** The running edge's settings, from its status server's /status.json. */
export async function fetchEdgeSettings(address: HostPort, timeoutMs = 5000): Promise<{ settings: EdgeSettings; url: string }> {
  const url = `http://${formatAddress(dialable(address))}/status.json`;
  let body: unknown;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    body = await res.json();
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code;
    throw new SettingsError('cannot confirm settings', [`${url}: ${cause ?? (e instanceof Error ? e.message : String(e))}; is the edge running with this [http] address (or --http)?`]);
  }
  const settings = (body as { settings?: unknown } | null)?.settings;
  if (settings === null || typeof settings !== 'object') {
    throw new SettingsError('cannot confirm settings', [`${url} has no "settings": is that a Voltlane edge of this version?`]);
  }
  return { settings: settings as EdgeSettings, url };
}
