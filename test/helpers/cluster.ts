// Edges of one cluster for tests: each a real in-process edge with its own raw master, joined through a real
// cluster store: a redis-server started by the test, or a primary store (the one `voltlane --workers N` runs in
// its primary process) reached over a structured-clone message channel, as a worker reaches its primary.
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Edge } from '../../src/actors/edge.js';
import type { ClusterBackend } from '../../src/cluster/backend.js';
import { IpcBackend, type IpcLink } from '../../src/cluster/ipc-backend.js';
import { ClusterMember } from '../../src/cluster/member.js';
import { PrimaryStore } from '../../src/cluster/primary-store.js';
import { RedisBackend } from '../../src/cluster/redis-cluster.js';
import type { Config } from '../../src/config/index.js';
import type { KeyPair } from '../../src/io/crypto.js';
import { captureLogger } from '../../src/fuzz/in-process.js';
import { startRedis, type RedisServer } from './redis-server.js';
import { testConfig } from './edge.js';
import { RawMaster } from './wire.js';

type DeepPartial<T> = {
  [K in keyof T]?: T[K] extends object
    ? DeepPartial<T[K]>
    : undefined extends T[K]
      ? NonNullable<T[K]> extends object
        ? DeepPartial<NonNullable<T[K]>>
        : T[K]
      : T[K];
};

/** One end of a MessageChannel as an IPC link. */
export function portLink(port: MessagePort): IpcLink {
  let open = true;
  port.on('close', () => (open = false));
  return {
    get connected() {
      return open;
    },
    send(msg) {
      if (open) port.postMessage(msg);
    },
    onMessage(cb) {
      port.on('message', cb);
    },
    onClose(cb) {
      port.on('close', cb);
    },
    close() {
      open = false;
      port.close();
    },
  };
}

/** A cluster store the tests run against: Redis, or the primary process's store. */
export interface StoreFixture {
  readonly kind: 'redis' | 'primary';
  start(): Promise<void>;
  /** A backend for one more member of the cluster named `prefix`. */
  backend(prefix: string): ClusterBackend;
  /** Cuts a member's link to the primary (as if the primary went away for it); primary only. */
  cut(store: ClusterMember): void;
  readonly redis: RedisServer | null;
  dispose(): Promise<void>;
}

export function redisFixture(): StoreFixture {
  let redis: RedisServer | null = null;
  return {
    kind: 'redis',
    async start() {
      redis = await startRedis();
    },
    backend: (prefix) => new RedisBackend({ redisUrl: redis!.url, keyPrefix: prefix }),
    cut() {
      throw new Error('cut: primary fixture only');
    },
    get redis() {
      return redis;
    },
    async dispose() {
      await redis?.dispose();
    },
  };
}

export function primaryFixture(): StoreFixture {
  const primaries = new Map<string, PrimaryStore>();
  const far = new Map<ClusterBackend, MessagePort>();
  return {
    kind: 'primary',
    async start() {},
    backend(prefix) {
      let p = primaries.get(prefix);
      if (!p) primaries.set(prefix, (p = new PrimaryStore({ log: captureLogger([]), publicKey: '', persist: null })));
      const { port1, port2 } = new MessageChannel();
      p.serve(portLink(port2));
      const b = new IpcBackend(portLink(port1), 'primary process (test)');
      far.set(b, port2);
      return b;
    },
    cut(store) {
      far.get(store.backend)?.close();
    },
    redis: null,
    async dispose() {
      for (const p of primaries.values()) await p.stop();
    },
  };
}

export interface ClusterEdge {
  edge: Edge;
  store: ClusterMember;
  port: number;
  master: RawMaster;
  logs: Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

export async function startClusterEdge(
  backend: ClusterBackend,
  keyPair: KeyPair,
  overrides: DeepPartial<Config> = {},
  memberTimeoutMs = 1_000,
  /** Dial this master (e.g. a voltlane/master listener) instead of a raw master of its own. */
  externalMasterPort?: number,
): Promise<ClusterEdge> {
  const master = new RawMaster();
  const masterPort = externalMasterPort ?? (await master.listen());
  const logs: Array<Record<string, unknown>> = [];
  const log = captureLogger(logs);
  const config = testConfig(masterPort, overrides);
  const store = new ClusterMember({
    backend,
    memberTimeoutMs,
    publicKey: keyPair.publicKey,
    staleTtlMs: config.clients.staleTimeoutSecs * 1000 + 60_000,
    log,
  });
  const edge = new Edge({ config, keyPair, log, cluster: store });
  await store.join();
  const { port } = await edge.start();
  if (externalMasterPort === undefined) await master.connected();
  return {
    edge,
    store,
    port,
    master,
    logs,
    async stop() {
      await edge.stop();
      if (externalMasterPort === undefined) await master.close();
    },
  };
}

export function logged(e: ClusterEdge, msg: string): boolean {
  return e.logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith(msg));
}
