// The transport seam: what the edge needs of a client connection, whichever transport carries it.
import type { EventEmitter } from 'node:events';

export type TransportName = 'tcp' | 'tls' | 'ws' | 'wss';
export const TRANSPORTS: readonly TransportName[] = ['tcp', 'tls', 'ws', 'wss'];

/** Marks a connection that is not plain TCP with its transport's name. */
export const kTransport = Symbol('voltlane.transport');

/**
 * A client connection as the edge drives it. A plain TCP net.Socket is one as it is (the fast path,
 * untouched); TLS and WebSocket connections provide the same members over their own machinery.
 *
 * - `write` takes u32-framed protocol frames (what a FrameWriter gathers in one turn); `cork`/`uncork`
 *   bracket a batch; `writableLength` is what is written but not yet sent (the backlog).
 * - 'data' events carry u32-framed bytes, in any chunking; 'drain' once the backlog is flushed;
 *   'close' exactly once when the connection is gone (the edge's limits are released then); 'error'.
 * - `pause`/`resume` stop and restart reading; `end` closes after what is queued; `destroy` at once.
 * - `remoteAddress` is the peer's IP address: the key of every per-address limit, whatever the transport.
 */
export interface ClientConnection extends Pick<EventEmitter, 'on' | 'once' | 'off'> {
  readonly remoteAddress?: string | undefined;
  readonly writableLength: number;
  readonly destroyed: boolean;
  write(chunk: Uint8Array): boolean;
  cork(): void;
  uncork(): void;
  pause(): unknown;
  resume(): unknown;
  end(): unknown;
  destroy(): unknown;
  setKeepAlive(enable?: boolean, initialDelay?: number): unknown;
  [kTransport]?: TransportName;
}

/** The transport a connection came in on ('tcp' unless marked). */
export function transportOf(c: ClientConnection): TransportName {
  return c[kTransport] ?? 'tcp';
}
