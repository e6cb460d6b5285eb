// Edges of one cluster for tests: each a real in-process edge with its own raw master, joined through a real Redis.
import { Edge } from '../../src/actors/edge.js';
import { ClusterMember } from '../../src/cluster/member.js';
import { RedisBackend } from '../../src/cluster/redis-cluster.js';
import type { Config } from '../../src/config/index.js';
import type { KeyPair } from '../../src/io/crypto.js';
import { captureLogger } from '../../src/fuzz/in-process.js';
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

export interface ClusterEdge {
  edge: Edge;
  store: ClusterMember;
  port: number;
  master: RawMaster;
  logs: Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

export async function startClusterEdge(
  redisUrl: string,
  prefix: string,
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
    backend: new RedisBackend({ redisUrl, keyPrefix: prefix }),
    keyPrefix: prefix,
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
