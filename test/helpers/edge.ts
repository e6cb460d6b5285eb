// Starts a real in-process edge on loopback for tests, with a raw master, from defaults plus overrides.
import { afterEach } from 'vitest';
import { Edge } from '../../src/actors/edge.js';
import type { EdgeClock } from '../../src/actors/clock.js';
import { Flag } from '../../src/io/firehose.js';
import { DEFAULT_CONFIG, type Config } from '../../src/config/index.js';
import { generateKeyPair, type KeyPair } from '../../src/io/crypto.js';
import { captureLogger } from '../../src/fuzz/in-process.js';
import { frame, rawNewSession, RawMaster, text, type RawSession } from './wire.js';

type DeepPartial<T> = {
  [K in keyof T]?: T[K] extends object
    ? DeepPartial<T[K]>
    : undefined extends T[K]
      ? NonNullable<T[K]> extends object
        ? DeepPartial<NonNullable<T[K]>>
        : T[K]
      : T[K];
};

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
    // Every refusal on its own log line (tests count them), unless a test asks for throttling.
    general: { ...d.general, refusalLogIntervalSecs: 0, ...overrides.general },
    listener: { address: { host: '127.0.0.1', port: 0 }, ...(overrides.listener as Config['listener'] | undefined) },
    master: { ...d.master, address: { host: '127.0.0.1', port: masterPort }, reconnectMinMs: 20, reconnectMaxMs: 200, ...overrides.master } as Config['master'],
    clients: { ...d.clients, ...overrides.clients },
    limits: { ...d.limits, ...overrides.limits },
    ...(overrides.tls ? { tls: { ...d.tls!, ...overrides.tls } as Config['tls'] } : {}),
    ...(overrides.websocket ? { websocket: { ...d.websocket!, ...overrides.websocket } as Config['websocket'] } : {}),
  };
}

export async function startEdge(
  overrides: DeepPartial<Config> = {},
  opts: { keyPair?: KeyPair; master?: RawMaster; waitForMaster?: boolean; masterPort?: number; clock?: EdgeClock } = {},
): Promise<TestEdge> {
  const master = opts.master ?? new RawMaster();
  // masterPort: dial a port where nothing listens yet (the test starts a master there later).
  const masterPort = opts.masterPort ?? (opts.master ? opts.master.port : await master.listen());
  const keyPair = opts.keyPair ?? generateKeyPair();
  const logs: Array<Record<string, unknown>> = [];
  const edge = new Edge({ config: testConfig(masterPort, overrides), keyPair, log: captureLogger(logs), ...(opts.clock ? { clock: opts.clock } : {}) });
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

/** One edge per test, and what the test opened around it; all of it is torn down after each test. */
export interface EdgeFixture {
  /** The edge the running test started (throws before `start()`). */
  readonly t: TestEdge;
  /** Sockets to destroy after the test, before the edge stops. */
  readonly open: Array<{ destroy(): void }>;
  /** Masters the test started itself, closed after the edge stopped. */
  readonly masters: RawMaster[];
  /** `startEdge(...)`, kept as this test's edge. */
  start(...args: Parameters<typeof startEdge>): Promise<TestEdge>;
  /** A raw new session on the edge, its socket destroyed after the test. */
  newSession(): Promise<RawSession>;
  /** Sends `label` as data from `c` and waits until the master has it (everything `c` sent before arrived too). */
  marker(c: RawSession, label: string): Promise<void>;
}

/**
 * Registers an `afterEach` that destroys the test's sockets, stops its edge and closes its extra masters,
 * and returns the accessors the tests use. Call once per test file, at the top level.
 */
export function useEdgeFixture(): EdgeFixture {
  let t: TestEdge | null = null;
  const open: Array<{ destroy(): void }> = [];
  const masters: RawMaster[] = [];
  afterEach(async () => {
    for (const s of open.splice(0)) s.destroy();
    await t?.stop();
    t = null;
    for (const m of masters.splice(0)) await m.close();
  });
  const current = (): TestEdge => {
    if (!t) throw new Error('no edge: the test has not called start()');
    return t;
  };
  return {
    get t() {
      return current();
    },
    open,
    masters,
    async start(...args) {
      t = await startEdge(...args);
      return t;
    },
    async newSession() {
      const s = await rawNewSession(current().port);
      open.push(s.socket);
      return s;
    },
    async marker(c, label) {
      c.socket.write(frame(label));
      await current().master.expect((p) => p.id === c.id && p.flag === Flag.Data && text(p.data) === label, 3000, label);
    },
  };
}
