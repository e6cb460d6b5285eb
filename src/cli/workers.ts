// `voltlane --workers N`: N worker processes serve one listening port (Node's cluster module) as one cluster.
// The primary loads the config and the key file once, forks the workers, restarts one that dies, and stops
// them all on SIGTERM/SIGINT. Each worker is a whole edge with its own firehose to the master.
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { loadConfig, ConfigError, type Config } from '../config/index.js';
import { loadOrCreateKeyFile } from '../config/keyfile.js';
import { createLogger } from '../log.js';
import { keyFilePath, runDaemon, type RunOptions } from './run.js';

/** The worker count a config (or --workers) asks for: 'auto' is one per core. */
export function workerCount(w: Config['general']['workers'] | undefined): number {
  if (w === undefined) return 1;
  return w === 'auto' ? availableParallelism() : w;
}

/** True in a process forked by runWorkers. */
export function isWorker(): boolean {
  return cluster.isWorker;
}

/**
 * Runs the daemon: in this process when one worker is asked for, else as the primary of `count` workers.
 * `workersFlag` (--workers) wins over general.workers.
 */
export async function runEdge(o: RunOptions, workersFlag: Config['general']['workers'] | undefined): Promise<void> {
  if (cluster.isWorker) return runDaemon(o);
  const loaded = loadConfig({
    ...(o.configPath ? { path: o.configPath, mustExist: true } : {}),
    flags: { ...(o.listen ? { listen: o.listen } : {}), ...(o.master ? { master: o.master } : {}), ...(o.logLevel ? { logLevel: o.logLevel } : {}) },
  });
  const count = workerCount(workersFlag ?? loaded.config.general.workers);
  if (count <= 1) return runDaemon(o);
  if (!loaded.config.cluster?.redisUrl) {
    throw new ConfigError(
      `general.workers = ${count} needs [cluster] redis_url: the workers share their sessions through Redis or Valkey ` +
        '(for example redis_url = "redis://127.0.0.1:6379"); or run one worker',
      { key: 'general.workers' },
    );
  }
  const log = createLogger({ level: loaded.config.general.logLevel, ...(o.logFormat ? { format: o.logFormat } : {}) }).child({ role: 'primary' });
  // The key file is created here, once, before the workers read it.
  loadOrCreateKeyFile(keyFilePath(loaded.config, loaded.path));
  let stopping = false;
  const fork = () => cluster.fork({ VOLTLANE_WORKER: '1' });
  let recentDeaths: number[] = [];
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        log.info('workers.stopped');
        process.exit(0);
      }
      return;
    }
    const now = Date.now();
    recentDeaths = recentDeaths.filter((t) => now - t < 60_000);
    recentDeaths.push(now);
    log.error({ worker: worker.process.pid, code, signal }, 'worker.died: its clients resume on the other workers; starting another');
    if (recentDeaths.length > count * 5) {
      log.error({ deaths: recentDeaths.length }, 'workers.failing: too many worker deaths in a minute, giving up');
      process.exit(1);
    }
    setTimeout(fork, 200).unref();
  });
  for (let i = 0; i < count; i++) fork();
  log.info({ workers: count, pid: process.pid }, 'workers.started');
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'workers.stopping');
    const workers = Object.values(cluster.workers ?? {});
    if (workers.length === 0) process.exit(0);
    for (const w of workers) w?.process.kill('SIGTERM');
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
