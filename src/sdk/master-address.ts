// Parses the address a master listens on: the config's "host:port" grammar (src/config/address.ts),
// a bare port (every interface), or {host, port}.
import { checkAddress, formatAddress as formatHostPort } from '../config/address.js';

/** Where a master listens. `host` undefined means every interface, as with net.Server.listen(port). */
export interface ListenAddress {
  host: string | undefined;
  port: number;
}

function parsePort(raw: string | number, input: unknown): number {
  const port = typeof raw === 'number' ? raw : /^[0-9]{1,5}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`voltlane/master: invalid port in listen address ${JSON.stringify(input)}: expected an integer 0..65535`);
  }
  return port;
}

/** Normalises a listen address; a number or a digits-only string is a port on every interface. */
export function parseListenAddress(address: string | number | { host: string; port: number }): ListenAddress {
  if (typeof address === 'number') return { host: undefined, port: parsePort(address, address) };
  if (typeof address === 'object' && address !== null) {
    const { host, port } = address;
    if (typeof host !== 'string' || host.length === 0) {
      throw new TypeError(`voltlane/master: listen address host must be a non-empty string, got ${JSON.stringify(host)}`);
    }
    const bare = host.length >= 2 && host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
    return { host: bare, port: parsePort(port, address) };
  }
  if (typeof address !== 'string') {
    throw new TypeError(`voltlane/master: listen address must be "host:port", a port number or {host, port}, got ${typeof address}`);
  }
  if (/^[0-9]+$/.test(address)) return { host: undefined, port: parsePort(address, address) };
  const checked = checkAddress(address);
  if (typeof checked === 'string') {
    throw new TypeError(`voltlane/master: listen address ${JSON.stringify(address)}: ${checked}; expected "host:port" or "[::1]:port"`);
  }
  return checked;
}

/** "host:port", with IPv6 hosts in brackets. */
export function formatAddress(host: string, port: number): string {
  return formatHostPort({ host, port });
}
