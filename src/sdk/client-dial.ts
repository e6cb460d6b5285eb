// Opens the byte stream to the edge for an address's scheme, in Node: tcp (net), tls (node:tls), ws and
// wss (the `ws` package). The browser build swaps this module for client-dial-browser.ts.
import net from 'node:net';
import tls from 'node:tls';
import { WebSocket } from 'ws';
import { webSocketUrl, type EdgeAddress } from './client-address.js';
import type { TlsClientOptions } from './client-options.js';
import { WsSocket } from './client-ws-socket.js';

/** The stream a Link runs on: a net.Socket, a TLS socket or a WsSocket. */
export interface LinkSocket {
  readonly destroyed: boolean;
  readonly writableLength: number;
  write(chunk: Uint8Array): boolean;
  cork(): void;
  uncork(): void;
  pause(): unknown;
  resume(): unknown;
  end(): unknown;
  destroy(): unknown;
  setNoDelay(noDelay?: boolean): unknown;
  setKeepAlive(enable?: boolean, initialDelay?: number): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  on(event: string, listener: (...args: any[]) => void): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  once(event: string, listener: (...args: any[]) => void): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  off(event: string, listener: (...args: any[]) => void): unknown;
}

export interface Dialed {
  socket: LinkSocket;
  /** The event that says the stream is ready for the protocol. */
  readyEvent: 'connect' | 'secureConnect';
}

function pem(x: string | Uint8Array): string | Buffer {
  return typeof x === 'string' ? x : Buffer.from(x.buffer, x.byteOffset, x.byteLength);
}

export function openSocket(addr: EdgeAddress, t: TlsClientOptions, maxFrameSize: number): Dialed {
  const scheme = addr.scheme ?? 'tcp';
  const secure = {
    ...(t.ca !== undefined ? { ca: Array.isArray(t.ca) ? t.ca.map(pem) : pem(t.ca) } : {}),
    ...(t.cert !== undefined ? { cert: pem(t.cert) } : {}),
    ...(t.key !== undefined ? { key: pem(t.key) } : {}),
    ...(t.servername !== undefined ? { servername: t.servername } : net.isIP(addr.host) === 0 ? { servername: addr.host } : {}),
    minVersion: 'TLSv1.2' as const,
  };
  if (scheme === 'tcp') return { socket: net.connect({ host: addr.host, port: addr.port }), readyEvent: 'connect' };
  if (scheme === 'tls') return { socket: tls.connect({ host: addr.host, port: addr.port, ...secure }), readyEvent: 'secureConnect' };
  const ws = new WebSocket(webSocketUrl(addr), {
    perMessageDeflate: false,
    maxPayload: maxFrameSize,
    ...(scheme === 'wss' ? secure : {}),
  });
  return { socket: new WsSocket(ws as unknown as ConstructorParameters<typeof WsSocket>[0]), readyEvent: 'connect' };
}
