// Loads connserver.toml (writing the default on first start), layers .env, the environment
// and flags over it, validates everything once and returns a deeply frozen Config.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { parse, TomlError } from 'smol-toml';
import { DEFAULT_CONFIG, DEFAULT_CONFIG_TOML } from './defaults.js';
import { ConfigError, KEYS, SECTIONS, deepFreeze, type Config, type KeyEntry } from './schema.js';
import { errnoCode } from '../errno.js';

export { ConfigError } from './schema.js';

/** Where a key's value came from, weakest first. */
export type ConfigSource = 'default' | 'file' | 'dotenv' | 'env' | 'flag';

export interface LoadOptions {
  /** Config file; relative paths are resolved against cwd. Default: <cwd>/connserver.toml. */
  path?: string;
  /** Directory holding .env and the default config file. Default: process.cwd(). */
  cwd?: string;
  /** Environment to read VOLTLANE_* variables from. Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Command-line overrides, strongest of all. */
  flags?: { listen?: string; master?: string; logLevel?: string };
  /** Write DEFAULT_CONFIG_TOML when the file is missing, creating parent dirs. Default true. */
  writeDefault?: boolean;
  /**
   * A missing file is an error naming the command that creates it (`voltlane init --config PATH`), whatever
   * writeDefault says: a path the user named must hold their config, never a fresh default (and a fresh key).
   */
  mustExist?: boolean;
  /** Read VOLTLANE_* variables from <cwd>/.env. Default true. */
  dotenv?: boolean;
}

export interface LoadedConfig {
  config: Config;
  /** Absolute path of the config file (whether or not it exists). */
  path: string;
  /** True when this load wrote the default file. */
  created: boolean;
  /** Non-fatal findings: unknown keys, risky values. */
  warnings: string[];
  /** Per dotted key ("clients.stale_timeout_secs"): where its value came from. */
  sources: Record<string, ConfigSource>;
}

interface Setting {
  value: unknown;
  source: ConfigSource;
  /** Human description of the origin, quoted in errors: a path, an env var, a flag. */
  where: string;
}

type Settings = Map<string, Setting>;

/** The largest client frame that stays within 8 MiB once tagged (8 MiB minus 9 bytes). */
export const ORIGINAL_MAX_FRAME_SIZE = 8 * 1024 * 1024 - 9;

const BY_DOTTED = new Map(KEYS.map((entry) => [entry.dotted, entry]));
const ENV_NAMES = new Set(KEYS.flatMap((entry) => entry.envNames));
const SECTION_ENV_PREFIXES = SECTIONS.map((s) => `VOLTLANE_${s.toUpperCase()}_`);
/** Keys earlier versions had, with why they went: a config that still sets one gets this instead of "unknown key". */
const RETIRED: ReadonlyMap<string, string> = new Map([
  [
    'limits.failed_resumes_per_id_per_min',
    'failed resumes now count against the address that made them only (limits.failed_resumes_per_address_per_min), so knowing a client id is not enough to lock its client out',
  ],
]);
const retiredEnv = (dotted: string): string => `VOLTLANE_${dotted.replace('.', '_').toUpperCase()}`;
const FLAGS = [
  { option: 'listen', flag: '--listen', dotted: 'listener.address' },
  { option: 'master', flag: '--master', dotted: 'master.address' },
  { option: 'logLevel', flag: '--log-level', dotted: 'general.log_level' },
] as const;

/** Reads, layers and validates the configuration. Throws ConfigError on any bad input. */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const cwd = resolve(opts.cwd ?? process.cwd());
  const path = resolve(cwd, opts.path ?? 'connserver.toml');
  const warnings: string[] = [];

  const file = readOrCreate(path, opts.writeDefault ?? true, opts.mustExist ? (opts.path ?? path) : undefined);
  const settings = defaultSettings();
  if (file.text !== undefined) overlay(settings, fileSettings(file.text, path, warnings));
  if (opts.dotenv ?? true) {
    const dotenvPath = join(cwd, '.env');
    const vars = readDotenv(dotenvPath);
    if (vars !== undefined) {
      overlay(settings, envSettings(vars, 'dotenv', (name) => `${name} in ${dotenvPath}`, warnings));
    }
  }
  overlay(settings, envSettings(opts.env ?? process.env, 'env', (name) => `environment variable ${name}`, warnings));
  overlay(settings, flagSettings(opts.flags ?? {}));

  const { config, sources } = finish(settings, warnings, dirname(path));
  return deepFreeze({ config, path, created: file.created, warnings, sources });
}

/** The file layer alone, over the defaults: what `text` as connserver.toml would give. */
export function parseConfigText(text: string, origin = 'connserver.toml'): { config: Config; warnings: string[] } {
  const warnings: string[] = [];
  const settings = defaultSettings();
  overlay(settings, fileSettings(text, origin, warnings));
  const { config } = finish(settings, warnings);
  return deepFreeze({ config, warnings });
}

