// Checksummed text lines for the state file and the journal: `crc32-hex SPACE json LF`, one record per line.
// A damaged line is found (bad checksum, bad JSON) without losing the lines around it.
import { crc32 } from 'node:zlib';

const HEX = /^[0-9a-f]{8}$/;

/** One record as a line: the CRC-32 of the JSON text, in hex, then the JSON, then a newline. */
export function encodeLine(record: unknown): string {
  return jsonLine(JSON.stringify(record));
}

/** The line of a record given as its JSON text (built by hand on hot paths: no object, no JSON.stringify). */
export function jsonLine(json: string): string {
  return `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`;
}

/** `,"ad":"<address>"` for a record's optional address field, as JSON.stringify writes it ('' when absent). */
export function addressField(address: string | undefined): string {
  return address === undefined ? '' : `,"ad":${JSON.stringify(address)}`;
}

/** The record of one line (without its newline), or a description of what is wrong with it. */
export function decodeLine(line: string): { ok: true; record: Record<string, unknown> } | { ok: false; problem: string } {
  const sum = line.slice(0, 8);
  if (line.length < 10 || line[8] !== ' ' || !HEX.test(sum)) return { ok: false, problem: 'not a record line' };
  const json = line.slice(9);
  if (crc32(json).toString(16).padStart(8, '0') !== sum) return { ok: false, problem: 'checksum mismatch' };
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return { ok: false, problem: 'not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, problem: 'not a record' };
  return { ok: true, record: value as Record<string, unknown> };
}

/**
 * Splits a file's text into lines. The last line lacking its newline is returned apart as `torn`: a write cut
 * short by a crash (the rest of the file is intact).
 */
export function splitLines(text: string): { lines: string[]; torn: string | null } {
  const lines = text.split('\n');
  const last = lines.pop()!;
  return { lines, torn: last === '' ? null : last };
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function fromHex(s: unknown): Uint8Array | null {
  if (typeof s !== 'string' || s.length % 2 !== 0 || !/^[0-9a-f]*$/.test(s)) return null;
  return new Uint8Array(Buffer.from(s, 'hex'));
}

export function toBase64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

export function fromBase64(s: unknown): Uint8Array | null {
  if (typeof s !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return null;
  return new Uint8Array(Buffer.from(s, 'base64'));
}

/** A non-negative safe integer, or null. */
export function count(v: unknown): number | null {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null;
}
