// Edge addresses for the client: "host:port" or "tcp://host:port" (plain TCP), "tls://host:port",
// "ws://host[:port][/path]" and "wss://host[:port][/path]", or { host, port, scheme?, path? }; errors are
// ClientError VL_ERR_BAD_ADDRESS naming the input, and a port must be 1..65535 (a client cannot dial port 0).
import { checkAddress, formatAddress as formatHostPort } from '../config/address.js';
import { ClientError } from './client-errors.js';

/** How the client reaches the edge: plain TCP (the default), TLS, WebSocket or WebSocket over TLS. */
export type EdgeScheme = 'tcp' | 'tls' | 'ws' | 'wss';

export interface EdgeAddress {
  host: string;
  port: number;
  /** Absent: "tcp". */
  scheme?: EdgeScheme;
  /** ws and wss only: the path of the upgrade request (with any query), default "/". */
  path?: string;
}

const SCHEMES: readonly EdgeScheme[] = ['tcp', 'tls', 'ws', 'wss'];
const DEFAULT_PORTS: Partial<Record<EdgeScheme, number>> = { ws: 80, wss: 443 };

function bad(input: string, problem: string): ClientError {
  return new ClientError('VL_ERR_BAD_ADDRESS', `address "${input}": ${problem}`);
}

function checkPort(port: number, input: string): number {
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw bad(input, `port ${port} is outside 1..65535`);
  return port;
}

function checkScheme(scheme: unknown, input: string): EdgeScheme {
  const s = typeof scheme === 'string' ? scheme.toLowerCase() : scheme;
  if (!SCHEMES.includes(s as EdgeScheme)) throw bad(input, `unknown scheme ${JSON.stringify(scheme)}; expected tcp, tls, ws or wss`);
  return s as EdgeScheme;
}

function withScheme(hp: { host: string; port: number }, scheme: EdgeScheme, path?: string): EdgeAddress {
  if (scheme === 'tcp') return { host: hp.host, port: hp.port };
  if (scheme === 'tls') return { host: hp.host, port: hp.port, scheme };
  return { host: hp.host, port: hp.port, scheme, path: path ?? '/' };
}

/** Parses and validates an edge address; throws a ClientError (VL_ERR_BAD_ADDRESS) naming the input. */
export function parseAddress(address: string | EdgeAddress): EdgeAddress {
  if (typeof address === 'object' && address !== null) {
    const { host, port } = address;
    const shown = `${String(host)}:${String(port)}`;
    if (typeof host !== 'string') throw bad(shown, 'host must be a string');
    if (typeof port !== 'number') throw bad(shown, 'port must be a number');
    const scheme = address.scheme === undefined ? 'tcp' : checkScheme(address.scheme, shown);
    const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
    const checked = checkAddress(formatHostPort({ host: bare, port: 1 }));
    if (typeof checked === 'string') throw bad(shown, checked);
    const path = address.path;
    if (path !== undefined && (typeof path !== 'string' || !path.startsWith('/') || /\s/.test(path))) {
      throw bad(shown, 'path must start with "/" and hold no spaces');
    }
    return withScheme({ host: checked.host, port: checkPort(port, shown) }, scheme, path);
  }
  if (typeof address !== 'string') {
    throw new ClientError('VL_ERR_BAD_ADDRESS', 'address must be a string such as "host:port" or "ws://host:port/path", or a { host, port } object');
  }
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/.exec(address);
  if (!m) return withScheme(hostPort(address, address), 'tcp');
  const scheme = checkScheme(m[1], address);
  let rest = m[2]!;
  let path: string | undefined;
  if (scheme === 'ws' || scheme === 'wss') {
    const slash = rest.indexOf('/', rest.startsWith('[') ? rest.indexOf(']') : 0);
    const q = rest.indexOf('?');
    const cut = slash >= 0 && (q < 0 || slash < q) ? slash : q;
    if (cut >= 0) {
      path = rest.slice(cut);
      if (path.startsWith('?')) path = `/${path}`;
      if (path.includes('#')) path = path.slice(0, path.indexOf('#'));
      rest = rest.slice(0, cut);
    }
    if (path !== undefined && /\s/.test(path)) throw bad(address, 'the path holds whitespace');
    // As for "host:port", a bracketless IPv6 address ends with its port ("::1:42000").
    const hasPort = rest.startsWith('[') ? /\]:/.test(rest) : rest.includes(':');
    if (!hasPort) rest = `${rest}:${DEFAULT_PORTS[scheme]}`;
  } else if (/[/?#]/.test(rest)) {
    throw bad(address, `${scheme}:// addresses take no path`);
  }
  return withScheme(hostPort(rest, address), scheme, path);
}

function hostPort(text: string, input: string): { host: string; port: number } {
  const checked = checkAddress(text);
  if (typeof checked === 'string') throw bad(input, checked);
  return { host: checked.host, port: checkPort(checked.port, input) };
}

/** Prints an address so that parseAddress reads it back: "host:port" for TCP, else with its scheme. */
export function formatAddress(a: EdgeAddress): string {
  const hp = formatHostPort(a);
  const scheme = a.scheme ?? 'tcp';
  if (scheme === 'tcp') return hp;
  if (scheme === 'tls') return `tls://${hp}`;
  return `${scheme}://${hp}${a.path ?? '/'}`;
}

/** The URL a WebSocket connects to. */
export function webSocketUrl(a: EdgeAddress): string {
  return `${a.scheme === 'wss' ? 'wss' : 'ws'}://${formatHostPort(a)}${a.path ?? '/'}`;
}