/** `asTyped`: the path as the user gave it, when a missing file is an error. */
function readOrCreate(path: string, writeDefault: boolean, asTyped: string | undefined): { text: string | undefined; created: boolean } {
  const existing = readOptional(path, 'config file');
  if (existing !== undefined) return { text: existing, created: false };
  if (asTyped !== undefined) throw missingConfigError(path, asTyped);
  if (!writeDefault) return { text: undefined, created: false };
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, DEFAULT_CONFIG_TOML, { flag: 'wx' });
  } catch (err) {
    // Another process wrote it between our read and our write: use theirs.
    if (errnoCode(err) === 'EEXIST') return { text: readOptional(path, 'config file'), created: false };
    throw new ConfigError(`cannot write the default config file ${path}: ${errorText(err)}`, {
      source: path,
      cause: err,
    });
  }
  return { text: DEFAULT_CONFIG_TOML, created: true };
}

/** The error for a config file the user named that does not exist: it says how to create one. */
export function missingConfigError(path: string, asTyped: string = path): ConfigError {
  return new ConfigError(
    `config file ${path} does not exist (only the default ./connserver.toml is written on first start); ` +
      `create it with: voltlane init --config ${shellWord(asTyped)}`,
    { source: path },
  );
}

/** A path as one shell word: as it is when that is safe, else in single quotes. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_.,:/@%+=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** File contents, or undefined when it does not exist; any other failure is a ConfigError. */
function readOptional(path: string, what: string): string | undefined {
  try {
    const text = readFileSync(path, 'utf8');
    return text.startsWith('\uFEFF') ? text.slice(1) : text;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw new ConfigError(`cannot read ${what} ${path}: ${errorText(err)}`, { source: path, cause: err });
  }
}

function readDotenv(path: string): NodeJS.Dict<string> | undefined {
  const text = readOptional(path, '.env file');
  return text === undefined ? undefined : parseEnv(text);
}

function defaultSettings(): Settings {
  const settings: Settings = new Map();
  const defaults = DEFAULT_CONFIG as unknown as Record<string, Record<string, unknown>>;
  for (const entry of KEYS) {
    settings.set(entry.dotted, { value: defaults[entry.section]?.[entry.field], source: 'default', where: 'the built-in default' });
  }
  return settings;
}

function overlay(settings: Settings, layer: Settings): void {
  for (const [dotted, setting] of layer) settings.set(dotted, setting);
}

function fileSettings(text: string, origin: string, warnings: string[]): Settings {
  let doc: Record<string, unknown>;
  try {
    doc = parse(text, { integersAsBigInt: 'asNeeded' });
  } catch (err) {
    if (err instanceof TomlError) {
      throw new ConfigError(`cannot parse ${origin}: line ${err.line}, column ${err.column}: ${err.message}`, {
        source: origin,
        cause: err,
      });
    }
    throw err;
  }

  const layer: Settings = new Map();
  for (const [section, body] of Object.entries(doc)) {
    if (!(SECTIONS as string[]).includes(section)) {
      warnings.push(isTable(body) ? `unknown section [${section}] in ${origin}` : `unknown key ${section} in ${origin}`);
      continue;
    }
    if (!isTable(body)) {
      throw new ConfigError(`${section}: bad value ${show(body)} in ${origin}; expected a table, written [${section}]`, {
        key: section,
        source: origin,
      });
    }
    for (const [key, raw] of Object.entries(body)) {
      const entry = BY_DOTTED.get(`${section}.${key}`);
      if (entry === undefined) {
        const retired = RETIRED.get(`${section}.${key}`);
        warnings.push(retired ? `${section}.${key} in ${origin} is no longer used: ${retired}` : `unknown key ${section}.${key} in ${origin}`);
        continue;
      }
      const checked = entry.rule.fromToml(raw);
      if (!checked.ok) throw invalid(entry, raw, origin, checked.problem ?? quotedHint(entry, raw));
      layer.set(entry.dotted, { value: checked.value, source: 'file', where: origin });
    }
  }
  return layer;
}

function envSettings(
  vars: NodeJS.Dict<string>,
  source: 'env' | 'dotenv',
  describe: (name: string) => string,
  warnings: string[],
): Settings {
  const layer: Settings = new Map();
  for (const entry of KEYS) {
    const present = entry.envNames.filter((name) => vars[name] !== undefined);
    const [name, ...others] = present;
    if (name === undefined) continue;
    const raw = vars[name] as string;
    for (const other of others) {
      if (vars[other] !== raw) warnings.push(`${describe(other)} is ignored: ${describe(name)} also sets ${entry.dotted}`);
    }
    const checked = entry.rule.fromString(raw);
    if (!checked.ok) throw invalid(entry, raw, describe(name), checked.problem);
    layer.set(entry.dotted, { value: checked.value, source, where: describe(name) });
  }
  for (const name of Object.keys(vars)) {
    if (!ENV_NAMES.has(name) && SECTION_ENV_PREFIXES.some((prefix) => name.startsWith(prefix))) {
      const retired = [...RETIRED].find(([dotted]) => retiredEnv(dotted) === name);
      warnings.push(retired ? `${describe(name)} is no longer used: ${retired[1]}` : `unknown setting ${describe(name)}: no such config key`);
    }
  }
  return layer;
}

