// Edge addresses for the client: the config's "host:port" grammar (src/config/address.ts) or { host, port },
// with errors as ClientError VL_ERR_BAD_ADDRESS and a port of 1..65535 (a client cannot dial port 0).
import { checkAddress, formatAddress as formatHostPort } from '../config/address.js';
import { ClientError } from './client-errors.js';

export interface EdgeAddress {
  host: string;
  port: number;
}

function checkPort(port: number, input: string): number {
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new ClientError('VL_ERR_BAD_ADDRESS', `address "${input}": port ${port} is outside 1..65535`);
  }
  return port;
}

/** Parses and validates an edge address; throws a ClientError (VL_ERR_BAD_ADDRESS) naming the input. */
export function parseAddress(address: string | EdgeAddress): EdgeAddress {
  if (typeof address === 'object' && address !== null) {
    const { host, port } = address;
    const shown = `${String(host)}:${String(port)}`;
    if (typeof host !== 'string') throw new ClientError('VL_ERR_BAD_ADDRESS', `address "${shown}": host must be a string`);
    if (typeof port !== 'number') throw new ClientError('VL_ERR_BAD_ADDRESS', `address "${shown}": port must be a number`);
    const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
    const checked = checkAddress(formatHostPort({ host: bare, port: 1 }));
    if (typeof checked === 'string') throw new ClientError('VL_ERR_BAD_ADDRESS', `address "${shown}": ${checked}`);
    return { host: checked.host, port: checkPort(port, shown) };
  }
  if (typeof address !== 'string') {
    throw new ClientError('VL_ERR_BAD_ADDRESS', 'address must be a "host:port" string or a { host, port } object');
  }
  const checked = checkAddress(address);
  if (typeof checked === 'string') throw new ClientError('VL_ERR_BAD_ADDRESS', `address "${address}": ${checked}`);
  return { host: checked.host, port: checkPort(checked.port, address) };
}

/** "host:port", with IPv6 literals bracketed, so that parseAddress reads it back. */
export function formatAddress(a: EdgeAddress): string {
  return formatHostPort(a);
}
