// The local inspector relay: an HTTP + WebSocket server on loopback that streams inspection events to every
// connected inspector UI (the Stately inspector bridge page it serves, or any WebSocket client).
// Like @statelyai/inspect/server, but loopback-only, port 0 allowed, listen errors reported, slow UIs skipped.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';

export interface RelayOptions {
  /** Loopback host to bind; default 127.0.0.1. */
  host?: string;
  /** Port; 0 picks a free one. */
  port: number;
  /** Bytes a UI may have unsent before further events to it are dropped (counted). Default 1 MiB. */
  maxBufferedBytes?: number;
  /** The Stately inspector the bridge page embeds. */
  inspectorUrl?: string;
  /** A UI connected: the relay sends it what this returns first (the actors as they are now). */
  onClient?: () => readonly string[];
}

const STATELY_INSPECTOR = 'https://stately.ai/inspect';

/** The bridge page: embeds the Stately inspector and forwards the relay's events to it (bounded while it loads). */
function bridgePage(inspectorUrl: string): string {
  const origin = JSON.stringify(inspectorUrl);
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Voltlane: Stately inspector</title>
<style>html,body{height:100%;margin:0}iframe{width:100%;height:100%;border:0}</style></head>
<body><iframe id="inspector" src=${origin}></iframe>
<script>
const frame = document.getElementById('inspector');
const held = [];
let ready = false;
addEventListener('message', (e) => {
  if (e.data && e.data.type === '@statelyai.connected') {
    ready = true;
    for (const ev of held.splice(0)) frame.contentWindow.postMessage(ev, '*');
  }
});
const ws = new WebSocket('ws://' + location.host);
ws.onmessage = (m) => {
  const ev = JSON.parse(m.data);
  if (ready) frame.contentWindow.postMessage(ev, '*');
  else if (held.push(ev) > 5000) held.shift();
};
</script></body></html>
`;
}

export class InspectRelay {
  readonly #http: http.Server;
  readonly #wss: WebSocketServer;
  readonly #maxBuffered: number;
  readonly #onClient: RelayOptions['onClient'];
  readonly #host: string;
  readonly #port: number;
  /** Messages not sent to a UI because it had too much unsent. */
  dropped = 0;
  sent = 0;

  constructor(o: RelayOptions) {
    this.#host = o.host ?? '127.0.0.1';
    this.#port = o.port;
    this.#maxBuffered = o.maxBufferedBytes ?? 1 << 20;
    this.#onClient = o.onClient;
    const page = bridgePage(o.inspectorUrl ?? STATELY_INSPECTOR);
    this.#http = http.createServer((req, res) => {
      if (req.method !== 'GET' || (req.url !== '/' && !req.url?.startsWith('/?'))) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(page);
    });
    // UIs only listen; what they send is read and ignored, with a small cap.
    this.#wss = new WebSocketServer({ server: this.#http, maxPayload: 64 * 1024 });
    this.#wss.on('connection', (ws) => {
      ws.on('error', () => ws.terminate());
      for (const msg of this.#onClient?.() ?? []) this.#sendTo(ws, msg);
    });
    this.#wss.on('error', () => {});
  }

  /** Binds the relay; rejects with the listen error (e.g. EADDRINUSE). Resolves with the page's URL. */
  async start(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.#http.once('error', reject);
      this.#http.listen({ host: this.#host, port: this.#port }, () => {
        this.#http.off('error', reject);
        resolve();
      });
    });
    return this.url;
  }

  get port(): number {
    return (this.#http.address() as AddressInfo).port;
  }

  /** The bridge page to open in a browser. */
  get url(): string {
    const host = this.#host.includes(':') ? `[${this.#host}]` : this.#host;
    return `http://${host}:${this.port}/`;
  }

  get clients(): number {
    return this.#wss.clients.size;
  }

  /** Sends one serialized event to every UI that is keeping up. */
  broadcast(msg: string): void {
    for (const ws of this.#wss.clients) this.#sendTo(ws, msg);
  }

  #sendTo(ws: WebSocket, msg: string): void {
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > this.#maxBuffered) {
      this.dropped++;
      return;
    }
    this.sent++;
    ws.send(msg);
  }

  async close(): Promise<void> {
    for (const ws of this.#wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    const closed = new Promise<void>((resolve) => this.#http.close(() => resolve()));
    this.#http.closeAllConnections();
    await closed;
  }
}
