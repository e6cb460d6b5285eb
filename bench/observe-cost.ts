// Cost of observability on an echo run: 200 clients each keep 4 messages in flight through one edge and an
// echo master for 5 s; the same run with /metrics scraped every second and with --inspect-sessions 100 (a UI connected).
// Usage: tsc -p tsconfig.bench.json && node dist-bench/bench/observe-cost.js [clients] [seconds]
import { WebSocket } from 'ws';
import { Edge } from '../src/actors/edge.js';
import { DEFAULT_CONFIG, type Config } from '../src/config/index.js';
import { EdgeInspector } from '../src/inspect/inspector.js';
import { LifecycleRecorder } from '../src/http/lifecycle.js';
import { StatusServer } from '../src/http/server.js';
import { generateKeyPair } from '../src/io/crypto.js';
import { silentLogger } from '../src/log.js';
import { connect, type VoltlaneClient } from '../src/sdk/client.js';
import { createEchoHandler, listen } from '../src/sdk/master.js';

type Variant = 'baseline' | 'metrics' | 'inspect100';
const CLIENTS = Number(process.argv[2] ?? 200);
const SECONDS = Number(process.argv[3] ?? 5);
const IN_FLIGHT = 4;
const payload = Buffer.alloc(64, 7);

async function run(variant: Variant): Promise<{ echoes: number; rssMb: number }> {
  const master = await listen('127.0.0.1:0');
  createEchoHandler(master);
  const config: Config = {
    ...DEFAULT_CONFIG,
    listener: { address: { host: '127.0.0.1', port: 0 } },
    master: { ...DEFAULT_CONFIG.master, address: master.address },
  };
  const inspector = variant === 'inspect100' ? new EdgeInspector({ port: 0, sessions: 100 }) : null;
  const lifecycle = variant === 'metrics' ? new LifecycleRecorder() : null;
  const edge = new Edge({
    config,
    keyPair: generateKeyPair(),
    log: silentLogger(),
    ...(inspector ? { inspect: inspector.observer, inspectSession: inspector.inspectSession } : {}),
    ...(lifecycle ? { onLifecycle: lifecycle.record } : {}),
  });
  const addr = await edge.start();
  let ui: WebSocket | null = null;
  let uiMessages = 0;
  if (inspector) {
    const url = await inspector.start();
    ui = new WebSocket(url.replace('http://', 'ws://'));
    ui.on('message', () => uiMessages++);
    await new Promise((r) => ui!.once('open', r));
  }
  let status: StatusServer | null = null;
  let scraper: NodeJS.Timeout | null = null;
  if (lifecycle) {
    status = new StatusServer({ edge, lifecycle, address: { host: '127.0.0.1', port: 0 } });
    const url = await status.start();
    scraper = setInterval(() => void fetch(url + 'metrics').then((r) => r.text()), 1000);
  }
  const clients: VoltlaneClient[] = [];
  for (let i = 0; i < CLIENTS; i++) clients.push(await connect(`${addr.host}:${addr.port}`));
  let echoes = 0;
  let running = true;
  for (const c of clients) {
    c.on('message', () => {
      echoes++;
      if (running) c.send(payload);
    });
  }
  const start = echoes;
  for (const c of clients) for (let k = 0; k < IN_FLIGHT; k++) c.send(payload);
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  running = false;
  const done = echoes - start;
  const rssMb = process.memoryUsage().rss / 2 ** 20;
  if (scraper) clearInterval(scraper);
  for (const c of clients) await c.close();
  await edge.stop();
  await master.close();
  await status?.close();
  ui?.terminate();
  await inspector?.close();
  if (inspector) console.log(`  inspector: ${JSON.stringify(inspector.stats())}, UI got ${uiMessages} messages`);
  return { echoes: done, rssMb };
}

async function main(): Promise<void> {
  const order: Variant[] = ['baseline', 'metrics', 'inspect100', 'baseline', 'metrics', 'inspect100'];
  const results = new Map<Variant, number[]>();
  for (const v of order) {
    const r = await run(v);
    console.log(`${v.padEnd(10)} ${(r.echoes / SECONDS).toFixed(0).padStart(8)} echoes/s  rss ${r.rssMb.toFixed(0)} MiB`);
    results.set(v, [...(results.get(v) ?? []), r.echoes]);
  }
  const mean = (v: Variant) => results.get(v)!.reduce((a, b) => a + b, 0) / results.get(v)!.length;
  const base = mean('baseline');
  for (const v of ['metrics', 'inspect100'] as const) console.log(`${v}: ${(mean(v) / base).toFixed(3)} x baseline throughput`);
}

void main();
