// `voltlane demo --browser [ADDR]`: an edge with a WebSocket listener, an echo master that also sends a tick
// every second, and a page at http://ADDR/ where the browser build of voltlane/client talks to them: send
// lines, watch the echoes, drop the connection and see the session resume with the missed ticks replayed.
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { Edge } from '../actors/edge.js';
import { DEFAULT_CONFIG, parseAddress, type Config } from '../config/index.js';
import { generateKeyPair } from '../io/crypto.js';
import { createLogger } from '../log.js';
import { createEchoHandler, listen } from '../sdk/master.js';

/** The browser build: beside dist/cli when installed, or in dist/ when this runs from the sources (tests). */
const BUNDLES = [new URL('../browser/voltlane-client.js', import.meta.url), new URL('../../dist/browser/voltlane-client.js', import.meta.url)];

const PAGE = (wsUrl: string): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Voltlane in the browser</title>
<style>
body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 46rem; color: #222; }
#log { border: 1px solid #ccc; height: 20rem; overflow-y: auto; padding: .5rem; font: 13px/1.4 ui-monospace, monospace; }
.sys { color: #07c; } .err { color: #c00; }
form { display: flex; gap: .5rem; margin: .8rem 0; } input { flex: 1; padding: .3rem; }
</style></head><body>
<h1>Voltlane in the browser</h1>
<p>This page runs <code>voltlane/client</code> (its browser build, one ES module) over WebSocket to
<code>${wsUrl}</code>. The echo master answers every line and sends a tick every second. Drop the
connection: the edge keeps the session stale and buffers the ticks, the client resumes by itself
(ECDH challenge) and gets the missed ticks first, in order.</p>
<form id="f"><input id="msg" placeholder="a line to send" autofocus><button>Send</button>
<button type="button" id="drop">Drop connection</button></form>
<div id="log"></div>
<script type="module">
import { connect } from '/voltlane-client.js';
const log = document.getElementById('log');
const line = (text, cls = '') => {
  const d = document.createElement('div');
  d.textContent = new Date().toISOString().slice(11, 23) + '  ' + text;
  d.className = cls;
  log.append(d);
  log.scrollTop = log.scrollHeight;
};
// Keep the sockets this page opens, so that "Drop connection" can cut them as a network failure would.
const Real = WebSocket;
const sockets = new Set();
window.WebSocket = class extends Real {
  constructor(url, protocols) { super(url, protocols); sockets.add(this); this.addEventListener('close', () => sockets.delete(this)); }
};
const saved = JSON.parse(sessionStorage.getItem('voltlane') || 'null');
let client;
try {
  client = await connect(${JSON.stringify(wsUrl)}, saved ? { resume: saved } : {});
} catch (e) {
  line('could not resume (' + e.message + '); starting a new session', 'err');
  client = await connect(${JSON.stringify(wsUrl)});
}
sessionStorage.setItem('voltlane', JSON.stringify(client.resumeState()));
line((saved ? 'resumed session ' : 'new session ') + client.id + ' (reload the page: it resumes the same one)', 'sys');
client.on('message', (m) => line('<- ' + new TextDecoder().decode(m)));
client.on('disconnected', (why) => line('disconnected (' + why + '), resuming...', 'sys'));
client.on('resumed', () => line('resumed session ' + client.id + '; missed packets follow, in order', 'sys'));
client.on('failed', (e) => line('failed: ' + e.message, 'err'));
document.getElementById('f').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = document.getElementById('msg');
  if (!input.value) return;
  client.send(input.value);
  line('-> ' + input.value);
  input.value = '';
});
document.getElementById('drop').addEventListener('click', () => { for (const s of sockets) s.close(); });
</script></body></html>
`;

export interface BrowserDemo {
  /** The page's URL. */
  url: string;
  stop(): Promise<void>;
}

/** Runs until SIGINT/SIGTERM. `address`: where the page is served (default 127.0.0.1:42090). */
export async function runBrowserDemo(address = '127.0.0.1:42090'): Promise<void> {
  const demo = await startBrowserDemo(address);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await demo.stop();
}

/** Starts the edge, the echo master and the page server; `logLevel` is the edge's (default info). */
export async function startBrowserDemo(
  address = '127.0.0.1:42090',
  o: { out?: (line: string) => void; logLevel?: 'off' | 'info' } = {},
): Promise<BrowserDemo> {
  const out = o.out ?? ((text: string) => process.stdout.write(`${new Date().toISOString().slice(11, 23)} DEMO  ${text}\n`));
  const found = BUNDLES.find((u) => existsSync(u));
  if (!found) throw new Error(`the browser build is missing (${BUNDLES[0]!.pathname}); run npm run build`);
  const bundle = readFileSync(found);
  const pageAddr = parseAddress(address, 'demo --browser');
  const master = await listen('127.0.0.1:0');
  createEchoHandler(master);
  const known = new Set<bigint>();
  master.on('data', (id) => known.add(id));
  master.on('reconnection', (id) => out(`master: Reconnection for client ${id}`));
  master.on('failure', (id, reason) => {
    known.delete(id);
    out(`master: Failure for client ${id}: ${reason}`);
  });
  let tick = 0;
  const ticker = setInterval(() => {
    tick++;
    for (const id of known) master.send(id, `tick ${tick}`);
  }, 1000);
  const config: Config = {
    ...DEFAULT_CONFIG,
    listener: { address: { host: '127.0.0.1', port: 0 } },
    master: { ...DEFAULT_CONFIG.master, address: master.address },
    clients: { ...DEFAULT_CONFIG.clients, missedPacketsBufferSize: 64, staleTimeoutSecs: 60, staleReapIntervalSecs: 1 },
    websocket: { address: { host: pageAddr.host, port: 0 }, path: '/', tls: false, allowedOrigins: [] },
  };
  const edge = new Edge({ config, keyPair: generateKeyPair(), log: createLogger({ level: o.logLevel ?? 'info', format: 'pretty' }) });
  await edge.start();
  const ws = edge.transports.address('ws')!;
  const wsUrl = `ws://${ws.host.includes(':') ? `[${ws.host}]` : ws.host}:${ws.port}/`;
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    if (req.url === '/voltlane-client.js') res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(bundle);
    else if (req.url === '/' || req.url?.startsWith('/?')) res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(PAGE(wsUrl));
    else res.writeHead(404).end();
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(pageAddr.port, pageAddr.host, () => resolve());
  });
  const bound = server.address() as net.AddressInfo;
  const url = `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}/`;
  out(`open ${url} in a browser (the edge's WebSocket listener is ${wsUrl}); Ctrl-C stops`);
  return {
    url,
    async stop() {
      clearInterval(ticker);
      for (const s of sockets) s.destroy();
      server.close();
      await edge.stop();
      await master.close();
    },
  };
}
