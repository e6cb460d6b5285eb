// A client connection over TLS: the raw TCP socket until the TLS handshake is done, then the secure socket.
// Accepted (and counted by the edge's limits) at TCP accept, so the handshake timeout covers the TLS handshake.
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import type tls from 'node:tls';
import { kPending, type PendingSocket } from '../handshake.js';
import { kTransport, type ClientConnection, type TransportName } from './connection.js';
import type { TlsGateway } from './tls-gateway.js';

function noop(): void {}

export class TlsConnection extends EventEmitter implements ClientConnection {
  readonly remoteAddress: string | undefined;
  readonly [kTransport]: TransportName = 'tls';
  readonly #raw: net.Socket;
  #tls: tls.TLSSocket | null = null;
  #destroyed = false;
  #closed = false;
  #paused = false;

  constructor(raw: net.Socket) {
    super();
    this.#raw = raw;
    this.remoteAddress = raw.remoteAddress;
    raw.on('error', noop);
    raw.once('close', () => this.#onClose());
  }

  /** The peer's certificate, when client certificates are asked for. */
  get peerCertificate(): tls.PeerCertificate | null {
    return this.#tls?.getPeerCertificate() ?? null;
  }

  /** Runs the TLS handshake (after the edge admitted the connection). */
  begin(gateway: TlsGateway): void {
    if (this.#destroyed) return;
    gateway.secure(this.#raw, {
      secure: (s) => this.#attach(s),
      failed: (reason) => (this as PendingSocket & this)[kPending]?.fail(reason, 'VL_ERR_TLS'),
    });
  }

  #attach(s: tls.TLSSocket): void {
    if (this.#destroyed) {
      s.destroy();
      return;
    }
    this.#tls = s;
    s.on('error', noop);
    s.on('data', (chunk: Buffer) => this.emit('data', chunk));
    s.on('drain', () => this.emit('drain'));
    s.once('close', () => this.#onClose());
    if (this.#paused) s.pause();
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#destroyed = true;
    this.#tls?.destroy();
    this.emit('close');
  }

  get writableLength(): number {
    return this.#tls?.writableLength ?? 0;
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  write(chunk: Uint8Array): boolean {
    const s = this.#tls;
    if (!s || this.#destroyed) return false;
    return s.write(chunk);
  }

  cork(): void {
    this.#tls?.cork();
  }

  uncork(): void {
    this.#tls?.uncork();
  }

  pause(): this {
    this.#paused = true;
    this.#tls?.pause();
    return this;
  }

  resume(): this {
    this.#paused = false;
    this.#tls?.resume();
    return this;
  }

  end(): this {
    if (this.#destroyed) return this;
    if (this.#tls) this.#tls.end();
    else this.destroy();
    return this;
  }

  destroy(): this {
    if (this.#destroyed) return this;
    this.#destroyed = true;
    if (this.#tls) this.#tls.destroy();
    this.#raw.destroy();
    return this;
  }

  setKeepAlive(enable?: boolean, initialDelay?: number): this {
    this.#raw.setKeepAlive(enable, initialDelay);
    return this;
  }
}
