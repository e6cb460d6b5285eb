// Typed loader for test/vectors/vectors.json (the wire contract's test vectors) and hex helpers.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const VECTORS_PATH = fileURLToPath(new URL('./vectors.json', import.meta.url));

export type VarintType = 'u16' | 'u32' | 'u64';

export interface Vectors {
  protocol_version: number;
  varint: {
    valid: Array<{ value: string; types: VarintType[]; hex: string }>;
    invalid: Array<{ hex: string; type: VarintType; reason: string }>;
  };
  handshake: {
    valid: Array<{ name: string; variant: number; type: string; hex: string; value?: string; bytes?: string }>;
    invalid: Array<{ hex: string; reason: string }>;
  };
  framing: {
    valid: Array<{ name: string; payload: string; hex: string }>;
    stream: { hex: string; payloads: string[] };
    incomplete: Array<{ hex: string; reason: string }>;
  };
  crypto: {
    edge: KeyVector;
    client: KeyVector;
    shared_secret: string;
    hkdf: { salt: string; info: string; length: number };
    session_key: string;
    seal: Array<{ name: string; key: string; plaintext: string; nonce: string; blob: string }>;
    open_must_fail: Array<{ name: string; key: string; blob: string }>;
    invalid_public_keys: Array<{ name: string; hex: string }>;
  };
  firehose: {
    valid: Array<{ name: string; id: string; flags: number; type: string; data: string; hex: string }>;
    invalid: Array<{ hex: string; reason: string }>;
  };
  transcripts: {
    new_session: TranscriptStep[];
    reconnect: TranscriptStep[];
  };
}

export interface KeyVector {
  private: string;
  public_compressed: string;
  public_uncompressed: string;
}

export interface TranscriptStep {
  from: 'client' | 'edge';
  what: string;
  hex: string;
}

export function loadVectors(): Vectors {
  return JSON.parse(readFileSync(VECTORS_PATH, 'utf8')) as Vectors;
}

export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(hex)) throw new Error(`bad hex in vectors: ${hex}`);
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
