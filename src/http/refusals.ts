// Refusal reasons (free text with numbers in them) mapped to a fixed set of metric labels, so label
// cardinality stays bounded whatever the edge writes; addresses are never labels.

export const REFUSAL_CLASSES = [
  'shutting_down',
  'connection_limit',
  'per_address_connection_limit',
  'handshakes_in_flight',
  'handshake_shed',
  'fd_limit',
  'per_address_rate',
  'handshake_timeout',
  'protocol_violation',
  'bad_version',
  'bad_public_key',
  'unknown_session',
  'resume_rate_limited',
  'resume_failed',
  'closed_during_handshake',
  'tls_handshake_failed',
  'bad_websocket_upgrade',
  'other',
] as const;

export type RefusalClass = (typeof REFUSAL_CLASSES)[number];

/** Refusal classes that single out one address (per-address limits and rates). */
export const PER_ADDRESS_CLASSES: ReadonlySet<RefusalClass> = new Set([
  'per_address_connection_limit',
  'per_address_rate',
  'resume_rate_limited',
]);

const RULES: ReadonlyArray<[RegExp, RefusalClass]> = [
  [/shutting down/, 'shutting_down'],
  [/^per-address connection limit/, 'per_address_connection_limit'],
  [/^connection limit/, 'connection_limit'],
  [/handshake shed/, 'handshake_shed'],
  [/file-descriptor limit|EMFILE|ENFILE|accept failed/, 'fd_limit'],
  [/handshakes in flight/, 'handshakes_in_flight'],
  [/new-connection rate/, 'per_address_rate'],
  [/not finished within the timeout/, 'handshake_timeout'],
  [/too many failed resumes/, 'resume_rate_limited'],
  [/unknown session/, 'unknown_session'],
  [/protocol version/, 'bad_version'],
  [/public key/, 'bad_public_key'],
  [/closed during the (handshake|challenge)/, 'closed_during_handshake'],
  [/^TLS handshake failed/, 'tls_handshake_failed'],
  [/WebSocket upgrade|plain HTTP|malformed HTTP request|^websocket:/, 'bad_websocket_upgrade'],
  [/expected |malformed|handshake frame/, 'protocol_violation'],
  [/challenge|response|session key|resume|Ping/i, 'resume_failed'],
];

export function classifyRefusal(reason: string): RefusalClass {
  for (const [re, cls] of RULES) if (re.test(reason)) return cls;
  return 'other';
}
