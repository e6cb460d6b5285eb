// The connserver.toml the bench writes for the edge it starts: loopback addresses, the defaults, and the
// limits that would refuse the bench's own load raised (BENCHMARKS.md lists them and why).
import net from 'node:net';

export interface BenchEdgeConfig {
  listenPort: number;
  masterPort: number;
  /** clients.missed_packets_buffer_size (0 = the default: off). */
  missedPackets?: number;
  /** The TLS and WebSocket listeners, for runs over those transports. */
  transports?: { tlsPort: number; wsPort: number; certFile: string; keyFile: string };
}

/** The limits the bench raises, with the reason; written as comments into the file too. */
export const RAISED_LIMITS: ReadonlyArray<{ key: string; value: string; default: string; why: string }> = [
  { key: 'limits.max_connections_per_address', value: '1000000', default: '1024', why: 'every bench client dials from 127.0.0.1; (e) and (f) hold 10,000 at once' },
  { key: 'limits.new_connections_per_address_per_sec', value: '1000000', default: '200', why: '(d) opens thousands of sessions a second from one address' },
  { key: 'limits.new_connections_burst', value: '1000000', default: '400', why: '(a), (e) and (f) open 1,000 to 10,000 connections in a burst' },
  { key: 'limits.max_handshakes_in_flight', value: '1000000', default: '4096', why: '(f) reconnects 10,000 sessions at once' },
  { key: 'limits.handshake_timeout_secs', value: '120', default: '10', why: "in (f) the last of 10,000 reconnects waits behind the others' ECDH; slowness must show as time, not as refusals" },
  { key: 'clients.missed_packets_buffer_size', value: '16 (scenario f only)', default: '0', why: '(f) buffers 10 packets per stale session' },
];

export function edgeConfigToml(c: BenchEdgeConfig): string {
  return `# Written by npm run bench. Everything not set here is Voltlane's default.
[general]
log_level = "Warn"

[listener]
address = "127.0.0.1:${c.listenPort}"

[master]
address = "127.0.0.1:${c.masterPort}"

[clients]
missed_packets_buffer_size = ${c.missedPackets ?? 0}

[limits]
${RAISED_LIMITS.filter((l) => l.key.startsWith('limits.'))
  .map((l) => `# default ${l.default}: ${l.why}\n${l.key.slice('limits.'.length)} = ${l.value}`)
  .join('\n')}
${
  c.transports
    ? `
[tls]
address = "127.0.0.1:${c.transports.tlsPort}"
cert_file = ${JSON.stringify(c.transports.certFile)}
key_file = ${JSON.stringify(c.transports.keyFile)}

[websocket]
address = "127.0.0.1:${c.transports.wsPort}"
`
    : ''
}`;
}

/** A free TCP port on 127.0.0.1 (bound and released; the edge binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
