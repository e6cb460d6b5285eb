// Starts a real in-process edge on loopback for tests, with a raw master, from defaults plus overrides.
import { Edge } from '../../src/actors/edge.js';
import { DEFAULT_CONFIG, type Config } from '../../src/config/index.js';
import { generateKeyPair, type KeyPair } from '../../src/io/crypto.js';
import { createLogger, type Logger } from '../../src/log.js';
import { Writable } from 'node:stream';
import { RawMaster } from './wire.js';

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

export interface TestEdge {
  edge: Edge;
  port: number;
  master: RawMaster;
  keyPair: KeyPair;
  /** Log records the edge wrote (parsed JSON). */
  logs: Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

export function testConfig(masterPort: number, overrides: DeepPartial<Config> = {}): Config {
  const d = DEFAULT_CONFIG;
  return {
    general: { ...d.general, ...overrides.general },
    listener: { address: { host: '127.0.0.1', port: 0 }, ...(overrides.listener as Config['listener'] | undefined) },
    master: { ...d.master, address: { host: '127.0.0.1', port: masterPort }, reconnectMinMs: 20, reconnectMaxMs: 200, ...overrides.master } as Config['master'],
    clients: { ...d.clients, ...overrides.clients },
    limits: { ...d.limits, ...overrides.limits },
  };
}

export function captureLogger(logs: Array<Record<string, unknown>>): Logger {
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return createLogger({ level: 'debug', format: 'json', destination: sink });
}

export async function startEdge(
  overrides: DeepPartial<Config> = {},
  opts: { keyPair?: KeyPair; master?: RawMaster; waitForMaster?: boolean; masterPort?: number } = {},
): Promise<TestEdge> {
  const master = opts.master ?? new RawMaster();
  // masterPort: dial a port where nothing listens yet (the test starts a master there later).
  const masterPort = opts.masterPort ?? (opts.master ? opts.master.port : await master.listen());
  const keyPair = opts.keyPair ?? generateKeyPair();
  const logs: Array<Record<string, unknown>> = [];
  const edge = new Edge({ config: testConfig(masterPort, overrides), keyPair, log: captureLogger(logs) });
  const { port } = await edge.start();
  if (opts.waitForMaster !== false && opts.masterPort === undefined) await master.connected();
  return {
    edge,
    port,
    master,
    keyPair,
    logs,
    async stop() {
      await edge.stop();
      await master.close();
    },
  };
}

/** The edge's log records with this message. */
export function logsWith(t: TestEdge, msg: string): Array<Record<string, unknown>> {
  return t.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith(msg));
}
