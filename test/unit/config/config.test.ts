// Tests for src/config: defaults, the committed connserver.toml, first-start writing,
// layer precedence, validation errors, warnings and the frozen result.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'smol-toml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ConfigError,
  DEFAULT_CONFIG,
  DEFAULT_CONFIG_TOML,
  loadConfig,
  parseConfigText,
  type Config,
  type LoadOptions,
} from '../../../src/config/index.js';

// Written out by hand from the brief, so a changed default in src/ fails here.
const EXPECTED_DEFAULTS: Config = {
  general: { logLevel: 'info', inspectPort: 0, workers: 1, refusalLogIntervalSecs: 10, keyFile: 'voltlane.key', releaseIdleMemory: true },
  listener: { address: { host: '127.0.0.1', port: 42000 } },
  master: {
    address: { host: '127.0.0.1', port: 42001 },
    channelCapacity: 32768,
    channelCapacityBytes: 67108864,
    reconnectMinMs: 100,
    reconnectMaxMs: 5000,
  },
  clients: {
    channelCapacity: 8192,
    channelCapacityBytes: 4194304,
    staleTimeoutSecs: 300,
    staleReapIntervalSecs: 15,
    missedPacketsBufferSize: 0,
    missedPacketsBufferBytes: 1048576,
    maxStaleClients: 65535,
  },
  limits: {
    maxFrameSize: 8388599,
    handshakeTimeoutSecs: 10,
    maxConnections: 100000,
    maxConnectionsPerAddress: 1024,
    newConnectionsPerAddressPerSec: 200,
    newConnectionsBurst: 400,
    maxHandshakesInFlight: 4096,
    frameTimeoutSecs: 30,
    minFrameBytesPerSec: 1024,
    failedResumesPerAddressPerMin: 60,
    maxStaleSharePerAddress: 0.25,
    clientBufferBudgetBytes: 'auto',
  },
  http: { address: null },
  cluster: { redisUrl: '', keyPrefix: 'voltlane', memberTimeoutSecs: 5 },
  tls: { address: null, certFile: '', keyFile: '', caFile: '' },
  websocket: { address: null, path: '/', tls: false, allowedOrigins: [] },
  state: { persistSessions: true, dir: '' },
};

const EXPECTED_KEYS: Record<string, string[]> = {
  general: ['log_level', 'inspect_port', 'workers', 'refusal_log_interval_secs', 'key_file', 'release_idle_memory'],
  listener: ['address'],
  master: ['address', 'channel_capacity', 'channel_capacity_bytes', 'reconnect_min_ms', 'reconnect_max_ms'],
  clients: [
    'channel_capacity',
    'channel_capacity_bytes',
    'stale_timeout_secs',
    'stale_reap_interval_secs',
    'missed_packets_buffer_size',
    'missed_packets_buffer_bytes',
    'max_stale_clients',
  ],
  limits: [
    'max_frame_size',
    'handshake_timeout_secs',
    'max_connections',
    'max_connections_per_address',
    'new_connections_per_address_per_sec',
    'new_connections_burst',
    'max_handshakes_in_flight',
    'frame_timeout_secs',
    'min_frame_bytes_per_sec',
    'failed_resumes_per_address_per_min',
    'max_stale_share_per_address',
    'client_buffer_budget_bytes',
  ],
  http: ['address'],
  cluster: ['redis_url', 'key_prefix', 'member_timeout_secs'],
  tls: ['address', 'cert_file', 'key_file', 'ca_file'],
  websocket: ['address', 'path', 'tls', 'allowed_origins'],
  state: ['persist_sessions', 'dir'],
};
const ALL_DOTTED = Object.entries(EXPECTED_KEYS).flatMap(([s, keys]) => keys.map((k) => `${s}.${k}`));

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'voltlane-config-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** loadConfig in the temp dir with an empty environment unless told otherwise. */
function load(opts: LoadOptions = {}) {
  return loadConfig({ cwd: dir, env: {}, ...opts });
}

function writeToml(text: string): string {
  const path = join(dir, 'connserver.toml');
  writeFileSync(path, text);
  return path;
}

