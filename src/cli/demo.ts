// `voltlane demo`: an edge, an echo master and three clients in one process, showing traffic,
// a client whose connection drops, its resume, and the packets replayed to it.
import { Edge } from '../actors/edge.js';
import { DEFAULT_CONFIG, type Config } from '../config/index.js';
import { generateKeyPair } from '../io/crypto.js';
import { createLogger } from '../log.js';
import { connect, type VoltlaneClient } from '../sdk/client.js';
import { createEchoHandler, listen } from '../sdk/master.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface DemoOptions {
  /** Total run time in ms (default 6000). */
  durationMs?: number;
  out?: (line: string) => void;
  /** The edge's log level (default info: its lifecycle lines are part of the show). */
  logLevel?: 'off' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
}

export interface DemoResult {
  echoed: number;
  resumed: boolean;
  replayed: number;
}

export async function runDemo(o: DemoOptions = {}): Promise<DemoResult> {
  const out = o.out ?? ((line: string) => process.stdout.write(`${new Date().toISOString().slice(11, 23)} DEMO  ${line}\n`));
  const duration = o.durationMs ?? 6000;

  const master = await listen('127.0.0.1:0');
  createEchoHandler(master);
  const known = new Set<bigint>();
  master.on('data', (id) => known.add(id));
  master.on('reconnection', (id) => out(`master: Reconnection for client ${id}`));
  master.on('failure', (id, reason) => out(`master: Failure for client ${id}: ${reason}`));
  let tick = 0;
  const ticker = setInterval(() => {
    tick++;
    for (const id of known) master.send(id, `tick ${tick} from the master`);
  }, 150);

  const config: Config = {
    ...DEFAULT_CONFIG,
    listener: { address: { host: '127.0.0.1', port: 0 } },
    master: { ...DEFAULT_CONFIG.master, address: master.address },
    clients: { ...DEFAULT_CONFIG.clients, missedPacketsBufferSize: 64, staleTimeoutSecs: 30, staleReapIntervalSecs: 1 },
  };
  const log = createLogger({ level: o.logLevel ?? 'info', format: 'pretty' });
  const edge = new Edge({ config, keyPair: generateKeyPair(), log });
  const addr = await edge.start();
  out(`edge on ${addr.host}:${addr.port}, echo master on ${master.address.host}:${master.address.port}, missed-packet buffer 64`);

  const clients: VoltlaneClient[] = [];
  let echoed = 0;
  let resumed = false;
  let awaitingReplay = false;
  for (let i = 0; i < 3; i++) {
    const c = await connect(`${addr.host}:${addr.port}`, { reconnect: { initialDelayMs: 400 } });
    clients.push(c);
    out(`client #${i + 1} has session ${c.id}`);
    c.on('message', (data) => {
      const text = Buffer.from(data).toString('utf8');
      if (text.startsWith('hello')) echoed++;
      if (awaitingReplay && i === 1 && text.startsWith('tick')) {
        out(`client #2 <- ${text}`);
      } else if (!text.startsWith('tick') || tick % 5 === 0) {
        out(`client #${i + 1} <- ${text}`);
      }
    });
    c.on('disconnected', (reason) => {
      out(`client #${i + 1} lost its connection (${reason}); the edge keeps its session stale and buffers master packets`);
    });
    c.on('resumed', (id) => {
      resumed = true;
      awaitingReplay = true;
      out(`client #${i + 1} resumed session ${id} after proving its key; buffered packets follow, in order:`);
      setTimeout(() => (awaitingReplay = false), 50);
    });
  }
  let n = 0;
  const talker = setInterval(() => {
    n++;
    clients.forEach((c, i) => {
      if (c.state === 'connected') c.send(`hello ${n} from client #${i + 1}`);
    });
  }, 500);

  await sleep(Math.min(1500, duration / 3));
  const victim = clients[1]!;
  const s = edge.sessions.get(Number(victim.id));
  out(`cutting client #2's connection (session ${victim.id}) as a network drop would`);
  s?.socket?.destroy();

  await sleep(Math.max(0, duration - Math.min(1500, duration / 3)));
  clearInterval(talker);
  clearInterval(ticker);
  const replayed = edge.counters.replayed;
  out(`done: ${echoed} echoes received, client #2 ${resumed ? 'resumed' : 'did NOT resume'}, ${replayed} packets replayed to it`);
  for (const c of clients) await c.close();
  await edge.stop();
  await master.close();
  return { echoed, resumed, replayed };
}
