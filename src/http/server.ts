// The status server: /metrics (Prometheus), /healthz, /readyz, /status.json and the status page at /.
// Off by default; meant for loopback. Read-only: every route is a GET of state computed at request time.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Edge } from '../actors/edge.js';
import type { HostPort } from '../config/schema.js';
import { describeMachine, type MachineInfo } from '../machines/describe.js';
import { sessionMachine } from '../machines/session.js';
import type { InspectorStats } from '../inspect/inspector.js';
import { readiness } from './health.js';
import { LifecycleRecorder } from './lifecycle.js';
import { EdgeMetrics, scanSessions } from './metrics.js';
import { STATUS_PAGE } from './page.js';
import { edgeSettings } from './settings.js';

export interface StatusServerOptions {
  edge: Edge;
  /** The recorder the edge reports to (EdgeOptions.onLifecycle = lifecycle.record). */
  lifecycle: LifecycleRecorder;
  address: HostPort;
  inspector?: () => InspectorStats;
}

let machineInfo: MachineInfo | null = null;

export class StatusServer {
  readonly metrics: EdgeMetrics;
  readonly #edge: Edge;
  readonly #lifecycle: LifecycleRecorder;
  readonly #address: HostPort;
  readonly #server: http.Server;

  constructor(o: StatusServerOptions) {
    this.#edge = o.edge;
    this.#lifecycle = o.lifecycle;
    this.#address = o.address;
    this.metrics = new EdgeMetrics({ edge: o.edge, lifecycle: o.lifecycle, ...(o.inspector ? { inspector: o.inspector } : {}) });
    this.#server = http.createServer((req, res) => {
      this.#route(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`internal error: ${err instanceof Error ? err.message : String(err)}\n`);
      });
    });
    this.#server.keepAliveTimeout = 5_000;
    this.#server.headersTimeout = 10_000;
    this.#server.requestTimeout = 10_000;
  }

  /** Binds; rejects with the listen error. Resolves with the URL of the status page. */
  async start(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ host: this.#address.host, port: this.#address.port }, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    return this.url;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  get url(): string {
    const a = this.#server.address() as AddressInfo;
    return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/`;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }

  async #route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    const noStore = { 'cache-control': 'no-store' };
    switch (path) {
      case '/metrics':
        res.writeHead(200, { 'content-type': this.metrics.contentType, ...noStore }).end(await this.metrics.text());
        return;
      case '/healthz':
        res.writeHead(200, { 'content-type': 'text/plain', ...noStore }).end('ok\n');
        return;
      case '/readyz': {
        const r = readiness(this.#edge);
        res.writeHead(r.ok ? 200 : 503, { 'content-type': 'text/plain', ...noStore }).end(r.ok ? 'ready\n' : `not ready: ${r.reason}\n`);
        return;
      }
      case '/status.json':
        res.writeHead(200, { 'content-type': 'application/json', ...noStore }).end(JSON.stringify(this.status()));
        return;
      case '/':
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', ...noStore }).end(STATUS_PAGE);
        return;
      default:
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /, /metrics, /healthz, /readyz\n');
    }
  }

  /** What the status page shows. */
  status(): Record<string, unknown> {
    const edge = this.#edge;
    const stats = edge.stats();
    const traffic = edge.traffic();
    const scan = scanSessions(edge);
    const c = edge.counters;
    const reaped = [...this.#lifecycle.reaps.values()].reduce((a, n) => a + n, 0);
    return {
      master: { state: edge.masterState, lastError: edge.supervisor.getSnapshot().context.lastError, reconnects: traffic.masterReconnects },
      ready: readiness(edge),
      totalSessions: stats.sessions,
      handshaking: stats.handshaking,
      sessions: scan.byState,
      totals: {
        sessionsOpened: c.sessionsOpened,
        resumes: c.resumes,
        resumesFailed: c.resumesFailed,
        reaped,
        failuresSent: c.failuresSent,
        kicks: c.kicks,
        refused: c.refused,
        replayBufferPackets: scan.missedPackets,
        packetsToMaster: traffic.packetsToMaster,
        packetsFromMaster: traffic.packetsFromMaster,
      },
      lastMinute: this.#lifecycle.lastMinute(),
      recent: this.#lifecycle.recent(),
      machine: (machineInfo ??= describeMachine(sessionMachine)),
      // What the edge runs with now (not what its file says): tools that must agree with it compare these.
      settings: edgeSettings(edge.config),
    };
  }
}
