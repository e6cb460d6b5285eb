// Runs the TLS handshake on accepted TCP sockets (a tls.Server used as a handshake engine, not listening),
// with the current certificates, and hands back the secure socket or the reason it failed.
import type net from 'node:net';
import tls from 'node:tls';
import type { TlsCertificates } from './tls-certs.js';

interface Waiting {
  secure(s: tls.TLSSocket): void;
  failed(reason: string): void;
}

function keyOf(s: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string {
  return `${s.remoteAddress ?? ''}|${s.remotePort ?? 0}`;
}

export class TlsGateway {
  readonly #server: tls.Server;
  /** Sockets in their TLS handshake, by remote address and port (unique among open connections). */
  readonly #waiting = new Map<string, Waiting>();

  constructor(certs: TlsCertificates, handshakeTimeoutMs: number) {
    this.#server = tls.createServer({
      ...certs.options,
      requestCert: certs.requestCert,
      rejectUnauthorized: true,
      handshakeTimeout: handshakeTimeoutMs,
    });
    certs.onReload((o) => this.#server.setSecureContext(o));
    this.#server.on('secureConnection', (s: tls.TLSSocket) => {
      const key = keyOf(s);
      const w = this.#waiting.get(key);
      if (!w) {
        s.destroy();
        return;
      }
      this.#waiting.delete(key);
      w.secure(s);
    });
    this.#server.on('tlsClientError', (err: Error & { code?: string }, s: tls.TLSSocket) => {
      const key = keyOf(s);
      const w = this.#waiting.get(key);
      if (!w) return;
      this.#waiting.delete(key);
      w.failed(`TLS handshake failed: ${err.code ?? err.message}`);
    });
  }

  /** Starts the TLS handshake on `raw`; exactly one of the callbacks runs unless `raw` closes first. */
  secure(raw: net.Socket, w: Waiting): void {
    const key = keyOf(raw);
    this.#waiting.set(key, w);
    raw.once('close', () => {
      if (this.#waiting.get(key) === w) this.#waiting.delete(key);
    });
    this.#server.emit('connection', raw);
  }
}
