// Edge addresses for the client: "host:port", "[v6]:port" or "v6:port" (split at the last colon), or { host, port }.
import { ClientError } from './client-errors.js';

export interface EdgeAddress {
  host: string;
  port: number;
}

function parsePort(text: string, input: string): number {
  if (!/^\d{1,5}$/.test(text)) {
    throw new ClientError('VL_ERR_BAD_ADDRESS', `address "${input}": port "${text}" is not a number`);
  }
  return checkPort(Number(text), input);
}

function checkPort(port: number, input: string): number {
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new ClientError('VL_ERR_BAD_ADDRESS', `address "${input}": port ${port} is outside 1..65535`);
  }
  return port;
}

function checkHost(host: string, input: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare.length === 0 || /[\s\[\]]/.test(bare)) {
    throw new ClientError('VL_ERR_BAD_ADDRESS', `address "${input}": "${host}" is not a host name or IP address`);
  }
  return bare;
}

/** Parses and validates an edge address; throws a ClientError (VL_ERR_BAD_ADDRESS) naming the input. */
export function parseAddress(address: string | EdgeAddress): EdgeAddress {
  if (typeof address === 'object' && address !== null) {
    const { host, port } = address;
    const shown = `${String(host)}:${String(port)}`;
    if (typeof host !== 'string') throw new ClientError('VL_ERR_BAD_ADDRESS', `address "${shown}": host must be a string`);
    if (typeof port !== 'number') throw new ClientError('VL_ERR_BAD_ADDRESS', `address "${shown}": port must be a number`);
    return { host: checkHost(host, shown), port: checkPort(port, shown) };
  }
  if (typeof address !== 'string') {
    throw new ClientError('VL_ERR_BAD_ADDRESS', 'address must be a "host:port" string or a { host, port } object');
  }
  const bracketed = /^\[([^\]]*)\]:([^:]*)$/.exec(address);
  if (bracketed) return { host: checkHost(bracketed[1]!, address), port: parsePort(bracketed[2]!, address) };
  const colon = address.lastIndexOf(':');
  if (colon < 0) throw new ClientError('VL_ERR_BAD_ADDRESS', `address "${address}" has no ":port"`);
  return { host: checkHost(address.slice(0, colon), address), port: parsePort(address.slice(colon + 1), address) };
}

/** "host:port", with IPv6 literals bracketed, so that parseAddress reads it back. */
export function formatAddress(a: EdgeAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
