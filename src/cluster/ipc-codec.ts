// Values crossing the cluster IPC channel (JSON serialization): byte arrays as base64 strings, `{ $b: "..." }`.
// Measured against the 'advanced' (structured clone) serialization with bench/cluster-ipc.ts: JSON with base64
// answers about 2x more requests per second for payloads up to 1 KiB (the usual master packet), and loses only
// from about 16 KiB on.

/** Byte arrays (at any depth of arrays and plain objects) as `{ $b: base64 }`. */
export function pack(v: unknown): unknown {
  if (v instanceof Uint8Array) return { $b: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  if (Array.isArray(v)) return v.map(pack);
  if (v !== null && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = pack(x);
    return o;
  }
  return v;
}

/** The inverse of pack: `{ $b: base64 }` as a Buffer. */
export function unpack(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(unpack);
  if (v !== null && typeof v === 'object') {
    const b = (v as { $b?: unknown }).$b;
    if (typeof b === 'string') return Buffer.from(b, 'base64');
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = unpack(x);
    return o;
  }
  return v;
}