/** Runs `fn`, expects a ConfigError, returns it. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

describe('defaults', () => {
  it('DEFAULT_CONFIG holds the documented defaults', () => {
    expect(DEFAULT_CONFIG).toEqual(EXPECTED_DEFAULTS);
  });

  it('parsing DEFAULT_CONFIG_TOML gives exactly DEFAULT_CONFIG, with no warnings', () => {
    const { config, warnings } = parseConfigText(DEFAULT_CONFIG_TOML);
    expect(config).toEqual(DEFAULT_CONFIG);
    expect(warnings).toEqual([]);
  });

  it('DEFAULT_CONFIG_TOML spells out every key, in every section', () => {
    const doc = parse(DEFAULT_CONFIG_TOML) as Record<string, Record<string, unknown>>;
    expect(Object.keys(doc)).toEqual(Object.keys(EXPECTED_KEYS));
    for (const [section, keys] of Object.entries(EXPECTED_KEYS)) {
      expect(Object.keys(doc[section] ?? {})).toEqual(keys);
    }
  });

  it('DEFAULT_CONFIG_TOML has a comment right above every key', () => {
    const lines = DEFAULT_CONFIG_TOML.split('\n');
    const keyLines = lines.map((line, i) => [line, i] as const).filter(([line]) => /^[a-z_]+ = /.test(line));
    expect(keyLines).toHaveLength(ALL_DOTTED.length);
    for (const [line, i] of keyLines) {
      expect(lines[i - 1], `comment above ${line}`).toMatch(/^# /);
    }
  });

  it('DEFAULT_CONFIG_TOML carries the game server advice', () => {
    const text = DEFAULT_CONFIG_TOML.replace(/\n#\s*/g, ' ');
    expect(text).toMatch(/Game server: turn up clients\.missed_packets_buffer_size/);
    expect(text).toMatch(/set clients\.channel_capacity to at least twice that/);
    expect(text).toMatch(/turn clients\.stale_timeout_secs down/);
  });

  it('the committed connserver.toml is exactly DEFAULT_CONFIG_TOML', () => {
    const committed = readFileSync(fileURLToPath(new URL('../../../connserver.toml', import.meta.url)), 'utf8');
    expect(committed).toBe(DEFAULT_CONFIG_TOML);
  });
});

describe('first start', () => {
  it('writes the default file, and a second load reads it back to the same config', () => {
    const first = load();
    const path = join(dir, 'connserver.toml');
    expect(first.created).toBe(true);
    expect(first.path).toBe(path);
    expect(readFileSync(path, 'utf8')).toBe(DEFAULT_CONFIG_TOML);
    expect(first.config).toEqual(DEFAULT_CONFIG);

    const second = load();
    expect(second.created).toBe(false);
    expect(second.config).toEqual(first.config);
    expect(second.sources['clients.stale_timeout_secs']).toBe('file');
  });

  it('creates missing parent directories of a custom path', () => {
    const result = load({ path: 'etc/voltlane/edge.toml' });
    const path = join(dir, 'etc', 'voltlane', 'edge.toml');
    expect(result.path).toBe(path);
    expect(result.created).toBe(true);
    expect(readFileSync(path, 'utf8')).toBe(DEFAULT_CONFIG_TOML);
  });

  it('does not overwrite an existing file', () => {
    const path = writeToml('[clients]\nstale_timeout_secs = 42\n');
    const result = load();
    expect(result.created).toBe(false);
    expect(result.config.clients.staleTimeoutSecs).toBe(42);
    expect(readFileSync(path, 'utf8')).toBe('[clients]\nstale_timeout_secs = 42\n');
  });

  it('with writeDefault: false, uses the defaults and writes nothing', () => {
    const result = load({ writeDefault: false });
    expect(result.created).toBe(false);
    expect(existsSync(join(dir, 'connserver.toml'))).toBe(false);
    expect(result.config).toEqual(DEFAULT_CONFIG);
    expect(Object.values(result.sources).every((s) => s === 'default')).toBe(true);
  });

  it('reports an unreadable config path as a ConfigError naming it', () => {
    mkdirSync(join(dir, 'connserver.toml'));
    const err = configError(() => load());
    expect(err.message).toContain('cannot read config file');
    expect(err.message).toContain(join(dir, 'connserver.toml'));
  });

  it('records a source for every key', () => {
    writeToml('[clients]\nstale_timeout_secs = 42\n');
    const { sources } = load({ env: { VOLTLANE_LIMITS_MAX_CONNECTIONS: '5' }, flags: { listen: '0.0.0.0:1' } });
    expect(Object.keys(sources).sort()).toEqual([...ALL_DOTTED].sort());
    expect(sources['clients.stale_timeout_secs']).toBe('file');
    expect(sources['limits.max_connections']).toBe('env');
    expect(sources['listener.address']).toBe('flag');
    expect(sources['master.address']).toBe('default');
  });

  it('ignores a UTF-8 byte order mark at the start of the file', () => {
    writeToml('\uFEFF[clients]\nstale_timeout_secs = 7\n');
    expect(load().config.clients.staleTimeoutSecs).toBe(7);
  });
});

