// The HTTP upgrade of WebSocket connections (an http.Server and a ws server used as parsers, not listening):
// path and Origin checks, ws's own request checks, and every refusal answered with an HTTP status.
import http from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { WsConnection } from './ws-connection.js';

export interface WsGatewayOptions {
  path: string;
  /** Lower-case origins; empty or containing "*": any. */
  allowedOrigins: readonly string[];
  /** Largest message accepted (the client frame cap). */
  maxPayload: number;
}

const kConn = Symbol('voltlane.wsConnection');
type Carrier = Duplex & { [kConn]?: WsConnection };

export class WsGateway {
  readonly #http: http.Server;
  readonly #wss: WebSocketServer;
  readonly #o: WsGatewayOptions;
  readonly #anyOrigin: boolean;

  constructor(o: WsGatewayOptions) {
    this.#o = o;
    this.#anyOrigin = o.allowedOrigins.length === 0 || o.allowedOrigins.includes('*');
    this.#http = http.createServer({ maxHeaderSize: 16 * 1024 });
    this.#wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: o.maxPayload,
      clientTracking: false,
    });
    this.#http.on('upgrade', (req: http.IncomingMessage, socket: Carrier, head: Buffer) => this.#onUpgrade(req, socket, head));
    this.#http.on('request', (req: http.IncomingMessage) => {
      const conn = (req.socket as Carrier)[kConn];
      conn?.rejectUpgrade(426, 'Upgrade Required', `plain HTTP ${req.method ?? ''} request; this port speaks WebSocket`, { Upgrade: 'websocket' });
    });
    this.#http.on('clientError', (err: Error & { code?: string }, socket: Carrier) => {
      const conn = socket[kConn];
      if (conn) conn.rejectUpgrade(400, 'Bad Request', `malformed HTTP request (${err.code ?? err.message})`);
      else socket.destroy();
    });
    // ws's own checks of the upgrade request (method, Upgrade, Sec-WebSocket-Key/Version) come here.
    this.#wss.on('wsClientError', (err: Error, socket: Carrier) => {
      const conn = socket[kConn];
      const status = /method/i.test(err.message) ? 405 : 400;
      if (conn) conn.rejectUpgrade(status, status === 405 ? 'Method Not Allowed' : 'Bad Request', `bad WebSocket upgrade: ${err.message}`, /Version/.test(err.message) ? { 'Sec-WebSocket-Version': '13' } : {});
      else socket.destroy();
    });
  }

  /** Parses the upgrade request arriving on `stream` and completes it for `conn`. */
  begin(conn: WsConnection, stream: net.Socket): void {
    conn.setStream(stream);
    if (conn.destroyed) return;
    (stream as Carrier)[kConn] = conn;
    this.#http.emit('connection', stream);
  }

  #onUpgrade(req: http.IncomingMessage, socket: Carrier, head: Buffer): void {
    const conn = socket[kConn];
    if (!conn || conn.destroyed) {
      socket.destroy();
      return;
    }
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path !== this.#o.path) {
      conn.rejectUpgrade(404, 'Not Found', `WebSocket upgrade on path ${JSON.stringify(path.slice(0, 200))}; this edge serves ${this.#o.path}`);
      return;
    }
    const origin = req.headers.origin;
    if (!this.#anyOrigin && origin !== undefined && !this.#o.allowedOrigins.includes(origin.toLowerCase())) {
      conn.rejectUpgrade(403, 'Forbidden', `WebSocket upgrade from origin ${JSON.stringify(origin.slice(0, 200))}, not in websocket.allowed_origins`);
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => conn.attach(ws));
  }
}
