// `voltlane [--config FILE]`: load the config, the key file and a logger, run the edge until SIGTERM/SIGINT.
import cluster from 'node:cluster';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { errnoCode } from '../errno.js';
import { Edge } from '../actors/edge.js';
import { ClusterMember } from '../cluster/member.js';
import { IpcBackend, processLink } from '../cluster/ipc-backend.js';
import type { ClusterBackend } from '../cluster/backend.js';
import { ConfigError, loadConfig, formatAddress, type Config, type LoadOptions } from '../config/index.js';
import { reloadConfig } from './reload.js';
import { loadOrCreateKeyFile } from '../config/keyfile.js';
import { createLogger, type LogFormat, type Logger } from '../log.js';
import { FileStore } from '../store/file-store.js';
import { prepareObservability, type Observability, type ObserveFlags } from '../http/observability.js';

export interface RunOptions extends ObserveFlags {
  configPath?: string;
  listen?: string;
  master?: string;
  logLevel?: string;
  logFormat?: LogFormat;
}

export interface RunningEdge {
  edge: Edge;
  config: Config;
  log: Logger;
  address: { host: string; port: number };
  /** Inspector relay and status server, when configured. */
  observe: Observability;
  /** Reads the config again and applies what may change while running (what SIGHUP does). */
  reload: () => void;
}

/** Where the edge key lives: general.key_file, relative to the config file's directory. */
export function keyFilePath(config: Config, configPath: string): string {
  return resolve(dirname(configPath), config.general.keyFile);
}

/** state.dir (created 0700 when missing), or the key file's directory. */
export function stateDir(config: Config, configPath: string, keyPath: string): string {
  if (!config.state?.dir) return dirname(keyPath);
  const dir = resolve(dirname(configPath), config.state.dir);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new ConfigError(`state.dir ${dir} cannot be created: ${errnoCode(err) ?? String(err)}`, { key: 'state.dir', source: configPath, cause: err });
  }
  return dir;
}

/** Starts the daemon (config, key, logger, edge). The caller decides how it stops. */
export async function startDaemon(o: RunOptions): Promise<RunningEdge> {
  const loaded = loadConfig(daemonLoadOptions(o));
  const { config } = loaded;
  const log = createLogger({ level: config.general.logLevel, ...(o.logFormat ? { format: o.logFormat } : {}) });
  if (loaded.created) log.info({ path: loaded.path }, 'config.created: wrote the default configuration');
  else log.info({ path: loaded.path }, 'config.loaded');
  for (const w of loaded.warnings) log.warn({ path: loaded.path }, `config.warning: ${w}`);
  const keyPath = keyFilePath(config, loaded.path);
  const { keyPair, created } = loadOrCreateKeyFile(keyPath);
  log.info({ path: keyPath, created, publicKey: Buffer.from(keyPair.publicKey).toString('hex') }, 'edge.key');
  const observe = await prepareObservability(config, o);
  // A cluster through Redis when redis_url is set (ioredis is loaded only then); a worker of `voltlane --workers N`
  // without it has its primary process as the store.
  const backend: ClusterBackend | null = config.cluster?.redisUrl
    ? new (await import('../cluster/redis-cluster.js')).RedisBackend({ redisUrl: config.cluster.redisUrl, keyPrefix: config.cluster.keyPrefix })
    : cluster.isWorker
      ? new IpcBackend(processLink())
      : null;
  const member = backend
    ? new ClusterMember({
        backend,
        ...(backend.kind === 'redis' ? { keyPrefix: config.cluster!.keyPrefix } : {}),
        memberTimeoutMs: Math.round((config.cluster?.memberTimeoutSecs ?? 5) * 1000),
        publicKey: keyPair.publicKey,
        staleTtlMs: Math.round(config.clients.staleTimeoutSecs * 1000) + 60_000,
        log,
      })
    : undefined;
  // One edge: its sessions (or, with state.persist_sessions off, only its id counter) live in state.dir, by
  // default beside the key file. In a cluster, Redis or the primary process holds them.
  const store = member
    ? undefined
    : new FileStore({
        dir: stateDir(config, loaded.path, keyPath),
        edgePublicKey: Buffer.from(keyPair.publicKey).toString('hex'),
        sessions: config.state?.persistSessions ?? true,
        events: {
          onError: (msg, d) => log.error({ ...(d.path ? { path: d.path } : {}), ...(d.err ? { err: String(d.err) } : {}) }, msg),
          onInfo: (msg, d) => log.info(d, msg),
        },
      });
  const edge = new Edge({ config, keyPair, log, ...observe.edgeOptions, ...(member ? { cluster: member } : {}), ...(store ? { store } : {}) });
  if (member) await member.join();
  const address = await edge.start();
  log.info(
    {
      listen: formatAddress(address),
      ...Object.fromEntries(edge.transports.addresses().map((l) => [l.transport, formatAddress(l.address)])),
      master: formatAddress(config.master.address),
    },
    'edge.started',
  );
  await observe.start(edge, log);
  // A reload reads the same file (which must still exist) with the same flags over it.
  const reload = () => reloadConfig({ edge, log, load: () => loadConfig({ ...daemonLoadOptions(o), path: loaded.path, mustExist: true }) });
  return { edge, config, log, address, observe, reload };
}

/** How the daemon loads its config: --config (which must exist) or ./connserver.toml (written if missing), flags over it. */
export function daemonLoadOptions(o: RunOptions): LoadOptions {
  return {
    ...(o.configPath ? { path: o.configPath, mustExist: true } : {}),
    flags: {
      ...(o.listen ? { listen: o.listen } : {}),
      ...(o.master ? { master: o.master } : {}),
      ...(o.logLevel ? { logLevel: o.logLevel } : {}),
    },
  };
}

/** Runs the daemon until SIGTERM or SIGINT, then drains and exits 0. */
export async function runDaemon(o: RunOptions): Promise<void> {
  // SIGHUP reloads the config (src/cli/reload.ts) and reads the TLS certificate files again (they are also watched).
  // It is caught from the start (by default it ends the process): one that comes while starting is done once started.
  let reload: (() => void) | null = null;
  let hupWhileStarting = false;
  let stopping = false;
  process.on('SIGHUP', () => {
    if (stopping) return;
    if (reload === null) hupWhileStarting = true;
    else reload();
  });
  const started = await startDaemon(o);
  const { edge, log, observe } = started;
  reload = started.reload;
  if (hupWhileStarting) reload();
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'edge.stopping');
    edge.stop().then(
      () => observe.close().finally(() => process.exit(0)),
      (err: unknown) => {
        log.error({ err: String(err) }, 'edge.stop_failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