describe('precedence: flag > environment > .env > file > default', () => {
  type Layer = 'file' | 'dotenv' | 'env' | 'flag';
  const ADDRESS_BY_LAYER: Record<Layer, string> = {
    file: '10.0.0.1:1001',
    dotenv: '10.0.0.2:1002',
    env: '10.0.0.3:1003',
    flag: '10.0.0.4:1004',
  };

  function loadWith(layers: Layer[]) {
    if (layers.includes('file')) writeToml(`[listener]\naddress = "${ADDRESS_BY_LAYER.file}"\n`);
    if (layers.includes('dotenv')) writeFileSync(join(dir, '.env'), `VOLTLANE_LISTENER_ADDRESS=${ADDRESS_BY_LAYER.dotenv}\n`);
    return load({
      writeDefault: false,
      env: layers.includes('env') ? { VOLTLANE_LISTENER_ADDRESS: ADDRESS_BY_LAYER.env } : {},
      flags: layers.includes('flag') ? { listen: ADDRESS_BY_LAYER.flag } : {},
    });
  }

  it.each<[Layer[], Layer | 'default']>([
    [[], 'default'],
    [['file'], 'file'],
    [['file', 'dotenv'], 'dotenv'],
    [['dotenv'], 'dotenv'],
    [['file', 'dotenv', 'env'], 'env'],
    [['dotenv', 'env'], 'env'],
    [['file', 'dotenv', 'env', 'flag'], 'flag'],
    [['file', 'flag'], 'flag'],
  ])('with layers %j, listener.address comes from %s', (layers, winner) => {
    const result = loadWith(layers);
    const expected = winner === 'default' ? '127.0.0.1:42000' : ADDRESS_BY_LAYER[winner];
    const [host, port] = expected.split(':');
    expect(result.config.listener.address).toEqual({ host, port: Number(port) });
    expect(result.sources['listener.address']).toBe(winner);
  });

  it('each layer beats the one below for a numeric key too', () => {
    writeToml('[clients]\nstale_timeout_secs = 100\n');
    expect(load().config.clients.staleTimeoutSecs).toBe(100);
    writeFileSync(join(dir, '.env'), 'VOLTLANE_CLIENTS_STALE_TIMEOUT_SECS=200\n');
    expect(load().config.clients.staleTimeoutSecs).toBe(200);
    const env = { VOLTLANE_CLIENTS_STALE_TIMEOUT_SECS: '300.5' };
    expect(load({ env }).config.clients.staleTimeoutSecs).toBe(300.5);
  });

  it('the --master and --log-level flags beat the environment', () => {
    const result = load({
      env: { VOLTLANE_MASTER_ADDRESS: 'backend:1', VOLTLANE_LOG_LEVEL: 'error' },
      flags: { master: 'backend:2', logLevel: 'trace' },
    });
    expect(result.config.master.address).toEqual({ host: 'backend', port: 2 });
    expect(result.config.general.logLevel).toBe('trace');
    expect(result.sources['master.address']).toBe('flag');
    expect(result.sources['general.log_level']).toBe('flag');
  });

  it('reads the log level from VOLTLANE_LOG_LEVEL and from VOLTLANE_GENERAL_LOG_LEVEL', () => {
    expect(load({ env: { VOLTLANE_LOG_LEVEL: 'warn' } }).config.general.logLevel).toBe('warn');
    expect(load({ env: { VOLTLANE_GENERAL_LOG_LEVEL: 'error' } }).config.general.logLevel).toBe('error');
  });

  it('prefers VOLTLANE_LOG_LEVEL when both names disagree, and warns', () => {
    const result = load({ env: { VOLTLANE_LOG_LEVEL: 'warn', VOLTLANE_GENERAL_LOG_LEVEL: 'debug' } });
    expect(result.config.general.logLevel).toBe('warn');
    expect(result.warnings.some((w) => w.includes('VOLTLANE_GENERAL_LOG_LEVEL is ignored'))).toBe(true);
  });

  it('reads every key from its VOLTLANE_<SECTION>_<KEY> variable', () => {
    const env: Record<string, string> = {};
    for (const dotted of ALL_DOTTED) env[`VOLTLANE_${dotted.replace('.', '_').toUpperCase()}`] = '';
    Object.assign(env, {
      VOLTLANE_GENERAL_LOG_LEVEL: 'Trace',
      VOLTLANE_LISTENER_ADDRESS: '[::]:1',
      VOLTLANE_MASTER_ADDRESS: 'm.example:2',
      VOLTLANE_HTTP_ADDRESS: '127.0.0.1:9464',
      VOLTLANE_CLUSTER_REDIS_URL: 'redis://127.0.0.1:6379',
      VOLTLANE_CLUSTER_KEY_PREFIX: 'vl',
      VOLTLANE_TLS_ADDRESS: '127.0.0.1:9465',
      VOLTLANE_TLS_CERT_FILE: 'cert.pem',
      VOLTLANE_TLS_KEY_FILE: '/etc/voltlane/key.pem',
      VOLTLANE_WEBSOCKET_ADDRESS: '127.0.0.1:9466',
      VOLTLANE_WEBSOCKET_PATH: '/voltlane',
      VOLTLANE_WEBSOCKET_TLS: 'true',
      VOLTLANE_WEBSOCKET_ALLOWED_ORIGINS: 'https://a.example, http://b.example:8080',
      VOLTLANE_STATE_PERSIST_SESSIONS: 'false',
      VOLTLANE_GENERAL_RELEASE_IDLE_MEMORY: 'false',
      VOLTLANE_LIMITS_CLIENT_BUFFER_BUDGET_BYTES: '1048576',
    });
    let n = 3;
    for (const name of Object.keys(env)) if (env[name] === '') env[name] = String(n++);
    env.VOLTLANE_MASTER_RECONNECT_MAX_MS = '100000';
    const result = load({ env });
    expect(Object.values(result.sources).every((s) => s === 'env')).toBe(true);
    expect(result.config.general.logLevel).toBe('trace');
    expect(result.config.listener.address).toEqual({ host: '::', port: 1 });
    expect(result.config.master.address).toEqual({ host: 'm.example', port: 2 });
    expect(result.config.master.channelCapacity).toBe(Number(env.VOLTLANE_MASTER_CHANNEL_CAPACITY));
    expect(result.config.limits.failedResumesPerAddressPerMin).toBe(
      Number(env.VOLTLANE_LIMITS_FAILED_RESUMES_PER_ADDRESS_PER_MIN),
    );
    expect(result.config.state?.persistSessions).toBe(false);
    expect(result.config.tls).toEqual({
      address: { host: '127.0.0.1', port: 9465 },
      certFile: join(dir, 'cert.pem'),
      keyFile: '/etc/voltlane/key.pem',
      caFile: join(dir, env.VOLTLANE_TLS_CA_FILE!),
    });
    expect(result.config.websocket).toEqual({
      address: { host: '127.0.0.1', port: 9466 },
      path: '/voltlane',
      tls: true,
      allowedOrigins: ['https://a.example', 'http://b.example:8080'],
    });
  });

  it('refuses a TLS listener without certificate files, and bad WebSocket values, naming the key', () => {
    const noCert = configError(() => load({ env: { VOLTLANE_TLS_ADDRESS: '127.0.0.1:0' } }));
    expect(noCert.key).toBe('tls.cert_file');
    expect(noCert.message).toMatch(/tls\.cert_file is empty but tls\.address/);
    const wss = configError(() => load({ env: { VOLTLANE_WEBSOCKET_ADDRESS: '127.0.0.1:0', VOLTLANE_WEBSOCKET_TLS: 'true' } }));
    expect(wss.message).toMatch(/websocket\.tls/);
    expect(configError(() => load({ env: { VOLTLANE_WEBSOCKET_PATH: 'voltlane' } })).key).toBe('websocket.path');
    expect(configError(() => load({ env: { VOLTLANE_WEBSOCKET_TLS: 'yes please' } })).key).toBe('websocket.tls');
    writeToml('[websocket]\nallowed_origins = ["https://ok.example", "https://bad.example/path"]\n');
    const origin = configError(() => load());
    expect(origin.key).toBe('websocket.allowed_origins');
    expect(origin.message).toMatch(/bad\.example\/path/);
  });

  it('skips .env when dotenv is false, and ignores a missing .env', () => {
    writeFileSync(join(dir, '.env'), 'VOLTLANE_CLIENTS_MAX_STALE_CLIENTS=7\n');
    expect(load({ dotenv: false }).config.clients.maxStaleClients).toBe(65535);
    expect(load().config.clients.maxStaleClients).toBe(7);
    rmSync(join(dir, '.env'));
    expect(load().config.clients.maxStaleClients).toBe(65535);
  });

  it('does not copy .env values into process.env', () => {
    writeFileSync(join(dir, '.env'), 'VOLTLANE_CLIENTS_MAX_STALE_CLIENTS=7\nOTHER_THING=1\n');
    expect(load().config.clients.maxStaleClients).toBe(7);
    expect(process.env.VOLTLANE_CLIENTS_MAX_STALE_CLIENTS).toBeUndefined();
    expect(process.env.OTHER_THING).toBeUndefined();
  });
});

