// Parses and prints "host:port" addresses: IPv4, hostnames, "[::1]:42000" and the
// bracketless "::1:42000" form of the original (IPv6 is split at its LAST colon).
import { isIP, isIPv4, isIPv6 } from 'node:net';

export interface HostPort {
  host: string;
  port: number;
}

/** The forms we accept, quoted in every address error. */
export const ADDRESS_FORMS =
  'host:port, e.g. 127.0.0.1:42000, [::1]:42000, ::1:42000 or example.com:6969 (port 0 to 65535)';

/** Thrown by parseAddress; the config loader reports the same problems as ConfigError. */
export class AddressError extends Error {
  readonly code = 'VL_ERR_ADDRESS';
  readonly key: string | undefined;
  readonly input: string;

  constructor(input: string, problem: string, key?: string) {
    const subject = key === undefined ? 'address' : `${key}`;
    super(`invalid ${subject} ${JSON.stringify(input)}: ${problem}; expected ${ADDRESS_FORMS}`);
    this.name = 'AddressError';
    this.key = key;
    this.input = input;
  }
}

const PORT = /^[0-9]{1,5}$/;
const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/**
 * Checks `input` without throwing: the parsed address, or a short phrase saying
 * what is wrong with it (e.g. "the port 70000 is above 65535").
 */
export function checkAddress(input: string): HostPort | string {
  if (input.length === 0) return 'it is empty';
  if (/\s/.test(input)) return 'it contains whitespace';

  let host: string;
  let portText: string;
  if (input.startsWith('[')) {
    const close = input.indexOf(']');
    if (close < 0) return 'the "[" of an IPv6 address is never closed';
    host = input.slice(1, close);
    const rest = input.slice(close + 1);
    if (!rest.startsWith(':')) return 'a port must follow "]", as in [::1]:42000';
    portText = rest.slice(1);
    if (!isIPv6(host)) return `${JSON.stringify(host)} inside brackets is not an IPv6 address`;
  } else {
    const colon = input.lastIndexOf(':');
    if (colon < 0) return 'it has no port';
    host = input.slice(0, colon);
    portText = input.slice(colon + 1);
    if (host.length === 0) return 'the host is missing';
    const problem = hostProblem(host);
    if (problem !== undefined) return problem;
  }

  if (portText.length === 0) return 'the port is missing';
  if (!PORT.test(portText)) return `the port ${JSON.stringify(portText)} is not a whole number`;
  const port = Number(portText);
  if (port > 65535) return `the port ${port} is above 65535`;
  return { host, port };
}

/** Parses "host:port"; throws AddressError naming `key` (e.g. "listener.address"). */
export function parseAddress(s: string, key?: string): HostPort {
  const result = checkAddress(s);
  if (typeof result === 'string') throw new AddressError(s, result, key);
  return result;
}

/** Prints an address back: "127.0.0.1:42000", "[::1]:42000", "example.com:80". */
export function formatAddress(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

function hostProblem(host: string): string | undefined {
  if (host.includes(':')) {
    return isIPv6(host) ? undefined : `${JSON.stringify(host)} is not an IPv6 address`;
  }
  if (isIP(host) !== 0) return undefined;
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  if (name.length === 0 || name.length > 253) {
    return `${JSON.stringify(host)} is not a valid host name`;
  }
  const labels = name.split('.');
  if (!labels.every((label) => LABEL.test(label))) {
    return `${JSON.stringify(host)} is not a valid host name or IP address`;
  }
  // A name whose last label is all digits can only be an IPv4 address, and isIPv4 said no.
  if (/^[0-9]+$/.test(labels[labels.length - 1] ?? '') && !isIPv4(host)) {
    return `${JSON.stringify(host)} is not a valid IPv4 address`;
  }
  return undefined;
}
