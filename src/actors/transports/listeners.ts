// The listeners beside the plain TCP one: TLS and WebSocket (ws or wss). Each accepted TCP socket is handed
// to the edge at once as a ClientConnection, so every limit counts it from the first byte, per address and
// together with the other transports; the TLS handshake or HTTP upgrade then runs inside the handshake timeout.
import net from 'node:net';
import type { Config, HostPort } from '../../config/schema.js';
import { formatAddress } from '../../config/address.js';
import type { Logger } from '../../log.js';
import type { ClientConnection, TransportName } from './connection.js';
import { TlsCertificates } from './tls-certs.js';
import { TlsConnection } from './tls-connection.js';
import { TlsGateway } from './tls-gateway.js';
import { WsConnection, type WsHost } from './ws-connection.js';
import type { WsGateway } from './ws-gateway.js';

/** What the listeners need of the edge. */
export interface TransportHost {
  readonly config: Config;
  readonly log: Logger;
  /** Admits (or refuses) a new connection: the edge's limits and handshake. */
  acceptConnection(conn: ClientConnection): void;
}

interface Listener {
  name: TransportName;
  server: net.Server;
  bound: HostPort | null;
}

export class Transports {
  readonly #host: TransportHost;
  readonly #listeners: Listener[] = [];
  #certs: TlsCertificates | null = null;
  #goingAway = false;
  /** Loads what the listeners need before they accept (the WebSocket server). */
  #beforeListen: (() => Promise<void>) | null = null;

  constructor(host: TransportHost) {
    this.#host = host;
    const { config } = host;
    const tlsCfg = config.tls;
    const wsCfg = config.websocket;
    const wantTls = tlsCfg !== undefined && tlsCfg.address !== null;
    const wantWs = wsCfg !== undefined && wsCfg.address !== null;
    if (!wantTls && !wantWs) return;
    // Certificates are read now, so that a bad file stops the start with a clear error.
    if (wantTls || wsCfg!.tls) this.#certs = new TlsCertificates(tlsCfg!, host.log);
    const timeoutMs = config.limits.handshakeTimeoutSecs * 1000;
    if (wantTls) {
      const gateway = new TlsGateway(this.#certs!, timeoutMs);
      this.#listen('tls', tlsCfg!.address!, (raw) => {
        const conn = new TlsConnection(raw);
        host.acceptConnection(conn);
        conn.begin(gateway);
      });
    }
    if (wantWs) {
      const ws = wsCfg!;
      // The WebSocket server (the `ws` package) is loaded in start(), only when this listener is on.
      let gateway!: WsGateway;
      this.#beforeListen = async () => {
        const { WsGateway } = await import('./ws-gateway.js');
        gateway = new WsGateway({ path: ws.path, allowedOrigins: ws.allowedOrigins, maxPayload: config.limits.maxFrameSize });
      };
      const self = this;
      const wsHost: WsHost = {
        maxFrame: config.limits.maxFrameSize,
        get goingAway() {
          return self.#goingAway;
        },
        log: host.log,
      };
      if (ws.tls) {
        const tlsGateway = new TlsGateway(this.#certs!, timeoutMs);
        this.#listen('wss', ws.address!, (raw) => {
          const conn = new WsConnection(raw, 'wss', wsHost);
          host.acceptConnection(conn);
          if (conn.destroyed) return;
          tlsGateway.secure(raw, {
            secure: (s) => gateway.begin(conn, s),
            failed: (reason) => conn.fail(reason, 'VL_ERR_TLS'),
          });
        });
      } else {
        this.#listen('ws', ws.address!, (raw) => {
          const conn = new WsConnection(raw, 'ws', wsHost);
          host.acceptConnection(conn);
          gateway.begin(conn, raw);
        });
      }
    }
  }

  #listen(name: TransportName, bound: HostPort, onSocket: (raw: net.Socket) => void): void {
    const server = net.createServer({ noDelay: true });
    server.on('connection', (raw: net.Socket) => {
      try {
        onSocket(raw);
      } catch (err) {
        this.#host.log.error({ transport: name, address: raw.remoteAddress, err: err instanceof Error ? err.stack : String(err) }, 'listener.accept_failed');
        raw.destroy();
      }
    });
    server.on('error', (err) => this.#host.log.error({ transport: name, err: err.message }, 'listener.error'));
    this.#listeners.push({ name, server, bound });
  }

  /** Binds every configured listener; rejects (closing those bound) if one cannot bind. */
  async start(): Promise<void> {
    await this.#beforeListen?.();
    try {
      for (const l of this.#listeners) {
        const want = l.bound!;
        await new Promise<void>((resolve, reject) => {
          const onErr = (e: Error) => reject(new Error(`cannot listen for ${l.name} on ${formatAddress(want)}: ${e.message}`, { cause: e }));
          l.server.once('error', onErr);
          l.server.listen({ host: want.host, port: want.port, backlog: 4096 }, () => {
            l.server.off('error', onErr);
            resolve();
          });
        });
        const a = l.server.address() as net.AddressInfo;
        l.bound = { host: a.address, port: a.port };
        this.#host.log.info({ transport: l.name, address: formatAddress(l.bound) }, 'edge.listening');
      }
    } catch (err) {
      await this.close();
      throw err;
    }
    this.#certs?.watch();
  }

  /** The bound address of a listener, or null when it is off. */
  address(name: TransportName): HostPort | null {
    return this.#listeners.find((l) => l.name === name)?.bound ?? null;
  }

  /** Every bound listener: transport and address. */
  addresses(): Array<{ transport: TransportName; address: HostPort }> {
    return this.#listeners.filter((l) => l.server.listening).map((l) => ({ transport: l.name, address: l.bound! }));
  }

  /** Reads the certificate files again (SIGHUP); true when new certificates apply. */
  reloadCertificates(why = 'SIGHUP'): boolean {
    return this.#certs?.reload(why) ?? false;
  }

  get hasCertificates(): boolean {
    return this.#certs !== null;
  }

  get certificateReloads(): number {
    return this.#certs?.reloads ?? 0;
  }

  /** Stops accepting; open connections are the edge's to end (WebSocket ones with 1001). */
  close(): Promise<void> {
    this.#goingAway = true;
    this.#certs?.close();
    return Promise.all(
      this.#listeners.map((l) => (l.server.listening ? new Promise<void>((resolve) => l.server.close(() => resolve())) : Promise.resolve())),
    ).then(() => undefined);
  }
}