describe('values', () => {
  it.each(['DEBUG', 'debug', 'Debug', 'dEbUg'])('accepts log level %s in any case, in file, env and flag', (level) => {
    expect(parseConfigText(`[general]\nlog_level = "${level}"\n`).config.general.logLevel).toBe('debug');
    expect(load({ env: { VOLTLANE_LOG_LEVEL: level } }).config.general.logLevel).toBe('debug');
    expect(load({ flags: { logLevel: level } }).config.general.logLevel).toBe('debug');
  });

  it.each(['Off', 'Error', 'Warn', 'Info', 'Debug', 'Trace'])('accepts log level %s', (level) => {
    expect(parseConfigText(`[general]\nlog_level = "${level}"\n`).config.general.logLevel).toBe(level.toLowerCase());
  });

  it('accepts fractional seconds from the file and from the environment', () => {
    const { config } = parseConfigText(
      '[clients]\nstale_timeout_secs = 2.5\nstale_reap_interval_secs = 0.25\n[limits]\nhandshake_timeout_secs = 0.5\n',
    );
    expect(config.clients.staleTimeoutSecs).toBe(2.5);
    expect(config.clients.staleReapIntervalSecs).toBe(0.25);
    expect(config.limits.handshakeTimeoutSecs).toBe(0.5);
    const env = { VOLTLANE_CLIENTS_STALE_TIMEOUT_SECS: '.75', VOLTLANE_LIMITS_HANDSHAKE_TIMEOUT_SECS: '1e-1' };
    const loaded = load({ env }).config;
    expect(loaded.clients.staleTimeoutSecs).toBe(0.75);
    expect(loaded.limits.handshakeTimeoutSecs).toBe(0.1);
  });

  it('accepts a fractional connection rate', () => {
    const text = '[limits]\nnew_connections_per_address_per_sec = 0.5\n';
    expect(parseConfigText(text).config.limits.newConnectionsPerAddressPerSec).toBe(0.5);
  });

  it('accepts every address form from the file', () => {
    const forms: Array<[string, string, number]> = [
      ['127.0.0.1:42000', '127.0.0.1', 42000],
      ['[::1]:42000', '::1', 42000],
      ['::1:42000', '::1', 42000],
      ['localhost:8080', 'localhost', 8080],
      ['test.example.com:6969', 'test.example.com', 6969],
    ];
    for (const [text, host, port] of forms) {
      const { config } = parseConfigText(`[listener]\naddress = "${text}"\n[master]\naddress = "${text}"\n`);
      expect(config.listener.address).toEqual({ host, port });
      expect(config.master.address).toEqual({ host, port });
    }
  });

  it('accepts the edges of every range', () => {
    const { config } = parseConfigText(
      [
        '[listener]\naddress = "0.0.0.0:0"',
        '[master]\nchannel_capacity = 1\nchannel_capacity_bytes = 1\nreconnect_min_ms = 1\nreconnect_max_ms = 1',
        '[clients]\nmissed_packets_buffer_size = 0\nmissed_packets_buffer_bytes = 0\nmax_stale_clients = 0',
        '[limits]\nmax_frame_size = 1',
      ].join('\n'),
    );
    expect(config.listener.address.port).toBe(0);
    expect(config.master.reconnectMinMs).toBe(1);
    expect(config.clients.maxStaleClients).toBe(0);
    expect(config.limits.maxFrameSize).toBe(1);
    const big = parseConfigText('[limits]\nmax_frame_size = 4294967295\n').config;
    expect(big.limits.maxFrameSize).toBe(4294967295);
  });
});

