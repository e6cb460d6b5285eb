// The running edge's settings as /status.json reports them (`settings`), by dotted config key: what a tool that
// must agree with the edge (voltlane fuzz) compares against, rather than trusting a file the edge may not have read.
import { formatAddress, type Config } from '../config/index.js';

/** Dotted config key -> the value the edge runs with (addresses as host:port). */
export type EdgeSettings = Record<string, number | string | null>;

export function edgeSettings(c: Config): EdgeSettings {
  return {
    'listener.address': formatAddress(c.listener.address),
    'master.address': formatAddress(c.master.address),
    'master.reconnect_min_ms': c.master.reconnectMinMs,
    'master.reconnect_max_ms': c.master.reconnectMaxMs,
    'clients.stale_timeout_secs': c.clients.staleTimeoutSecs,
    'clients.stale_reap_interval_secs': c.clients.staleReapIntervalSecs,
    'clients.missed_packets_buffer_size': c.clients.missedPacketsBufferSize,
    'clients.missed_packets_buffer_bytes': c.clients.missedPacketsBufferBytes,
    'clients.max_stale_clients': c.clients.maxStaleClients,
    'limits.max_frame_size': c.limits.maxFrameSize,
    'limits.max_connections_per_address': c.limits.maxConnectionsPerAddress,
    'limits.new_connections_per_address_per_sec': c.limits.newConnectionsPerAddressPerSec,
    'limits.new_connections_burst': c.limits.newConnectionsBurst,
    'limits.failed_resumes_per_address_per_min': c.limits.failedResumesPerAddressPerMin,
    'http.address': c.http?.address ? formatAddress(c.http.address) : null,
  };
}
