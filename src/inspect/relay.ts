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
  /**
   * Bytes a UI may have unsent before further events to it are dropped (counted). Default 1 MiB. Actor
   * registrations are sent past it; a UI with 4 times this unsent is closed (1008) instead.
   */
  maxBufferedBytes?: number;
  /** On close, how long UIs get to take the last events and answer the close. Default 2 s. */
  closeTimeoutMs?: number;
  /** Events the bridge page holds while the embedded inspector loads (registrations not counted). Default 5000. */
  pageHoldLimit?: number;
  /** The Stately inspector the bridge page embeds. */
  inspectorUrl?: string;
  /** A UI connected: the relay sends it what this returns first (the actors as they are now). */
  onClient?: () => readonly string[];
}

const STATELY_INSPECTOR = 'https://stately.ai/inspect';

/** The bridge page: embeds the Stately inspector and forwards the relay's events to it (bounded while it loads). */
function bridgePage(inspectorUrl: string, holdLimit: number): string {
  const origin = JSON.stringify(inspectorUrl);
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Voltlane: Stately inspector</title>
<style>html,body{height:100%;margin:0}iframe{width:100%;height:100%;border:0}</style></head>
<body><iframe id="inspector" src=${origin}></iframe>
<script>
const frame = document.getElementById('inspector');
// Held until the inspector says it is ready: at most HOLD events besides actor registrations, dropping the oldest
// other events first. A registration is dropped only with its actor's every event, once that actor has ended
// (the UI has nothing to attach to it then); live actors are few (the relay's sample bounds them).
const HOLD = ${holdLimit};
let held = [];
let others = 0;
const ended = new Set();
function hold(ev) {
  held.push(ev);
  if (ev.type === '@xstate.actor') {
    ended.delete(ev.sessionId);
    if (ev.snapshot && ev.snapshot.status && ev.snapshot.status !== 'active') ended.add(ev.sessionId);
  } else {
    others++;
    if (ev.type === '@xstate.snapshot' && ev.snapshot && ev.snapshot.status !== 'active') ended.add(ev.sessionId);
  }
  if (others > HOLD) {
    const i = held.findIndex((e) => e.type !== '@xstate.actor');
    held.splice(i, 1);
    others--;
  }
  if (held.length - others > HOLD) {
    const gone = held.find((e) => e.type === '@xstate.actor' && ended.has(e.sessionId));
    if (gone !== undefined) {
      ended.delete(gone.sessionId);
      held = held.filter((e) => e.sessionId !== gone.sessionId);
      others = held.filter((e) => e.type !== '@xstate.actor').length;
    }
  }
}
let ready = false;
addEventListener('message', (e) => {
  if (e.data && e.data.type === '@statelyai.connected' && !ready) {
    ready = true;
    for (const ev of held) frame.contentWindow.postMessage(ev, '*');
    held = [];
    others = 0;
    ended.clear();
  }
});
const ws = new WebSocket('ws://' + location.host);
ws.onmessage = (m) => {
  const ev = JSON.parse(m.data);
  if (ready) frame.contentWindow.postMessage(ev, '*');
  else hold(ev);
};
</script></body></html>
`;
}

export class InspectRelay {
  readonly #http: http.Server;
  readonly #wss: WebSocketServer;
  readonly #maxBuffered: number;
  readonly #closeTimeoutMs: number;
  readonly #onClient: RelayOptions['onClient'];
  readonly #host: string;
  readonly #port: number;
  /** Messages not sent to a UI because it had too much unsent. */
  dropped = 0;
  sent = 0;
  /** UIs closed because they fell too far behind to keep even the registrations. */
  tooSlow = 0;

  constructor(o: RelayOptions) {
    this.#host = o.host ?? '127.0.0.1';
    this.#port = o.port;
    this.#maxBuffered = o.maxBufferedBytes ?? 1 << 20;
    this.#closeTimeoutMs = o.closeTimeoutMs ?? 2000;
    this.#onClient = o.onClient;
    const page = bridgePage(o.inspectorUrl ?? STATELY_INSPECTOR, o.pageHoldLimit ?? 5000);
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
      for (const msg of this.#onClient?.() ?? []) this.#sendTo(ws, msg, true);
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

  /**
   * Sends one serialized event to every UI that is keeping up. A registration (`@xstate.actor`) also goes to
   * UIs that are behind: without it, that actor's later events would have nothing to attach to.
   */
  broadcast(msg: string, registration = false): void {
    for (const ws of this.#wss.clients) this.#sendTo(ws, msg, registration);
  }

  #sendTo(ws: WebSocket, msg: string, registration: boolean): void {
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > this.#maxBuffered) {
      if (!registration) {
        this.dropped++;
        return;
      }
      if (ws.bufferedAmount > 4 * this.#maxBuffered) {
        // Not reading at all: its memory is bounded by closing it; a UI that reconnects gets every actor anew.
        this.dropped++;
        this.tooSlow++;
        ws.close(1008, 'inspector UI too far behind');
        return;
      }
    }
    this.sent++;
    ws.send(msg);
  }

  /**
   * Closes every UI with 1001 (going away) after what was sent to it, waits up to closeTimeoutMs for their
   * answers (ending the rest), then the server.
   */
  async close(): Promise<void> {
    const clients = [...this.#wss.clients];
    const answered = clients.map((ws) => new Promise<void>((resolve) => (ws.readyState === WebSocket.CLOSED ? resolve() : ws.once('close', () => resolve()))));
    for (const ws of clients) ws.close(1001, 'voltlane edge shutting down');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(answered), new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#closeTimeoutMs)))]);
    clearTimeout(timer);
    for (const ws of clients) ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    const closed = new Promise<void>((resolve) => this.#http.close(() => resolve()));
    this.#http.closeAllConnections();
    await closed;
  }
}