describe('bad values', () => {
  const FILE = '/etc/voltlane/connserver.toml';

  it.each<[string, string, string]>([
    ['a string where a number belongs', '[clients]\nstale_timeout_secs = "300"\n', 'clients.stale_timeout_secs'],
    ['a boolean where a number belongs', '[master]\nchannel_capacity = true\n', 'master.channel_capacity'],
    ['an array where a number belongs', '[master]\nchannel_capacity = [1]\n', 'master.channel_capacity'],
    ['a number where an address belongs', '[listener]\naddress = 42000\n', 'listener.address'],
    ['a number where a log level belongs', '[general]\nlog_level = 3\n', 'general.log_level'],
    ['an unknown log level', '[general]\nlog_level = "verbose"\n', 'general.log_level'],
    ['an address without a port', '[listener]\naddress = "localhost"\n', 'listener.address'],
    ['an address with a port over 65535', '[master]\naddress = "h:70000"\n', 'master.address'],
    ['master port 0', '[master]\naddress = "h:0"\n', 'master.address'],
    ['a zero channel capacity', '[clients]\nchannel_capacity = 0\n', 'clients.channel_capacity'],
    ['a zero master channel capacity', '[master]\nchannel_capacity = 0\n', 'master.channel_capacity'],
    ['zero channel bytes', '[clients]\nchannel_capacity_bytes = 0\n', 'clients.channel_capacity_bytes'],
    ['a negative count', '[clients]\nmax_stale_clients = -1\n', 'clients.max_stale_clients'],
    ['a fractional count', '[clients]\nmissed_packets_buffer_size = 1.5\n', 'clients.missed_packets_buffer_size'],
    ['fractional milliseconds', '[master]\nreconnect_min_ms = 1.5\n', 'master.reconnect_min_ms'],
    ['zero milliseconds', '[master]\nreconnect_min_ms = 0\n', 'master.reconnect_min_ms'],
    ['milliseconds past the timer limit', '[master]\nreconnect_max_ms = 2147483648\n', 'master.reconnect_max_ms'],
    ['zero seconds', '[clients]\nstale_timeout_secs = 0\n', 'clients.stale_timeout_secs'],
    ['negative seconds', '[clients]\nstale_reap_interval_secs = -1\n', 'clients.stale_reap_interval_secs'],
    ['infinite seconds', '[limits]\nhandshake_timeout_secs = inf\n', 'limits.handshake_timeout_secs'],
    ['NaN seconds', '[limits]\nhandshake_timeout_secs = nan\n', 'limits.handshake_timeout_secs'],
    ['seconds past the timer limit', '[clients]\nstale_timeout_secs = 2147484\n', 'clients.stale_timeout_secs'],
    ['a zero frame size', '[limits]\nmax_frame_size = 0\n', 'limits.max_frame_size'],
    ['a frame size over u32', '[limits]\nmax_frame_size = 4294967296\n', 'limits.max_frame_size'],
    ['an integer too big for a double', '[limits]\nmax_connections = 9007199254740993\n', 'limits.max_connections'],
    ['a zero burst', '[limits]\nnew_connections_burst = 0\n', 'limits.new_connections_burst'],
    ['a zero rate', '[limits]\nnew_connections_per_address_per_sec = 0\n', 'limits.new_connections_per_address_per_sec'],
    ['zero handshakes', '[limits]\nmax_handshakes_in_flight = 0\n', 'limits.max_handshakes_in_flight'],
    ['zero failed resumes', '[limits]\nfailed_resumes_per_address_per_min = 0\n', 'limits.failed_resumes_per_address_per_min'],
    ['a section that is not a table', 'clients = 5\n', 'clients'],
  ])('refuses %s in the file, naming the key, the file and the expected form', (_what, text, key) => {
    const err = configError(() => parseConfigText(text, FILE));
    expect(err.key).toBe(key);
    expect(err.source).toBe(FILE);
    expect(err.code).toBe('VL_ERR_CONFIG');
    expect(err.message).toContain(key);
    expect(err.message).toContain(FILE);
    expect(err.message).toContain('expected');
  });

  it('quotes the bad value and says what was expected', () => {
    const err = configError(() => parseConfigText('[clients]\nstale_timeout_secs = "300"\n', FILE));
    expect(err.message).toContain('"300"');
    expect(err.message).toContain('remove the quotes');
    expect(err.message).toMatch(/expected a number of seconds greater than 0/);
    const port = configError(() => parseConfigText('[listener]\naddress = "localhost"\n', FILE));
    expect(port.message).toContain('"localhost"');
    expect(port.message).toContain('has no port');
    expect(port.message).toContain('host:port');
  });

  it.each<[string, string]>([
    ['VOLTLANE_CLIENTS_STALE_TIMEOUT_SECS', '12abc'],
    ['VOLTLANE_CLIENTS_STALE_TIMEOUT_SECS', ''],
    ['VOLTLANE_CLIENTS_STALE_TIMEOUT_SECS', '   '],
    ['VOLTLANE_CLIENTS_STALE_TIMEOUT_SECS', 'Infinity'],
    ['VOLTLANE_CLIENTS_STALE_TIMEOUT_SECS', '0x10'],
    ['VOLTLANE_CLIENTS_CHANNEL_CAPACITY', '12abc'],
    ['VOLTLANE_CLIENTS_CHANNEL_CAPACITY', ''],
    ['VOLTLANE_CLIENTS_CHANNEL_CAPACITY', '1.5'],
    ['VOLTLANE_CLIENTS_CHANNEL_CAPACITY', '1e3'],
    ['VOLTLANE_CLIENTS_CHANNEL_CAPACITY', '0'],
    ['VOLTLANE_CLIENTS_CHANNEL_CAPACITY', '1_000'],
    ['VOLTLANE_LIMITS_MAX_FRAME_SIZE', '4294967296'],
    ['VOLTLANE_LOG_LEVEL', 'loud'],
    ['VOLTLANE_LOG_LEVEL', ''],
    ['VOLTLANE_LISTENER_ADDRESS', 'nope'],
    ['VOLTLANE_MASTER_ADDRESS', ''],
  ])('refuses %s=%j from the environment, naming the variable', (name, value) => {
    const err = configError(() => load({ env: { [name]: value } }));
    expect(err.key).toMatch(/^[a-z]+\.[a-z_]+$/);
    expect(err.message).toContain(err.key);
    expect(err.message).toContain(`environment variable ${name}`);
    expect(err.message).toContain(JSON.stringify(value));
    expect(err.message).toContain('expected');
  });

  it('names the .env file when the bad value came from it', () => {
    writeFileSync(join(dir, '.env'), 'VOLTLANE_MASTER_CHANNEL_CAPACITY=lots\n');
    const err = configError(() => load());
    expect(err.key).toBe('master.channel_capacity');
    expect(err.message).toContain(`VOLTLANE_MASTER_CHANNEL_CAPACITY in ${join(dir, '.env')}`);
  });

  it.each<[keyof NonNullable<LoadOptions['flags']>, string, string]>([
    ['listen', '--listen', 'listener.address'],
    ['master', '--master', 'master.address'],
    ['logLevel', '--log-level', 'general.log_level'],
  ])('refuses a bad %s flag, naming %s', (option, flag, key) => {
    const err = configError(() => load({ flags: { [option]: 'not valid' } }));
    expect(err.key).toBe(key);
    expect(err.source).toBe(`flag ${flag}`);
    expect(err.message).toContain(`flag ${flag}`);
    expect(err.message).toContain('"not valid"');
  });

  it('refuses reconnect_min_ms above reconnect_max_ms, naming both and their sources', () => {
    writeToml('[master]\nreconnect_max_ms = 500\n');
    const err = configError(() => load({ env: { VOLTLANE_MASTER_RECONNECT_MIN_MS: '600' } }));
    expect(err.key).toBe('master.reconnect_min_ms');
    expect(err.message).toContain('master.reconnect_max_ms');
    expect(err.message).toContain('600, from environment variable VOLTLANE_MASTER_RECONNECT_MIN_MS');
    expect(err.message).toContain(`500, from ${join(dir, 'connserver.toml')}`);
    expect(load({ env: { VOLTLANE_MASTER_RECONNECT_MIN_MS: '500' } }).config.master.reconnectMinMs).toBe(500);
  });

  it('reports a TOML syntax error with the file path and line', () => {
    const path = writeToml('[clients]\nstale_timeout_secs = = 3\n');
    const err = configError(() => load());
    expect(err.source).toBe(path);
    expect(err.message).toContain(path);
    expect(err.message).toContain('line 2');
    expect(err.message).toContain('stale_timeout_secs = = 3');
  });
});

