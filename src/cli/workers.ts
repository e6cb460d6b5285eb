// `voltlane --workers N`: N worker processes serve one listening port (Node's cluster module) as one cluster.
// The primary loads the config and the key file once, forks the workers, restarts one that dies, and stops
// them all on SIGTERM/SIGINT. Each worker is a whole edge with its own firehose to the master. Without
// [cluster] redis_url the primary is the workers' shared store (src/cluster/primary-store.ts), keeping the
// sessions in the state file and journal (state.dir, by default beside the key file) as a single edge does; with it, Redis is.
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { loadConfig, type Config } from '../config/index.js';
import { loadOrCreateKeyFile } from '../config/keyfile.js';
import { createLogger, type Logger } from '../log.js';
import type { IpcLink } from '../cluster/ipc-backend.js';
import { PrimaryStore } from '../cluster/primary-store.js';
import { FileStore } from '../store/file-store.js';
import { daemonLoadOptions, keyFilePath, runDaemon, stateDir, type RunOptions } from './run.js';

/** The worker count a config (or --workers) asks for: 'auto' is one per core. */
export function workerCount(w: Config['general']['workers'] | undefined): number {
  if (w === undefined) return 1;
  return w === 'auto' ? availableParallelism() : w;
}

/** True in a process forked by runWorkers. */
export function isWorker(): boolean {
  return cluster.isWorker;
}

/** The primary's end of a worker's IPC channel. */
function workerLink(w: Worker): IpcLink {
  return {
    get connected() {
      return w.isConnected();
    },
    send(msg) {
      if (w.isConnected()) w.send(msg);
    },
    onMessage(cb) {
      w.on('message', cb);
    },
    onClose(cb) {
      w.once('disconnect', cb);
    },
    close() {
      w.removeAllListeners('message');
    },
  };
}

/** The primary as the workers' store: the sessions also go to the state file and journal (state.dir, by default beside the key file). */
async function primaryStore(config: Config, configPath: string, keyPath: string, publicKey: string, log: Logger): Promise<PrimaryStore> {
  const persist = new FileStore({
    dir: stateDir(config, configPath, keyPath),
    edgePublicKey: publicKey,
    sessions: config.state?.persistSessions ?? true,
    events: {
      onError: (msg, d) => log.error({ ...(d.path ? { path: d.path } : {}), ...(d.err ? { err: String(d.err) } : {}) }, msg),
      onInfo: (msg, d) => log.info(d, msg),
    },
  });
  const store = new PrimaryStore({ log, publicKey, persist });
  await store.load();
  return store;
}

/**
 * Runs the daemon: in this process when one worker is asked for, else as the primary of `count` workers.
 * `workersFlag` (--workers) wins over general.workers.
 */
export async function runEdge(o: RunOptions, workersFlag: Config['general']['workers'] | undefined): Promise<void> {
  if (cluster.isWorker) return runDaemon(o);
  const loaded = loadConfig(daemonLoadOptions(o));
  const count = workerCount(workersFlag ?? loaded.config.general.workers);
  if (count <= 1) return runDaemon(o);
  const log = createLogger({ level: loaded.config.general.logLevel, ...(o.logFormat ? { format: o.logFormat } : {}) }).child({ role: 'primary' });
  // The key file is created here, once, before the workers read it.
  const keyPath = keyFilePath(loaded.config, loaded.path);
  const { keyPair } = loadOrCreateKeyFile(keyPath);
  const embedded = !loaded.config.cluster?.redisUrl;
  const store = embedded ? await primaryStore(loaded.config, loaded.path, keyPath, Buffer.from(keyPair.publicKey).toString('hex'), log) : null;
  let stopping = false;
  const fork = () => {
    const w = cluster.fork({ VOLTLANE_WORKER: '1' });
    store?.serve(workerLink(w));
  };
  const exit = (code: number) => {
    if (!store) process.exit(code);
    store.stop().then(
      () => process.exit(code),
      (err: unknown) => {
        log.error({ err: String(err) }, 'workers.store_save_failed: sessions will not survive this restart');
        process.exit(1);
      },
    );
  };
  let recentDeaths: number[] = [];
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        log.info('workers.stopped');
        exit(0);
      }
      return;
    }
    const now = Date.now();
    recentDeaths = recentDeaths.filter((t) => now - t < 60_000);
    recentDeaths.push(now);
    log.error({ worker: worker.process.pid, code, signal }, 'worker.died: its clients resume on the other workers; starting another');
    if (recentDeaths.length > count * 5) {
      log.error({ deaths: recentDeaths.length }, 'workers.failing: too many worker deaths in a minute, giving up');
      stopping = true;
      exit(1);
      return;
    }
    setTimeout(fork, 200).unref();
  });
  for (let i = 0; i < count; i++) fork();
  log.info({ workers: count, pid: process.pid, store: store ? 'primary' : 'redis' }, 'workers.started');
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'workers.stopping');
    const workers = Object.values(cluster.workers ?? {});
    if (workers.length === 0) exit(0);
    for (const w of workers) w?.process.kill('SIGTERM');
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // SIGHUP (systemctl reload): each worker reloads the config itself and logs what changed.
  process.on('SIGHUP', () => {
    if (stopping) return;
    const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
    for (const w of workers) w.process.kill('SIGHUP');
    log.info({ workers: workers.length }, 'workers.reload: SIGHUP passed on to every worker');
  });
}
