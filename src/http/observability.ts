// Wires what an operator can see into a daemon: the inspector relay (sampled sessions, supervisor always)
// and the status server, from config and flags. The caller builds the Edge with `edgeOptions`, then `start`s.
// Each is loaded only when it is turned on (the relay's WebSocket server and prom-client cost ~10 MB of RSS).
import type { Edge, EdgeOptions } from '../actors/edge.js';
import { ConfigError, SCHEMA, type Config, type HostPort } from '../config/schema.js';
import type { EdgeInspector } from '../inspect/inspector.js';
import type { Logger } from '../log.js';
import { LifecycleRecorder } from './lifecycle.js';
import type { StatusServer } from './server.js';

/** Port of the inspector relay when `--inspect` is given without one and general.inspect_port is 0. */
export const DEFAULT_INSPECT_PORT = 9465;

export interface ObserveFlags {
  /** `--inspect` (true) or `--inspect PORT`. */
  inspect?: number | true;
  inspectSessions?: number;
  inspectId?: number;
  /** `--http ADDR`; "" turns the status server off. */
  http?: string;
}

export interface Observability {
  /** Spread into the EdgeOptions. */
  edgeOptions: Pick<EdgeOptions, 'inspect' | 'inspectSession' | 'onLifecycle'>;
  inspector: EdgeInspector | null;
  status: StatusServer | null;
  /** Starts the relay and the status server and logs their URLs. */
  start(edge: Edge, log: Logger): Promise<void>;
  close(): Promise<void>;
}

function httpAddress(config: Config, flag: string | undefined): HostPort | null {
  if (flag === undefined) return config.http?.address ?? null;
  const checked = SCHEMA.http.address.rule.fromString(flag);
  if (!checked.ok) {
    throw new ConfigError(`http.address: bad value ${JSON.stringify(flag)} from flag --http${checked.problem ? ` (${checked.problem})` : ''}; expected ${SCHEMA.http.address.rule.expected}`, {
      key: 'http.address',
      source: 'flag --http',
    });
  }
  return checked.value;
}

export async function prepareObservability(config: Config, flags: ObserveFlags): Promise<Observability> {
  const inspectPort = flags.inspect === true ? config.general.inspectPort || DEFAULT_INSPECT_PORT : (flags.inspect ?? config.general.inspectPort);
  const inspector =
    inspectPort > 0 ? new (await import('../inspect/inspector.js')).EdgeInspector({ port: inspectPort, sessions: flags.inspectSessions ?? 10, followId: flags.inspectId ?? null }) : null;
  const address = httpAddress(config, flags.http);
  const lifecycle = address ? new LifecycleRecorder() : null;
  let status: StatusServer | null = null;
  const obs: Observability = {
    edgeOptions: {
      ...(inspector ? { inspect: inspector.observer, inspectSession: inspector.inspectSession } : {}),
      ...(lifecycle ? { onLifecycle: lifecycle.record } : {}),
    },
    inspector,
    get status() {
      return status;
    },
    async start(edge, log) {
      if (inspector) {
        const url = await inspector.start();
        log.info({ url, sessions: flags.inspectSessions ?? 10, followId: flags.inspectId ?? null }, `inspect.relay: open ${url} to watch the machines`);
      }
      if (address && lifecycle) {
        const { StatusServer } = await import('./server.js');
        status = new StatusServer({ edge, lifecycle, address, ...(inspector ? { inspector: () => inspector.stats() } : {}) });
        const url = await status.start();
        log.info({ url }, `http.listening: status page ${url}, metrics ${url}metrics`);
      }
    },
    async close() {
      await status?.close();
      await inspector?.close();
    },
  };
  return obs;
}