describe('warnings', () => {
  it('reports unknown keys, sections and top-level keys without failing', () => {
    const { config, warnings } = parseConfigText(
      'stray = 1\n[clients]\nfoo = 2\nstale_timeout_secs = 9\n[extras]\nx = 1\n',
      'connserver.toml',
    );
    expect(config.clients.staleTimeoutSecs).toBe(9);
    expect(warnings).toEqual([
      'unknown key stray in connserver.toml',
      'unknown key clients.foo in connserver.toml',
      'unknown section [extras] in connserver.toml',
    ]);
  });

  it('reports unknown VOLTLANE_<SECTION>_* variables, but not other VOLTLANE_ names', () => {
    const { warnings } = load({ env: { VOLTLANE_CLIENTS_STALE_TIMEOUT: '5', VOLTLANE_KEYFILE: '/k' } });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('VOLTLANE_CLIENTS_STALE_TIMEOUT');
  });

  it('says a retired key is no longer used and why, from the file and from the environment', () => {
    const { config, warnings } = parseConfigText('[limits]\nfailed_resumes_per_id_per_min = 10\n', 'connserver.toml');
    expect(config.limits.failedResumesPerAddressPerMin).toBe(60);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^limits\.failed_resumes_per_id_per_min in connserver\.toml is no longer used: .*per_address/);
    const env = load({ env: { VOLTLANE_LIMITS_FAILED_RESUMES_PER_ID_PER_MIN: '5' } }).warnings;
    expect(env).toHaveLength(1);
    expect(env[0]).toContain('VOLTLANE_LIMITS_FAILED_RESUMES_PER_ID_PER_MIN is no longer used');
  });

  it('warns when max_frame_size lets tagged frames exceed 8 MiB', () => {
    expect(parseConfigText('[limits]\nmax_frame_size = 8388599\n').warnings).toEqual([]);
    const { warnings } = parseConfigText('[limits]\nmax_frame_size = 8388600\n');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('limits.max_frame_size');
    expect(warnings[0]).toContain('8 MiB');
  });

  it('warns when clients.channel_capacity is under twice missed_packets_buffer_size', () => {
    const fine = '[clients]\nmissed_packets_buffer_size = 256\nchannel_capacity = 512\n';
    expect(parseConfigText(fine).warnings).toEqual([]);
    const { warnings } = parseConfigText('[clients]\nmissed_packets_buffer_size = 256\nchannel_capacity = 511\n');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('clients.channel_capacity');
    expect(warnings[0]).toContain('at least 512');
  });
});

