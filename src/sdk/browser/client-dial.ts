// The browser's client-dial: WebSocket only (ws:// and wss://), through the browser's own WebSocket and TLS.
import { ClientError } from '../client-errors.js';
import { webSocketUrl, type EdgeAddress } from '../client-address.js';
import type { TlsClientOptions } from '../client-options.js';
import { WsSocket, type WebSocketLike } from '../client-ws-socket.js';
import type { Dialed } from '../client-dial.js';

export function openSocket(addr: EdgeAddress, _tls: TlsClientOptions, _maxFrameSize: number): Dialed {
  const scheme = addr.scheme ?? 'tcp';
  if (scheme !== 'ws' && scheme !== 'wss') {
    throw new ClientError('VL_ERR_BAD_ADDRESS', `a browser reaches the edge over WebSocket only: use ws:// or wss://, not ${scheme}://`);
  }
  const Ctor = (globalThis as unknown as { WebSocket: new (url: string) => WebSocketLike }).WebSocket;
  return { socket: new WsSocket(new Ctor(webSocketUrl(addr))) as unknown as Dialed['socket'], readyEvent: 'connect' };
}