function flagSettings(flags: NonNullable<LoadOptions['flags']>): Settings {
  const layer: Settings = new Map();
  for (const { option, flag, dotted } of FLAGS) {
    const raw = flags[option];
    if (raw === undefined) continue;
    const entry = BY_DOTTED.get(dotted) as KeyEntry;
    const checked = entry.rule.fromString(raw);
    if (!checked.ok) throw invalid(entry, raw, `flag ${flag}`, checked.problem);
    layer.set(dotted, { value: checked.value, source: 'flag', where: `flag ${flag}` });
  }
  return layer;
}

/** Builds the typed config, checks keys against each other, adds advisory warnings. */
function finish(settings: Settings, warnings: string[], baseDir?: string): { config: Config; sources: Record<string, ConfigSource> } {
  const tree: Record<string, Record<string, unknown>> = {};
  const sources: Record<string, ConfigSource> = {};
  for (const entry of KEYS) {
    const setting = settings.get(entry.dotted) as Setting;
    (tree[entry.section] ??= {})[entry.field] = setting.value;
    sources[entry.dotted] = setting.source;
  }
  const config = tree as unknown as Config;
  const at = (dotted: string): string => {
    const setting = settings.get(dotted) as Setting;
    return `${String(setting.value)}, from ${setting.where}`;
  };

  if (config.master.reconnectMinMs > config.master.reconnectMaxMs) {
    const where = (settings.get('master.reconnect_min_ms') as Setting).where;
    throw new ConfigError(
      `master.reconnect_min_ms (${at('master.reconnect_min_ms')}) is greater than master.reconnect_max_ms ` +
        `(${at('master.reconnect_max_ms')}); expected reconnect_min_ms <= reconnect_max_ms`,
      { key: 'master.reconnect_min_ms', source: where },
    );
  }
  if (config.limits.maxFrameSize > ORIGINAL_MAX_FRAME_SIZE) {
    warnings.push(
      `limits.max_frame_size (${at('limits.max_frame_size')}) is above ${ORIGINAL_MAX_FRAME_SIZE}: backends built on ` +
        `the original helper refuse tagged frames over 8 MiB (8388608 bytes), so a client packet over ` +
        `${ORIGINAL_MAX_FRAME_SIZE} bytes may break them`,
    );
  }
  checkTransports(config, settings, baseDir);
  const missed = config.clients.missedPacketsBufferSize;
  if (missed > 0 && config.clients.channelCapacity < 2 * missed) {
    warnings.push(
      `clients.channel_capacity (${at('clients.channel_capacity')}) is less than twice ` +
        `clients.missed_packets_buffer_size (${at('clients.missed_packets_buffer_size')}): a client resuming ` +
        `with a full missed packet buffer may be disconnected as too slow; set it to at least ${2 * missed}`,
    );
  }
  return { config: deepFreeze(config), sources };
}

/** TLS needs its certificate files; relative file paths are read from the config file's directory. */
function checkTransports(config: Config, settings: Settings, baseDir: string | undefined): void {
  const tls = config.tls!;
  const wantsTls: string[] = [];
  if (tls.address !== null) wantsTls.push('tls.address');
  if (config.websocket!.address !== null && config.websocket!.tls) wantsTls.push('websocket.tls');
  for (const key of ['cert_file', 'key_file'] as const) {
    const field = key === 'cert_file' ? 'certFile' : 'keyFile';
    if (wantsTls.length > 0 && tls[field] === '') {
      const why = wantsTls[0]!;
      throw new ConfigError(`tls.${key} is empty but ${why} (from ${(settings.get(why) as Setting).where}) needs a certificate; expected a PEM file path`, {
        key: `tls.${key}`,
        source: (settings.get(`tls.${key}`) as Setting).where,
      });
    }
  }
  if (baseDir !== undefined) {
    for (const field of ['certFile', 'keyFile', 'caFile'] as const) {
      if (tls[field] !== '') tls[field] = resolve(baseDir, tls[field]);
    }
  }
}

function invalid(entry: KeyEntry, raw: unknown, where: string, problem?: string): ConfigError {
  const detail = problem === undefined ? '' : ` (${problem})`;
  return new ConfigError(
    `${entry.dotted}: bad value ${show(raw)} from ${where}${detail}; expected ${entry.rule.expected}`,
    { key: entry.dotted, source: where },
  );
}

/** For a number written in quotes ("300"), says so: TOML strings are never numbers. */
function quotedHint(entry: KeyEntry, raw: unknown): string | undefined {
  if (typeof raw !== 'string' || !entry.rule.fromString(raw).ok) return undefined;
  return 'a quoted string, not a number; remove the quotes';
}

/** A raw value as an error message shows it: strings quoted, other types named. */
function show(raw: unknown): string {
  if (typeof raw === 'string') return JSON.stringify(raw);
  if (typeof raw === 'number' || typeof raw === 'bigint' || typeof raw === 'boolean') return String(raw);
  if (raw instanceof Date) return 'a date-time';
  if (Array.isArray(raw)) return 'an array';
  return 'a table';
}

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