describe('frozen result', () => {
  it('freezes the config deeply, and DEFAULT_CONFIG too', () => {
    writeToml('[listener]\naddress = "[::1]:5"\n');
    const result = load();
    for (const obj of [result, result.config, result.config.listener, result.config.listener.address, result.sources]) {
      expect(Object.isFrozen(obj)).toBe(true);
    }
    for (const section of Object.values(result.config)) expect(Object.isFrozen(section)).toBe(true);
    expect(() => {
      (result.config.listener.address as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(() => {
      (result.config.clients as { staleTimeoutSecs: number }).staleTimeoutSecs = 1;
    }).toThrow(TypeError);
    expect(Object.isFrozen(DEFAULT_CONFIG.master.address)).toBe(true);
    expect(Object.isFrozen(parseConfigText('').config.limits)).toBe(true);
  });
});

describe('observability keys', () => {
  it('http.address "" is off (null); a host:port turns the status server on', () => {
    expect(parseConfigText('[http]\naddress = ""\n').config.http?.address).toBeNull();
    expect(parseConfigText('[http]\naddress = "127.0.0.1:9464"\n').config.http?.address).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(configError(() => parseConfigText('[http]\naddress = "nowhere"\n')).key).toBe('http.address');
  });

  it('general.inspect_port is 0 (off) to 65535', () => {
    expect(parseConfigText('[general]\ninspect_port = 9000\n').config.general.inspectPort).toBe(9000);
    expect(configError(() => parseConfigText('[general]\ninspect_port = 70000\n')).key).toBe('general.inspect_port');
  });

  it('reads general.workers and the cluster section', () => {
    expect(parseConfigText('[general]\nworkers = "auto"\n').config.general.workers).toBe('auto');
    expect(parseConfigText('[general]\nworkers = 3\n').config.general.workers).toBe(3);
    expect(() => parseConfigText('[general]\nworkers = 0\n')).toThrow(/general\.workers/);
    const c = parseConfigText('[cluster]\nredis_url = "redis://127.0.0.1:6379"\nkey_prefix = "game:eu"\n').config.cluster!;
    expect(c).toEqual({ redisUrl: 'redis://127.0.0.1:6379', keyPrefix: 'game:eu', memberTimeoutSecs: 5 });
    expect(() => parseConfigText('[cluster]\nredis_url = "http://x"\n')).toThrow(/cluster\.redis_url.*redis:/s);
    expect(() => parseConfigText('[cluster]\nkey_prefix = "a b"\n')).toThrow(/cluster\.key_prefix/);
    expect(loadConfig({ path: join(mkdtempSync(join(tmpdir(), 'vl-')), 'c.toml'), env: { VOLTLANE_GENERAL_WORKERS: 'auto' }, dotenv: false }).config.general.workers).toBe('auto');
  });
});

describe('memory and stale-table keys', () => {
  it('limits.max_stale_share_per_address is a share below 1 or a whole count; anything else is refused', () => {
    expect(parseConfigText('[limits]\nmax_stale_share_per_address = 0.1\n').config.limits.maxStaleSharePerAddress).toBe(0.1);
    expect(parseConfigText('[limits]\nmax_stale_share_per_address = 500\n').config.limits.maxStaleSharePerAddress).toBe(500);
    expect(parseConfigText('[limits]\nmax_stale_share_per_address = 1\n').config.limits.maxStaleSharePerAddress).toBe(1);
    for (const bad of ['0', '-0.5', '1.5', '"half"', 'nan']) {
      expect(configError(() => parseConfigText(`[limits]\nmax_stale_share_per_address = ${bad}\n`)).key).toBe('limits.max_stale_share_per_address');
    }
    expect(load({ env: { VOLTLANE_LIMITS_MAX_STALE_SHARE_PER_ADDRESS: '0.05' } }).config.limits.maxStaleSharePerAddress).toBe(0.05);
    expect(() => load({ env: { VOLTLANE_LIMITS_MAX_STALE_SHARE_PER_ADDRESS: '2.5' } })).toThrow(/max_stale_share_per_address.*share of max_stale_clients/s);
  });

  it('limits.client_buffer_budget_bytes is "auto" or at least 65536 bytes', () => {
    expect(parseConfigText('[limits]\nclient_buffer_budget_bytes = "auto"\n').config.limits.clientBufferBudgetBytes).toBe('auto');
    expect(parseConfigText('[limits]\nclient_buffer_budget_bytes = "AUTO"\n').config.limits.clientBufferBudgetBytes).toBe('auto');
    expect(parseConfigText('[limits]\nclient_buffer_budget_bytes = 1073741824\n').config.limits.clientBufferBudgetBytes).toBe(1073741824);
    for (const bad of ['0', '65535', '1.5', '"lots"', '-1']) {
      expect(configError(() => parseConfigText(`[limits]\nclient_buffer_budget_bytes = ${bad}\n`)).key).toBe('limits.client_buffer_budget_bytes');
    }
    expect(load({ env: { VOLTLANE_LIMITS_CLIENT_BUFFER_BUDGET_BYTES: '1000000' } }).config.limits.clientBufferBudgetBytes).toBe(1_000_000);
  });
});
